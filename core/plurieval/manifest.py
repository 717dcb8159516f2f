"""The run manifest: everything needed to repeat a run and to know what produced a number."""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

import plurieval
from plurieval.hashing import content_hash

if TYPE_CHECKING:
    from plurieval.run import RunContext

MANIFEST_VERSION = 1

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
"""How the manifest writes times (``created_at``, ``updated_at``, ``attempts[].started_at``)."""


def timestamp() -> str:
    """Now, as the manifest writes it."""
    return time.strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: Any) -> float | None:
    """Seconds since the epoch of a manifest time, or ``None`` when ``text`` is not one."""
    from datetime import datetime

    try:
        return datetime.strptime(text, TIMESTAMP_FORMAT).timestamp()
    except (TypeError, ValueError):
        return None

# Run-config fields that change where or how a run is reported, never what it computes: left
# out of the config digest, which names the run directory and is the manifest's config_hash.
NON_SEMANTIC_FIELDS = frozenset({"output_dir", "tracking", "cache", "decode_lanes"})  # where and how fast, not what


# Fields added after runs were first made: left out while unset, so older configs keep their
# digest (their run directory and config_hash stay what they were).
_OMITTED_WHEN_UNSET = ("extra_metrics", "side_effects")


def config_digest(config: Any) -> str:
    """The digest of everything in a ``RunConfig`` that determines what a run computes."""
    data = config.model_dump(mode="json", exclude=set(NON_SEMANTIC_FIELDS))
    for name in _OMITTED_WHEN_UNSET:
        if data.get(name) is None:
            data.pop(name, None)
    return content_hash(data)


