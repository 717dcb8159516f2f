"""Run configuration: one pydantic model, loaded from YAML/JSON and ``--set key=value`` overrides.

Component parameters are validated twice: the run config checks its own shape, then
``validate_components`` checks each component's ``params`` against that component's own config
model, so every error names its full field path (``method.params.alpha``) and, for choices,
the allowed values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from plurieval.errors import ConfigError, PluriError
from plurieval.specs import format_validation_error


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


CommaList = Annotated[list[str], BeforeValidator(_split_commas)]
"""A list of strings that also accepts "a,b,c" (what ``--set languages=en,de`` passes)."""


class ComponentRef(BaseModel):
    """A component by name plus its parameters; ``"diffmean"`` is short for ``{name: diffmean}``."""

    model_config = ConfigDict(extra="forbid")
    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


class TrackingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    uri: str | None = Field(
        None, description="MLflow tracking URI; default: $MLFLOW_TRACKING_URI, else a local store in the run dir"
    )
    experiment: str | None = Field(None, description="default: plurieval-<benchmark>")


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
    batch_size: int = Field(8, ge=1)
    output_dir: Path = Path("runs")
    cache: bool = True
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)


TOP_LEVEL = set(RunConfig.model_fields)


def load_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise PluriError(f"config file {str(path)!r} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise PluriError(f"config file {str(path)!r} is not valid {path.suffix.lstrip('.') or 'YAML'}: {err}") from None
    if not isinstance(data, dict):
        raise PluriError(f"config file {str(path)!r} must hold a mapping at the top level")
    return data


def parse_value(raw: str) -> Any:
    """``--set`` values are YAML scalars: 3 → int, 0.5 → float, true → bool, [a, b] → list."""
    try:
        return yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        return raw


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
        try:
            spec, params = resolve_model_argument(host, ref) if kind == "model" else (host.get(kind, ref.name), ref.params)
            resolved[role] = (spec, spec.make_config(params, where=f"{role}.params"))
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
