"""Executors: where the tasks of a sweep run.

A **task** is a key, a JSON-able payload and the import path of the function that runs it
(``fn(payload, report) -> dict``, plus ``host=`` when it runs in the driver's own process). The
executor only moves payloads and results and relays ``report(event)`` calls to the driver; it
knows nothing about runs: a task is a whole run, or one part of a steering run split into its
units (``plurieval.sweep.worker:run_task`` either way, keyed ``RUN-ID`` or ``RUN-ID/PART``).

``run(tasks, on_event)`` yields one ``TaskOutcome`` per task as it finishes, in completion order;
while it runs, ``submit(task)`` adds a task to it (the driver adds the merge of a split run once
its parts are in).

- ``LocalExecutor(workers=1)``: in this process, one task after another (no start-up cost);
  ``workers=N``: a pool of up to N spawned processes, started as tasks need them and kept until
  ``close()`` (a second sweep on the same executor finds them warm). A pool process that dies
  (killed, out of memory) breaks the pool; the tasks that were under way are started again in a
  fresh pool, up to ``max_retries`` times (a run resumes from its results file).
- ``RayExecutor``: Ray tasks with per-task CPU/GPU/memory requests. Ray restarts a task whose
  worker process or node died (``max_retries``); errors raised by the run itself are not retried,
  since they would fail again. Events travel through a small actor the driver drains.
"""

from __future__ import annotations

import importlib
import os
import queue
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from plurieval.errors import PluriError

OnEvent = Callable[[str, dict[str, Any]], None]
RUN_TASK = "plurieval.sweep.worker:run_task"


@dataclass(frozen=True)
class Task:
    key: str
    payload: dict[str, Any]
    fn: str = RUN_TASK
    label: str = ""


@dataclass
class TaskOutcome:
    key: str
    ok: bool
    value: dict[str, Any] | None = None
    error: str | None = None
    # "task": the task itself raised (not retried); "worker": its worker died every attempt
    failure: str | None = None
    attempts: int = 1


@dataclass(frozen=True)
class Resources:
    cpus: float = 1.0
    gpus: float = 0.0
    memory_bytes: int | None = None


class Executor(Protocol):
    name: str

    @property
    def slots(self) -> int:
        """How many tasks run at once (for the ETA)."""

    def run(self, tasks: Sequence[Task], on_event: OnEvent) -> Iterator[TaskOutcome]:
        """Run every task; yield each outcome as it finishes."""

    def submit(self, task: Task) -> None:
        """Add ``task`` to the ``run`` under way (called between the outcomes it yields)."""

    def cancel(self) -> None:
        """Stop what is still running (the driver was interrupted)."""

    def close(self) -> None:
        """Release workers and clusters this executor started."""


def resolve_fn(path: str) -> Callable[..., dict[str, Any]]:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _error_text(err: BaseException) -> str:
    return str(err) if isinstance(err, PluriError) else f"{type(err).__name__}: {err}"


# --- local -------------------------------------------------------------------------------------

def _pool_init() -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch can be imported


def _pool_entry(fn: str, key: str, payload: dict[str, Any], events: Any) -> dict[str, Any]:
    return resolve_fn(fn)(payload, lambda event: events.put((key, event)))


