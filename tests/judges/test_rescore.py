"""`plurieval judge rescore`: a committed CLaS-Bench entry re-scored with the current default
judges becomes a run directory that `leaderboard submit` and `validate` accept on a board
without the spec-1 pins (the path phase 2 takes to move the board to the new judges)."""

import json
import shutil
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ENTRY = next((REPO / "leaderboards/clasbench/entries").glob("diffmean_*.json"))


def test_rescored_entry_submits_and_validates_on_an_unpinned_board(host, tmp_path):
    from plurieval.leaderboard.submit import build_entry
    from plurieval.leaderboard.validate import validate_entry
    from plurieval_resources.judges.rescore import rescore_clasbench

    entry = json.loads(ENTRY.read_text())
    out = tmp_path / "rescored"
    changes = rescore_clasbench(ENTRY, out, host)
    before = changes["all"]["before"]
    assert before["language_control"] == pytest.approx(entry["metrics"]["language_control"]["value"])
    assert before["relevance"] == pytest.approx(entry["metrics"]["relevance"]["value"])
    # the degenerate check can only take outputs out of F, never add them
    assert changes["all"]["after"]["language_control"] <= before["language_control"]
    for t, v in changes.items():
        assert v["after"]["language_control"] <= v["before"]["language_control"], t
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rescored"]["from_run"] == entry["manifest"]["run_id"]
    assert manifest["components"]["benchmark"]["config"]["relevance"]["degenerate_check"] is True
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert [r["prediction"] for r in rows] == [json.loads(x)["prediction"] for x in
                                               (ENTRY.parent / entry["results"]["file"]).read_text().splitlines()]
    with pytest.raises(Exception, match="not empty"):
        rescore_clasbench(ENTRY, out, host)

    board = tmp_path / "board"
    (board / "entries").mkdir(parents=True)
    spec = yaml.safe_load((REPO / "leaderboards/clasbench/board.yaml").read_text())
    spec["metrics"] = [m["name"] if isinstance(m, dict) else m for m in spec["metrics"]]   # current defaults
    (board / "board.yaml").write_text(yaml.safe_dump(spec))
    new_entry = build_entry(out, host, submitter="plurieval maintainers", board_dir=board,
                            output=board / "entries" / "diffmean.json")
    report = validate_entry(new_entry, host, board_dir=board)
    assert report.ok, report.problems
    shutil.rmtree(out)


def _loop_run(host, tmp_path):
    """A CLaS-Bench run of the core steering loop on the tiny model (prompting: nothing to fit)."""
    from plurieval.config import apply_overrides, build_run_config
    from plurieval.runner import execute

    data = {"benchmark": "clasbench", "model": "tiny", "method": "prompting", "limit": 2,
            "output_dir": str(tmp_path / "runs"), "tracking": {"enabled": False}}
    apply_overrides(data, ["target_languages=de,zh", "layers=[1]", "dev_limit=1", "max_new_tokens=6"])
    return execute(build_run_config(data), host).run_dir


