"""What a sweep is: benchmarks × models × methods × grid values, and how it is executed.

A sweep file (YAML/JSON) has the same keys as the ``plurieval sweep`` options, each taking a
list where the option takes several values::

    benchmark: tiny-echo            # or a list of benchmarks
    model: [default, hf:./my-model]
    methods: [diffmean, pca, none]  # "none": the benchmark's default method
    set: {limit_dev: 5}             # fixed overrides, like `plurieval run --set`
    grid: {method.alpha: [2, 4, 8]} # one axis of the grid per key
    limit: 10
    executor: ray                   # or {kind: ray, gpus_per_task: 1, ...}
    address: auto
    output: runs

Expansion is deterministic (benchmark, model, method, then grid keys in file order, values in
list order), and each grid point becomes an ordinary ``RunConfig``, so its run id, directory
and manifest are exactly those ``plurieval run`` gives the same settings.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from plurieval.config import (
    ComponentRef,
    RunConfig,
    TrackingConfig,
    apply_overrides,
    build_run_config,
)
from plurieval.errors import ConfigError, PluriError
from plurieval.hashing import content_hash, short
from plurieval.specs import format_validation_error


class ExecutorConfig(BaseModel):
    """Where the runs of a sweep execute, and what each one asks for."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["local", "ray"] = Field("local", description="local: this machine; ray: a Ray cluster")
    workers: int = Field(1, ge=1, description="local: runs at once (1: in this process, one after another; "
                                              "more: a pool of worker processes)")
    address: str | None = Field(None, description="ray: the cluster to join ('auto', 'HOST:6379', "
                                                   "'ray://HOST:10001'); default: start a local cluster")
    num_cpus: int | None = Field(None, ge=1, description="ray: CPUs of the local cluster started when no address "
                                                         "is given (default: all of this machine's)")
    cpus_per_task: float = Field(1, gt=0, description="CPUs each run asks for; also its torch thread count under "
                                                      "every executor, so results never depend on the executor")
    gpus_per_task: float = Field(0, ge=0, description="ray: GPUs each run asks for (fractions share a GPU)")
    memory_gb_per_task: float | None = Field(None, gt=0, description="ray: memory each run reserves (GiB)")
    max_retries: int = Field(3, ge=0, description="restarts of a run whose worker died (it resumes from its "
                                                  "results file); errors in the run itself are not retried")
    files: Literal["auto", "shared", "copy"] = Field(
        "auto", description="how run directories reach the output folder: shared (workers write there), copy "
                            "(workers stage locally, the driver writes what they send back), auto (shared when "
                            "the worker can see the output folder)")
    cache: Literal["auto", "shared", "private"] = Field(
        "auto", description="which content-addressed cache workers use: shared (the driver's), private (each "
                            "worker's own), auto (shared when the worker sees it on a local file system)")
    split: Literal["auto", "units", "runs"] = Field(
        "auto", description="steering runs: units (each unit of a run is a task of its own, merged into one run "
                            "directory with the same summary), runs (one task per run), auto (units when the "
                            "executor runs more than one task at once)")
    runtime_env: dict[str, Any] | None = Field(None, description="ray: runtime_env for the cluster's workers "
                                                                 "(env_vars, py_modules, pip ...)")

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value

    @property
    def threads(self) -> int:
        return max(1, int(self.cpus_per_task))


def _as_list(value: Any) -> Any:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, dict):
        return [value]
    return value


