"""The plugin host: finds plugins (entry-point group ``plurieval``), calls their contribution
hooks, and fans lifecycle events out to observers.

Environment switches (as in datasette and pytest):

- ``PLURIEVAL_LOAD_PLUGINS=a,b``: load only these plugins (entry-point or distribution names);
  set to an empty string to load none.
- ``PLURIEVAL_DISABLE_PLUGIN_AUTOLOAD=1``: load no entry-point plugin except those named in
  ``PLURIEVAL_LOAD_PLUGINS``.
- ``PLURIEVAL_TRACE=1``: log every hook call (to stderr, logger ``plurieval.hooks``).

A plugin that fails to import, or whose hook raises, is recorded with its name and error in
``host.errors`` (shown by ``plurieval plugins``); the other plugins load as usual.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from plurieval import hookspecs
from plurieval.errors import PluginLoadError
from plurieval.registry import DuplicateComponentError, Registry
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

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


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
            except Exception as err:  # a broken plugin must not take the others down
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
        except Exception as err:
            self._record_error(PluginLoadError(name, distribution, "registration", err), name, distribution, version)
            return
        info.hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
        for hook, kind in CONTRIBUTION_HOOKS.items():
            self._collect(hook, kind, name, distribution or name)

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

            try:
                self._call(impl, hook, {"register": register})
            except (Exception, DuplicateComponentError) as err:
                self.registry.remove_plugin(plugin)
                info.contributions.clear()
                self._record_error(PluginLoadError(plugin, package, hook, err), plugin, package, info.version)
                return

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
            except Exception as err:
                logging.getLogger("plurieval").warning(
                    "plugin %r failed in %s: %s: %s", impl.plugin_name, hook, type(err).__name__, err
                )

    def add_commands(self, cli: Any) -> None:
        for impl in self.pm.hook.register_commands.get_hookimpls():
            try:
                self._call(impl, "register_commands", {"cli": cli})
            except Exception as err:
                info = self.plugins.get(impl.plugin_name)
                self._record_error(
                    PluginLoadError(impl.plugin_name, info.distribution if info else None, "register_commands", err),
                    impl.plugin_name, info.distribution if info else None, info.version if info else None,
                )

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

