"""The run manifest: everything needed to repeat a run and to know what produced a number."""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import plurieval
from plurieval.hashing import content_hash

if TYPE_CHECKING:
    from plurieval.run import RunContext

MANIFEST_VERSION = 1


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
    info = {"python": platform.python_version(), "platform": platform.platform(), "executable": sys.executable}
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
        "created_at": prev.get("created_at", time.strftime("%Y-%m-%dT%H:%M:%S%z")),
        "config": config.model_dump(mode="json"),
        "config_hash": content_hash(config.model_dump(mode="json", exclude={"output_dir", "tracking", "cache"})),
        "components": components,
        "benchmark": {
            "name": bench_spec.name,
            "spec_version": getattr(bench_spec, "spec_version", None),
            "spec_hash": content_hash(bench_spec.describe()),
        },
        "seeds": {"seed": config.seed},
        "plurieval": {"version": plurieval.__version__, "git": git_revision()},
        "plugins": {
            name: {"distribution": p.distribution, "version": p.version}
            for name, p in sorted(ctx.host.plugins.items())
        },
        "platform": platform_info(),
        "resumed": ctx.resumed or prev.get("resumed", False),
    }
    for key in ("model", "datasets", "artifacts", "interventions", "cache", "tracking"):
        if key in prev:
            manifest[key] = prev[key]
    return manifest
