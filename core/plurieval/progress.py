"""Progress of a whole run, readable on a terminal and in a log file.

One :class:`RunProgress` per run (``RunContext.progress``). A run is a sequence of *stages*
(``load``, ``baseline``, ``extraction``, ``sweep``, ``test``, ...), each counting the rows it
generates or scores::

    progress.plan({"baseline": 10, "sweep": 1080, "test": 90})   # optional: an ETA for the run
    with progress.stage("sweep", total_rows=1080):
        ...
        progress.advance(120)                                   # after each batched call

* On a terminal: one live display (rich) with the current stage's bar (rows, rows/s, elapsed,
  ETA) and, when a plan was given, the whole run's bar; every finished stage leaves one line.
* The run's ETA prices each stage's remaining rows at the rate its *kind* of stage has shown
  (the part of the name after its last ``": "``: ``en: selection`` and ``de: selection`` are
  both ``selection``, ``test: scoring`` is ``scoring``), and at the run's average rate until a
  stage of that kind has run: rows cost very different times (a PolyRefuse selection row is one
  forward pass, a test row 24 generated tokens), and one average over all rows also spread the
  time of stages without rows (loading, a model build) over every row: docs/speed.md shows it
  14 min off on a PolyRefuse run.
* Not a terminal (a log, CI): one line per finished stage (``sweep: 1080 rows in 95 s,
  11.4 rows/s``) and, for long stages, a line every ``PLURIEVAL_PROGRESS_EVERY`` seconds
  (default 30) with the count and ETA, so a log shows the run is alive.
* ``PLURIEVAL_NO_PROGRESS=1`` silences all of it (the test suite sets it).

Calling the object on an iterable (``for t in progress(targets, total=9, desc="targets")``)
tracks a loop inside the current stage, as benchmarks have always done.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, TypeVar

T = TypeVar("T")


@dataclass
class StageRecord:
    """What a finished (or running) stage did: ``rows`` of ``total`` in ``seconds``."""

    name: str
    total: int | None
    rows: int = 0
    started: float = 0.0
    seconds: float = 0.0
    grows: bool = False  # started without a total: each model call adds its rows (``expect``)
    _last_line: float = field(default=0.0, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "rows": self.rows, "total": self.total, "seconds": round(self.seconds, 3)}


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _clock(seconds: float) -> str:
    minutes, sec = divmod(int(round(max(0.0, seconds))), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{sec:02d}"


def stage_kind(name: str) -> str:
    """What a stage's rows have in common with other stages' (``en: selection`` → ``selection``)."""
    return name.rsplit(": ", 1)[-1]


def eta_seconds(done: int, total: int | None, elapsed: float) -> float | None:
    """Remaining time at the average rate so far (``None`` when it cannot be told yet)."""
    if not total or done <= 0 or elapsed <= 0:
        return None
    return max(0.0, (total - done) * elapsed / done)


class RunProgress:
    """Stages of one run, shown on ``stream`` (default stderr).

    ``enabled``: default off when ``PLURIEVAL_NO_PROGRESS`` is set. ``interactive``: a live
    display (default: when ``stream`` is a terminal). ``every``: seconds between log lines of a
    long stage (default ``PLURIEVAL_PROGRESS_EVERY`` or 30). ``clock``: for tests.
    """

    def __init__(self, *, stream: TextIO | None = None, enabled: bool | None = None,
                 interactive: bool | None = None, every: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = (not os.environ.get("PLURIEVAL_NO_PROGRESS")) if enabled is None else enabled
        if interactive is None:
            isatty = getattr(self.stream, "isatty", None)
            interactive = bool(isatty and isatty())
        self.interactive = interactive
        self.every = float(os.environ.get("PLURIEVAL_PROGRESS_EVERY", "30")) if every is None else float(every)
        self.clock = clock
        self.stages: list[StageRecord] = []
        self.current: StageRecord | None = None
        self.planned: dict[str, int] = {}
        self._started = clock()
        self._live: Any = None
        self._stage_task: Any = None
        self._run_task: Any = None

    # --- the API a run's loop calls -------------------------------------------------------------

    def plan(self, stages: Mapping[str, int]) -> None:
        """Announce the rows each coming stage will count, so the run as a whole gets an ETA."""
        self.planned.update({str(k): int(v) for k, v in stages.items()})
        self._refresh_run_task()

    def stage(self, name: str, total_rows: int | None = None, *, from_calls: bool = False) -> _StageScope:
        """Start stage ``name`` (ending the current one). Usable as a context manager, which ends
        the stage on exit. ``total_rows`` defaults to the planned count, if any;
        ``from_calls=True``: the stage totals what its model calls announce (``expect``) even
        when it was planned, the plan having been an estimate for the ETA."""
        self.end_stage()
        total = total_rows if total_rows is not None or from_calls else self.planned.get(name)
        record = StageRecord(name=name, total=None if total is None else int(total), started=self.clock(),
                             grows=total is None)
        record._last_line = record.started
        self.current = record
        self.stages.append(record)
        if self.enabled and self.interactive:
            self._live_stage(record)
        return _StageScope(self, record)

    def expect(self, n: int) -> None:
        """``n`` more rows are coming in the current stage. Counts only in a stage started
        without a total (its total is then the sum of what its model calls announced); a stage
        given its total up front keeps it."""
        record = self.current
        if record is None:
            record = self.stage("run")._record
        if not record.grows:
            return
        record.total = (record.total or 0) + int(n)
        if self.enabled and self._live is not None and self._stage_task is not None:
            self._live.update(self._stage_task, total=record.total)
            self._refresh_run_task()

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more rows done in the current stage."""
        record = self.current
        if record is None:
            record = self.stage("run")._record
        record.rows += int(n)
        if not self.enabled:
            return
        if self._live is not None:
            self._live.update(self._stage_task, completed=record.rows)
            self._refresh_run_task()
            return
        now = self.clock()
        if self.every >= 0 and now - record._last_line >= self.every:
            record._last_line = now
            self._line(self._status(record, now))

    def end_stage(self) -> None:
        """Finish the current stage: on a log, one line with its count and time."""
        record = self.current
        if record is None:
            return
        self.current = None
        record.seconds = self.clock() - record.started
        if not self.enabled:
            return
        if self._live is not None:
            self._live.remove_task(self._stage_task)
            self._stage_task = None
        line = self._done_line(record)
        if self.planned:
            run_eta = self.run_eta()
            if run_eta is not None and run_eta > 0:
                line += f" (run: about {_duration(run_eta)} left)"
        self._line(line)

    def __call__(self, items: Iterable[T], total: int | None = None, desc: str = "") -> Iterator[T]:
        """Iterate ``items`` showing a loop's progress (inside the current stage)."""
        if not self.enabled:
            yield from items
            return
        if total is None and hasattr(items, "__len__"):
            total = len(items)  # type: ignore[arg-type]
        label = desc or "progress"
        if self.interactive:
            live = self._ensure_live()
            task = live.add_task(label, total=total)
            try:
                for item in items:
                    yield item
                    live.advance(task)
            finally:
                live.remove_task(task)
            return
        started = last = self.clock()
        done = 0
        for item in items:
            yield item
            done += 1
            now = self.clock()
            if self.every >= 0 and now - last >= self.every:
                last = now
                eta = eta_seconds(done, total, now - started)
                of = f"/{total}" if total else ""
                self._line(f"{label}: {done}{of} ({_duration(now - started)}"
                           + (f", about {_duration(eta)} left)" if eta is not None else ")"))
        if done and self.clock() - started >= self.every:
            self._line(f"{label}: done, {done} in {_duration(self.clock() - started)}")

    def close(self) -> None:
        """End the current stage and the live display."""
        self.end_stage()
        if self._live is not None:
            self._live.stop()
            self._live = None
            self._run_task = None

    def summary(self) -> list[dict[str, Any]]:
        """Every stage so far: name, rows, total, seconds (for the manifest or a summary)."""
        now = self.clock()
        out = []
        for record in self.stages:
            d = record.as_dict()
            if record is self.current:
                d["seconds"] = round(now - record.started, 3)
            out.append(d)
        return out

    # --- display --------------------------------------------------------------------------------

    def _expected_rows(self) -> list[tuple[str, int, int]]:
        """(name, rows expected, rows done) of every stage started so far (expected: its total,
        or its count where that is more) and of every planned stage still to come."""
        started = {s.name for s in self.stages}
        return ([(s.name, max(s.total or 0, s.rows), s.rows) for s in self.stages]
                + [(name, n, 0) for name, n in self.planned.items() if name not in started])

    def _run_total(self) -> int:
        return sum(expected for _, expected, _ in self._expected_rows())

    def _run_done(self) -> int:
        return sum(s.rows for s in self.stages)

    def run_eta(self, now: float | None = None) -> float | None:
        """Seconds the run has left (``None`` before its first row): the rows still to come in
        every started and planned stage, each at the seconds per row of its kind of stage so
        far, or at the run's average (elapsed time over rows done) for a kind not seen yet."""
        now = self.clock() if now is None else now
        done, elapsed = self._run_done(), now - self._started
        if done <= 0 or elapsed <= 0:
            return None
        average = elapsed / done
        seconds: dict[str, float] = {}
        rows: dict[str, int] = {}
        for s in self.stages:
            took = now - s.started if s is self.current else s.seconds
            if s.rows > 0 and took > 0:
                kind = stage_kind(s.name)
                seconds[kind] = seconds.get(kind, 0.0) + took
                rows[kind] = rows.get(kind, 0) + s.rows
        total = 0.0
        for name, expected, done_here in self._expected_rows():
            if expected > done_here:
                kind = stage_kind(name)
                total += (expected - done_here) * (seconds[kind] / rows[kind] if kind in rows else average)
        return total

    def _status(self, record: StageRecord, now: float) -> str:
        elapsed = now - record.started
        of = f"/{record.total}" if record.total else ""
        rate = f", {record.rows / elapsed:.1f} rows/s" if elapsed > 0 and record.rows else ""
        eta = eta_seconds(record.rows, record.total, elapsed)
        run_eta = self.run_eta(now) if self.planned else None
        tail = f", about {_duration(eta)} left" if eta is not None else ""
        if run_eta is not None:
            tail += f" (run: about {_duration(run_eta)} left)"
        return f"{record.name}: {record.rows}{of} rows{rate}, {_duration(elapsed)}{tail}"

    @staticmethod
    def _done_line(record: StageRecord) -> str:
        rate = f", {record.rows / record.seconds:.1f} rows/s" if record.rows and record.seconds > 0 else ""
        rows = f"{record.rows} rows in " if record.rows or record.total else ""
        return f"{record.name}: {rows}{_duration(record.seconds)}{rate}"

    def _line(self, text: str) -> None:
        if self._live is not None:
            self._live.console.print(text, highlight=False)
        else:
            print(f"plurieval: {text}", file=self.stream, flush=True)

    def _ensure_live(self) -> Any:
        if self._live is None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.text import Text

            class RemainingColumn(TimeRemainingColumn):
                """rich's ETA (rows at the bar's speed), or ours where a task carries one (the
                run's bar: each kind of stage at its own rate)."""

                def render(self, task: Any) -> Any:
                    if "eta" in task.fields:
                        eta = task.fields["eta"]
                        return Text("-:--:--" if eta is None else _clock(eta), style="progress.remaining")
                    return super().render(task)

            console = Console(file=self.stream, force_terminal=self.interactive)
            self._live = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("rows"), TimeElapsedColumn(), TextColumn("ETA"), RemainingColumn(),
                                  console=console, transient=True)
            self._live.start()
            self._refresh_run_task()
        return self._live

    def _refresh_run_task(self) -> None:
        if self._live is None or not self.planned:
            return
        fields = {"total": self._run_total(), "completed": self._run_done(), "eta": self.run_eta()}
        if self._run_task is None:  # a plan made once the display was up (after a run's first unit)
            self._run_task = self._live.add_task("run", **fields)
        else:
            self._live.update(self._run_task, **fields)

    def _live_stage(self, record: StageRecord) -> None:
        live = self._ensure_live()
        self._stage_task = live.add_task(record.name, total=record.total)
        self._refresh_run_task()