def test_rescore_and_collect_read_the_steering_loops_results_format(host, tmp_path):
    from plurieval.api import check_degenerate
    from plurieval.leaderboard.submit import build_entry
    from plurieval.leaderboard.validate import validate_entry
    from plurieval.results import decode_record
    from plurieval_resources.judges.collect import collect_clasbench
    from plurieval_resources.judges.rescore import rescore_clasbench

    run = _loop_run(host, tmp_path)
    assert (run / "conditions" / "baseline.jsonl").is_file()  # the loop's format: baseline as a condition
    # degenerate_rate is a default metric: each row carries the detector's verdict (with the
    # target's script rule) and its reasons, the summary their mean
    loop_rows = [json.loads(x) for x in (run / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(loop_rows) == 4
    for r in loop_rows:
        verdict = check_degenerate(r["prediction"], r["reference"]["language"])
        assert r["scores"]["degenerate_rate"] == float(verdict.degenerate)
        if verdict.degenerate:
            assert r["details"]["degenerate_rate"]["reasons"] == list(verdict.reasons)
    loop_summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert loop_summary["metrics"]["degenerate_rate"] == pytest.approx(
        sum(r["scores"]["degenerate_rate"] for r in loop_rows) / 4)
    # Stand in for a run scored by older judges: every judged score set to 2 / 1 (re-checksummed,
    # as a run of that time would have written it); re-scoring must replace them all.
    from plurieval.results import encode_record

    for name in ("results.jsonl", "conditions/baseline.jsonl"):
        rows = [json.loads(x) for x in (run / name).read_text(encoding="utf-8").splitlines()]
        for r in rows:
            r["scores"].update(relevance=2, language_control=1.0, steering_score={"f": 1, "j": 2})
        (run / name).write_text("".join(encode_record(r) for r in rows), encoding="utf-8")
    relevance = host.get("metric", "relevance").create({})
    out = tmp_path / "rescored"
    changes = rescore_clasbench(run, out, host)
    for name in ("results.jsonl", "conditions/baseline.jsonl"):
        lines = (out / name).read_text(encoding="utf-8").splitlines()
        old = [json.loads(x) for x in (run / name).read_text(encoding="utf-8").splitlines()]
        assert len(lines) == len(old)
        for line, was in zip(lines, old, strict=True):
            row, problem, had = decode_record(line)
            assert row is not None and had, problem          # every line checksummed, as the loop writes it
            assert (row["key"], row["prediction"], row["reference"]) == (was["key"], was["prediction"], was["reference"])
            assert row["scores"]["relevance"] == relevance.score_examples([row["prediction"]], [row["reference"]])[0]
            verdict = check_degenerate(row["prediction"], row["reference"]["language"])
            assert row["scores"]["degenerate_rate"] == float(verdict.degenerate)
            if verdict.degenerate:   # the current judges: degenerate text is never in the target language
                assert row["scores"]["language_control"] == 0 and row["details"]["language_control"]["degenerate"]
            if check_degenerate(row["prediction"]).degenerate:   # nor relevant (relevance ignores the language)
                assert row["scores"]["relevance"] == 0 and row["details"]["relevance"]["degenerate"] is True
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["relevance"] == pytest.approx(changes["all"]["after"]["relevance"])
    assert changes["all"]["before"]["relevance"] == 100.0 > changes["all"]["after"]["relevance"]
    assert summary["metrics_ci"]["relevance"]["value"] == summary["metrics"]["relevance"]
    assert summary["metrics_ci"]["degenerate_rate"]["value"] == summary["metrics"]["degenerate_rate"]
    assert set(summary["baseline"]["per_language"]) == {"de", "zh"}
    assert summary["per_language"]["de"]["baseline"] == summary["baseline"]["per_language"]["de"]
    # the re-scored run is an entry on a board scored with the current defaults
    board = tmp_path / "board"
    (board / "entries").mkdir(parents=True)
    spec = yaml.safe_load((REPO / "leaderboards/clasbench/board.yaml").read_text())
    spec["metrics"] = [m["name"] if isinstance(m, dict) else m for m in spec["metrics"]]
    spec.pop("judges")
    spec["data"]["min_examples"] = 4
    spec["data"]["rows"]["coverage"] = "any"
    spec["data"]["rows"]["for_each"] = {"target": ["de", "zh"]}   # the tiny run's two targets
    (board / "board.yaml").write_text(yaml.safe_dump(spec))
    entry = build_entry(out, host, submitter="test", board_dir=board, output=board / "entries" / "tiny.json")
    report = validate_entry(entry, host, board_dir=board)
    assert report.ok, report.problems
    # collect: steered answers from results.jsonl, the unsteered ones from conditions/baseline.jsonl
    rows = collect_clasbench([run], host)
    assert sorted(r.method for r in rows) == ["prompting"] * 4 + ["unsteered"] * 2
    assert all("scores" not in r.model_dump() for r in rows)


def test_collect_reads_every_polyrefuse_condition_file(tmp_path):
    from plurieval.results import encode_record
    from plurieval_resources.judges.collect import collect_polyrefuse

    run = tmp_path / "run"
    (run / "conditions").mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"run_id": "r1", "config": {"benchmark": {"name": "polyrefuse"}},
                                                   "model": {"id": "m"}}))

    def row(condition, ex, direction=None):
        md = {"condition": condition, "language": ex.split("-")[0],
              **({"direction_language": direction} if direction else {})}
        return encode_record({"key": f"{condition}/{direction or '-'}/{ex}", "example_id": ex, "prediction": "No.",
                              "reference": {"lang": "de"}, "metadata": md,
                              "scores": {"refusal_score": 1.5, "refusal_substring": 1.0}})

    (run / "results.jsonl").write_text(row("ablation", "de-test-harmful-0", "en"))
    (run / "conditions" / "baseline.jsonl").write_text(row("baseline", "de-test-harmful-0"))
    (run / "conditions" / "induce.jsonl").write_text(row("induce", "de-test-harmless-0", "en"))
    rows = collect_polyrefuse([run])
    assert sorted((r.condition, r.kind) for r in rows) == [("ablation", "harmful"), ("baseline", "harmful"),
                                                           ("induce", "harmless")]
    assert all(r.recorded == {"refusal_score": 1.5} for r in rows)   # kept aside, never shown while labelling
    assert {r.prompt_ref["file"] for r in rows} == {"harmful_test_translated_de.json", "harmless_test_translated_de.json"}
