"""Acceptance: a real ChaosNLI run of the embedded default model (SmolLM2-135M-Instruct) becomes
an entry that passes validation and appears on the built board (repository's board.yaml)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from plurieval.config import build_run_config
from plurieval.errors import PluriError
from plurieval.host import PluginHost
from plurieval.leaderboard.build import build_board
from plurieval.leaderboard.submit import build_entry
from plurieval.leaderboard.validate import validate_entry
from plurieval.runner import execute

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.integration
def test_default_model_chaosnli_run_goes_on_the_board(tmp_path):
    host = PluginHost()
    try:
        host.get("benchmark", "chaosnli")
    except PluriError as err:
        pytest.skip(f"chaosnli benchmark not installed: {err}")
    board = tmp_path / "leaderboards" / "chaosnli"
    board.mkdir(parents=True)
    shutil.copy(REPO / "leaderboards" / "chaosnli" / "board.yaml", board / "board.yaml")
    config = build_run_config({"benchmark": "chaosnli", "model": "default", "limit": 10,
                               "output_dir": str(tmp_path / "runs"), "tracking": {"enabled": False}})
    try:
        run_dir = execute(config, host).run_dir
    except PluriError as err:  # no ChaosNLI data on this machine
        if "data" not in str(err).lower():
            raise
        pytest.skip(f"ChaosNLI data not available: {err}")

    entry_path = build_entry(run_dir, host, submitter="integration test", board_dir=board)
    report = validate_entry(entry_path, host)
    assert report.ok, report.problems
    entry = json.loads(entry_path.read_text())
    assert entry["model"]["id"] == "smollm2-135m-instruct" and entry["model"]["weights_hash"].startswith("sha256:")
    assert entry["method"]["name"] == "option-logits" and entry["results"]["num_rows"] == 10
    summary = json.loads((run_dir / "summary.json").read_text())
    assert entry["metrics"]["js_distance"]["value"] == pytest.approx(summary["metrics"]["js_distance"], abs=1e-12)

    built = build_board(board, host)
    assert [r.path for r in built.ranked] == [entry_path] and built.ranked[0].rank == 1
    assert "| option-logits | smollm2-135m-instruct | integration test |" in (board / "README.md").read_text()
    assert "smollm2-135m-instruct" in (board / "index.html").read_text()

    # The same run, one number edited: refused with the reason.
    entry["metrics"]["js_distance"]["value"] = 0.01
    entry_path.write_text(json.dumps(entry))
    assert any(p.startswith("metrics.js_distance.value") for p in validate_entry(entry_path, host).problems)


@pytest.mark.integration
def test_default_model_litex_run_goes_on_the_board(tmp_path):
    """The LiTEx board (repository's board.yaml): a real run of the default model's label-conditioned
    explanations validates, with every row's chrF, BLEU and embedding cosine re-scored from its
    explanation, and a row whose explanation was swapped after scoring is refused by name."""
    host = PluginHost()
    board = tmp_path / "leaderboards" / "litex"
    board.mkdir(parents=True)
    shutil.copy(REPO / "leaderboards" / "litex" / "board.yaml", board / "board.yaml")
    config = build_run_config({"benchmark": "litex", "model": "default", "limit": 4,
                               "output_dir": str(tmp_path / "runs"), "tracking": {"enabled": False}})
    run_dir = execute(config, host).run_dir
    entry_path = build_entry(run_dir, host, submitter="integration test", board_dir=board)
    report = validate_entry(entry_path, host)
    assert report.ok, report.problems
    entry = json.loads(entry_path.read_text())
    assert entry["method"]["name"] == "explain-label" and set(entry["metrics"]) == {"chrf", "bleu", "embedding_cosine"}
    built = build_board(board, host)
    assert [r.path for r in built.ranked] == [entry_path]

    # Swap one explanation for another text, keep its stored scores, re-hash: caught by re-scoring.
    from plurieval.hashing import content_hash, file_hash

    results = entry_path.parent / entry["results"]["file"] if entry["results"].get("file") else None
    if results is not None:
        rows = [json.loads(line) for line in results.read_text().splitlines()]
        rows[0]["prediction"] = "An unrelated sentence about the weather in spring."
        results.write_text("".join(json.dumps(r) + "\n" for r in rows))
        entry["results"]["sha256"] = file_hash(results)
    else:
        entry["results"]["rows"][0]["prediction"] = "An unrelated sentence about the weather in spring."
        entry["results"]["sha256"] = content_hash(entry["results"]["rows"])
    entry_path.write_text(json.dumps(entry))
    found = validate_entry(entry_path, host).problems
    assert any("but its prediction scores" in p for p in found), found


def test_every_committed_entry_still_validates():
    """The public boards' entries are re-checked with the code as it is now: every number
    recomputed and every row re-scored from its answer (a change to a metric that silently
    changes published scores fails here)."""
    from plurieval.leaderboard.validate import collect_entries

    host = PluginHost()
    entries = [p for board in sorted((REPO / "leaderboards").glob("*/board.yaml"))
               for p in collect_entries(board.parent)]
    assert entries, "the clasbench board ships entries"
    for path in entries:
        report = validate_entry(path, host)
        assert report.ok, (path.name, report.problems)
