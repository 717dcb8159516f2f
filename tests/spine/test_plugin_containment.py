"""Hostile or broken plugins are contained: every failure names the plugin, built-in commands
cannot be replaced, a clash with a first-party name is reported at load time, a misspelt hook
is an error naming the closest real hook, and a bad factory path is one clear error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import typer
from plugins_for_tests import PluginA

import plurieval.host as host_module
from plurieval.errors import PluriError
from plurieval.hookspecs import hookimpl
from plurieval.host import PluginHost
from plurieval.specs import MethodSpec, MetricSpec


class _EntryPoint:
    def __init__(self, name, dist, load):
        self.name, self.dist, self._load = name, SimpleNamespace(name=dist, version="1.0"), load

    def load(self):
        return self._load()


def _host_from_entry_points(monkeypatch, *eps):
    monkeypatch.setattr(host_module.metadata, "entry_points", lambda group: list(eps))
    monkeypatch.delenv("PLURIEVAL_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("PLURIEVAL_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    return PluginHost()


def _exits_at_import():
    raise SystemExit(3)


def _base_exception_at_import():
    raise BaseException("a plugin raising BaseException")


def test_sys_exit_or_base_exception_at_import_is_a_plugin_error(monkeypatch):
    host = _host_from_entry_points(
        monkeypatch,
        _EntryPoint("exiter", "dist-exit", _exits_at_import),
        _EntryPoint("based", "dist-base", _base_exception_at_import),
        _EntryPoint("good", "dist-a", PluginA),
    )
    assert sorted(e.plugin for e in host.errors) == ["based", "exiter"]
    by_plugin = {e.plugin: str(e) for e in host.errors}
    assert "SystemExit" in by_plugin["exiter"] and "dist-exit" in by_plugin["exiter"]
    assert "BaseException" in by_plugin["based"]
    assert host.get("method", "only-in-a").package == "dist-a"  # the others still load


def test_keyboard_interrupt_is_never_swallowed(monkeypatch):
    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _host_from_entry_points(monkeypatch, _EntryPoint("ctrl-c", "dist-c", interrupted))


class ExitsInHook:
    @hookimpl
    def register_methods(self, register):
        raise SystemExit("no methods for you")


class BaseInObserver:
    @hookimpl
    def run_started(self, run):
        raise BaseException("observer crashed hard")


def test_base_exception_in_hooks_is_reported_with_the_plugin_name():
    host = PluginHost(autoload=False)
    host.add_plugin(ExitsInHook(), name="exits", distribution="dist-exits")
    host.add_plugin(PluginA(), name="a", distribution="dist-a")
    assert [e.plugin for e in host.errors] == ["exits"] and "SystemExit" in str(host.errors[0])
    host.add_plugin(BaseInObserver(), name="observer", distribution="dist-obs")
    host.call_each("run_started", run=None)  # warns, does not raise


def test_misspelt_hook_is_an_error_naming_the_plugin_and_the_closest_hook():
    class Misspelt:
        @hookimpl
        def register_metric(self, register):  # the hook is register_metrics
            register(MetricSpec(name="never-registered", factory="builtins:dict"))

        @hookimpl
        def register_methods(self, register):
            register(MethodSpec(name="still-registered", factory="builtins:dict"))

    host = PluginHost(autoload=False)
    host.add_plugin(Misspelt(), name="typo", distribution="dist-typo")
    assert len(host.errors) == 1
    msg = str(host.errors[0])
    assert "'typo'" in msg and "dist-typo" in msg
    assert "register_metric" in msg and "did you mean 'register_metrics'" in msg
    assert host.get("method", "still-registered")  # its correctly named hooks still count
    assert host.describe()[0]["errors"]


class ClashesWithFirstParty:
    @hookimpl
    def register_metrics(self, register):
        register(MetricSpec(name="js_distance", factory="builtins:dict", description="a third party's"))


def test_clash_with_a_first_party_name_is_reported_at_load_and_the_bare_name_stays_first_party():
    class FirstParty:
        @hookimpl
        def register_metrics(self, register):
            register(MetricSpec(name="js_distance", factory="builtins:dict", description="first party"))

    for order in ((ClashesWithFirstParty, FirstParty), (FirstParty, ClashesWithFirstParty)):
        host = PluginHost(autoload=False)
        for cls in order:
            name, dist = ("hlv", "plurieval") if cls is FirstParty else ("acme", "acme-metrics")
            host.add_plugin(cls(), name=name, distribution=dist)
        assert not host.errors
        (warning,) = host.warnings
        text = str(warning)
        assert "acme-metrics" in text and "plurieval" in text and "'acme-metrics/js_distance'" in text
        assert host.get("metric", "js_distance").description == "first party"  # a benchmark keeps working
        assert host.get("metric", "acme-metrics/js_distance").description == "a third party's"
        assert any(w for p in host.describe() if p["name"] == "acme" for w in p["warnings"])


def test_a_bad_factory_path_is_one_clear_error_naming_the_component_and_plugin():
    class BadFactory:
        @hookimpl
        def register_methods(self, register):
            register(MethodSpec(name="ghost", factory="no_such_module_anywhere.sub:Thing"))
            register(MethodSpec(name="ghost2", factory="builtins:no_such_attribute"))

    host = PluginHost(autoload=False)
    host.add_plugin(BadFactory(), name="bad", distribution="dist-bad")
    for name, missing in (("ghost", "no_such_module_anywhere"), ("ghost2", "no_such_attribute")):
        with pytest.raises(PluriError) as exc:
            host.create("method", name)
        msg = str(exc.value)
        assert f"method {name!r}" in msg and "'bad'" in msg and "dist-bad" in msg and missing in msg


def test_a_malformed_factory_string_is_refused_at_registration():
    class Malformed:
        @hookimpl
        def register_methods(self, register):
            register(MethodSpec(name="odd", factory="not a module path"))

    host = PluginHost(autoload=False)
    host.add_plugin(Malformed(), name="odd", distribution="dist-odd")
    assert host.errors and "factory" in str(host.errors[0])


class ReplacesBuiltins:
    @hookimpl
    def register_commands(self, cli):
        @cli.command("run")
        def hijacked_run():
            print("HIJACKED")

        @cli.command()
        def list():  # named like a built-in on purpose
            print("HIJACKED")

        cli.registered_commands.clear()  # and try to remove what is there

        @cli.command("extra-tool")
        def extra():
            print("extra ran")


def test_register_commands_cannot_replace_or_remove_built_in_commands():
    from typer.testing import CliRunner

    cli = typer.Typer()

    @cli.command("run")
    def run():
        print("the real run")

    @cli.command("list")
    def list_():
        print("the real list")

    host = PluginHost(autoload=False)
    host.add_plugin(ReplacesBuiltins(), name="hijack", distribution="dist-hijack")
    host.add_commands(cli)
    names = [c.name for c in cli.registered_commands]
    assert names.count("run") == 1 and names.count("list") == 1 and "extra-tool" in names
    runner = CliRunner()
    assert runner.invoke(cli, ["run"]).output.strip() == "the real run"
    assert runner.invoke(cli, ["list"]).output.strip() == "the real list"
    assert runner.invoke(cli, ["extra-tool"]).output.strip() == "extra ran"
    msgs = [str(e) for e in host.errors]
    assert any("'hijack'" in m and "'run'" in m and "built-in" in m for m in msgs), msgs
    assert any("'list'" in m for m in msgs), msgs


def test_real_cli_with_a_plugin_that_exits_at_import(tmp_path):
    """The probe as a user meets it: `sys.exit()` in a plugin module used to end every command
    silently; now the command runs and the plugin is named in a warning."""
    dist = tmp_path / "exiting_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: exiting-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[plurieval]\nexiting = exiting_plugin_mod\n")
    (tmp_path / "exiting_plugin_mod.py").write_text("import sys\nsys.exit(0)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
               PLURIEVAL_LOAD_PLUGINS="exiting,hlv")
    proc = subprocess.run([sys.executable, "-m", "plurieval.cli", "list", "metrics", "--json"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert any(m["name"] == "js_distance" for m in json.loads(proc.stdout))
    assert "exiting" in proc.stderr and "SystemExit" in proc.stderr
