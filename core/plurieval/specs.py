"""What a plugin registers: one small, typed record per component.

A spec is metadata plus a *lazy* factory (``"module:attribute"``), so building the registry and
listing components never imports torch or a model. The host fills in ``package`` (the
distribution that registered the spec) and ``plugin`` (the entry-point name).
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from plurieval.errors import ConfigError, PluriError

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")
_FACTORY = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*(:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*)?$")

Kind = Literal["dataset", "method", "metric", "benchmark", "model", "resource"]
KINDS: tuple[Kind, ...] = ("dataset", "method", "metric", "benchmark", "model", "resource")


class NoConfig(BaseModel):
    """Config of a component that takes no options."""

    model_config = ConfigDict(extra="forbid")


def _fields_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str] | None:
    """Field names of the (nested) pydantic model that holds ``loc``'s last entry, if known."""
    for part in loc[:-1]:
        if model is None:
            return None
        field_info = model.model_fields.get(str(part))
        if field_info is None:
            return None
        candidates = [field_info.annotation, *getattr(field_info.annotation, "__args__", ())]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
    return sorted(model.model_fields) if model is not None else None


def format_validation_error(err: ValidationError, prefix: str = "",
                            model: type[BaseModel] | None = None) -> list[tuple[str, str]]:
    """Pydantic errors as (dotted field path, message) pairs, with the offending value shown.
    With ``model`` (the validated class), an unknown field is answered with the allowed ones
    and the closest match."""
    import difflib

    problems = []
    for e in err.errors():
        path = ".".join(str(p) for p in (prefix.split(".") if prefix else []) + list(e["loc"]))
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
            allowed = _fields_at(model, tuple(e["loc"]))
            if allowed:
                close = difflib.get_close_matches(str(e["loc"][-1]), allowed, n=1)
                msg += (f"; did you mean {close[0]!r}?" if close else "") + f" (allowed: {', '.join(allowed)})"
        elif "input" in e and e["type"] != "missing" and not isinstance(e["input"], dict):
            msg += f" (got {e['input']!r})"
        problems.append((path or "<root>", msg))
    return problems


def _resolve(target: str | Callable[..., Any]) -> Callable[..., Any]:
    if not isinstance(target, str):
        return target
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split(".") if attr else []:
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True, kw_only=True)
class ComponentSpec:
    """Common fields of every registered component.

    ``factory`` is called as ``factory(config)`` with a validated instance of ``config``.
    """

    kind: ClassVar[Kind]

    name: str
    factory: str | Callable[..., Any]
    config: type[BaseModel] = NoConfig
    version: str = "0.1.0"
    description: str = ""
    license: str | None = None
    citation: str | None = None
    languages: tuple[str, ...] = ()
    # Filled in by the host; a plugin leaves them empty.
    package: str = ""
    plugin: str = ""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(
                f"{self.kind} name {self.name!r} must be lower-case letters, digits, '_', '-' or '.'"
            )
        if not (isinstance(self.config, type) and issubclass(self.config, BaseModel)):
            raise TypeError(f"{self.kind} {self.name!r}: config must be a pydantic BaseModel class")
        if isinstance(self.factory, str) and not _FACTORY.match(self.factory):
            raise ValueError(f"{self.kind} {self.name!r}: factory {self.factory!r} is not 'package.module:attribute'")
        if not isinstance(self.factory, str) and not callable(self.factory):
            raise TypeError(f"{self.kind} {self.name!r}: factory must be 'module:attribute' or a callable")
        object.__setattr__(self, "languages", tuple(self.languages))

    @property
    def qualified_name(self) -> str:
        return f"{self.package}/{self.name}" if self.package else self.name

    def make_config(self, params: Mapping[str, Any] | BaseModel | None = None, *, where: str = "") -> BaseModel:
        """Validate ``params`` against this component's config; errors carry the field path."""
        if isinstance(params, self.config):
            return params
        try:
            return self.config.model_validate(dict(params or {}))
        except ValidationError as err:
            label = where or f"{self.kind} {self.name!r} config"
            raise ConfigError(label, format_validation_error(err, where, self.config)) from None

    def create(self, params: Mapping[str, Any] | BaseModel | None = None, *, where: str = "") -> Any:
        """Validate the config and build the component (this is where heavy imports happen)."""
        config = self.make_config(params, where=where)
        try:
            factory = _resolve(self.factory)
        except (ImportError, AttributeError) as err:
            origin = f"plugin {self.plugin!r}, distribution {self.package}" if self.plugin else "no plugin"
            raise PluriError(
                f"{self.kind} {self.name!r} ({origin}) cannot be built: its factory {self.factory!r} does not "
                f"resolve ({type(err).__name__}: {err}); the plugin is broken or half-installed: reinstall it"
            ) from None
        return factory(config)

    def with_origin(self, package: str, plugin: str) -> ComponentSpec:
        return dataclasses.replace(self, package=package, plugin=plugin)

    def describe(self) -> dict[str, Any]:
        """JSON-able summary for `plurieval show` and `plugins --json` (schema included)."""
        out = {
            "name": self.name,
            "kind": self.kind,
            "version": self.version,
            "package": self.package,
            "plugin": self.plugin,
            "description": self.description,
            "license": self.license,
            "citation": self.citation,
            "languages": list(self.languages),
        }
        out.update(self._extra())
        out["config_schema"] = self.config.model_json_schema()
        return out

    def _extra(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True, kw_only=True)