def git_revision(path: Path | None = None) -> dict[str, Any] | None:
    """Revision and dirty flag of the checkout plurieval runs from, if it is one."""
    root = Path(path or Path(plurieval.__file__).resolve().parents[2])
    if not (root / ".git").exists():
        return None
    try:
        rev = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if rev.returncode != 0:
        return None
    return {"revision": rev.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def platform_info() -> dict[str, Any]:
    info = {"python": platform.python_version(), "platform": platform.platform(), "machine": platform.machine(),
            "executable": sys.executable}
    for dist in ("torch", "transformers", "datasets", "mlflow", "numpy", "pydantic"):
        info[dist] = _version(dist)
    return info


def build_manifest(ctx: RunContext, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build (or refresh at the end) the manifest. Entries a benchmark added while running
    (``model``, ``datasets``, ``artifacts``) are kept."""
    prev = dict(previous or {})
    config = ctx.config
    components = {
        role: {
            "name": spec.name,
            "kind": spec.kind,
            "package": spec.package,
            "version": spec.version,
            "config": cfg.model_dump(mode="json"),
            **({"spec_version": spec.spec_version} if hasattr(spec, "spec_version") else {}),
        }
        for role, (spec, cfg) in ctx.components.items()
    }
    bench_spec = ctx.benchmark_spec
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "run_id": ctx.run_id,
        "created_at": prev.get("created_at", timestamp()),
        "config": config.model_dump(mode="json"),
        "config_hash": config_digest(config),
        "components": components,
        "benchmark": {
            "name": bench_spec.name,
            "spec_version": getattr(bench_spec, "spec_version", None),
            "spec_hash": content_hash(bench_spec.describe()),
        },
        "seeds": collect_seeds(config.seed, components, prev.get("seeds")),
        "plurieval": {"version": plurieval.__version__, "git": git_revision()},
        "plugins": {
            name: {"distribution": p.distribution, "version": p.version}
            for name, p in sorted(ctx.host.plugins.items())
        },
        "platform": platform_info(),
        "resumed": ctx.resumed or prev.get("resumed", False),
    }
    for key in ("model", "datasets", "artifacts", "interventions", "cache", "tracking", "metrics", "attempts"):
        if key in prev:
            manifest[key] = prev[key]
    return manifest


def collect_seeds(run_seed: int, components: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every seed that shapes a run: the run seed plus any ``*seed*`` field of a component
    config (``method.seed``, ``benchmark.sample_seed`` ...), keyed by its dotted path."""
    seeds: dict[str, Any] = {"seed": run_seed}
    found: dict[str, Any] = dict((previous or {}).get("components", {}))

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                path = f"{prefix}.{key}"
                if "seed" in str(key).lower() and (value is None or isinstance(value, (int, list))):
                    found[path] = value
                else:
                    walk(path, value)

    for role, entry in components.items():
        walk(role, entry.get("config", {}))
    if found:
        seeds["components"] = dict(sorted(found.items()))
    if (previous or {}).get("generation"):  # seeds passed to ctx.generate while the run went on
        seeds["generation"] = previous["generation"]
    return seeds


# --- the schema of manifest.json (validated each time it is written) ------------------------

class _Open(BaseModel):
    # Known fields are typed; extra keys are kept so plugins and newer versions can add some.
    model_config = ConfigDict(extra="allow", protected_namespaces=())


class GitInfo(_Open):
    revision: str
    dirty: bool


class PluriInfo(_Open):
    version: str
    git: GitInfo | None = None


class PluginEntry(_Open):
    distribution: str | None = None
    version: str | None = None


class ComponentEntry(_Open):
    name: str
    kind: str
    package: str
    version: str
    config: dict[str, Any]
    spec_version: str | None = None


class BenchmarkInfo(_Open):
    name: str
    spec_version: str | None = None
    spec_hash: str


class ModelInfo(_Open):
    """``LanguageModel.describe()`` plus the batch size and decoding lanes the run used."""

    id: str | None = None
    revision: str | None = None
    weights_hash: str | None = None
    dtype: str | None = None
    device: str | None = None
    quantization: str | None = None
    num_parameters: int | None = None
    batch_size: int | None = None
    decode_lanes: int | None = None


class DatasetEntry(_Open):
    id: str
    revision: str | None = None
    content_hash: str
    split: str | None = None
    num_examples: int
    license: str | None = None
    source: str | None = None


class InterventionEntry(_Open):
    name: str
    hash: str
    path: str | None = None
    files: dict[str, str] | None = None


class Seeds(_Open):
    seed: int
    components: dict[str, Any] = Field(default_factory=dict)
    generation: list[int] = Field(default_factory=list)


class Attempt(_Open):
    """One process that worked on the run: a resumed run has several. ``seconds``: its wall
    time (for a process that was killed, up to its last recorded result); ``status``: how it
    ended (``complete``, ``failed``, ``interrupted``, ``killed``) or ``running``."""

    started_at: str
    seconds: float = Field(ge=0, allow_inf_nan=False)
    status: str
    results_at_start: int = Field(0, ge=0)


class Manifest(_Open):
    """What ``manifest.json`` holds. ``plurieval rerun`` rebuilds the run from ``config``."""

    manifest_version: int
    run_id: str
    created_at: str
    updated_at: str | None = None
    status: str | None = None
    error: str | None = None
    config: dict[str, Any]
    config_hash: str
    components: dict[str, ComponentEntry]
    benchmark: BenchmarkInfo
    seeds: Seeds
    plurieval: PluriInfo
    plugins: dict[str, PluginEntry]
    platform: dict[str, Any]
    resumed: bool = False
    attempts: list[Attempt] = Field(default_factory=list)
    model: ModelInfo | None = None
    datasets: list[DatasetEntry] = Field(default_factory=list)
    interventions: list[InterventionEntry] = Field(default_factory=list)
    artifacts: Any = None
    cache: dict[str, Any] | None = None
    tracking: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None


def validate_manifest(data: dict[str, Any]) -> dict[str, Any]:
    """Check ``data`` against ``Manifest`` (raises ``pydantic.ValidationError``) and return it
    unchanged: the JSON shape stays what the runner built."""
    Manifest.model_validate(data)
    return data


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate a ``manifest.json`` (a run directory works too)."""
    import json

    from plurieval.errors import PluriError

    path = Path(path)
    if path.is_dir():
        path = path / "manifest.json"
    if not path.exists():
        raise PluriError(f"no manifest at {path} (pass a run directory or its manifest.json)")
    try:
        return Manifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as err:
        raise PluriError(f"{path} is not a valid plurieval manifest: {err}") from None
