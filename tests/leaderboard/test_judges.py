"""Boards say how much to trust them: the judge behind each judged metric and its held-out
agreement, read from the file beside board.yaml, checked against what the board runs, rendered."""

from __future__ import annotations

import json
from typing import Any

import pytest
from lbhelpers import BOARD, make_board
from pydantic import BaseModel, ConfigDict

from plurieval.errors import ConfigError, PluriError
from plurieval.leaderboard.build import build_board
from plurieval.leaderboard.judges import board_judges
from plurieval.leaderboard.schema import BoardSpec, load_board
from plurieval.leaderboard.submit import build_entry
from plurieval.specs import MetricSpec


def _stat(value, lo, hi):
    return {"value": value, "ci_low": lo, "ci_high": hi}


def agreement_record(name: str, metric: str | None, params: dict | None = None, **changes: Any) -> dict:
    group = {"n": 20, "kappa": _stat(0.5, 0.3, 0.7), "exact_agreement": _stat(0.8, 0.6, 0.95),
             "bias": _stat(-2.5, -7.0, 1.5), "mean_labels": 40.0, "mean_judge": 37.5,
             "confusion": [[10, 2], [2, 6]], "classes": [0, 1], "weights": "none"}
    return {**group, "judge": name, "task": "fluency", "description": f"{name} (test)", "split": "heldout",
            "metric": metric, "params": params or {}, "unit": "F points", "verdicts_from": "computed",
            "group_by": "target", "per_group": {"de": group}, **changes}


def write_agreement(board, judges: dict[str, dict]) -> None:
    content = {"written_by": "plurieval judge agreement leaderboards/toybench",
               "labelled_set": {"clasbench.jsonl": "sha256:" + "0" * 64},
               "bootstrap": {"seed": 0, "resamples": 1000, "confidence": 0.95}, "judges": judges}
    (board / "judges.json").write_text(json.dumps(content), encoding="utf-8")


def test_board_schema_takes_one_judge_or_several_and_refuses_unknown_metrics():
    spec = BoardSpec.model_validate({**BOARD, "judges": {"toy-accuracy": "j1", "toy-balanced": ["j1", "j2"]}})
    assert spec.judges == {"toy-accuracy": ["j1"], "toy-balanced": ["j1", "j2"]}
    assert spec.judge_agreement == "judges.json"
    with pytest.raises(ValueError, match="'toy-acuracy' is not one of the metrics"):
        BoardSpec.model_validate({**BOARD, "judges": {"toy-acuracy": "j1"}})
    with pytest.raises(ValueError, match="names no judge"):
        BoardSpec.model_validate({**BOARD, "judges": {"toy-accuracy": []}})
    with pytest.raises(ValueError, match="path traversal"):  # the file is read beside board.yaml, nowhere else
        BoardSpec.model_validate({**BOARD, "judges": {"toy-accuracy": "j1"}, "judge_agreement": "../x.json"})


def test_board_shows_each_judge_and_its_kappa_next_to_the_numbers(host, runs, tmp_path):
    board = make_board(tmp_path, judges={"toy-accuracy": "toy-judge"})
    write_agreement(board, {"toy-judge": agreement_record("toy-judge", "toy-accuracy",
                                                          description="<script>alert(1)</script> judge")})
    build_entry(runs["strong"], host, submitter="Ada", board_dir=board)
    built = build_board(board, host)
    [judge] = built.judges["toy-accuracy"]
    assert judge.name == "toy-judge" and judge.agreement.kappa.value == 0.5
    readme = (board / "README.md").read_text(encoding="utf-8")
    header = next(line for line in readme.splitlines() if line.startswith("| Rank"))
    # the judged column names its judge and held-out κ with the interval; the unjudged one does not
    assert "toy-accuracy (judge toy-judge, held-out κ 0.50 [0.30, 0.70])" in header
    assert "| toy-balanced |" in header
    assert "## Judges" in readme and "plurieval judge agreement leaderboards/toybench" in readme
    row = next(line for line in readme.splitlines() if line.startswith("| toy-accuracy | toy-judge"))
    assert "| 20 | 0.50 [0.30, 0.70] (κ) | 0.80 [0.60, 0.95] | 40.0 → 37.5 F points | -2.5 [-7.0, 1.5] |" in row
    page = (board / "index.html").read_text(encoding="utf-8")
    assert "judge toy-judge, held-out κ 0.50 [0.30, 0.70]" in page and '<table id="judges">' in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


