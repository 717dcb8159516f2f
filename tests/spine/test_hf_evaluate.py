"""Hugging Face ``evaluate`` interop, offline: small local module folders written here are used
as plurieval metrics (``evaluate:<path>`` in ``compute``, ``plurieval score``, ``plurieval show``
and a run config), and plurieval metrics are used through evaluate's ``compute`` interface and
inside ``evaluate.combine``. A hub id fails with one clear line (the hub is off in tests)."""

import json
import math
import textwrap

import pytest

from plurieval.errors import ConfigError, DataError, PluriError
from plurieval.scoring import compute

_HEAD = '''
import datasets
import evaluate


'''

# hits / n; normalize=False gives the count. A per-example-decomposable metric.
_MATCH = _HEAD + '''
class Match(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Fraction of predictions equal to their reference.",
            citation="(none: written for a test)",
            inputs_description="predictions, references: integer labels; normalize: divide by n (default true)",
            features=datasets.Features({"predictions": datasets.Value("int32"),
                                        "references": datasets.Value("int32")}),
        )

    def _compute(self, predictions, references, normalize=True):
        hits = sum(int(p == r) for p, r in zip(predictions, references))
        return {"match": hits / len(predictions) if normalize else float(hits)}
'''

# F1 of the positive class: a corpus-level metric (not the mean of per-example values), with a
# second key so the score key must be chosen.
_POSF1 = _HEAD + '''
class PosF1(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="F1 of label 1.", citation="",
            features=datasets.Features({"predictions": datasets.Value("int32"),
                                        "references": datasets.Value("int32")}),
        )

    def _compute(self, predictions, references):
        tp = sum(p == 1 and r == 1 for p, r in zip(predictions, references))
        fp = sum(p == 1 and r == 0 for p, r in zip(predictions, references))
        fn = sum(p == 0 and r == 1 for p, r in zip(predictions, references))
        return {"f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0, "support": float(tp + fn)}
'''

# argmax(prediction scores) == argmax(reference distribution), first of ties (np.argmax)
_ARGMAX = _HEAD + '''
import numpy as np


class ArgmaxAgree(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="argmax agreement of score vectors.", citation="",
            features=datasets.Features({"predictions": datasets.Sequence(datasets.Value("float64")),
                                        "references": datasets.Sequence(datasets.Value("float64"))}),
        )

    def _compute(self, predictions, references):
        agree = [float(np.argmax(p) == np.argmax(r)) for p, r in zip(predictions, references)]
        return {"argmax_agree": sum(agree) / len(agree)}
'''


@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate_modules")
    out = {}
    for name, code in (("match", _MATCH), ("posf1", _POSF1), ("argmax_agree", _ARGMAX)):
        (root / name).mkdir()
        (root / name / f"{name}.py").write_text(textwrap.dedent(code), encoding="utf-8")
        out[name] = f"evaluate:{root / name}"
    return out


def test_a_local_module_is_a_metric_with_its_kwargs_as_config(host, modules):
    # [1, 0, 1, 1] vs [1, 1, 1, 0]: two of four equal
    r = compute(host, modules["match"], [1, 0, 1, 1], [1, 1, 1, 0])
    assert r["score"] == 0.5 and r["metric"] == modules["match"]
    assert r["per_example"] == [{"prediction": p, "reference": t} for p, t in zip([1, 0, 1, 1], [1, 1, 1, 0], strict=True)]
    # a compute() kwarg is a config field, recorded with the others
    r = compute(host, modules["match"], [1, 0, 1, 1], [1, 1, 1, 0], normalize=False)
    assert r["score"] == 2.0 and r["config"]["normalize"] is False and r["config"]["aggregate"] == "corpus"
    # aggregate=mean scores each example alone: per-example 1, 0, 1, 0
    r = compute(host, modules["match"], [1, 0, 1, 1], [1, 1, 1, 0], aggregate="mean")
    assert r["per_example"] == [1.0, 0.0, 1.0, 0.0] and r["score"] == 0.5


def test_corpus_metrics_keep_evaluates_own_number(host, modules):
    # predictions [1, 1, 0, 0] vs references [1, 0, 1, 0]: tp = fp = fn = 1 -> F1 = 2/(2+1+1) = 1/2;
    # the mean of per-example F1s is (1 + 0 + 0 + 0) / 4 = 1/4 -- not the corpus number
    preds, refs = [1, 1, 0, 0], [1, 0, 1, 0]
    with pytest.raises(PluriError, match=r"returned \['f1', 'support'\]; say which is the score with `score`"):
        compute(host, modules["posf1"], preds, refs)
    assert compute(host, modules["posf1"], preds, refs, score="f1")["score"] == 0.5
    assert compute(host, modules["posf1"], preds, refs, score="f1", aggregate="mean")["score"] == 0.25
    # the aggregate is a function of the per-example values alone (leaderboards and bootstrap rely
    # on it): resampling the pairs recomputes the module
    spec = host.get("metric", modules["posf1"])
    metric = spec.create({"score": "f1"})
    values = metric.score_examples(preds, refs)
    # a resample with (1, 1) twice and (0, 1) once: tp = 2, fp = 0, fn = 1 -> 4 / (4 + 0 + 1)
    assert metric.aggregate(values[:1] * 2 + values[2:3]) == pytest.approx(4 / 5)


def test_bad_inputs_and_bad_references_say_what_is_wrong(host, modules, tmp_path):
    with pytest.raises(DataError, match="could not score the inputs"):
        compute(host, modules["match"], ["a", "b"], [1, 2])
    with pytest.raises(PluriError, match="no such file or folder"):
        compute(host, f"evaluate:{tmp_path / 'nowhere'}", [1], [1])
    # a hub id needs the hub: one line that says to use a local folder (tests run offline)
    with pytest.raises(PluriError, match="not a local path and the hub is off.*local module folder"):
        compute(host, "evaluate:accuracy", [1], [1])
    with pytest.raises(ConfigError, match="aggregate"):
        compute(host, modules["match"], [1], [1], aggregate="median")


