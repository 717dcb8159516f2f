"""The plugin host: finds plugins (entry-point group ``plurieval``), calls their contribution
hooks, and fans lifecycle events out to observers.

Environment switches (as in datasette and pytest):

- ``PLURIEVAL_LOAD_PLUGINS=a,b``: load only these plugins (entry-point or distribution names);
  set to an empty string to load none.
- ``PLURIEVAL_DISABLE_PLUGIN_AUTOLOAD=1``: load no entry-point plugin except those named in
  ``PLURIEVAL_LOAD_PLUGINS``.
- ``PLURIEVAL_TRACE=1``: log every hook call (to stderr, logger ``plurieval.hooks``).

A plugin that fails to import, or whose hook raises (any exception, ``SystemExit`` and other
``BaseException``s included; only ``KeyboardInterrupt`` goes through), is recorded with its name
and error in ``host.errors`` (shown by ``plurieval plugins`` and warned about by every command);
the other plugins load as usual. So is a hook implementation whose name is not a hook (a typo
such as ``register_metric``: the error names the closest hook) and a command that would replace
a built-in one. A component whose name another distribution also registers is noted in
``host.warnings`` at load time; a first-party component keeps its bare name, the other one is
reachable as ``distribution/name``.
"""

from __future__ import annotations

import difflib
import logging
import os
import sys
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from plurieval import hookspecs
from plurieval.errors import NameClashWarning, PluginLoadError
from plurieval.registry import FIRST_PARTY, DuplicateComponentError, Registry
from plurieval.specs import SPEC_TYPES, ComponentSpec, Kind

ENTRY_POINT_GROUP = "plurieval"
CONTRIBUTION_HOOKS: dict[str, Kind] = {
    "register_datasets": "dataset",
    "register_methods": "method",
    "register_metrics": "metric",
    "register_benchmarks": "benchmark",
    "register_models": "model",
    "register_resources": "resource",
}
LIFECYCLE_HOOKS = ("run_started", "example_scored", "metric_computed", "artifact_written", "run_finished",
                   "sweep_started", "sweep_run_finished", "sweep_finished")
ALL_HOOKS = (*CONTRIBUTION_HOOKS, "register_commands", *LIFECYCLE_HOOKS)

log = logging.getLogger("plurieval.hooks")


@dataclass
class PluginInfo:
    name: str
    distribution: str | None = None
    version: str | None = None
    module: str | None = None
    hooks: list[str] = field(default_factory=list)
    contributions: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _contained(err: BaseException) -> bool:
    """Whether a plugin's failure is contained (recorded, the others go on): everything but a
    user's Ctrl-C, which must stop plurieval as it stops any program."""
    return not isinstance(err, KeyboardInterrupt)


