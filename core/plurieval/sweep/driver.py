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
from plurieval.sweep.split import BASELINE, SplitRun, is_steering, units_of
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
    parts: dict[str, str] | None = None  # a steering run split into its units: part -> status

    def to_json(self, relative_to: Path) -> dict[str, Any]:
        metrics = (self.summary or {}).get("metrics")
        return {
            "key": self.key, "run_id": self.run_id,
            "run_dir": os.path.relpath(self.run_dir, relative_to),
            "point": self.point, "status": self.status, "attempts": self.attempts, "reused": self.reused,
            "resumed": self.resumed, "worker": self.worker, "examples_done": self.examples_done,
            "duration_s": self.duration_s, "error": self.error, "failure": self.failure,
            "parts": self.parts, "metrics": metrics,
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

    def part(self, key: str, outcome: TaskOutcome, seconds: float | None) -> None:
        if self.quiet:
            return
        took = f" in {seconds:.1f} s" if seconds is not None else ""
        _say(f"  part {key} " + (f"done{took}" if outcome.ok else f"failed: {outcome.error}"))

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
             probes: dict[str, Any], force: str | None, key: str | None = None) -> dict[str, Any]:
    ex = ctx.config.executor
    return {"kind": "run", "config": run.config.model_dump(mode="json"), "host": recipe,
            "sweep": {"id": ctx.sweep_id, "data": ctx.data}, "files": ex.files, "cache": ex.cache,
            "output_probe": probes["output"], "cache_probe": probes.get("cache"), "threads": ex.threads,
            "force": force, "key": key or run.run_id}


def _splits(config: SweepConfig, slots: int) -> bool:
    mode = config.executor.split
    return mode == "units" or (mode == "auto" and slots > 1)