def test_cli_score_and_show(modules, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from plurieval import cli

    f = tmp_path / "p.jsonl"
    f.write_text("".join(json.dumps({"prediction": p, "reference": r}) + "\n" for p, r in [(1, 1), (0, 1), (1, 1)]))
    res = CliRunner().invoke(cli.app, ["score", modules["match"], str(f), "--set", "normalize=false"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["score"] == 2.0
    monkeypatch.setattr(cli.console, "width", 200)
    res = CliRunner().invoke(cli.app, ["show", modules["match"]])
    assert res.exit_code == 0, res.output
    assert "Fraction of predictions equal to their reference." in res.output and "aggregate" in res.output
    assert "passed through" in res.output
    res = CliRunner().invoke(cli.app, ["show", modules["match"], "--json"])
    d = json.loads(res.output)[0]
    assert d["kind"] == "metric" and d["package"] == "evaluate" and d["version"].count("+") == 1
    # a module that does not load says why (not "unknown component")
    res = CliRunner().invoke(cli.app, ["show", f"evaluate:{tmp_path / 'gone'}"])
    assert res.exit_code != 0 and "no such file or folder" in str(res.exception)


def test_a_run_config_takes_an_evaluate_metric(host, modules, tmp_path):
    """The chaosnli benchmark on the tiny model with two metrics: an evaluate module comparing
    argmaxes of the method's scores and the human distribution, and plurieval's accuracy_at_k
    under the CoT-HLV convention (argmax == argmax, first of ties): the same number."""
    from plurieval.config import build_run_config
    from plurieval.runner import execute

    cfg = build_run_config({
        "benchmark": {"name": "chaosnli", "params": {"split": "sample", "baseline": False}}, "model": "tiny",
        "method": "option-logits", "limit": 4, "output_dir": str(tmp_path), "tracking": {"enabled": False},
        "metrics": [{"name": modules["argmax_agree"], "params": {"input": "scores", "aggregate": "mean"}},
                    {"name": "accuracy_at_k", "params": {"convention": "cot-hlv"}}],
    })
    outcome = execute(cfg, host)
    metrics = outcome.summary["metrics"]
    assert metrics[modules["argmax_agree"]] == pytest.approx(metrics["accuracy_at_k"])
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    entry = manifest["components"]["metrics.0"]
    assert entry["name"] == modules["argmax_agree"] and entry["package"] == "evaluate"
    assert entry["config"]["input"] == "scores"


def test_run_config_problems_name_the_field(host, modules, tmp_path):
    from plurieval.config import build_run_config, validate_components

    cfg = build_run_config({"benchmark": "chaosnli", "model": "tiny", "method": "option-logits",
                            "metrics": [{"name": f"evaluate:{tmp_path / 'missing'}"},
                                        {"name": modules["match"], "params": {"aggregate": 3}}]})
    with pytest.raises(ConfigError) as err:
        validate_components(cfg, host)
    paths = [p for p, _ in err.value.problems]
    assert "metrics.0.name" in paths and "metrics.1.params.aggregate" in paths
    # the direction is the run's to say (evaluate modules do not declare one)
    cfg = build_run_config({"benchmark": "chaosnli", "model": "tiny", "method": "option-logits",
                            "metrics": [{"name": modules["match"], "params": {"higher_is_better": False}},
                                        {"name": modules["match"]}]})
    resolved = validate_components(cfg, host)
    assert resolved["metrics.0"][0].higher_is_better is False and resolved["metrics.1"][0].higher_is_better is True


def test_plurieval_metrics_from_evaluate_style_code(host, modules):
    import evaluate

    from plurieval.hf_evaluate import load

    p, r = [[0.25, 0.75], [0.5, 0.5]], [[0.5, 0.5], [0.5, 0.5]]
    tv = load("total_variation", host=host)
    # TVD: 1/2 (.25 + .25) = .25 and 0
    assert tv.compute(predictions=p, references=r) == {"total_variation": pytest.approx(0.125)}
    out = tv.compute(predictions=p, references=r, return_per_example=True)
    assert out["per_example"] == pytest.approx([0.25, 0.0])
    # add / add_batch, then compute() with no arguments, as with an evaluate module
    tv.add(prediction=p[0], reference=r[0])
    tv.add_batch(predictions=p[1:], references=r[1:])
    assert tv.compute()["total_variation"] == pytest.approx(0.125)
    # config at load time and as compute() overrides: KL(h||m) in bits for the first pair
    kl = load("kl_divergence", host=host, base="2")
    expected = 0.5 * math.log2(0.5 / 0.25) + 0.5 * math.log2(0.5 / 0.75)
    assert kl.compute(predictions=p[:1], references=r[:1])["kl_divergence"] == pytest.approx(expected, abs=1e-9)
    assert kl.compute(predictions=p[:1], references=r[:1], base="e")["kl_divergence"] == pytest.approx(
        expected * math.log(2), abs=1e-9)
    # inside evaluate.combine, next to a real evaluate module (argmax agreement: item 1 argmax 1 vs 0)
    combined = evaluate.combine([load("total_variation", host=host), evaluate.load(modules["argmax_agree"][9:])])
    assert combined.compute(predictions=p, references=r) == {"total_variation": pytest.approx(0.125),
                                                             "argmax_agree": 0.5}
    with pytest.raises(ConfigError, match="base"):
        load("kl_divergence", host=host, base="3")