def _env_list(var: str) -> list[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return [p.strip() for p in raw.split(",") if p.strip()]


class PluginHost:
    def __init__(self, *, autoload: bool = True) -> None:
        self.pm = pluggy.PluginManager("plurieval")
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.plugins: dict[str, PluginInfo] = {}
        self.errors: list[PluginLoadError] = []
        self.warnings: list[NameClashWarning] = []
        self._command_targets: set[int] = set()
        self.trace = os.environ.get("PLURIEVAL_TRACE", "") not in ("", "0", "false")
        if self.trace:
            self._enable_trace()
        if autoload:
            self.load_entrypoints()

    # --- loading --------------------------------------------------------------------------------

    def load_entrypoints(self) -> None:
        allow = _env_list("PLURIEVAL_LOAD_PLUGINS")
        if os.environ.get("PLURIEVAL_DISABLE_PLUGIN_AUTOLOAD", "").strip().lower() not in ("", "0", "false", "no") and allow is None:
            allow = []
        seen: dict[str, str | None] = {}
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist else None
            name = ep.name
            if name in seen:
                if seen[name] == dist:  # the same distribution seen twice on sys.path
                    continue
                # Two distributions chose the same entry-point name (say a third party's "mlflow"):
                # both load; the later one under "distribution/name", so neither vanishes.
                name = f"{dist}/{ep.name}"
                log.warning("plugin name %r is used by %s and %s; loading the second as %r",
                            ep.name, seen[ep.name], dist, name)
            seen.setdefault(ep.name, dist)
            if allow is not None and ep.name not in allow and name not in allow and (dist or "") not in allow:
                continue
            version = ep.dist.version if ep.dist else None
            try:
                module = ep.load()
            except BaseException as err:  # a broken plugin must not take the others down
                if not _contained(err):
                    raise
                self._record_error(PluginLoadError(name, dist, "import", err), name, dist, version)
                continue
            self.add_plugin(module, name=name, distribution=dist, version=version)

    def add_plugin(
        self, plugin: Any, *, name: str, distribution: str | None = None, version: str | None = None
    ) -> None:
        """Register a plugin object or module and collect its contributions."""
        info = self.plugins.setdefault(name, PluginInfo(name, distribution, version))
        info.module = getattr(plugin, "__name__", type(plugin).__name__)
        try:
            self.pm.register(plugin, name=name)
        except BaseException as err:
            if not _contained(err):
                raise
            self._record_error(PluginLoadError(name, distribution, "registration", err), name, distribution, version)
            return
        info.hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
        self._check_hook_names(plugin, name, distribution)
        for hook, kind in CONTRIBUTION_HOOKS.items():
            self._collect(hook, kind, name, distribution or name)

    def _check_hook_names(self, plugin: Any, name: str, distribution: str | None) -> None:
        """pluggy's ``check_pending`` for one plugin: a hook implementation without a hook spec
        (a misspelt name) would load silently and contribute nothing; it is an error naming the
        closest hook instead."""
        for caller in self.pm.get_hookcallers(plugin) or []:
            if caller.has_spec():
                continue
            impls = [i for i in caller.get_hookimpls() if i.plugin is plugin and not i.optionalhook]
            if not impls:
                continue
            close = difflib.get_close_matches(caller.name, ALL_HOOKS, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else f" (hooks: {', '.join(ALL_HOOKS)})"
            err = AttributeError(f"{caller.name!r} is not a plurieval hook, so it would never be called{hint}")
            self._record_error(PluginLoadError(name, distribution, "registration", err), name, distribution,
                               self.plugins[name].version)

    def _collect(self, hook: str, kind: Kind, plugin: str, package: str) -> None:
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            if impl.plugin_name != plugin:
                continue
            spec_type = SPEC_TYPES[kind]
            info = self.plugins[plugin]

            def register(spec: ComponentSpec, _kind: Kind = kind, _type: type = spec_type, info: PluginInfo = info) -> None:
                if not isinstance(spec, _type):
                    raise TypeError(f"{hook} expects {_type.__name__} objects, got {type(spec).__name__}")
                spec = spec.with_origin(package, plugin)
                self.registry.add(spec)
                info.contributions.setdefault(_kind + "s", []).append(spec.name)
                self._note_clashes(spec)

            try:
                self._call(impl, hook, {"register": register})
            except (BaseException, DuplicateComponentError) as err:
                if not _contained(err):
                    raise
                self.registry.remove_plugin(plugin)
                info.contributions.clear()
                self.warnings = [w for w in self.warnings if w.plugin != plugin]
                self._record_error(PluginLoadError(plugin, package, hook, err), plugin, package, info.version)
                return

    def _note_clashes(self, spec: ComponentSpec) -> None:
        """Report, when it happens (not when a benchmark first asks for the name), that two
        distributions register one name, with the qualified names that tell them apart."""
        others = [s for s in self.registry.same_name(spec) if s.package != spec.package]
        if not others:
            return
        for other in others:
            third_party = spec if other.package == FIRST_PARTY else other
            first = other if third_party is spec else spec
            warning = NameClashWarning(third_party, first)
            self.warnings.append(warning)
            info = self.plugins.get(third_party.plugin)
            if info is not None:
                info.warnings.append(str(warning))
            logging.getLogger("plurieval").warning("%s", warning)

    def _record_error(self, err: PluginLoadError, name: str, dist: str | None, version: str | None) -> None:
        self.errors.append(err)
        info = self.plugins.setdefault(name, PluginInfo(name, dist, version))
        info.errors.append(str(err))
        logging.getLogger("plurieval").warning("%s", err)

    # --- calling hooks ------------------------------------------------------------------------

    def _call(self, impl: Any, hook: str, kwargs: dict[str, Any]) -> Any:
        if self.trace:
            log.info("call %s -> plugin %s", hook, impl.plugin_name)
        return impl.function(**{a: kwargs[a] for a in impl.argnames})

    def call_each(self, hook: str, **kwargs: Any) -> None:
        """Call every implementation of ``hook``; one observer failing warns (naming the plugin)
        and does not stop the others or the run."""
        for impl in reversed(getattr(self.pm.hook, hook).get_hookimpls()):
            try:
                self._call(impl, hook, kwargs)
            except BaseException as err:
                if not _contained(err):
                    raise
                logging.getLogger("plurieval").warning(
                    "plugin %r failed in %s: %s: %s", impl.plugin_name, hook, type(err).__name__, err
                )

    def add_commands(self, cli: Any) -> None:
        """Let each plugin add commands. A plugin registers into a sandbox of its own, whose
        commands are then copied into ``cli`` one by one: it can neither replace nor remove a
        built-in command (or another plugin's), and each refused name is a plugin error."""
        if id(cli) in self._command_targets:  # once per CLI object (main() may run twice in one process)
            return
        self._command_targets.add(id(cli))
        taken = set(_command_names(cli))
        for impl in self.pm.hook.register_commands.get_hookimpls():
            info = self.plugins.get(impl.plugin_name)
            dist, version = (info.distribution, info.version) if info else (None, None)

            def refuse(message: str, _impl: Any = impl, _dist: str | None = dist, _version: str | None = version) -> None:
                err = PluginLoadError(_impl.plugin_name, _dist, "register_commands", ValueError(message))
                self._record_error(err, _impl.plugin_name, _dist, _version)

            sandbox = _command_sandbox()
            try:
                self._call(impl, "register_commands", {"cli": sandbox})
            except BaseException as err:
                if not _contained(err):
                    raise
                self._record_error(PluginLoadError(impl.plugin_name, dist, "register_commands", err),
                                   impl.plugin_name, dist, version)
                continue
            for kind, name, item in sandbox.added:
                if not name:
                    refuse(f"a command group added without a name ({item!r}); give add_typer(..., name=...)")
                elif name in taken:
                    refuse(f"command {name!r} already exists (a built-in or another plugin's command); "
                           f"the plugin's {name!r} was not added: give it another name")
                else:
                    taken.add(name)
                    (cli.registered_commands if kind == "command" else cli.registered_groups).append(item)

    def _enable_trace(self) -> None:
        if not log.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("[plurieval.hooks] %(message)s"))
            log.addHandler(handler)
            log.setLevel(logging.INFO)
            log.propagate = False

    # --- lookups --------------------------------------------------------------------------------

    def get(self, kind: Kind, name: str) -> ComponentSpec:
        if kind == "metric" and name.startswith("evaluate:"):  # a Hugging Face evaluate module
            from plurieval.hf_evaluate import spec_for

            return spec_for(name)
        return self.registry.get(kind, name)

    def create(self, kind: Kind, name: str, params: dict[str, Any] | None = None, *, where: str = "") -> Any:
        return self.get(kind, name).create(params, where=where)

    def describe(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in sorted(self.plugins.values(), key=lambda p: p.name)]


def _command_name(info: Any) -> str | None:
    """The name typer gives a registered command (its explicit name, else the function's)."""
    if getattr(info, "name", None):
        return info.name
    callback = getattr(info, "callback", None)
    return callback.__name__.lower().replace("_", "-") if callback is not None else None


def _group_name(info: Any) -> str | None:
    if getattr(info, "name", None):
        return info.name
    instance = getattr(info, "typer_instance", None)
    name = getattr(getattr(instance, "info", None), "name", None)
    return name if isinstance(name, str) and name else None


def _command_names(cli: Any) -> list[str]:
    names = [_command_name(c) for c in getattr(cli, "registered_commands", [])]
    names += [_group_name(g) for g in getattr(cli, "registered_groups", [])]
    return [n for n in names if n]


def _command_sandbox() -> Any:
    import typer  # here, not at module level: loading plugins must not need the CLI stack

    class CommandSandbox(typer.Typer):
        """What ``register_commands`` receives: a Typer that records every command and group
        the plugin adds, so the host decides what reaches the real CLI."""

        def __init__(self) -> None:
            super().__init__()
            self.added: list[tuple[str, str | None, Any]] = []

        def command(self, name: str | None = None, *args: Any, **kwargs: Any) -> Any:
            register = super().command(name, *args, **kwargs)

            def decorator(f: Any) -> Any:
                result = register(f)
                item = self.registered_commands[-1]
                self.added.append(("command", _command_name(item), item))
                return result

            return decorator

        def add_typer(self, typer_instance: Any, *args: Any, **kwargs: Any) -> None:
            super().add_typer(typer_instance, *args, **kwargs)
            item = self.registered_groups[-1]
            self.added.append(("group", _group_name(item), item))

    return CommandSandbox()


_HOST: PluginHost | None = None


def get_host(refresh: bool = False) -> PluginHost:
    """The process-wide host, loaded on first use."""
    global _HOST
    if _HOST is None or refresh:
        _HOST = PluginHost()
    return _HOST


def use_host(host: PluginHost | None) -> None:
    """Replace the process-wide host (tests, embedding applications)."""
    global _HOST
    _HOST = host

