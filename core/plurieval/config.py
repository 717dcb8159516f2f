"""Run configuration: one pydantic model, loaded from YAML/JSON and ``--set key=value`` overrides.

Component parameters are validated twice: the run config checks its own shape, then
``validate_components`` checks each component's ``params`` against that component's own config
model, so every error names its full field path (``method.params.alpha``) and, for choices,
the allowed values.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from plurieval.datafiles import read_text
from plurieval.errors import ConfigError, PluriError
from plurieval.redact import redact_uri
from plurieval.specs import format_validation_error


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


CommaList = Annotated[list[str], BeforeValidator(_split_commas)]
"""A list of strings that also accepts "a,b,c" (what ``--set languages=en,de`` passes)."""


MAX_DEPTH = 32
"""Deepest nesting a parameter value may have: far beyond any real config, well below where
hashing or validating it would exhaust Python's recursion limit."""


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests lists and dicts more than ``limit`` levels (a scalar is level 0);
    iterative, so it answers for values nested far deeper than Python's recursion limit."""
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list | tuple):
            if depth + 1 > limit:
                return True
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return False


def non_finite_paths(value: Any, prefix: str = "") -> list[str]:
    """Dotted paths of every NaN or infinite float inside ``value``."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [prefix or "<root>"]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in non_finite_paths(v, f"{prefix}.{k}" if prefix else str(k))]
    if isinstance(value, list | tuple):
        return [p for i, v in enumerate(value) for p in non_finite_paths(v, f"{prefix}.{i}" if prefix else str(i))]
    return []


class ComponentRef(BaseModel):
    """A component by name plus its parameters; ``"diffmean"`` is short for ``{name: diffmean}``."""

    model_config = ConfigDict(extra="forbid")
    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @field_validator("params")
    @classmethod
    def _plain_values(cls, value: dict[str, Any]) -> dict[str, Any]:
        if too_deep(value, MAX_DEPTH):
            raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
        return value


class TrackingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    uri: str | None = Field(
        None, description="MLflow tracking URI; default: $MLFLOW_TRACKING_URI, else a local store in the run dir"
    )
    experiment: str | None = Field(None, description="default: plurieval-<benchmark>")

    @field_serializer("uri")
    def _without_secret(self, uri: str | None) -> str | None:
        # The config is written verbatim into manifest.json: a password in the URI must not be.
        return redact_uri(uri) if uri else uri


class RunConfig(BaseModel):
    """Everything that determines a run. It is written verbatim into ``manifest.json``."""

    model_config = ConfigDict(extra="forbid")

    benchmark: ComponentRef
    model: ComponentRef = Field(default_factory=lambda: ComponentRef(name="default"))
    method: ComponentRef | None = None
    dataset: ComponentRef | None = Field(None, description="override the benchmark's dataset")
    metrics: list[ComponentRef] | None = Field(
        None, description="replace the benchmark's metrics (every benchmark scores with exactly these)")
    extra_metrics: list[ComponentRef] | None = Field(
        None, description="add these metrics to the benchmark's (or to `metrics`), on every benchmark")
    side_effects: list[ComponentRef] | None = Field(
        None, description="steering runs: also measure each chosen intervention on these benchmarks' probe prompts "
                          "(e.g. polyrefuse), against no intervention, with paired bootstrap intervals")
    seed: int = 0
    limit: int | None = Field(None, ge=1, description="at most this many examples per split/language")
    batch_size: int | None = Field(
        None, ge=1, description="rows per model batch; None (default): chosen from a memory bound, the same on every "
                                "machine (64 rows for the default model; docs/speed.md)")
    decode_lanes: int | None = Field(
        None, ge=1, description="batches decoded at once, one CPU thread each; None (default): torch's thread "
                                "count. Speed only: the generated tokens are the same for any value (docs/speed.md)")
    output_dir: Path = Path("runs")
    cache: bool = True
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)


TOP_LEVEL = set(RunConfig.model_fields)


def load_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    text = read_text(path, "config file", error=PluriError)
    kind = "JSON" if path.suffix == ".json" else "YAML"
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise PluriError(f"config file {str(path)!r} is not valid {kind}: {err}") from None
    except RecursionError:
        raise PluriError(f"config file {str(path)!r} is nested too deeply to be a run config") from None
    if not isinstance(data, dict):
        raise PluriError(f"config file {str(path)!r} must hold a mapping at the top level")
    if too_deep(data, MAX_DEPTH + 2):  # benchmark: {params: {...}} adds two levels to a parameter's
        raise PluriError(f"config file {str(path)!r} is nested more than {MAX_DEPTH} levels deep")
    return data


def parse_value(raw: str) -> Any:
    """``--set`` values are YAML scalars: 3 → int, 0.5 → float, true → bool, [a, b] → list."""
    try:
        return yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        return raw
    except RecursionError:
        raise PluriError(f"--set value {raw[:40]!r}... is nested too deeply") from None


def split_assignment(item: str) -> tuple[list[str], Any]:
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise PluriError(f"--set expects key=value, got {item!r}")
    return key.split("."), parse_value(raw)


def set_path(data: dict[str, Any], path: list[str], value: Any) -> None:
    """Set ``data[a][b][c] = value`` for ``path == [a, b, c]``; a component given as a bare
    name string (``method: diffmean``) is expanded to ``{name: diffmean}`` on the way."""
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if isinstance(child, str):
            child = {"name": child}
        if not isinstance(child, dict):
            child = {}
        node[part] = child
        node = child
    node[path[-1]] = value


def apply_overrides(data: dict[str, Any], assignments: list[str]) -> dict[str, Any]:
    """Apply ``key=value`` overrides. A dotted key sets a nested field
    (``method.params.alpha=4``, or short ``method.alpha=4``); a key that is not a run-config
    field goes to the benchmark's params (``languages=en,de`` → ``benchmark.params.languages``)."""
    for item in assignments:
        path, value = split_assignment(item)
        if path[0] not in TOP_LEVEL:
            path = ["benchmark", "params", *path]
        elif path[0] in _COMPONENT_FIELDS and len(path) > 1 and path[1] not in ("name", "params"):
            path = [path[0], "params", *path[1:]]
        set_path(data, path, value)
    return data


