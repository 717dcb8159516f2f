"""HLV methods on a tiny random model (real transformers forward passes), segmentation, and the
chaosnli benchmark end to end (runner + resume); the CLI run with the default model is an
integration test."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from plurieval.config import build_run_config
from plurieval.runner import execute
from plurieval_hlv.config import CoTConfig, HLVDatasetConfig, OptionLogitsConfig
from plurieval_hlv.data import ChaosNLIDataset
from plurieval_hlv.methods import CoTSupport, OptionLogits
from plurieval_hlv.segmentation import segment

METRICS = ["kl_divergence", "js_distance", "js_divergence", "total_variation", "cross_entropy", "rank_spearman",
           "rank_kendall", "rank_exact_match", "accuracy_at_k", "entropy_calibration_error"]


@pytest.fixture(scope="module")
def examples():
    return ChaosNLIDataset(HLVDatasetConfig(split="sample")).load()[:4]


def test_segmentation_sentences_and_connectives():
    assert segment("The man is outside, but he may not be at the beach because nothing says so.") == [
        "The man is outside,", "but he may not be at the beach", "because nothing says so."]
    assert segment("1. A dog runs.\n2. Therefore it moves; however, it may be on a leash.") == [
        "A dog runs.", "Therefore it moves;", "however, it may be on a leash."]
    # fragments shorter than three words are merged, never judged alone
    assert segment("Yes. It is entailment since riding implies cycling.") == [
        "Yes. It is entailment", "since riding implies cycling."]
    assert segment("") == [] and segment("   \n ") == []
    # "so" inside "sofa"/"soft" must not split; "also blue." (2 words) is merged back
    assert segment("The sofa is soft and also blue.") == ["The sofa is soft and also blue."]
    assert segment("The sofa is soft, so people sit on it.") == ["The sofa is soft,", "so people sit on it."]


def test_option_logits_reads_the_letter_logprobs(tiny_lm, examples):
    preds = OptionLogits(OptionLogitsConfig()).predict(tiny_lm, examples)
    prompts = [OptionLogits(OptionLogitsConfig()).prompt(e)[0] for e in examples]
    lp = tiny_lm.next_token_logprobs(prompts).numpy()
    ids = [tiny_lm.tokenizer.encode(c, add_special_tokens=False)[0] for c in "ABC"]
    for p, row in zip(preds, lp, strict=True):
        assert p.scores == pytest.approx(row[ids].tolist(), abs=1e-5)
        z = np.exp(row[ids] - row[ids].max())
        assert p.distribution == pytest.approx((z / z.sum()).tolist(), abs=1e-6)
        assert p.label == ["entailment", "neutral", "contradiction"][int(np.argmax(row[ids]))]


def test_option_logits_linear_and_temperature(tiny_lm, examples):
    lin = OptionLogits(OptionLogitsConfig(normalization="linear")).predict(tiny_lm, examples)
    for p in lin:
        assert sum(p.distribution) == pytest.approx(1.0) and min(p.distribution) == 0.0
    hot = OptionLogits(OptionLogitsConfig(temperature=100.0)).predict(tiny_lm, examples)
    assert max(max(p.distribution) for p in hot) < 0.4  # high temperature -> close to uniform


def test_cot_pipeline(tiny_lm, examples):
    preds = CoTSupport(CoTConfig(max_new_tokens=24, max_statements=3)).predict(tiny_lm, examples)
    for p in preds:
        k = 3
        assert len(p.scores) == k and sum(p.distribution) == pytest.approx(1.0)
        assert all(-1 <= s <= 1 for s in p.scores)
        mat = np.asarray(p.extra["support"])
        n = len(p.extra["statements"])
        assert n <= 3 and (mat.shape == (n, k))
        if n:  # option score = mean over statements of (2s - 1)
            assert p.scores == pytest.approx((2 * mat - 1).mean(axis=0).tolist(), abs=1e-3)
        assert p.extra["ranking"][0] == p.label


def _run(host, tmp_path, method="option-logits", **extra):
    cfg = build_run_config({"benchmark": {"name": "chaosnli", "params": {"split": "sample"}}, "model": "tiny",
                            "method": method, "limit": 5, "output_dir": str(tmp_path), "batch_size": 2,
                            "tracking": {"enabled": False}, **extra})
    return execute(cfg, host)


def test_chaosnli_benchmark_end_to_end(host, tmp_path):
    out = _run(host, tmp_path)
    s = out.summary
    assert list(s["metrics"]) == METRICS
    assert s["num_examples"] == 5 and s["spec_version"] == "1"
    for name in METRICS:
        ci = s["metrics_ci"][name]
        if ci["value"] is not None and ci["ci_low"] is not None:
            assert ci["ci_low"] - 1e-9 <= ci["value"] <= ci["ci_high"] + 1e-9
    # the uniform baseline: cross-entropy is ln 3, rank correlations undefined (constant scores)
    assert s["baselines"]["uniform"]["cross_entropy"] == pytest.approx(np.log(3))
    assert s["baselines"]["uniform"]["rank_spearman"] is None
    rows = [json.loads(x) for x in (out.run_dir / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 5 and set(rows[0]["scores"]) == set(METRICS)
    manifest = json.loads((out.run_dir / "manifest.json").read_text())
    assert any("CC-BY-NC" in (d.get("license") or "") for d in manifest["datasets"])


def test_any_item_counts_file_through_the_benchmark(host, tmp_path):
    """The generic "item + options + annotator counts" loader in place of ChaosNLI, as from the
    CLI: `--set dataset=item-counts --set dataset.path=items.jsonl`."""
    from plurieval.config import apply_overrides

    items = tmp_path / "items.jsonl"
    rows = [{"id": f"q{i}", "text": f"Is item {i} fine?", "options": ["yes", "no", "unsure"], "counts": [6, 3, 1]}
            for i in range(3)]
    items.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = apply_overrides({"benchmark": "chaosnli", "model": "tiny", "method": "option-logits",
                            "output_dir": str(tmp_path / "runs"), "tracking": {"enabled": False}},
                           ["dataset=item-counts", f"dataset.path={items}"])
    out = execute(build_run_config(data), host)
    s = out.summary
    assert s["num_examples"] == 3 and s["data"]["split"] is None
    results = [json.loads(x) for x in (out.run_dir / "results.jsonl").read_text().splitlines()]
    assert [r["reference"] for r in results] == [[0.6, 0.3, 0.1]] * 3
    assert all(len(r["prediction"]["distribution"]) == 3 for r in results)
    # each row's scores are those of its own prediction against its own reference
    kl = sum(h * np.log(h / m) for h, m in zip(results[0]["reference"], results[0]["prediction"]["distribution"], strict=True))
    assert results[0]["scores"]["kl_divergence"] == pytest.approx(kl, rel=1e-6)
    # uniform over three options vs (0.6, 0.3, 0.1): cross-entropy is ln 3 whatever the target
    assert s["baselines"]["uniform"]["cross_entropy"] == pytest.approx(np.log(3))


def test_chaosnli_resumes(host, tmp_path):
    first = _run(host, tmp_path)
    (first.run_dir / "summary.json").unlink()
    lines = (first.run_dir / "results.jsonl").read_text().splitlines()
    (first.run_dir / "results.jsonl").write_text("\n".join(lines[:2]) + "\n")  # as if killed after 2
    again = _run(host, tmp_path)
    assert again.resumed and again.summary["metrics"] == pytest.approx(first.summary["metrics"], nan_ok=True)


@pytest.mark.integration
def test_cli_run_chaosnli_default_model(host, tmp_path):
    if "default" not in {s.name for s in host.registry.all("model")}:
        pytest.skip("model 'default' is not registered yet (models plugin)")
    res = subprocess.run([sys.executable, "-c", "from plurieval.cli import main; main()", "run", "chaosnli",
                          "--model", "default", "--limit", "20", "--output", str(tmp_path), "--batch-size", "10"],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "kl_divergence" in res.stdout and "rank_spearman" in res.stdout
    summary = json.loads(next(tmp_path.rglob("summary.json")).read_text())
    assert summary["num_examples"] == 20
    shutil.rmtree(tmp_path, ignore_errors=True)
