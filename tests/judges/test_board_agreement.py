"""`plurieval judge agreement BOARD`: the judge agreement a board shows is measured, never typed,
and the committed boards' files are what the labelled set gives today."""

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from plurieval.errors import PluriError
from plurieval.leaderboard.judges import board_judges
from plurieval.leaderboard.schema import load_board
from plurieval_resources.judges.boards import board_agreement, stale_judges
from plurieval_resources.judges.catalogue import JUDGES
from plurieval_resources.judges.commands import app
from plurieval_resources.judges.validate import validate

REPO = Path(__file__).resolve().parents[2]
JUDGED_BOARDS = sorted(p.parent for p in (REPO / "leaderboards").glob("*/board.yaml")
                       if yaml.safe_load(p.read_text(encoding="utf-8")).get("judges"))


def refusal_board(root: Path, params: dict | None = None) -> Path:
    board = root / "refusalboard"
    board.mkdir(exist_ok=True)
    spec = {"benchmark": "polyrefuse", "spec_version": "1", "ranking_metric": "refusal_substring",
            "metrics": [{"name": "refusal_substring", "params": params or {}}],
            "bootstrap": {"seed": 0, "resamples": 200}, "judges": {"refusal_substring": "refusal_substring"}}
    (board / "board.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    return board


def test_clasbench_names_its_judges():
    assert REPO / "leaderboards" / "clasbench" in JUDGED_BOARDS


@pytest.mark.parametrize("board", JUDGED_BOARDS, ids=lambda p: p.name)
def test_committed_judge_agreement_is_what_the_labelled_set_gives_now(board, host):
    # Recomputed from the labelled set with the judges as they are: a changed label, judge or
    # default shows up here, and the fix is the command the file names.
    assert stale_judges(board, host) == [], f"run `plurieval judge agreement leaderboards/{board.name}`"
    # and each judge the board names is the config the board scores with (what the build checks)
    spec = load_board(board)
    found = board_judges(spec, board, host)
    assert {m: [j.name for j in js] for m, js in found.items()} == spec.judges


def test_agreement_command_writes_what_validate_reports_and_checks_it(host, tmp_path):
    board = refusal_board(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["agreement", str(board)])
    assert result.exit_code == 0, result.output
    written = json.loads((board / "judges.json").read_text(encoding="utf-8"))
    record = written["judges"]["refusal_substring"]
    rep = validate(JUDGES["refusal_substring"], host, resamples=200, seed=0)
    assert record["kappa"] == pytest.approx(rep["kappa"]) and record["n"] == rep["n"] == 90
    assert record["metric"] == "refusal_substring" and "verdicts" not in record  # no per-row payload
    assert written["bootstrap"] == {"seed": 0, "resamples": 200, "confidence": 0.95}
    assert list(written["labelled_set"]) == ["plurieval_resources/data/judge_validation/polyrefuse.jsonl"]
    assert runner.invoke(app, ["agreement", str(board), "--check"]).exit_code == 0
    # a hand-edited κ is caught, naming the judge and the command that rewrites it
    written["judges"]["refusal_substring"]["kappa"]["value"] = 0.99
    (board / "judges.json").write_text(json.dumps(written), encoding="utf-8")
    result = runner.invoke(app, ["agreement", str(board), "--check"])
    assert result.exit_code == 1 and "out of date (refusal_substring)" in result.output
    # the build refuses a judge that is not what the board scores with (spec-1 phrases here)
    refusal_board(tmp_path, {"any_language": False})
    with pytest.raises(PluriError, match="any_language: board False vs judge True"):
        board_judges(load_board(board), board, host)


def test_a_board_without_judges_or_with_a_non_metric_judge_is_refused(host, tmp_path):
    board = refusal_board(tmp_path)
    spec = yaml.safe_load((board / "board.yaml").read_text())
    for judges, message in (({}, "names no judges"), ({"refusal_substring": "refusal-score"}, "is not a metric")):
        (board / "board.yaml").write_text(yaml.safe_dump({**spec, "judges": judges}), encoding="utf-8")
        with pytest.raises(PluriError, match=message):
            board_agreement(board, host)


def test_compliance_judges_read_the_refusal_labels_the_other_way_round(host):
    # PolyRefuse ranks by compliance = 1 − refusal per completion: same labels inverted, so κ and
    # exact agreement are the refusal judge's and the bias flips sign (v1: −1.1 refusal points
    # = +1.1 compliance points: it misses one refusal of the 90 held-out completions).
    for refusal, compliance in (("refusal_substring", "compliance_substring"),
                                ("refusal-substring-v1", "compliance-substring-v1")):
        r = validate(JUDGES[refusal], host, resamples=200, by_group=False)
        c = validate(JUDGES[compliance], host, resamples=200, by_group=False)
        assert c["kappa"]["value"] == pytest.approx(r["kappa"]["value"])
        assert c["exact_agreement"]["value"] == pytest.approx(r["exact_agreement"]["value"])
        assert c["bias"]["value"] == pytest.approx(-r["bias"]["value"])
        assert c["mean_labels"] == pytest.approx(100 - r["mean_labels"]) and c["unit"] == "compliance-rate points"
    assert c["bias"]["value"] == pytest.approx(100 / 90)
