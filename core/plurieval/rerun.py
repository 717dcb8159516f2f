"""``plurieval rerun MANIFEST``: repeat a run from its manifest alone and compare the metrics.

The manifest holds the full run config (every component's config included) and the final
metrics, so nothing else is needed. The repeat bypasses the cache (a cached answer would prove
nothing) and writes into a fresh output directory. Differences in the environment (plurieval,
plugin or library versions, git revision) are reported first, since they explain most drifts.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from plurieval.config import build_run_config
from plurieval.manifest import Manifest, load_manifest, platform_info


def metric_values(metrics: dict[str, Any] | None) -> dict[str, float | None]:
    """``{"x": 0.5, "y": {"value": 0.7, "ci": [...]}}`` → ``{"x": 0.5, "y": 0.7}``."""
    out: dict[str, float | None] = {}
    for name, value in (metrics or {}).items():
        if isinstance(value, dict):
            value = value.get("value")
        out[name] = float(value) if isinstance(value, (int, float)) else None
    return out


def _same(a: float | None, b: float | None, tolerance: float) -> bool:
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= tolerance


def compare_metrics(original: dict[str, Any], repeated: dict[str, Any], tolerance: float = 0.0) -> list[tuple[str, Any, Any]]:
    """``(name, original, repeated)`` for every metric that differs or exists on one side only."""
    a, b = metric_values(original), metric_values(repeated)
    missing = object()
    diffs = []
    for name in sorted(set(a) | set(b)):
        va, vb = a.get(name, missing), b.get(name, missing)
        if va is missing or vb is missing or not _same(va, vb, tolerance):  # type: ignore[arg-type]
            diffs.append((name, "(absent)" if va is missing else va, "(absent)" if vb is missing else vb))
    return diffs


def environment_differences(manifest: Manifest, host: Any) -> list[str]:
    import plurieval
    from plurieval.manifest import git_revision

    notes = []
    if manifest.plurieval.version != plurieval.__version__:
        notes.append(f"plurieval {manifest.plurieval.version} → {plurieval.__version__}")
    then, now = manifest.plurieval.git, git_revision()
    if then and now and then.revision != now["revision"]:
        notes.append(f"git revision {then.revision[:10]} → {now['revision'][:10]}")
    for name, entry in manifest.plugins.items():
        current = host.plugins.get(name)
        if current is None:
            notes.append(f"plugin {name} ({entry.distribution} {entry.version}) is not installed now")
        elif current.version != entry.version:
            notes.append(f"plugin {name}: {entry.version} → {current.version}")
    platform_now = platform_info()
    for key in ("python", "torch", "transformers"):
        if manifest.platform.get(key) != platform_now.get(key):
            notes.append(f"{key} {manifest.platform.get(key)} → {platform_now.get(key)}")
    return notes


def rerun(manifest_path: str | Path, host: Any, output: str | Path | None = None, track: bool = False) -> tuple[Manifest, Any]:
    """Execute the run a manifest describes, without the cache, into a fresh directory."""
    from plurieval.runner import execute

    manifest = load_manifest(manifest_path)
    path = Path(manifest_path)
    run_dir = path if path.is_dir() else path.parent
    if output is None:
        output = run_dir.parent / "reruns" / f"{manifest.run_id}-{time.strftime('%Y%m%d-%H%M%S')}"
    data = dict(manifest.config)
    data.update(cache=False, output_dir=str(output))
    if not track:
        data["tracking"] = {**(data.get("tracking") or {}), "enabled": False}
    config = build_run_config(data, source=f"config in {path}")
    return manifest, execute(config, host, force=True)


def original_metrics(manifest: Manifest, manifest_path: str | Path) -> dict[str, Any]:
    """The manifest's metrics; for manifests written before they were recorded there, the
    ``summary.json`` beside it."""
    if manifest.metrics is not None:
        return manifest.metrics
    import json

    path = Path(manifest_path)
    summary = (path if path.is_dir() else path.parent) / "summary.json"
    if summary.exists():
        return json.loads(summary.read_text(encoding="utf-8")).get("metrics", {})
    from plurieval.errors import PluriError

    raise PluriError(f"{manifest_path} records no metrics (the run did not finish?) and no summary.json is beside it")