class _StageScope:
    """Returned by :meth:`RunProgress.stage`: a context manager that ends the stage on exit."""

    def __init__(self, progress: RunProgress, record: StageRecord) -> None:
        self._progress = progress
        self._record = record

    def __enter__(self) -> StageRecord:
        return self._record

    def __exit__(self, *exc: Any) -> None:
        if self._progress.current is self._record:
            self._progress.end_stage()


def run_end_lines(run_dir: str | Path) -> list[str]:
    """The lines a finished run ends with: where its plots are and how to open it in MLflow
    (read from the run folder, so a reused or resumed run says the same)."""
    import json

    run_dir = Path(run_dir)
    lines = []
    plots = sorted(p for p in (run_dir / "plots").glob("*") if p.is_file()) if (run_dir / "plots").is_dir() else []
    if plots:
        names = ", ".join(p.name for p in plots[:6]) + (f", ... ({len(plots)} files)" if len(plots) > 6 else "")
        lines.append(f"plots: {run_dir / 'plots'}/ ({names})")
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    command = mlflow_ui_command(manifest.get("tracking") if isinstance(manifest, dict) else None)
    if command:
        lines.append(command)
    return lines


def mlflow_ui_command(tracking: Mapping[str, Any] | None) -> str | None:
    """How to look at a run in MLflow, from the manifest's ``tracking`` entry: the server's
    address, or the ``mlflow ui`` command for a local store."""
    if not tracking or tracking.get("backend") != "mlflow" or not tracking.get("uri"):
        return None
    uri = str(tracking["uri"])
    experiment = tracking.get("experiment")
    where = f" (experiment {experiment!r})" if experiment else ""
    if uri.startswith(("http://", "https://")):
        return f"MLflow: open {uri}{where}"
    return f"MLflow: mlflow ui --backend-store-uri {uri}   then open http://127.0.0.1:5000{where}"


__all__ = ["RunProgress", "StageRecord", "eta_seconds", "stage_kind", "mlflow_ui_command", "run_end_lines"]
