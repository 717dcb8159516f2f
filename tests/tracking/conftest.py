"""Fixtures for the reproducibility tests: the test-only ``tinybench`` plugin installed as a
real distribution (a ``.dist-info`` with an entry point on PYTHONPATH), so subprocesses run the
real ``plurieval`` CLI with it, and a private cache directory per test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Never touch the user's cache: every test gets its own."""
    path = tmp_path / "cache"
    monkeypatch.setenv("PLURIEVAL_CACHE_DIR", str(path))
    return path


@pytest.fixture
def cli_env(tmp_path, private_cache):
    site = tmp_path / "site"
    dist = site / "plurieval_tinybench-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: plurieval-tinybench\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[plurieval]\ntinybench = tinybench.plugin\n")
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join([str(site), str(HERE)]),
        PLURIEVAL_CACHE_DIR=str(private_cache),
        PLURIEVAL_LOAD_PLUGINS="tinybench,mlflow",
        PLURIEVAL_NO_PROGRESS="1",
        OMP_WAIT_POLICY="PASSIVE",
        OMP_NUM_THREADS="1",
    )
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("PLURIEVAL_NO_TRACKING", None)  # these tests exercise tracking on purpose
    return env


def plurieval_cmd(*args: str) -> list[str]:
    return [sys.executable, "-c", "from plurieval.cli import main; main()", *args]


def run_cli(env, *args: str, cwd=None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(plurieval_cmd(*args), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


if str(HERE) not in sys.path:  # the tinybench test plugin lives beside the tests
    sys.path.insert(0, str(HERE))


@pytest.fixture
def host():
    """An in-process host with only the test plugin (fast; no other engineer's plugins)."""
    import tinybench.plugin

    from plurieval.host import PluginHost

    h = PluginHost(autoload=False)
    h.add_plugin(tinybench.plugin, name="tinybench", distribution="plurieval-tinybench", version="0.1.0")
    assert not h.errors, h.errors
    return h


def tiny_config(output, **params):
    """A tiny-echo run config (tracking off unless a test turns it on)."""
    from plurieval.config import build_run_config

    model = params.pop("model", {"name": "tiny-test"})
    data = {"benchmark": {"name": "tiny-echo", "params": params}, "model": model, "output_dir": str(output),
            "tracking": {"enabled": False}}
    return build_run_config(data)
