"""A run directory is written by one process at a time.

Two identical runs started at once used to share one directory: fixed temp names collided (one
crashed in about a third of trials) and the other reported the first one's half-written results
as resumed. ``hold_run_directory`` takes an exclusive ``flock`` on ``RUN_DIR/.lock`` (a dot-file: not an
artifact, not uploaded, and the output folder keeps holding run directories only) and writes who
holds it; a second process gets a ``RunDirectoryBusy`` error naming the holder and the way out. The operating system releases the lock when its holder exits, killed or not, so a stale
lock cannot block a resume.

``file_lock`` is the same primitive for other shared files (a local MLflow store being created).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from plurieval.errors import PluriError

try:  # POSIX; elsewhere runs are not locked (the rest still works)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class RunDirectoryBusy(PluriError):
    """Another process holds the run directory."""


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "another plurieval process"
    if not isinstance(info, dict):
        return "another plurieval process"
    return (f"plurieval process {info.get('pid')} on {info.get('host')}, started {info.get('started')}"
            if info.get("pid") else "another plurieval process")


@contextlib.contextmanager
def file_lock(path: str | Path, *, wait: float | None = None) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` (created if missing). ``wait=None`` blocks until it is
    free; otherwise gives up after ``wait`` seconds and yields ``False`` (not held)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield True
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    held = False
    try:
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if deadline is None else fcntl.LOCK_NB))
                held = True
                break
            except BlockingIOError:
                if deadline is None or time.monotonic() >= deadline:
                    break
                time.sleep(0.1)
        yield held
    finally:
        if held:
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def run_lock_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / ".lock"


@contextlib.contextmanager
def hold_run_directory(run_dir: str | Path, *, wait: float | None = None) -> Iterator[None]:
    """Hold ``run_dir`` for this process, or raise ``RunDirectoryBusy`` naming who has it.
    ``wait`` (seconds; default ``$PLURIEVAL_RUN_LOCK_WAIT``, else 0) waits for the other process
    first: when it finishes, this run resumes from (or reuses) what it wrote."""
    run_dir = Path(run_dir)
    lock = run_lock_path(run_dir)
    if wait is None:
        try:
            wait = float(os.environ.get("PLURIEVAL_RUN_LOCK_WAIT", "0") or 0)
        except ValueError:
            wait = 0.0
    with file_lock(lock, wait=wait) as held:
        if not held:
            raise RunDirectoryBusy(
                f"run directory {run_dir} is being written by {_holder(lock)}: the same config is already running. "
                f"Wait for it to finish (starting this command again then returns or resumes its results; "
                f"PLURIEVAL_RUN_LOCK_WAIT=SECONDS waits automatically), or use another --output"
            )
        with contextlib.suppress(OSError):
            lock.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                        "argv": sys.argv[:8]}), encoding="utf-8")
        yield
