"""``degenerate_rate`` on every generation benchmark: among the defaults, scored per answer in the
results rows (with the reference language's script rule) and aggregated in the summary."""

import json

import pytest

from plurieval.api import check_degenerate
from plurieval.config import apply_overrides, build_run_config
from plurieval.runner import execute

GENERATION_BENCHMARKS = ("clasbench", "polyrefuse", "makieval", "litex")


def test_every_generation_benchmark_scores_degenerate_rate_by_default(host):
    for name in GENERATION_BENCHMARKS:
        assert "degenerate_rate" in host.get("benchmark", name).metrics, name


def test_clasbench_rows_carry_the_detectors_verdict_and_the_summary_its_mean(host, tmp_path):
    data = {"benchmark": "clasbench", "model": "tiny", "method": "prompting", "limit": 2, "output_dir": str(tmp_path), "tracking": {"enabled": False}}
    apply_overrides(data, ["target_languages=de,zh", "layers=[1]", "dev_limit=1", "max_new_tokens=6"])
    outcome = execute(build_run_config(data), host)
    rows = [json.loads(x) for x in (outcome.run_dir / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 4
    for r in rows:  # the verdict the detector gives the answer, with the target's script rule
        verdict = check_degenerate(r["prediction"], r["reference"]["language"])
        assert r["scores"]["degenerate_rate"] == float(verdict.degenerate)
        if verdict.degenerate:  # and the reasons, so a reader sees why without rerunning it
            assert r["details"]["degenerate_rate"]["reasons"] == list(verdict.reasons)
    value = outcome.summary["metrics"]["degenerate_rate"]
    value = value["value"] if isinstance(value, dict) else value
    assert value == pytest.approx(sum(r["scores"]["degenerate_rate"] for r in rows) / len(rows))
    # a tiny random byte-level model writes 6 random bytes: mostly degenerate (no letters, wrong script)
    assert value > 0
