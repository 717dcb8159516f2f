"""Fixtures for the sweep tests: hosts with the test-only benchmarks (``toybench``: no model,
instant; ``tinybench``: a tiny random transformers model with real forward passes, a cache and
a fitted direction), a private cache per test, and one real local Ray cluster per module."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
PLUGIN_DIRS = [TESTS / "tracking", TESTS / "leaderboard"]  # tinybench/, toybench.py
for folder in PLUGIN_DIRS:
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("PLURIEVAL_CACHE_DIR", str(path))
    return path


@pytest.fixture(scope="session")
def toy_host():
    import toybench

    from plurieval.host import PluginHost

    h = PluginHost(autoload=False)
    h.add_plugin(toybench, name="toybench", distribution="toybench-tests", version="0.0.1")
    assert not h.errors, h.errors
    return h


@pytest.fixture(scope="session")
def tiny_host():
    import tinybench.plugin

    from plurieval.host import PluginHost

    h = PluginHost(autoload=False)
    h.add_plugin(tinybench.plugin, name="tinybench", distribution="plurieval-tinybench", version="0.1.0")
    assert not h.errors, h.errors
    return h


@pytest.fixture(scope="session")
def worker_own_cache(tmp_path_factory):
    """The cache a Ray worker uses when it does not share the driver's (its node's own)."""
    return tmp_path_factory.mktemp("worker-own-cache")


@pytest.fixture(scope="module")
def ray_cluster(worker_own_cache):
    """A real local Ray cluster (2 CPUs), started once per module that asks for it (the Ray
    tests live in one module): ~9 s and ~1 GB. Workers find the test
    plugins through PYTHONPATH, as a real cluster finds installed plugins, and have a cache
    folder of their own, as a node that shares no file system with the driver would."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'plurieval[ray]')")
    env = {"PLURIEVAL_CACHE_DIR": str(worker_own_cache), "PYTHONPATH": os.pathsep.join([*map(str, PLUGIN_DIRS), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "OMP_WAIT_POLICY": "PASSIVE", "PLURIEVAL_NO_PROGRESS": "1", "PLURIEVAL_NO_TRACKING": "1",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": env}, logging_level="warning",
             log_to_driver=False)
    yield ray
    ray.shutdown()