class _Splitter:
    """Drives the split runs of a sweep (see ``plurieval.sweep.split``): which part task goes
    out next, and when a run's merge task can."""

    def __init__(self, ctx: SweepContext, make_payload: Any, force: bool):
        self.ctx, self.make_payload, self.force = ctx, make_payload, force
        self.runs: dict[str, SplitRun] = {}
        self.planned: dict[str, PlannedRun] = {}
        self.in_flight: dict[str, set[str]] = {}
        self.merging: set[str] = set()

    def start(self, run: PlannedRun) -> list[Task]:
        self.runs[run.run_id] = SplitRun(run.run_id, Path(self.ctx.config.output_dir))
        self.planned[run.run_id] = run
        self.in_flight[run.run_id] = set()
        self.ctx.records[run.run_id].parts = self.runs[run.run_id].status()
        return self.advance(run.run_id)

    def _task(self, run_id: str, part: str | None) -> Task:
        run = self.planned[run_id]
        if part is None:  # the merge: the ordinary run, seeded with every part's records
            payload = self.make_payload(run, None, run_id)
            payload["seed"] = self.runs[run_id].seeds()
            return Task(run_id, payload, label=f"{run_id} (merge)")
        key = f"{run_id}/{part}"
        payload = self.make_payload(run, self.force, key)
        payload["parts"] = [part]
        self.in_flight[run_id].add(part)
        return Task(key, payload, label=key)

    def _reuse(self, split: SplitRun, part: str) -> bool:
        """A part finished by an earlier start of the sweep is taken as it is (unless --force)."""
        path = split.part_dir(part) / "summary.json"
        if self.force or not path.is_file():
            return False
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
            if part == BASELINE:
                split.units = units_of({"summary": summary})
        except (ValueError, PluriError):
            return False
        split.done[part] = True
        return True

    def advance(self, run_id: str) -> list[Task]:
        split, flying = self.runs[run_id], self.in_flight[run_id]
        if run_id in self.merging:
            return []
        if not split.done.get(BASELINE):
            if BASELINE in flying or BASELINE in split.errors:
                return []
            if not self._reuse(split, BASELINE):
                self.ctx.records[run_id].parts = split.status()
                return [self._task(run_id, BASELINE)]
        tasks = [self._task(run_id, u) for u in split.units or []
                 if not split.done.get(u) and u not in flying and u not in split.errors and not self._reuse(split, u)]
        if not tasks and not flying and not split.errors:
            if self.force:  # the parts were redone: the merged run starts from them alone
                run_dir = Path(self.ctx.config.output_dir) / run_id
                for name in ("results.jsonl", "summary.json"):
                    (run_dir / name).unlink(missing_ok=True)
                for folder in ("conditions", "units"):
                    shutil.rmtree(run_dir / folder, ignore_errors=True)
            self.merging.add(run_id)
            tasks = [self._task(run_id, None)]
        self.ctx.records[run_id].parts = split.status()
        return tasks

    def part_finished(self, run_id: str, part: str, outcome: TaskOutcome) -> tuple[list[Task], str | None]:
        """The tasks to submit now, and the run's error once no part of it is left running."""
        split = self.runs[run_id]
        self.in_flight[run_id].discard(part)
        try:
            if not outcome.ok or outcome.value is None:
                raise PluriError(outcome.error or "no result")
            if outcome.value.get("files") is not None:
                write_files(split.part_dir(part), outcome.value["files"])
            if part == BASELINE:
                split.units = units_of(outcome.value)
            split.done[part] = True
        except (PluriError, OSError, ValueError) as err:
            split.errors[part] = str(err)
        tasks = self.advance(run_id)
        if split.errors and not self.in_flight[run_id]:
            return tasks, "; ".join(f"part {p}: {e}" for p, e in split.errors.items())
        return tasks, None


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
            splitter = _Splitter(ctx, lambda run, force_, key: _payload(ctx, run, recipe, probes, force_, key),
                                 nonce)
            split = _splits(config, ctx.slots or 1)
            tasks: list[Task] = []
            for run in todo:
                if split and is_steering(run.config, host):
                    tasks.extend(splitter.start(run))
                else:
                    tasks.append(Task(run.run_id, _payload(ctx, run, recipe, probes, nonce), label=run.run_id))
            last_write = [time.monotonic()]
            part_started: dict[str, float] = {}
            examples: dict[str, int] = {}

            def on_event(key: str, event: dict[str, Any]) -> None:
                run_id, _, part = key.partition("/")
                record = records[run_id]
                if record.status in ("complete", "failed"):  # an event that arrived after the result
                    return
                if event.get("type") == "started":
                    record.status = "running"
                    record.attempts = max(record.attempts, event.get("attempt", 1)) if record.parts else \
                        event.get("attempt", record.attempts + 1)
                    part_started[key] = time.time()
                    if record.started_at is None or not record.parts:  # a split run: from its first part
                        record.started_at = time.time()
                    record.worker = {k: event.get(k) for k in ("pid", "node", "hostname", "files", "cache")}
                elif event.get("type") == "examples":
                    examples[key] = event.get("done") or 0
                    record.examples_done = sum(n for k, n in examples.items() if k.partition("/")[0] == run_id)
                progress.tick(records)
                if time.monotonic() - last_write[0] >= 1.0:
                    last_write[0] = time.monotonic()
                    write_index(ctx, "running", notes=notes)
                else:  # a new worker pid must reach sweep.json promptly (people and tests watch it)
                    if event.get("type") == "started":
                        write_index(ctx, "running", notes=notes)

            for outcome in executor.run(tasks, on_event):
                run_id, _, part = outcome.key.partition("/")
                record = records[run_id]
                if part:
                    started = part_started.get(outcome.key)
                    progress.part(outcome.key, outcome, time.time() - started if started else None)
                    more, failure = splitter.part_finished(run_id, part, outcome)
                    for task in more:
                        executor.submit(task)
                    if failure is None:
                        write_index(ctx, "running", notes=notes)
                        continue
                    outcome = TaskOutcome(run_id, False, error=failure, failure=outcome.failure or "task",
                                          attempts=outcome.attempts)
                _collect(record, outcome)
                if record.status == "complete" and run_id in splitter.runs:
                    splitter.runs[run_id].cleanup()
                    record.parts = {p: "complete" for p in record.parts or {}}
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
