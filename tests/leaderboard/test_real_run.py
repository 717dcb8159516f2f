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
