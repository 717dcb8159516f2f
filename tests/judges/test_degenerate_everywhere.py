"""``degenerate_rate`` on every generation benchmark: among the defaults, scored per answer in the
results rows (with the reference language's script rule) and aggregated in the summary (the
CLaS-Bench run on the tiny model that checks the rows is in test_rescore.py, which re-scores it)."""

GENERATION_BENCHMARKS = ("clasbench", "polyrefuse", "makieval", "litex")


def test_every_generation_benchmark_scores_degenerate_rate_by_default(host):
    for name in GENERATION_BENCHMARKS:
        assert "degenerate_rate" in host.get("benchmark", name).metrics, name
