"""CLI behaviour that users script against."""

import json
import os
import subprocess
import sys

HEAVY = ("torch", "transformers", "mlflow", "datasets", "sentence_transformers", "sklearn")


def _cli(*args, **env):
    return subprocess.run([sys.executable, "-m", "plurieval.cli", *args], capture_output=True, text=True,
                          env=dict(os.environ, **env), timeout=120)


def test_list_metrics_imports_nothing_heavy():
    code = (
        "import sys, json\n"
        "sys.argv = ['plurieval', 'list', 'metrics']\n"
        "from plurieval import cli\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY)!r}))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_unknown_benchmark_fails_clearly_with_suggestion():
    proc = _cli("run", "clasbenhc", "--model", "default", "--limit", "2")
    assert proc.returncode == 2
    assert "benchmark.name" in proc.stderr and "Did you mean: clasbench" in proc.stderr


def test_bad_set_value_names_field():
    proc = _cli("run", "clasbench", "--limit", "0")
    assert proc.returncode == 2 and "limit" in proc.stderr and "greater than or equal to 1" in proc.stderr


def test_show_prints_schema_and_unknown_kind_is_explained():
    proc = _cli("show", "clasbench", "--json")
    assert proc.returncode == 0, proc.stderr
    spec = json.loads(proc.stdout)[0]
    assert spec["kind"] == "benchmark" and "properties" in spec["config_schema"]
    proc = _cli("list", "metricz")
    assert proc.returncode == 2 and "metrics" in proc.stderr


def test_help_teaches():
    proc = _cli("run", "--help")
    assert proc.returncode == 0
    for text in ("--model", "--method", "--set", "--limit", "--output", "hf:"):
        assert text in proc.stdout


def test_help_keeps_every_placeholder():
    """The CLI renders help as Markdown, which swallows <placeholders>: help texts use NAME-style
    placeholders, so `--help` teaches the real shape (OUTPUT/RUN-ID/manifest.json)."""
    import re

    for args in (["run", "--help"], ["rerun", "--help"], ["leaderboard", "submit", "--help"]):
        out = _cli(*args, COLUMNS="200").stdout
        assert not re.search(r"//|/\.json|:\s*\)|hf:\s", out), (args, out)
    assert "OUTPUT/RUN-ID/manifest.json" in _cli("run", "--help", COLUMNS="200").stdout
    assert "hf:ID-OR-PATH" in _cli("run", "--help", COLUMNS="200").stdout


def test_library_noise_is_quieted_but_errors_still_show(monkeypatch):
    # torchao (the int4 extra) warns at import about GPU-only kernels on every model load; in a
    # log, transformers' weight-loading bars are carriage-return noise (the run's load stage
    # times the loading)
    import logging
    import sys

    from plurieval.cli import quiet_library_noise

    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "")  # recorded, so the test leaves it as it was
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    for name in ("torchao", "torch.utils._pytree"):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
    quiet_library_noise()
    torchao = logging.getLogger("torchao.kernel.intmm")  # a child: inherits the level
    assert not torchao.isEnabledFor(logging.WARNING) and torchao.isEnabledFor(logging.ERROR)
    assert not logging.getLogger("torch.utils._pytree").isEnabledFor(logging.WARNING)
    assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