class SweepConfig(BaseModel):
    """A sweep: the grid, the settings every run shares, and the executor."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    benchmark: list[ComponentRef] = Field(min_length=1, description="benchmark(s) to run")
    model: list[ComponentRef] = Field(default_factory=lambda: [ComponentRef(name="default")])
    methods: list[ComponentRef | None] = Field(default_factory=lambda: [None],
                                               description="methods; 'none' runs the benchmark's default")
    set: list[str] = Field(default_factory=list, description="overrides for every run (key=value)")
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="key -> values: one grid axis each")
    limit: int | None = Field(None, ge=1)
    seed: int = 0
    batch_size: int | None = Field(None, ge=1, description="rows per model batch of every run (None: chosen by the model)")
    cache: bool = True
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    output_dir: Path = Field(Path("runs"), alias="output")
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for alias, key in (("benchmarks", "benchmark"), ("models", "model"), ("method", "methods"),
                           ("output_dir", "output")):
            if alias in data and key not in data:
                data[key] = data.pop(alias)
        if "address" in data:  # top-level shorthand, like the --address option
            address = data.pop("address")
            executor = data.get("executor") or {}
            executor = {"kind": executor} if isinstance(executor, str) else dict(executor)
            executor.setdefault("kind", "ray")
            executor["address"] = address
            data["executor"] = executor
        return data

    @field_validator("benchmark", "model", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("methods", mode="before")
    @classmethod
    def _methods(cls, value: Any) -> Any:
        value = _as_list(value)
        if isinstance(value, list):
            return [None if v in (None, "none", "") else v for v in value]
        return value

    @field_validator("set", mode="before")
    @classmethod
    def _set_items(cls, value: Any) -> Any:
        if isinstance(value, dict):  # {key: value} in a sweep file
            return [f"{k}={json.dumps(v)}" for k, v in value.items()]
        return [value] if isinstance(value, str) else value

    @field_validator("grid", mode="before")
    @classmethod
    def _grid_lists(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: v if isinstance(v, list) else [v] for k, v in value.items()}
        return value

    @field_validator("grid")
    @classmethod
    def _grid_nonempty(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        empty = [k for k, v in value.items() if not v]
        if empty:
            raise ValueError(f"grid axis {empty[0]!r} has no values")
        return value


def build_sweep_config(data: dict[str, Any], source: str = "sweep") -> SweepConfig:
    try:
        return SweepConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(source, format_validation_error(err, model=SweepConfig)) from None


@dataclass
class PlannedRun:
    """One grid point: its run config, the values that place it in the grid, its run id."""

    config: RunConfig
    point: dict[str, Any]
    run_id: str

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={_short(v)}" for k, v in self.point.items() if v is not None)


@dataclass
class SweepPlan:
    config: SweepConfig
    runs: list[PlannedRun]
    sweep_id: str
    duplicates: list[str] = field(default_factory=list)


def _short(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _ref_dump(ref: ComponentRef | None) -> Any:
    if ref is None:
        return None
    return ref.name if not ref.params else ref.model_dump(mode="json")


def expand(config: SweepConfig, host: Any) -> SweepPlan:
    """Every run of the sweep, each validated against its components (all problems together,
    each naming its grid point), in a fixed order."""
    from plurieval.runner import run_id_for, with_default_method

    runs: list[PlannedRun] = []
    seen: dict[str, PlannedRun] = {}
    duplicates: list[str] = []
    problems: list[tuple[str, str]] = []
    axes = list(config.grid.items())
    for bench, model, method in itertools.product(config.benchmark, config.model, config.methods):
        for values in itertools.product(*[vals for _, vals in axes]):
            data: dict[str, Any] = {
                "benchmark": bench.model_dump(mode="json"),
                "model": model.model_dump(mode="json"),
                "method": method.model_dump(mode="json") if method is not None else None,
                "limit": config.limit, "seed": config.seed, "batch_size": config.batch_size,
                "cache": config.cache, "tracking": config.tracking.model_dump(mode="json"),
                "output_dir": str(config.output_dir),
            }
            point = {"benchmark": bench.name, "model": model.name, "method": method.name if method else None}
            grid_items = [f"{key}={json.dumps(value)}" for (key, _), value in zip(axes, values, strict=True)]
            point.update({key: value for (key, _), value in zip(axes, values, strict=True)})
            where = ", ".join(f"{k}={_short(v)}" for k, v in point.items() if v is not None)
            try:
                apply_overrides(data, [*config.set, *grid_items])
                run_config, _ = with_default_method(build_run_config(data, source=f"sweep run [{where}]"), host)
            except ConfigError as err:
                problems.extend((f"[{where}] {path}", msg) for path, msg in err.problems)
                continue
            except PluriError as err:
                problems.append((f"[{where}]", str(err)))
                continue
            run_id = run_id_for(run_config)
            if run_id in seen:  # two grid points that configure the very same run
                duplicates.append(f"[{where}] is the same run as [{seen[run_id].label}]")
                continue
            planned = PlannedRun(run_config, point, run_id)
            seen[run_id] = planned
            runs.append(planned)
    if problems:
        raise ConfigError("sweep", problems)
    names = "+".join(dict.fromkeys(b.name for b in config.benchmark))
    slug = re.sub(r"[^A-Za-z0-9.-]+", "-", names).strip("-")[:40]
    sweep_id = f"{slug}_{short(content_hash(sorted(r.run_id for r in runs)), 10)}"
    return SweepPlan(config, runs, sweep_id, duplicates)


def describe_config(config: SweepConfig) -> dict[str, Any]:
    """The sweep config as JSON, with components in their short form (for sweep.json, MLflow)."""
    data = config.model_dump(mode="json", by_alias=True)
    data["benchmark"] = [_ref_dump(b) for b in config.benchmark]
    data["model"] = [_ref_dump(m) for m in config.model]
    data["methods"] = [_ref_dump(m) or "none" for m in config.methods]
    return data


def sweep_data(file: str | Path | None = None, *, benchmark: str | None = None, model: str | None = None,
               methods: str | None = None, set_: list[str] | None = None, grid: list[str] | None = None,
               executor: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """A sweep file's contents with command-line options on top: scalar options replace the
    file's value, ``--set`` items and ``--grid`` axes are added to the file's, and executor
    options are merged into the file's ``executor``. ``None`` means "not given"."""
    from plurieval.config import load_config_file, split_assignment

    data: dict[str, Any] = load_config_file(file) if file else {}
    for key, value in (("benchmark", benchmark), ("model", model), ("methods", methods)):
        if value is not None:
            for alias in {"benchmark": ("benchmarks",), "model": ("models",), "methods": ("method",)}[key]:
                data.pop(alias, None)
            data[key] = value
    for key, value in fields.items():
        if value is not None:
            if key == "output":
                data.pop("output_dir", None)
            data[key] = str(value) if isinstance(value, Path) else value
    if set_:
        existing = data.get("set") or []
        if isinstance(existing, dict):
            existing = [f"{k}={json.dumps(v)}" for k, v in existing.items()]
        data["set"] = [*([existing] if isinstance(existing, str) else existing), *set_]
    if grid:
        axes = dict(data.get("grid") or {})
        for item in grid:
            path, value = split_assignment(item)
            axes[".".join(path)] = value if isinstance(value, list) else [value]
        data["grid"] = axes
    options = {k: v for k, v in (executor or {}).items() if v is not None}
    if options:
        current = data.get("executor") or {}
        current = {"kind": current} if isinstance(current, str) else dict(current)
        if "address" in data and "address" not in options:
            options["address"] = data.pop("address")
        data["executor"] = {**current, **options}
        if options.get("address") and "kind" not in options and current.get("kind", "ray") == "ray":
            data["executor"]["kind"] = "ray"
    return data
