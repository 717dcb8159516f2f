"""The driver of a sweep: plan, dispatch, collect, index, compare.

Layout: every run lives where ``plurieval run`` would put it (``OUTPUT/<run-id>/``), so a sweep
reuses finished runs, resumes interrupted ones and shares them with later sweeps. The sweep's
own files go to ``OUTPUT/sweeps/<sweep-id>/``: ``sweep.json`` (rewritten as runs progress: every
run's status, directory, worker and time), ``comparison.md|png|html`` at the end. The sweep id
comes from the set of run ids, so the same command starts the same sweep again and continues it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plurieval.errors import PluriError
from plurieval.sweep.executors import Executor, Task, TaskOutcome, make_executor
from plurieval.sweep.spec import PlannedRun, SweepConfig, SweepPlan, describe_config, expand
from plurieval.sweep.worker import host_recipe, write_files, write_probe

INDEX_VERSION = 1


@dataclass
class SweepRecord:
    """The state of one run of the sweep (one row of ``sweep.json``)."""

    key: str
    run_id: str
    run_dir: Path
    point: dict[str, Any]
    status: str = "pending"  # pending | running | complete | failed
    attempts: int = 0
    reused: bool = False
    resumed: bool = False
    worker: dict[str, Any] = field(default_factory=dict)
    examples_done: int | None = None
    started_at: float | None = None
    duration_s: float | None = None
    error: str | None = None
    failure: str | None = None
    summary: dict[str, Any] | None = None

    def to_json(self, relative_to: Path) -> dict[str, Any]:
        metrics = (self.summary or {}).get("metrics")
        return {
            "key": self.key, "run_id": self.run_id,
            "run_dir": os.path.relpath(self.run_dir, relative_to),
            "point": self.point, "status": self.status, "attempts": self.attempts, "reused": self.reused,
            "resumed": self.resumed, "worker": self.worker, "examples_done": self.examples_done,
            "duration_s": self.duration_s, "error": self.error, "failure": self.failure,
            "metrics": metrics,
        }


@dataclass
class SweepContext:
    """What sweep observers see: the plan, where the sweep writes, and ``data`` to share with
    every run (as ``run.sweep["data"]``)."""

    sweep_id: str
    directory: Path
    config: SweepConfig
    runs: list[PlannedRun]
    records: dict[str, SweepRecord]
    data: dict[str, Any] = field(default_factory=dict)
    slots: int | None = None  # runs the executor runs at once

    @property
    def output_dir(self) -> Path:
        return Path(self.config.output_dir)


@dataclass
class SweepOutcome:
    directory: Path
    index: dict[str, Any]
    records: list[SweepRecord]

    @property
    def failed(self) -> list[SweepRecord]:
        return [r for r in self.records if r.status != "complete"]


def sweep_directory(config: SweepConfig, sweep_id: str) -> Path:
    return Path(config.output_dir) / "sweeps" / sweep_id


class _Progress:
    """One line per finished run, and a status line at most every PLURIEVAL_PROGRESS_EVERY
    seconds (default 30) while runs are going: runs done, examples scored, ETA."""

    def __init__(self, total: int, slots: int, quiet: bool):
        self.total, self.slots, self.quiet = total, max(1, slots), quiet
        self.every = float(os.environ.get("PLURIEVAL_PROGRESS_EVERY", "30"))
        self.started = self.last = time.monotonic()
        self.durations: list[float] = []

    def eta(self, remaining: int) -> str:
        if not self.durations or not remaining:
            return "?"
        seconds = sum(self.durations) / len(self.durations) * -(-remaining // self.slots)
        return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"

    def finished(self, record: SweepRecord, done: int) -> None:
        if record.duration_s is not None and not record.reused:
            self.durations.append(record.duration_s)
        what = {"complete": "reused" if record.reused else "done"}.get(record.status, record.status)
        where = f" on {record.worker.get('hostname')} pid {record.worker.get('pid')}" if record.worker.get("pid") else ""
        took = f" in {record.duration_s:.1f} s" if record.duration_s is not None and not record.reused else ""
        tail = f": {record.error}" if record.error else ""
        _say(f"[{done}/{self.total}] {what} {record.run_id}{took}{where}{tail}"
             + (f" (ETA {self.eta(self.total - done)})" if done < self.total else ""))

    def tick(self, records: dict[str, SweepRecord]) -> None:
        now = time.monotonic()
        if self.quiet or now - self.last < self.every:
            return
        self.last = now
        states = [r.status for r in records.values()]
        done = sum(s in ("complete", "failed") for s in states)
        examples = sum(r.examples_done or 0 for r in records.values() if r.status == "running")
        _say(f"sweep: {done}/{self.total} runs finished, {states.count('running')} running "
             f"({examples} examples scored in running runs), {now - self.started:.0f} s, "
             f"ETA {self.eta(self.total - done)}")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def write_index(ctx: SweepContext, status: str, *, comparison: dict[str, Any] | None = None,
                notes: list[str] | None = None) -> dict[str, Any]:
    records = [ctx.records[r.run_id] for r in ctx.runs]
    counts: dict[str, int] = {}
    for r in records:
        counts[r.status] = counts.get(r.status, 0) + 1
    index = {
        "index_version": INDEX_VERSION,
        "sweep_id": ctx.sweep_id,
        "status": status,
        "updated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "output_dir": str(Path(ctx.config.output_dir).resolve()),
        "config": describe_config(ctx.config),
        "executor": {"kind": ctx.config.executor.kind, "slots": ctx.slots,
                     "threads_per_task": ctx.config.executor.threads},
        "counts": counts,
        "runs": [r.to_json(ctx.directory) for r in records],
        "comparison": comparison or {},
        "notes": notes or [],
        "tracking": _redacted(ctx.data.get("mlflow")) if isinstance(ctx.data.get("mlflow"), dict) else {},
    }
    path = ctx.directory / "sweep.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(index, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return index


def _redacted(info: dict[str, Any]) -> dict[str, Any]:
    """Tracking details for sweep.json, without credentials embedded in a URI (user:token@host)."""
    return {k: re.sub(r"//[^/@]+@", "//***@", v) if isinstance(v, str) else v for k, v in info.items()}


def plan_sweep(config: SweepConfig, host: Any) -> SweepPlan:
    plan = expand(config, host)
    if not plan.runs:
        raise PluriError("the sweep has no runs (check --model, --methods and the grid)")
    return plan


def _payload(ctx: SweepContext, run: PlannedRun, recipe: list[dict[str, Any]] | None,
             probes: dict[str, Any], force: str | None) -> dict[str, Any]:
    ex = ctx.config.executor
    return {"kind": "run", "config": run.config.model_dump(mode="json"), "host": recipe,
            "sweep": {"id": ctx.sweep_id, "data": ctx.data}, "files": ex.files, "cache": ex.cache,
            "output_probe": probes["output"], "cache_probe": probes.get("cache"), "threads": ex.threads,
            "force": force}


def run_sweep(config: SweepConfig, host: Any, *, executor: Executor | None = None, force: bool = False,
              boards_root: Path = Path("leaderboards"), quiet: bool | None = None) -> SweepOutcome:
    """Expand ``config``, run every point that is not complete yet, write ``sweep.json`` and the
    comparison. A run that fails is recorded (with its error) and the others go on; the caller
    decides what a failed run means for its exit status."""
    plan = plan_sweep(config, host)
    directory = sweep_directory(config, plan.sweep_id)
    directory.mkdir(parents=True, exist_ok=True)
    records = {r.run_id: SweepRecord(r.run_id, r.run_id, Path(config.output_dir) / r.run_id, r.point)
               for r in plan.runs}
    ctx = SweepContext(plan.sweep_id, directory, config, plan.runs, records)
    notes = list(plan.duplicates)
    quiet = bool(os.environ.get("PLURIEVAL_NO_PROGRESS")) if quiet is None else quiet
    own_executor = executor is None
    executor = executor or make_executor(config.executor, host)
    ctx.slots = executor.slots
    progress = _Progress(len(plan.runs), ctx.slots, quiet)
    done = 0
    error: BaseException | None = None
    index: dict[str, Any] = {}
    try:
        write_index(ctx, "running", notes=notes)
        host.call_each("sweep_started", sweep=ctx)
        todo: list[PlannedRun] = []
        for run in plan.runs:
            record = records[run.run_id]
            summary_path = record.run_dir / "summary.json"
            if summary_path.is_file() and not force:
                record.status, record.reused = "complete", True
                record.summary = json.loads(summary_path.read_text(encoding="utf-8"))
                done += 1
                progress.finished(record, done)
                host.call_each("sweep_run_finished", sweep=ctx, record=record)
            else:
                todo.append(run)
        write_index(ctx, "running", notes=notes)
        if todo:
            from plurieval.datafiles import cache_root

            # the cache root also holds converted models and downloads: probed even with cache off
            probes = {"output": write_probe(Path(config.output_dir)), "cache": write_probe(cache_root())}
            recipe = host_recipe(host)
            # --force redoes a run once: a retry after its worker died must resume, not redo again
            nonce = secrets.token_hex(6) if force else None
            tasks = [Task(run.run_id, _payload(ctx, run, recipe, probes, nonce), label=run.run_id) for run in todo]
            last_write = [time.monotonic()]

            def on_event(key: str, event: dict[str, Any]) -> None:
                record = records[key]
                if record.status in ("complete", "failed"):  # an event that arrived after the result
                    return
                if event.get("type") == "started":
                    record.status = "running"
                    record.attempts = event.get("attempt", record.attempts + 1)
                    record.started_at = time.time()
                    record.worker = {k: event.get(k) for k in ("pid", "node", "hostname", "files", "cache")}
                elif event.get("type") == "examples":
                    record.examples_done = event.get("done")
                progress.tick(records)
                if time.monotonic() - last_write[0] >= 1.0:
                    last_write[0] = time.monotonic()
                    write_index(ctx, "running", notes=notes)
                else:  # a new worker pid must reach sweep.json promptly (people and tests watch it)
                    if event.get("type") == "started":
                        write_index(ctx, "running", notes=notes)

            for outcome in executor.run(tasks, on_event):
                record = records[outcome.key]
                _collect(record, outcome)
                done += 1
                progress.finished(record, done)
                write_index(ctx, "running", notes=notes)
                host.call_each("sweep_run_finished", sweep=ctx, record=record)
        complete = [records[r.run_id] for r in plan.runs if records[r.run_id].status == "complete"]
        comparison: dict[str, Any] = {}
        if complete:
            from plurieval.sweep.compare import write_comparison

            result = write_comparison(complete, host, directory, grid_keys=list(config.grid), boards_root=boards_root)
            comparison = dict(result.files)
            if result.comparison is not None:
                from plurieval.leaderboard.render import comparison_markdown

                comparison["table"] = comparison_markdown(result.comparison)
            notes.extend(f"not in the comparison: {line}" for line in result.skipped)
        failed = [r for r in records.values() if r.status != "complete"]
        index = write_index(ctx, "failed" if failed else "complete", comparison=comparison, notes=notes)
    except BaseException as err:
        error = err
        executor.cancel()
        for record in records.values():
            if record.status == "running":
                record.status, record.error = "pending", "interrupted; run the sweep again to resume it"
        index = write_index(ctx, "interrupted" if isinstance(err, KeyboardInterrupt) else "failed",
                            notes=[*notes, f"{type(err).__name__}: {err}"])
        raise
    finally:
        if force:  # the markers that made each forced run redo itself once (see worker._force_once)
            shutil.rmtree(Path(config.output_dir) / ".plurieval-forced", ignore_errors=True)
        host.call_each("sweep_finished", sweep=ctx, index=index, error=error)
        if own_executor:
            executor.close()
    return SweepOutcome(directory, index, [records[r.run_id] for r in plan.runs])


def _collect(record: SweepRecord, outcome: TaskOutcome) -> None:
    record.attempts = max(record.attempts, outcome.attempts, 1)
    if record.started_at is not None:
        record.duration_s = round(time.time() - record.started_at, 3)
    elif outcome.value and outcome.value.get("seconds") is not None:  # its start event never came
        record.duration_s = outcome.value["seconds"]
    if not outcome.ok or outcome.value is None:
        record.status, record.error, record.failure = "failed", outcome.error, outcome.failure
        return
    value = outcome.value
    try:
        if value.get("files") is not None:
            write_files(record.run_dir, value["files"])
        if value.get("run_id") != record.run_id:
            raise PluriError(f"the worker ran {value.get('run_id')!r}, not {record.run_id!r}")
        summary_path = record.run_dir / "summary.json"
        if not summary_path.is_file():
            raise PluriError(f"{summary_path} is missing after the run finished (is the output folder shared "
                             f"with the worker? try files: copy)")
        record.summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (PluriError, OSError, ValueError) as err:
        record.status, record.error, record.failure = "failed", str(err), "collect"
        return
    record.status, record.resumed, record.error = "complete", bool(value.get("resumed")), None
    record.reused = bool(value.get("reused"))
    record.worker.update({"pid": value.get("pid", record.worker.get("pid")), "cache": value.get("cache"),
                          "files": value.get("files_mode")})
