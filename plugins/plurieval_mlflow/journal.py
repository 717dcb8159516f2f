"""The local side of tracking: what a run records for MLflow, written into its run directory.

Why a journal instead of streaming to MLflow: a tracking server that is down, slow or
misconfigured must never fail or stall an evaluation. Every tracking event (metrics with their
labels, steps and sweep scope; files written outside the run directory) is appended to
``RUN_DIR/tracking/events.jsonl`` while the run goes on, with no MLflow import (it costs ~3.4 s).
When the run ends, ``upload.upload_run`` replays the journal plus ``manifest.json`` and
``summary.json`` into MLflow. If that fails the run is marked *pending* in
``RUN_DIR/tracking/state.json`` and ``plurieval sync`` replays the very same journal later:
live upload and deferred sync are one code path.

Nothing here imports torch or mlflow.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

TRACKING_DIR = "tracking"
EVENTS = "events.jsonl"
STATE = "state.json"


def tracking_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / TRACKING_DIR


def resolve_uri(config: Any) -> str:
    """Config ``tracking.uri``, else ``$MLFLOW_TRACKING_URI``, else a SQLite store in the output
    dir (``sqlite:///<output>/mlflow.db``; one store for every run written there)."""
    uri = getattr(config.tracking, "uri", None) or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return "sqlite:///" + str((Path(config.output_dir) / "mlflow.db").resolve())


def local_artifact_root(uri: str) -> str | None:
    """For a local SQLite store: the explicit artifact folder beside it (``mlartifacts``), so
    artifacts never land in the current directory (MLflow's default)."""
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///"):]).parent / "mlartifacts").resolve().as_uri()
    return None


def experiment_name(config: Any) -> str:
    return getattr(config.tracking, "experiment", None) or f"plurieval-{config.benchmark.name}"


def metric_name(name: str, labels: dict[str, Any] | None) -> str:
    """``language_control`` + ``{"language": "de"}`` → ``language_control/de``."""
    parts = [name, *(str(v) for v in (labels or {}).values())]
    return "/".join(_clean(p) for p in parts)


def safe_key(key: str) -> str:
    """A param or tag key MLflow accepts: letters, digits, ``_ - . / space``; anything else
    (``+`` in a split name such as ``train+val+test``, ``:``) becomes ``_``."""
    return "/".join(_clean(part) for part in key.split("/"))


def _clean(text: str) -> str:
    # MLflow accepts letters, digits, _ - . space / in metric and param names
    return "".join(c if c.isalnum() or c in "_-. " else "_" for c in text)


def read_state(run_dir: str | Path) -> dict[str, Any]:
    path = tracking_dir(run_dir) / STATE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def write_state(run_dir: str | Path, **update: Any) -> dict[str, Any]:
    state = {**read_state(run_dir), **update, "updated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    from plurieval.api import atomic_write

    atomic_write(tracking_dir(run_dir) / STATE, json.dumps(state, indent=2) + "\n")
    return state


def append_event(run_dir: str | Path, event: dict[str, Any]) -> None:
    path = tracking_dir(run_dir) / EVENTS
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({**event, "ts": int(time.time() * 1000)}, default=str) + "\n")


def read_events(run_dir: str | Path) -> list[dict[str, Any]]:
    """Events of every attempt (a resumed run appends); a torn last line is skipped."""
    path = tracking_dir(run_dir) / EVENTS
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


def flatten(data: Any, prefix: str = "") -> dict[str, str]:
    """``{"method": {"params": {"alpha": 4}}}`` → ``{"method.params.alpha": "4"}``; lists stay
    one JSON value (a language list is one parameter, not twelve)."""
    out: dict[str, str] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif prefix:
        out[prefix] = data if isinstance(data, str) else json.dumps(data, default=str)
    return out


def parse_scope_label(label: str) -> dict[str, str]:
    """``"layer=3,alpha=4"`` → ``{"layer": "3", "alpha": "4"}`` (the child run's params)."""
    params = {}
    for part in label.split(","):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            params[key.strip()] = value.strip()
    return params
