"""Plugin host: collisions, did-you-mean, broken-plugin isolation, allow-lists, tracing."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from plugins_for_tests import Broken, PluginA, PluginB, SelfDuplicate

from plurieval.errors import AmbiguousComponentError, UnknownComponentError
from plurieval.host import PluginHost


def make_host(*plugins):
    host = PluginHost(autoload=False)
    for obj, name, dist in plugins:
        host.add_plugin(obj, name=name, distribution=dist, version="1.0")
    return host


def test_collision_across_distributions_names_both_and_qualified_names_resolve():
    host = make_host((PluginA(), "a", "dist-a"), (PluginB(), "b", "dist-b"))
    with pytest.raises(AmbiguousComponentError) as exc:
        host.get("method", "shared-method")
    msg = str(exc.value)
    assert "dist-a" in msg and "dist-b" in msg and "'dist-a/shared-method'" in msg
    assert host.get("method", "dist-a/shared-method").package == "dist-a"
    assert host.get("method", "dist-b/shared-method").package == "dist-b"
    assert host.get("method", "only-in-a").package == "dist-a"  # no collision, bare name works
    assert "dist-a/shared-method" in host.registry.names("method")


def test_unknown_name_suggests_closest():
    host = make_host((PluginA(), "a", "dist-a"))
    with pytest.raises(UnknownComponentError) as exc:
        host.get("metric", "kl_divergense_test")
    assert exc.value.suggestions[0] == "kl_divergence_test"
    assert "Did you mean: kl_divergence_test" in str(exc.value)
    with pytest.raises(UnknownComponentError, match="unknown method 'dist-z/only-in-a'"):
        host.get("method", "dist-z/only-in-a")


def test_broken_hook_is_reported_by_name_and_others_still_load():
    host = make_host((Broken(), "broken", "dist-broken"), (PluginA(), "a", "dist-a"))
    assert [e.plugin for e in host.errors] == ["broken"]
    assert "boom in register_methods" in str(host.errors[0]) and "register_methods" in str(host.errors[0])
    # what the broken hook registered before raising is withdrawn
    with pytest.raises(UnknownComponentError):
        host.get("method", "half-registered")
    assert host.get("method", "only-in-a")
    described = {p["name"]: p for p in host.describe()}
    assert described["broken"]["errors"] and not described["a"]["errors"]


def test_duplicate_within_one_distribution_is_a_plugin_error():
    host = make_host((SelfDuplicate(), "dup", "dist-dup"))
    assert host.errors and "registered twice" in str(host.errors[0])


def _run_cli(args, env_extra=None, pythonpath=None):
    env = dict(os.environ, **(env_extra or {}))
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "plurieval.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_broken_entry_point_import_is_isolated(tmp_path):
    """A real distribution on sys.path whose plugin module fails to import."""
    dist = tmp_path / "broken_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[plurieval]\nbroken = broken_plugin_mod\n")
    (tmp_path / "broken_plugin_mod.py").write_text("import a_module_that_does_not_exist\n")
    proc = _run_cli(["plugins", "--json"], pythonpath=tmp_path)
    assert proc.returncode == 0, proc.stderr
    plugins = {p["name"]: p for p in json.loads(proc.stdout)}
    assert plugins["broken"]["distribution"] == "broken-plugin"
    assert "a_module_that_does_not_exist" in plugins["broken"]["errors"][0]
    assert plugins["models"]["errors"] == [] and plugins["models"]["distribution"] == "plurieval"


def test_allow_list_disable_autoload_and_trace():
    proc = _run_cli(["plugins", "--json"], {"PLURIEVAL_LOAD_PLUGINS": "hlv,litex"})
    assert sorted(p["name"] for p in json.loads(proc.stdout)) == ["hlv", "litex"]
    proc = _run_cli(["plugins", "--json"], {"PLURIEVAL_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert json.loads(proc.stdout) == []
    proc = _run_cli(["plugins", "--json"], {"PLURIEVAL_DISABLE_PLUGIN_AUTOLOAD": "1", "PLURIEVAL_LOAD_PLUGINS": "models"})
    assert [p["name"] for p in json.loads(proc.stdout)] == ["models"]
    proc = _run_cli(["list", "models"], {"PLURIEVAL_TRACE": "1", "PLURIEVAL_LOAD_PLUGINS": "models"})
    assert "call register_models -> plugin models" in proc.stderr


def test_every_hook_is_documented():
    from plurieval import hookspecs

    hooks = [n for n in dir(hookspecs) if n.startswith(("register_", "run_", "example_", "metric_", "artifact_"))]
    assert len(hooks) >= 11
    for name in hooks:
        doc = textwrap.dedent(getattr(hookspecs, name).__doc__ or "")
        assert len(doc) > 40, f"hook {name} needs a docstring saying when it is called and what it returns"


def test_two_distributions_with_one_entry_point_name_both_load(monkeypatch):
    """A third party naming its entry point like a first-party plugin ("mlflow") must not vanish:
    the second is loaded as "distribution/name" and both contributions are there."""
    from types import SimpleNamespace

    import plurieval.host as host_module

    class FakeEntryPoint:
        def __init__(self, name, dist, obj):
            self.name, self.dist, self._obj = name, SimpleNamespace(name=dist, version="1.0"), obj

        def load(self):
            return self._obj

    eps = [FakeEntryPoint("same", "dist-a", PluginA()), FakeEntryPoint("same", "dist-b", PluginB()),
           FakeEntryPoint("same", "dist-a", PluginA())]  # dist-a twice on sys.path: loaded once
    monkeypatch.setattr(host_module.metadata, "entry_points", lambda group: eps)
    monkeypatch.delenv("PLURIEVAL_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("PLURIEVAL_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    host = PluginHost()
    assert sorted(host.plugins) == ["dist-b/same", "same"] and not host.errors
    assert host.get("method", "dist-a/shared-method").package == "dist-a"
    assert host.get("method", "dist-b/shared-method").package == "dist-b"