class DatasetSpec(ComponentSpec):
    kind: ClassVar[Kind] = "dataset"


@dataclass(frozen=True, kw_only=True)
class MethodSpec(ComponentSpec):
    """``method_kind``: "steering" (fit → intervention → applied while generating) or
    "explanation" (produces explanations, label distributions or rankings per example)."""

    kind: ClassVar[Kind] = "method"
    method_kind: Literal["steering", "explanation"] = "steering"

    def _extra(self) -> dict[str, Any]:
        return {"method_kind": self.method_kind}


@dataclass(frozen=True, kw_only=True)
class MetricSpec(ComponentSpec):
    """``needs``: what the metric asks the runner for besides predictions and references
    ("model", "method"); ``higher_is_better`` orders leaderboards. ``recorded``: a
    model-in-the-loop metric (a ``RecordedMetric``) whose queries are recorded per example, so
    ``plurieval score`` and leaderboard validation recompute it without the model.
    ``jsonl_form``: what one line of ``plurieval score METRIC FILE`` (or a results row) holds
    for this metric, printed by ``plurieval show``."""

    kind: ClassVar[Kind] = "metric"
    needs: frozenset[str] = frozenset()
    higher_is_better: bool = True
    recorded: bool = False
    jsonl_form: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "needs", frozenset(self.needs))
        unknown = self.needs - {"model", "method"}
        if unknown:
            raise ValueError(f"metric {self.name!r}: unknown needs {sorted(unknown)}")
        if self.recorded and "model" not in self.needs:
            raise ValueError(f"metric {self.name!r}: recorded=True is for metrics that query the model "
                             f"(needs={{'model'}})")

    @property
    def offline(self) -> bool:
        """Can it be scored from a file alone (no model, no method)?"""
        return not self.needs or self.recorded

    def _extra(self) -> dict[str, Any]:
        out: dict[str, Any] = {"needs": sorted(self.needs), "higher_is_better": self.higher_is_better}
        if self.recorded:
            out["recorded"] = True
        if self.jsonl_form:
            out["jsonl_form"] = self.jsonl_form
        return out


@dataclass(frozen=True, kw_only=True)
class BenchmarkSpec(ComponentSpec):
    """``spec_version`` changes whenever scores stop being comparable; leaderboards check it.
    ``method_kinds`` says which method kinds the benchmark can evaluate."""

    kind: ClassVar[Kind] = "benchmark"
    spec_version: str = "1"
    method_kinds: tuple[str, ...] = ("steering", "explanation")
    default_method: str | None = None
    metrics: tuple[str, ...] = ()

    def _extra(self) -> dict[str, Any]:
        return {
            "spec_version": self.spec_version,
            "method_kinds": list(self.method_kinds),
            "default_method": self.default_method,
            "metrics": list(self.metrics),
        }


@dataclass(frozen=True, kw_only=True)
class ModelSpec(ComponentSpec):
    """``argument``: the config field that receives the part after ':' in ``NAME:ARG``
    (e.g. ``hf:Qwen/Qwen2-0.5B`` sets the field ``path``)."""

    kind: ClassVar[Kind] = "model"
    argument: str | None = None

    def _extra(self) -> dict[str, Any]:
        return {"argument": self.argument}


@dataclass(frozen=True, kw_only=True)
class ResourceSpec(ComponentSpec):
    """A shared scoring backend (language identifier, embedding model, judge, knowledge base).
    ``provides`` names the role; metrics look resources up by role and optional name, and the
    one marked ``default`` serves a role when no name is given."""

    kind: ClassVar[Kind] = "resource"
    provides: str = ""
    default: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.provides:
            raise ValueError(f"resource {self.name!r} must say what it provides")

    def _extra(self) -> dict[str, Any]:
        return {"provides": self.provides, "default": self.default}


SPEC_TYPES: dict[Kind, type[ComponentSpec]] = {
    "dataset": DatasetSpec,
    "method": MethodSpec,
    "metric": MetricSpec,
    "benchmark": BenchmarkSpec,
    "model": ModelSpec,
    "resource": ResourceSpec,
}

__all__ = [
    "KINDS",
    "SPEC_TYPES",
    "BenchmarkSpec",
    "ComponentSpec",
    "DatasetSpec",
    "Kind",
    "MethodSpec",
    "MetricSpec",
    "ModelSpec",
    "NoConfig",
    "ResourceSpec",
    "field",
    "format_validation_error",
]