@dataclass
class LocalExecutor:
    """This machine: in-process (``workers=1``) or a pool of spawned processes."""

    workers: int = 1
    host: Any = None  # the driver's host, used by in-process tasks
    max_retries: int = 3
    name: str = "local"
    _pool: Any = field(default=None, init=False, repr=False)
    _manager: Any = field(default=None, init=False, repr=False)
    _events: Any = field(default=None, init=False, repr=False)
    _queue: deque[Task] | None = field(default=None, init=False, repr=False)

    @property
    def slots(self) -> int:
        return self.workers

    def run(self, tasks: Sequence[Task], on_event: OnEvent) -> Iterator[TaskOutcome]:
        self._queue = deque(tasks)
        try:
            if self.workers == 1:
                yield from self._in_process(self._queue, on_event)
            else:
                yield from self._pooled(self._queue, on_event)
        finally:
            self._queue = None

    def submit(self, task: Task) -> None:
        if self._queue is None:
            raise RuntimeError("submit() is for adding a task to a run() under way")
        self._queue.append(task)

    def _in_process(self, todo: deque[Task], on_event: OnEvent) -> Iterator[TaskOutcome]:
        while todo:
            task = todo.popleft()
            try:
                value = resolve_fn(task.fn)(task.payload, lambda event, k=task.key: on_event(k, event), host=self.host)
            except Exception as err:
                yield TaskOutcome(task.key, False, error=_error_text(err), failure="task")
            else:
                yield TaskOutcome(task.key, True, value)

    def _start_pool(self) -> None:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        ctx = mp.get_context("spawn")  # never fork a process that may hold torch threads
        if self._manager is None:
            self._manager = ctx.Manager()
            self._events = self._manager.Queue()
        # Processes start as tasks need them (spawn context) and stay until close().
        self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_pool_init)

    def _pooled(self, todo: deque[Task], on_event: OnEvent) -> Iterator[TaskOutcome]:
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        attempts: dict[str, int] = {}
        futures: dict[Any, Task] = {}
        broken = False
        while todo or futures:
            if self._pool is None:
                self._start_pool()
            while todo and not broken:  # a broken pool takes nothing new: its tasks wait for a fresh one
                task = todo.popleft()
                attempts[task.key] = attempts.get(task.key, 0) + 1
                futures[self._pool.submit(_pool_entry, task.fn, task.key, task.payload, self._events)] = task
            done, _ = wait(list(futures), timeout=0.5, return_when=FIRST_COMPLETED)
            _drain(self._events, on_event)
            for fut in done:
                task = futures.pop(fut)
                try:
                    value = fut.result()
                except BrokenProcessPool:
                    broken = True
                    if attempts[task.key] <= self.max_retries:
                        todo.append(task)  # its worker died: start it again (it resumes)
                    else:
                        yield TaskOutcome(task.key, False, error="its worker process died on every attempt",
                                          failure="worker", attempts=attempts[task.key])
                except Exception as err:
                    yield TaskOutcome(task.key, False, error=_error_text(err), failure="task",
                                      attempts=attempts[task.key])
                else:
                    yield TaskOutcome(task.key, True, value, attempts=attempts[task.key])
            if broken and not futures:  # every task of the broken pool is back: start a fresh pool
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool, broken = None, False
        _drain(self._events, on_event)

    def cancel(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            for proc in list((getattr(self._pool, "_processes", None) or {}).values()):
                proc.terminate()  # the pool's own children, by their process handles
            self._pool = None

    def close(self) -> None:
        if self._pool is not None:  # idle by now: its processes are stopped, not waited for
            processes = list((getattr(self._pool, "_processes", None) or {}).values())
            self._pool.shutdown(wait=False, cancel_futures=True)
            for proc in processes:
                proc.terminate()
            for proc in processes:
                proc.join(5)
            self._pool = None
        if self._manager is not None:
            self._manager.shutdown()
            self._manager = self._events = None


def _drain(events: Any, on_event: OnEvent) -> None:
    while True:
        try:
            key, event = events.get_nowait()
        except (queue.Empty, EOFError, OSError):
            return
        on_event(key, event)


# --- ray ----------------------------------------------------------------------------------------

def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def _ray_entry(fn: str, key: str, payload: dict[str, Any], sink: Any) -> dict[str, Any]:
    return resolve_fn(fn)(payload, lambda event: sink.put.remote(key, event))


class _EventSink:
    """Collects worker events for the driver (a Ray actor; it takes no CPU slot)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def put(self, key: str, event: dict[str, Any]) -> None:
        self.events.append((key, event))

    def drain(self) -> list[tuple[str, dict[str, Any]]]:
        out, self.events = self.events, []
        return out


@dataclass
class RayExecutor:
    """Ray tasks, on a cluster at ``address`` or on a local cluster started for the sweep."""

    address: str | None = None
    resources: Resources = field(default_factory=Resources)
    max_retries: int = 3
    num_cpus: int | None = None
    runtime_env: dict[str, Any] | None = None
    name: str = "ray"
    _started: bool = field(default=False, init=False)
    _pending: dict[Any, Task] = field(default_factory=dict, init=False, repr=False)
    _launch: Callable[[Task], None] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not ray_available():
            raise PluriError("the ray executor needs Ray: pip install 'plurieval[ray]' (on the driver and every node)")
        import ray

        if not ray.is_initialized():
            env = dict(self.runtime_env or {})
            env["env_vars"] = {"OMP_WAIT_POLICY": "PASSIVE", **(env.get("env_vars") or {})}
            kwargs: dict[str, Any] = {"runtime_env": env, "log_to_driver": True, "logging_level": "warning"}
            if self.address:
                kwargs["address"] = self.address
            else:  # a local cluster for this sweep alone
                kwargs.update(include_dashboard=False, num_cpus=self.num_cpus)
            try:
                ray.init(**kwargs)
            except ConnectionError as err:
                raise PluriError(f"cannot reach the Ray cluster at {self.address!r} ({err}); start it with "
                                 f"`ray start --head` or check --address") from None
            self._started = True
        if self.resources.gpus and not ray.cluster_resources().get("GPU"):
            raise PluriError(f"each run asks for {self.resources.gpus} GPU but the Ray cluster has none "
                             f"(resources: {ray.cluster_resources()}); add GPU nodes or set gpus_per_task: 0")

    @property
    def slots(self) -> int:
        import ray

        res = ray.cluster_resources()
        by_cpu = int(res.get("CPU", 1) // max(self.resources.cpus, 1e-9))
        if self.resources.gpus:
            return max(1, min(by_cpu, int(res.get("GPU", 0) // self.resources.gpus)))
        return max(1, by_cpu)

    def run(self, tasks: Sequence[Task], on_event: OnEvent) -> Iterator[TaskOutcome]:
        import ray
        from ray.exceptions import RayError, RayTaskError, TaskCancelledError

        sink = ray.remote(num_cpus=0)(_EventSink).remote()
        # Wait until the sink's process is up: until then every report would queue behind its start,
        # and a quick run would finish before the driver heard that it started.
        ray.get(sink.drain.remote())
        options: dict[str, Any] = {"num_cpus": self.resources.cpus, "num_gpus": self.resources.gpus,
                                   "max_retries": self.max_retries, "retry_exceptions": False}
        if self.resources.memory_bytes:
            options["memory"] = self.resources.memory_bytes
        remote = ray.remote(_ray_entry)
        starts: dict[str, int] = {}

        def relay() -> None:
            for key, event in ray.get(sink.drain.remote()):
                if event.get("type") == "started":
                    starts[key] = starts.get(key, 0) + 1
                    event = {**event, "attempt": starts[key]}
                on_event(key, event)

        def launch(t: Task) -> None:
            ref = remote.options(name=f"plurieval:{t.label or t.key}"[:200], **options).remote(t.fn, t.key, t.payload,
                                                                                             sink)
            self._pending[ref] = t

        self._pending = {}
        self._launch = launch
        for t in tasks:
            launch(t)
        try:
            while self._pending:
                ready, _ = ray.wait(list(self._pending), num_returns=1, timeout=0.5)
                relay()  # events first: a finished task's start event is usually in by now
                for ref in ready:
                    task = self._pending.pop(ref)
                    tries = max(1, starts.get(task.key, 1))
                    try:
                        value = ray.get(ref)
                    except RayTaskError as err:  # the run raised: report its own message
                        cause = getattr(err, "cause", None)
                        yield TaskOutcome(task.key, False, error=_error_text(cause) if cause else str(err),
                                          failure="task", attempts=tries)
                    except TaskCancelledError:
                        yield TaskOutcome(task.key, False, error="cancelled", failure="worker", attempts=tries)
                    except RayError as err:  # worker or node lost on every attempt
                        yield TaskOutcome(task.key, False, error=f"{type(err).__name__}: {str(err).splitlines()[0]}",
                                          failure="worker", attempts=tries)
                    else:
                        yield TaskOutcome(task.key, True, value, attempts=tries)
            relay()
        finally:
            self._launch = None
            ray.kill(sink)

    def submit(self, task: Task) -> None:
        if self._launch is None:
            raise RuntimeError("submit() is for adding a task to a run() under way")
        self._launch(task)

    def cancel(self) -> None:
        import ray

        for ref in list(self._pending):
            try:
                ray.cancel(ref, force=True)
            except Exception:  # already finished
                pass
        self._pending = {}

    def close(self) -> None:
        import ray

        if self._started and ray.is_initialized():
            ray.shutdown()  # stops a cluster we started; only disconnects from one we joined
        self._started = False


def make_executor(config: Any, host: Any) -> Executor:
    """The executor an ``ExecutorConfig`` asks for."""
    if config.kind == "ray":
        memory = int(config.memory_gb_per_task * 2**30) if config.memory_gb_per_task else None
        return RayExecutor(address=config.address, max_retries=config.max_retries, num_cpus=config.num_cpus,
                           runtime_env=config.runtime_env,
                           resources=Resources(config.cpus_per_task, config.gpus_per_task, memory))
    if config.address:
        raise PluriError("--address is for the ray executor; add --executor ray")
    return LocalExecutor(workers=config.workers, host=host, max_retries=config.max_retries)
