"""Task functions for the executor tests: importable by spawned pool processes (they get the
test process's sys.path), and free of torch, so a pool of them starts in well under a second."""

from __future__ import annotations

import os
import time
from pathlib import Path


def wait_to_be_killed(payload, report):
    """Reports its pid; on its first attempt waits (for the test to kill it), on a later one
    returns its input doubled. ``payload["marker"]`` remembers the attempts across processes."""
    marker = Path(payload["marker"])
    attempt = len(marker.read_text().split()) + 1 if marker.exists() else 1
    with marker.open("a") as fh:
        fh.write(f"{os.getpid()}\n")
    report({"type": "started", "pid": os.getpid(), "attempt": attempt})
    if attempt == 1 and payload.get("victim"):
        time.sleep(60)
    return {"value": payload["value"] * 2, "pid": os.getpid(), "attempt": attempt}
