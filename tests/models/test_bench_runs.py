"""The bench script keeps working (no timing is asserted: speed lives in bench/, not in tests)."""

import runpy
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_steering.py"


def test_bench_runs_on_a_tiny_model(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [str(BENCH), "--tiny", "--repeats", "1", "--tokens", "2"])
    runpy.run_path(str(BENCH), run_name="__main__")
    out = capsys.readouterr().out
    assert "values checked equal" in out
    assert "generated tokens: plain 16, steered 16" in out
    for arm in ("output_hidden_states", "extract", "plain", "steered"):
        assert f"\n  {arm} " in out