def test_board_without_judges_renders_as_before(host, runs, board):
    build_entry(runs["strong"], host, submitter="Ada", board_dir=board)
    built = build_board(board, host)
    assert built.judges == {}
    assert "## Judges" not in (board / "README.md").read_text(encoding="utf-8")


def test_unmeasured_or_unknown_judges_fail_the_build_with_the_fix(host, tmp_path):
    board = make_board(tmp_path, judges={"toy-accuracy": "toy-judge"})
    with pytest.raises(PluriError, match=r"judges\.json not found.*plurieval judge agreement"):
        board_judges(load_board(board), board, host)
    write_agreement(board, {"other": agreement_record("other", "toy-accuracy")})
    with pytest.raises(PluriError, match=r"names 'toy-judge', which judges\.json does not hold \(measured: other\)"):
        board_judges(load_board(board), board, host)
    write_agreement(board, {"toy-judge": agreement_record("toy-judge", None)})
    with pytest.raises(PluriError, match="is not a metric"):
        board_judges(load_board(board), board, host)
    write_agreement(board, {"toy-judge": agreement_record("toy-judge", "toy-balanced")})
    with pytest.raises(PluriError, match="runs metric 'toy-balanced', which is neither board metric 'toy-accuracy'"):
        board_judges(load_board(board), board, host)
    # a hand-edited file with a non-finite κ or a smuggled field is refused, naming the fix
    (board / "judges.json").write_text('{"written_by": "x", "labelled_set": {}, "bootstrap": {}, "judges": '
                                       '{"toy-judge": {"kappa": NaN}}}', encoding="utf-8")
    with pytest.raises(PluriError, match="not valid JSON.*plurieval judge agreement"):
        board_judges(load_board(board), board, host)
    record = agreement_record("toy-judge", "toy-accuracy", verified=True)
    write_agreement(board, {"toy-judge": record})
    with pytest.raises(PluriError, match="not a judge agreement file.*verified"):
        board_judges(load_board(board), board, host)


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")
    low: float = 0.5
    check: bool = True


class _Composite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    part: _Part = _Part()


class _Host:
    """Just the metric registry board_judges consults: ``part`` and a composite made of it."""

    specs = {"part": MetricSpec(name="part", factory="x:y", config=_Part),
             "composite": MetricSpec(name="composite", factory="x:y", config=_Composite)}

    def get(self, kind: str, name: str) -> MetricSpec:
        assert kind == "metric"
        return self.specs[name]


def test_a_judge_must_run_exactly_what_the_board_runs(tmp_path):
    # Defaults count: the judge's {} is the board's {low: 0.5}; a composite metric is compared on
    # its part named after the judge's metric.
    spec = {**BOARD, "metrics": [{"name": "composite", "params": {"part": {"check": True}}},
                                 {"name": "part", "params": {"low": 0.5}}],
            "ranking_metric": "composite", "judges": {"composite": "j", "part": "j"}}
    board = make_board(tmp_path, **spec)
    write_agreement(board, {"j": agreement_record("j", "part", {})})
    found = board_judges(load_board(board), board, _Host())
    assert [j.name for j in found["composite"]] == ["j"] and list(found) == ["composite", "part"]
    # the board scores with low=0.8, the named judge was measured at the default 0.5: refused
    make_board(tmp_path, **{**spec, "metrics": [spec["metrics"][0], {"name": "part", "params": {"low": 0.8}}]})
    with pytest.raises(PluriError, match=r"another config \(low: board 0\.8 vs judge 0\.5\)"):
        board_judges(load_board(board), board, _Host())
    make_board(tmp_path, **{**spec, "metrics": [{"name": "composite", "params": {"part": {"check": False}}},
                                                spec["metrics"][1]]})
    with pytest.raises(PluriError, match=r"judges\.composite names 'j'.*check: board False vs judge True"):
        board_judges(load_board(board), board, _Host())
    # a judge measured with a config its metric does not accept is named with the field
    make_board(tmp_path, **spec)
    write_agreement(board, {"j": agreement_record("j", "part", {"lo": 0.5})})
    with pytest.raises(ConfigError, match="judge 'j' params"):
        board_judges(load_board(board), board, _Host())
