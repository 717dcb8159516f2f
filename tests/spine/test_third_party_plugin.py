"""A separate distribution (tests/third_party_plugin) is pip-installed, discovered through the
entry-point group, listed, used (run, score, its own CLI command), then uninstalled and gone."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "third_party_plugin"


def pip(*args):
    return subprocess.run([sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "-q"],
                          capture_output=True, text=True, timeout=300)


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "plurieval.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd, env=dict(os.environ, PLURIEVAL_NO_PROGRESS="1"))


@pytest.fixture
def installed_plugin(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(SOURCE, src)
    proc = pip("install", "--no-deps", "--no-build-isolation", str(src))
    assert proc.returncode == 0, proc.stderr
    try:
        yield
    finally:
        pip("uninstall", "-y", "plurieval-example")


def test_third_party_plugin_lifecycle(installed_plugin, tmp_path):
    plugins = {p["name"]: p for p in json.loads(cli("plugins", "--json").stdout)}
    example = plugins["example"]
    assert example["distribution"] == "plurieval-example" and example["version"] == "0.3.1"
    assert example["contributions"] == {"datasets": ["example-words"], "methods": ["example-guess", "example-random"],
                                        "metrics": ["example-exact-match", "example-answer-words"],
                                        "benchmarks": ["example-bench"]}
    assert "register_commands" in example["hooks"] and not example["errors"]
    assert "clasbench" in plugins and plugins["clasbench"]["distribution"] == "plurieval"

    listed = json.loads(cli("list", "methods", "--json").stdout)
    assert {"name": "example-guess", "package": "plurieval-example"}.items() <= next(
        m for m in listed if m["name"] == "example-guess").items()

    # usable: a full run through the real runner, standalone scoring, and its own command
    proc = cli("run", "example-bench", "--output", str(tmp_path / "runs"))
    assert proc.returncode == 0, proc.stderr
    run_dir = next((tmp_path / "runs").iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["metrics"]["example-exact-match"] == pytest.approx(3 / 6)  # 3 of the 6 words are nouns
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["components"]["method"]["package"] == "plurieval-example"
    assert manifest["plugins"]["example"] == {"distribution": "plurieval-example", "version": "0.3.1"}

    data = tmp_path / "preds.jsonl"
    data.write_text('{"prediction": "Noun", "reference": "noun"}\n{"prediction": "verb", "reference": "noun"}\n')
    scored = json.loads(cli("score", "example-exact-match", str(data)).stdout)
    assert scored["score"] == 0.5 and scored["per_example"] == [1.0, 0.0]
    scored = json.loads(cli("score", "example-exact-match", str(data), "--set", "case_sensitive=true").stdout)
    assert scored["score"] == 0.0 and scored["config"] == {"case_sensitive": True}

    assert cli("example-hello", "--name", "tester").stdout.strip() == "hello tester from plurieval-example"

    # Its steering method takes part in both steering benchmarks, and its metric in a CLaS-Bench
    # run, through the public protocol alone (tiny random model: structure, not quality).
    _steer_on_both_benchmarks(tmp_path)

    proc = pip("uninstall", "-y", "plurieval-example")
    assert proc.returncode == 0, proc.stderr
    plugins = {p["name"] for p in json.loads(cli("plugins", "--json").stdout)}
    assert "example" not in plugins
    proc = cli("run", "example-bench", "--output", str(tmp_path / "runs2"))
    assert proc.returncode == 2 and "unknown benchmark 'example-bench'" in proc.stderr


def _steer_on_both_benchmarks(tmp_path):
    from plurieval.models.testing import tiny_model

    folder = tmp_path / "tiny"
    lm = tiny_model("llama", seed=1)
    lm.hf.save_pretrained(folder)
    lm.tokenizer.save_pretrained(folder)
    model = ["--model", f"hf:{folder}", "--set", "model.tokenizer_class=ByT5Tokenizer", "--limit", "2"]
    out = tmp_path / "steer"
    proc = cli("run", "clasbench", *model, "--method", "example-random", "--output", str(out), "--set",
               "target_languages=de", "--set", "layers=[1,2]", "--set", "dev_limit=2", "--set", "max_new_tokens=3",
               "--set", "method.alphas=[1.0]", "--set", "plots=false", "--set", "extra_metrics=[example-answer-words]")
    assert proc.returncode == 0, proc.stderr
    run_dir = next(out.glob("clasbench_example-random_*"))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["per_language"]["de"]["layer"] in (1, 2) and "steering_score" in summary["metrics"]
    rows = [json.loads(x) for x in (run_dir / "results.jsonl").read_text().splitlines()]
    words = [len(r["prediction"].split()) for r in rows]
    assert [r["scores"]["example-answer-words"] for r in rows] == words
    assert summary["metrics"]["example-answer-words"] == pytest.approx(sum(words) / len(words))
    assert all("ratio_to_question" in r["details"]["example-answer-words"] for r in rows)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["components"]["method"]["package"] == "plurieval-example"
    assert manifest["components"]["extra_metrics.0"]["package"] == "plurieval-example"

    proc = cli("run", "polyrefuse", *model, "--method", "example-random", "--output", str(out), "--set",
               "languages=en,de", "--set", "source=sample", "--set", "fit_prompts=4", "--set", "max_new_tokens=3",
               "--set", "selection.prompts=2")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((next(out.glob("polyrefuse_example-random_*")) / "summary.json").read_text())
    assert [len(row) for row in summary["compliance_matrix"]["after"]] == [2, 2]
    assert set(summary["selected"]) == {"en", "de"} and all("layer" in v for v in summary["selected"].values())
