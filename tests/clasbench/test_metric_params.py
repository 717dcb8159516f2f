"""The benchmark's judge settings reach the registered metrics that score every test and baseline
row, not only the dev selection (which builds its own metric objects from the same config)."""

from plurieval.host import PluginHost


def test_relevance_and_language_control_settings_reach_every_scored_row():
    host = PluginHost()
    bench = host.get("benchmark", "clasbench").create({"relevance": {"low": 0.5, "high": 0.95},
                                                       "language_control": {"identifier": "lid-py3langid"}})
    params = bench.metric_params()
    built = {name: host.get("metric", name).make_config(dict(p), where=name) for name, p in params.items()}
    assert built["relevance"].low == 0.5 and built["relevance"].high == 0.95
    assert built["language_control"].identifier == "lid-py3langid"
    # S recomputes F and J only where its parts' configs equal theirs: the same settings, so it reuses them.
    assert built["steering_score"].relevance == built["relevance"]
    assert built["steering_score"].language_control == built["language_control"]
