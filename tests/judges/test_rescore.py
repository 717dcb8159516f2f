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
