"""The quantisation study: the comparison against float32 on a worked example, and the whole
command path (runs per condition → paired comparison → table and plot) on the planted model."""

from __future__ import annotations

import json

import pytest

from plurieval_faithfulness import study


def write_run(folder, labels, chrf):
    folder.mkdir(parents=True)
    rows = [{"example_id": f"e{i}", "reference": {"label": "entailment"}, "prediction": {"label": lab},
             "scores": {"counterfactual_minimality": c}} for i, (lab, c) in enumerate(zip(labels, chrf, strict=True))]
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_paired_comparison_against_float32(tmp_path):
    runs = {"nle-post-hoc": {
        "float32": write_run(tmp_path / "f32", ["entailment", "entailment", "neutral"], [10.0, 20.0, 30.0]),
        "int8": write_run(tmp_path / "i8", ["entailment", "neutral", "neutral"], [8.0, 20.0, 26.0])}}
    got = study.compare(runs, resamples=300)["nle-post-hoc"]
    assert got["items"] == 3
    acc, chrf = got["metrics"]["task_accuracy"], got["metrics"]["counterfactual_minimality"]
    # accuracy 2/3 → 1/3: −1/3; minimality means 20 → 18: −2. Per-item differences are −2, 0, −4, so
    # every resample's mean difference lies in [−4, 0] (the paired interval cannot leave it).
    assert acc["float32"] == pytest.approx(2 / 3) and acc["int8"] == pytest.approx(1 / 3)
    assert acc["int8_minus_float32"]["difference"] == pytest.approx(-1 / 3)
    d = chrf["int8_minus_float32"]
    assert d["difference"] == pytest.approx(-2.0)
    assert -4.0 <= d["ci_low"] <= -2.0 <= d["ci_high"] <= 0.0
    table = study.markdown({"nle-post-hoc": got}, ["float32", "int8"])
    assert "| nle-post-hoc | `counterfactual_minimality` | lower | 20.000 | 18.000 | -2.000 [" in table


def test_study_on_the_planted_model(tmp_path, planted):
    model, _ = planted
    folder = tmp_path / "planted"
    model.hf.save_pretrained(folder)
    model.tokenizer.save_pretrained(folder)
    metrics = [{"name": "cc_shap", "params": {"samples": 2, "max_output_tokens": 3}}, {"name": "chrf"}]
    runs = {"nle-post-hoc": {c: study.run_condition("nle-post-hoc", c, 2, tmp_path / "out", None, [],
                                                    model=f"hf:{folder}", metrics=metrics,
                                                    method_params={"max_new_tokens": 4, "chat": False})
                             for c in ("float32", "int8")}}
    result = study.compare(runs, resamples=100)
    assert set(result["nle-post-hoc"]["metrics"]) >= {"task_accuracy", "cc_shap", "chrf"}
    manifest = json.loads((runs["nle-post-hoc"]["int8"] / "manifest.json").read_text())
    assert "int8" in json.dumps(manifest["model"])
    png = study.plot(result, ["float32", "int8"], tmp_path / "study.png")
    assert png.stat().st_size > 2000


def test_int4_condition_on_the_planted_model(tmp_path, planted):
    """The 4-bit path (quantization=int4, torchao weight-only int4 in groups of 32): the model
    loads with 4-bit weights and still answers from the planted word (a 2-layer model of width 32
    loses little)."""
    pytest.importorskip("torchao")
    from plurieval.api import get_host

    model, items = planted
    folder = tmp_path / "planted"
    model.hf.save_pretrained(folder)
    model.tokenizer.save_pretrained(folder)
    m = get_host().get("model", "hf").create({"path": str(folder), "dtype": "float32", "quantization": "int4"})
    assert type(m.hf.model.layers[0].mlp.up_proj.weight).__name__ == "IntxUnpackedToInt8Tensor"
    preds = get_host().get("method", "nle-post-hoc").create({"max_new_tokens": 2, "chat": False}).predict(m, items[:4])
    assert [p.label for p in preds] == [ex.target["label"] for ex in items[:4]]
