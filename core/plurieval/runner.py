"""Runs a benchmark from a validated ``RunConfig``.

Layout of a run: ``OUTPUT/<run-id>/manifest.json`` (written first, updated at the end),
``results.jsonl`` (per-example, append-only, resumable), ``summary.json`` (at the end), plus
``artifacts/`` and ``plots/``. The run id is derived from the config, so starting the same
config again continues an interrupted run instead of starting over.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import random
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plurieval.config import RunConfig, validate_components
from plurieval.errors import PluriError
from plurieval.hashing import short
from plurieval.locking import hold_run_directory
from plurieval.manifest import build_manifest, config_digest, parse_timestamp
from plurieval.run import RunContext

log = logging.getLogger("plurieval")


@dataclass
class RunOutcome:
    run_dir: Path
    summary: dict[str, Any]
    resumed: bool
    reused: bool = False


def run_id_for(config: RunConfig) -> str:
    parts = [config.benchmark.name, config.method.name if config.method else "none", config.model.name]
    slug = "_".join(re.sub(r"[^A-Za-z0-9.-]+", "-", p).strip("-")[:40] for p in parts)
    return f"{slug}_{short(config_digest(config), 10)}"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:  # numpy is a dependency; this only guards odd environments
        pass
    # torch is seeded even when nothing imported it yet: a benchmark imports it later, and its
    # global RNG (dropout-free sampling, SAE init, probe shuffles) must start from config.seed.
    import torch

    torch.manual_seed(seed)


def with_default_method(config: RunConfig, host: Any) -> tuple[RunConfig, dict[str, Any]]:
    """The config as it runs (a benchmark's ``default_method`` filled in when none is given, which
    is part of its run id) and its validated components."""
    components = validate_components(config, host)
    bench_spec = components["benchmark"][0]
    if config.method is None and getattr(bench_spec, "default_method", None):
        config = config.model_copy(update={"method": type(config.benchmark)(name=bench_spec.default_method)})
        components = validate_components(config, host)
    return config, components


def execute(config: RunConfig, host: Any, *, force: bool = False, sweep: dict[str, Any] | None = None,
            run_root: str | Path | None = None) -> RunOutcome:
    """Run ``config`` (or resume it, or return its summary when it already finished).

    ``sweep`` (``{"id": ..., "data": {...}}``) marks a run that is one point of a sweep; observers
    read it as ``run.sweep``. ``run_root`` puts the run directory somewhere other than
    ``config.output_dir`` (a sweep worker that cannot see the output folder stages the run
    locally and ships it back); the config, and so the run id and manifest, stay the same."""
    config, components = with_default_method(config, host)
    bench_spec = components["benchmark"][0]
    if "method" in components:
        method_kind = getattr(components["method"][0], "method_kind", None)
        if method_kind not in bench_spec.method_kinds:
            raise PluriError(
                f"benchmark {bench_spec.name!r} evaluates {' or '.join(bench_spec.method_kinds)} methods; "
                f"method {config.method.name!r} is a {method_kind} method"
            )

    run_dir = Path(run_root if run_root is not None else config.output_dir) / run_id_for(config)
    # One process per run directory: a second identical run stops here with a clear message.
    with hold_run_directory(run_dir):
        return _execute_locked(config, host, components, bench_spec, run_dir, force, sweep)


def _execute_locked(config: RunConfig, host: Any, components: dict[str, Any], bench_spec: Any, run_dir: Path,
                    force: bool, sweep: dict[str, Any] | None) -> RunOutcome:
    summary_path = run_dir / "summary.json"
    if summary_path.exists() and not force:
        log.warning("run %s is already complete; returning its summary (use --force to redo it)", run_dir)
        return RunOutcome(run_dir, json.loads(summary_path.read_text()), resumed=False, reused=True)
    if force and run_dir.exists():
        for name in ("results.jsonl", "summary.json"):
            (run_dir / name).unlink(missing_ok=True)
        for folder in ("conditions", "units"):  # a steering run's side results and per-unit choices
            for path in (run_dir / folder).glob("*.json*"):
                path.unlink()
    resumed = (run_dir / "results.jsonl").exists()

    seed_everything(config.seed)
    ctx = RunContext(host=host, config=config, run_id=run_dir.name, run_dir=run_dir,
                     components=components, resumed=resumed, sweep=sweep)
    earlier, created_at = earlier_attempts(run_dir) if resumed else ([], None)
    if resumed:
        log.warning("resuming run %s: %d results already recorded", run_dir.name, len(ctx.results))
    provenance = ctx.provenance
    provenance.manifest = build_manifest(ctx, previous={"created_at": created_at} if created_at else None)
    provenance.begin_attempt(earlier, results_at_start=len(ctx.results))
    provenance.write(status="running")
    ctx.inference.on_model_loaded(lambda _model: (_record_model(ctx), provenance.write(status="running")))
    host.call_each("run_started", run=ctx.view)
    summary: dict[str, Any] | None = None
    try:
        benchmark = bench_spec.create(components["benchmark"][1])
        body = benchmark.run(ctx)
        provenance.end_attempt()
        summary = {
            "run_id": ctx.run_id,
            "benchmark": bench_spec.name,
            "spec_version": getattr(bench_spec, "spec_version", None),
            "model": config.model.name,
            "method": config.method.name if config.method else None,
            "num_results": len(ctx.results),
            "duration_s": provenance.total_seconds(),  # every attempt of a resumed run
            **body,
        }
        if ctx.cache is not None:
            summary["cache"] = ctx.cache.stats.to_dict()
        _record_model(ctx)
        provenance.manifest = build_manifest(ctx, previous=provenance.manifest)
        provenance.manifest["metrics"] = body.get("metrics", {})
        provenance.manifest["cache"] = summary.get("cache", {"enabled": False})
        provenance.write(status="complete")
        ctx.write_json("summary.json", summary, kind="summary")
    except BaseException as err:
        provenance.write(status="failed" if isinstance(err, Exception) else "interrupted", error=repr(err))
        host.call_each("run_finished", run=ctx.view, summary=None, error=err)
        ctx.close()
        raise
    host.call_each("run_finished", run=ctx.view, summary=copy.deepcopy(summary), error=None)
    if ctx.cache is not None:
        print(ctx.cache.stats.line(), file=sys.stderr)
    ctx.close()
    return RunOutcome(run_dir, summary, resumed=resumed)


def earlier_attempts(run_dir: Path) -> tuple[list[dict[str, Any]], str | None]:
    """The attempts recorded in an unfinished run's ``manifest.json`` (a resumed run adds its
    time to theirs) and when the run was created. The file is read as untrusted: a damaged
    manifest or attempt is left out with a warning, never trusted for a number. An attempt
    still ``running`` was killed: its time is taken up to the last write to the run folder
    (its last recorded result). A manifest from before attempts were recorded counts as one."""
    path = run_dir / "manifest.json"
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(old, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as err:
        log.warning("run %s: its manifest.json cannot be read (%s); the time of earlier attempts is not "
                    "counted in duration_s", run_dir.name, err)
        return [], None
    created = old.get("created_at") if parse_timestamp(old.get("created_at")) is not None else None
    raw = old.get("attempts")
    if raw is None and created:
        raw = [{"started_at": created, "status": old.get("status"), "seconds": None}]
    if not isinstance(raw, list):
        log.warning("run %s: manifest.json 'attempts' is not a list; earlier attempts are not counted", run_dir.name)
        return [], created
    last_write = max((p.stat().st_mtime for p in (run_dir / "results.jsonl", path) if p.exists()), default=0.0)
    now = time.time()
    attempts = []
    for i, item in enumerate(raw):
        started = parse_timestamp(item.get("started_at")) if isinstance(item, dict) else None
        if started is None:
            log.warning("run %s: manifest.json attempts[%d] has no valid started_at; left out", run_dir.name, i)
            continue
        status = item.get("status")
        seconds = item.get("seconds") if type(item.get("seconds")) in (int, float) else None
        killed = status in (None, "running")
        if seconds is None or (killed and i == len(raw) - 1):
            # ended without a last word (killed; an old manifest): up to the run folder's last write
            seconds = max(last_write - started, seconds or 0.0)
        status = "killed" if killed else str(status)
        seconds = float(seconds)
        if not math.isfinite(seconds) or seconds < 0 or seconds > now - started + 1.0:
            log.warning("run %s: manifest.json attempts[%d] claims %r s, impossible for an attempt started at "
                        "%s; left out", run_dir.name, i, item.get("seconds"), item.get("started_at"))
            continue
        results = item.get("results_at_start", 0)
        attempts.append({"started_at": item["started_at"], "seconds": round(seconds, 3), "status": str(status),
                         "results_at_start": results if type(results) is int and results >= 0 else 0})
    return attempts, created


def _record_model(ctx: RunContext) -> None:
    """Put ``model.describe()`` (+ batch size, decoding lanes) into the manifest once the model
    is loaded."""
    if ctx.model_loaded:
        from plurieval.models.lanes import lanes_for

        ctx.provenance.manifest["model"] = {**ctx.model_description(), "batch_size": ctx.config.batch_size,
                                            "decode_lanes": lanes_for(ctx.config.decode_lanes)}


def execute_run(data: dict[str, Any], *, force: bool = False, source: str = "run config") -> RunOutcome:
    """Validate a run config given as a mapping (what ``--config``/``--set`` build) and run it
    with the process-wide plugin host: what a plugin's own command calls to start runs."""
    from plurieval.config import build_run_config
    from plurieval.host import get_host

    return execute(build_run_config(dict(data), source=source), get_host(), force=force)