_COMPONENT_FIELDS = ("benchmark", "model", "method", "dataset")


def build_run_config(data: dict[str, Any], source: str = "run config") -> RunConfig:
    try:
        return RunConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(source, format_validation_error(err, model=RunConfig)) from None
    except RecursionError:
        raise ConfigError(source, [("<root>", f"nested more than {MAX_DEPTH} levels deep")]) from None


def _non_finite_problems(role: str, cfg: Any) -> list[tuple[str, str]]:
    """NaN and ±inf are refused in every parameter: ``alphas=[.nan]`` would sweep nothing
    sensible, and JSON (manifests, results, leaderboards) cannot even hold them."""
    dumped = cfg.model_dump(mode="python") if isinstance(cfg, BaseModel) else cfg
    return [(f"{role}.params.{path}", "must be a finite number (NaN and infinity are refused)")
            for path in non_finite_paths(dumped)]


def validate_components(config: RunConfig, host: Any) -> dict[str, Any]:
    """Resolve every named component and validate its params. Returns the validated configs
    keyed by role (``benchmark``, ``model``, ``method``, ``dataset``, ``metrics.N``,
    ``extra_metrics.N``, ``side_effects.N``); all
    problems are reported together."""
    problems: list[tuple[str, str]] = []
    resolved: dict[str, Any] = {}
    refs: list[tuple[str, str, ComponentRef | None]] = [
        ("benchmark", "benchmark", config.benchmark),
        ("model", "model", config.model),
        ("method", "method", config.method),
        ("dataset", "dataset", config.dataset),
    ] + [(f"metrics.{i}", "metric", ref) for i, ref in enumerate(config.metrics or [])] \
      + [(f"extra_metrics.{i}", "metric", ref) for i, ref in enumerate(config.extra_metrics or [])] \
      + [(f"side_effects.{i}", "benchmark", ref) for i, ref in enumerate(config.side_effects or [])]
    for role, kind, ref in refs:
        if ref is None:
            continue
        raw_problems = _non_finite_problems(role, ref.params)
        if raw_problems:
            problems.extend(raw_problems)
            continue
        try:
            if kind == "model":
                spec, params = resolve_model_argument(host, ref)
            elif kind == "metric" and ref.name.startswith("evaluate:"):  # its params shape the spec (direction)
                from plurieval.hf_evaluate import spec_for

                spec, params = spec_for(ref.name, ref.params), ref.params
            else:
                spec, params = host.get(kind, ref.name), ref.params
            resolved[role] = (spec, spec.make_config(params, where=f"{role}.params"))
            problems.extend(_non_finite_problems(role, resolved[role][1]))
        except ConfigError as err:
            problems.extend(err.problems)
        except PluriError as err:
            problems.append((f"{role}.name", str(err)))
    if problems:
        raise ConfigError("run config", problems)
    return resolved


def resolve_model_argument(host: Any, ref: ComponentRef) -> tuple[Any, dict[str, Any]]:
    """``hf:path/or/id`` → the ``hf`` model spec with its argument field set to the suffix."""
    name, sep, arg = ref.name.partition(":")
    spec = host.get("model", name)
    params = dict(ref.params)
    if sep:
        if not getattr(spec, "argument", None):
            raise PluriError(f"model {name!r} takes no ':' argument (got {ref.name!r})")
        params[spec.argument] = arg
    return spec, params
