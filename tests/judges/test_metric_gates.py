"""Degenerate text in the CLaS-Bench metrics and the degenerate_rate metric, with the real
offline language identifier (py3langid) and embedder (multilingual-e5-small)."""

import json

import pytest

from plurieval.api import MetricContext, Resources


def _metric(host, name, **params):
    return host.get("metric", name).create(params)


def test_language_control_does_not_trust_the_identifier_on_symbols(host):
    # py3langid labels full-width exclamation marks as Chinese (issue 19); F must not count them.
    texts = ["！" * 24, "法国的首都是巴黎。巴黎位于塞纳河畔，是法国最大的城市。"]
    refs = [{"language": "zh"}, {"language": "zh"}]
    ctx = MetricContext(resources=Resources(host))
    spec1 = _metric(host, "language_control", degenerate_check=False)
    scored = spec1.score(texts, refs, ctx)
    assert scored.values == [1.0, 1.0]
    assert scored.details[0]["detected"] == "zh"
    assert _metric(host, "language_control").score_examples(texts, refs, ctx) == [0.0, 1.0]


def test_relevance_scores_degenerate_text_zero_whatever_the_proxy_says(host):
    question = "How many days are there in a week?"
    loop = "A week has seven days, seven days, seven days, seven days, seven days, seven days, seven days, seven days."
    fine = "A week has seven days: Monday to Sunday."
    ctx = MetricContext(resources=Resources(host))
    refs = [{"question": question}] * 2
    ungated = _metric(host, "relevance", degenerate_check=False).score_examples([loop, fine], refs, ctx)
    gated = _metric(host, "relevance").score_examples([loop, fine], refs, ctx)
    assert ungated[0] > 0                      # the proxy finds the loop on topic
    assert gated == [0, gated[1]] and gated[1] > 0


def test_degenerate_rate_metric_from_the_command_line(host, tmp_path):
    from typer.testing import CliRunner

    from plurieval.cli import app

    rows = [{"prediction": "！" * 12, "reference": {"language": "zh"}},
            {"prediction": "The capital of France is Paris.", "reference": {"language": "ru"}},   # wrong script
            {"prediction": "The capital of France is Paris.", "reference": None},
            {"prediction": "Cette fois, " * 12, "reference": "fr"}]
    path = tmp_path / "preds.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    result = CliRunner().invoke(app, ["score", "degenerate_rate", str(path)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["per_example"] == [1.0, 1.0, 0.0, 1.0]
    assert out["score"] == pytest.approx(0.75)
    result = CliRunner().invoke(app, ["score", "degenerate_rate", str(path), "--set", "use_language=false"])
    assert json.loads(result.output)["per_example"] == [1.0, 0.0, 0.0, 1.0]
