"""Replay a run directory into MLflow (at the end of a run, and by ``plurieval sync``).

One plurieval run becomes one MLflow run in the experiment ``plurieval-<benchmark>``:

- params: the flattened run config (``method.params.alpha``) and each component's full config;
- metrics: the summary's aggregates (``steering_score``; a value with a confidence interval also
  gives ``NAME/ci_low`` and ``NAME/ci_high``) and every ``ctx.log_metric`` call, labels folded
  into the name (``language_control/de``) and ``step`` kept (a layer in a sweep);
- nested runs: one child per ``ctx.child_run("layer=3,alpha=4")`` scope (its params parsed from
  the label), holding the metrics logged inside it;
- tags: versions, git revision + dirty flag, config/spec/weights/dataset/intervention hashes;
- inputs: one ``mlflow.data`` dataset per manifest dataset entry, with its content hash as digest;
- artifacts: the whole run directory (manifest, summary, results.jsonl, plots, intervention
  safetensors) plus intervention files that live outside it.

mlflow is imported here only, never at plugin import time.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from plurieval_mlflow.journal import (
    TRACKING_DIR,
    flatten,
    local_artifact_root,
    metric_name,
    parse_scope_label,
    read_events,
    read_state,
    safe_key,
    write_state,
)

PARAM_MAX = 6000  # MLflow's limit on a param value


class TrackingUnavailable(RuntimeError):
    """The tracking server cannot be reached; the run is kept locally for ``plurieval sync``."""


def credentials(uri: str) -> tuple[str, str | None, str | None]:
    """``(uri without userinfo, user, password)``: a URI's own credentials win, else
    ``$MLFLOW_TRACKING_USERNAME``/``$MLFLOW_TRACKING_PASSWORD`` (MLflow's variables)."""
    from plurieval.api import split_credentials

    clean, user, password = split_credentials(uri)
    if user is None and password is None:
        user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    return clean, user, password


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail fast (one request, no retries) when an http(s) tracking server does not answer.
    The MLflow client itself retries with backoff for minutes, which must not stall a run.
    Credentials in the URI are sent as basic auth (urllib cannot open ``user:pw@host`` URLs)
    and never appear in a message."""
    if not uri.startswith(("http://", "https://")):
        return
    import base64

    from plurieval.api import redact_uri

    clean, user, password = credentials(uri)
    request = urllib.request.Request(clean.rstrip("/") + "/health")
    if user is not None or password is not None:
        token = base64.b64encode(f"{user or ''}:{password or ''}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    shown = redact_uri(uri)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            if resp.status >= 400:
                raise TrackingUnavailable(f"{shown} answered /health with HTTP {resp.status}")
    except urllib.error.HTTPError as err:
        if err.code in (401, 403):
            raise TrackingUnavailable(
                f"MLflow tracking server {shown} refused the credentials (HTTP {err.code}); give them in the URI "
                f"(http://user:password@host) or as MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD") from None
        raise TrackingUnavailable(f"{shown} answered /health with HTTP {err.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = redact_uri(str(getattr(err, "reason", err)))
        raise TrackingUnavailable(f"MLflow tracking server {shown} is unreachable ({reason})") from None


def _client(uri: str) -> Any:
    # Bounded retries and timeouts: an outage must surface as an error quickly, not as a hang.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    from mlflow.tracking import MlflowClient

    clean, user, password = credentials(uri)
    if user is not None or password is not None:
        # MLflow sends these as basic auth on every request; the URI it gets has no secret in it.
        os.environ["MLFLOW_TRACKING_USERNAME"] = user or ""
        os.environ["MLFLOW_TRACKING_PASSWORD"] = password or ""
    return MlflowClient(tracking_uri=clean)


@contextlib.contextmanager
def _store_guard(uri: str) -> Any:
    """Serialise uploads into one local SQLite store. Its first use creates the schema (MLflow
    runs migrations); two runs finishing at once used to race on that and on the experiment."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    from plurieval.api import file_lock

    db = Path(uri[len("sqlite:///"):])
    with file_lock(db.with_name(db.name + ".lock")):
        yield


def _experiment_id(client: Any, name: str, uri: str) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    try:
        return client.create_experiment(name, artifact_location=local_artifact_root(uri))
    except Exception:  # another process created it in between
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def _metric_entries(summary: dict[str, Any], events: list[dict[str, Any]]) -> dict[tuple, dict[tuple, float]]:
    """``{scope: {(name, step): value}}``; a later event overrides an earlier one (a resumed
    run re-logs), so each (scope, name, step) is logged once."""
    out: dict[tuple, dict[tuple, float]] = {}
    for ev in events:
        if ev.get("type") == "metric":
            out.setdefault(tuple(ev.get("scope") or ()), {})[(metric_name(ev["name"], ev.get("labels")),
                                                              ev.get("step") or 0)] = float(ev["value"])
    root = out.setdefault((), {})
    for name, value in (summary.get("metrics") or {}).items():
        if isinstance(value, dict):
            ci = value.get("ci")
            value = value.get("value")
            if isinstance(ci, (list, tuple)) and len(ci) == 2:
                root.setdefault((f"{metric_name(name, None)}/ci_low", 0), ci[0])
                root.setdefault((f"{metric_name(name, None)}/ci_high", 0), ci[1])
        if isinstance(value, (int, float)):
            root.setdefault((metric_name(name, None), 0), float(value))
    return out


def _tags(manifest: dict[str, Any], run_dir: Path) -> dict[str, str]:
    pl = manifest.get("plurieval", {})
    git = pl.get("git") or {}
    bench = manifest.get("benchmark", {})
    model = manifest.get("model") or {}
    tags = {
        "mlflow.runName": manifest.get("run_id", run_dir.name),
        "mlflow.source.name": "plurieval",
        "plurieval.run_id": manifest.get("run_id", run_dir.name),
        "plurieval.run_dir": str(run_dir.resolve()),
        "plurieval.status": manifest.get("status", ""),
        "plurieval.version": pl.get("version", ""),
        "plurieval.git_revision": git.get("revision", ""),
        "plurieval.git_dirty": str(git.get("dirty", "")),
        "plurieval.config_hash": manifest.get("config_hash", ""),
        "plurieval.benchmark": bench.get("name", ""),
        "plurieval.benchmark.spec_version": str(bench.get("spec_version", "")),
        "plurieval.benchmark.spec_hash": bench.get("spec_hash", ""),
        "plurieval.resumed": str(manifest.get("resumed", False)),
    }
    for key in ("id", "revision", "weights_hash", "dtype", "device", "quantization"):
        if model.get(key) is not None:
            tags[f"plurieval.model.{key}"] = str(model[key])
    for ds in manifest.get("datasets") or []:
        tags[f"plurieval.dataset.{ds.get('id')}.{ds.get('split')}.hash"] = ds.get("content_hash", "")
    for iv in manifest.get("interventions") or []:
        tags[f"plurieval.intervention.{iv.get('name')}.hash"] = iv.get("hash", "")
    for name, plugin in (manifest.get("plugins") or {}).items():
        tags[f"plurieval.plugin.{name}"] = f"{plugin.get('distribution')}=={plugin.get('version')}"
    for key, value in (manifest.get("platform") or {}).items():
        if key not in ("executable",) and value is not None:
            tags[f"plurieval.platform.{key}"] = str(value)
    return {k: v for k, v in tags.items() if v != ""}


def _params(manifest: dict[str, Any]) -> dict[str, str]:
    params = flatten(manifest.get("config") or {})
    for role, comp in (manifest.get("components") or {}).items():
        for key, value in flatten(comp.get("config") or {}, f"{role}.config").items():
            params.setdefault(key, value)
    return {k: v[:PARAM_MAX] for k, v in params.items()}


def _log(client: Any, run_id: str, params: dict[str, str] | None = None, tags: dict[str, str] | None = None,
         metrics: dict[tuple, float] | None = None, ts: int = 0) -> None:
    from mlflow.entities import Metric, Param, RunTag

    p = [Param(safe_key(k), v) for k, v in (params or {}).items()]
    t = [RunTag(safe_key(k), v[:PARAM_MAX]) for k, v in (tags or {}).items()]
    m = [Metric(k, v, ts, int(step)) for (k, step), v in (metrics or {}).items() if not math.isnan(v)]
    # MLflow's per-request limits: 100 params, 100 tags, 1000 metrics
    for i in range(0, max(len(p), len(t)), 100):
        client.log_batch(run_id, params=p[i:i + 100], tags=t[i:i + 100])
    for i in range(0, len(m), 1000):
        client.log_batch(run_id, metrics=m[i:i + 1000])


def _inputs(client: Any, run_id: str, manifest: dict[str, Any]) -> None:
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.http_dataset_source import HTTPDatasetSource
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import DatasetInput, InputTag

    inputs = []
    for ds in manifest.get("datasets") or []:
        src = ds.get("source") or ""
        source = (HTTPDatasetSource(src) if src.startswith(("http://", "https://"))
                  else CodeDatasetSource({"id": ds.get("id"), "revision": ds.get("revision"), "source": src}))
        name = f"{ds.get('id')}:{ds.get('split')}" if ds.get("split") else str(ds.get("id"))
        meta = MetaDataset(source, name=name, digest=str(ds.get("content_hash", "")).split(":")[-1][:36])
        inputs.append(DatasetInput(meta._to_mlflow_entity(), tags=[
            InputTag("mlflow.data.context", "eval"), InputTag("num_examples", str(ds.get("num_examples")))]))
    if inputs:
        client.log_inputs(run_id, datasets=inputs)


def _artifacts(client: Any, run_id: str, run_dir: Path, events: list[dict[str, Any]],
               manifest: dict[str, Any]) -> int:
    n = 0
    for path in sorted(run_dir.rglob("*")):
        rel = path.relative_to(run_dir)
        # not the tracking journal, temp files or dot-files (the run directory's lock)
        if not path.is_file() or rel.parts[0] == TRACKING_DIR or path.suffix == ".tmp" or path.name.startswith("."):
            continue
        client.log_artifact(run_id, str(path), artifact_path=rel.parent.as_posix() if rel.parent.parts else None)
        n += 1
    outside = {ev["path"] for ev in events if ev.get("type") == "artifact"}
    for iv in manifest.get("interventions") or []:
        outside.update(str(Path(iv["path"]) / f) if Path(iv["path"]).is_dir() else iv["path"]
                       for f in (iv.get("files") or {}) if iv.get("path"))
    for p in sorted(outside):
        path = Path(p)
        if path.is_file() and not path.resolve().is_relative_to(run_dir.resolve()):
            client.log_artifact(run_id, str(path), artifact_path="interventions")
            n += 1
    return n


def upload_run(run_dir: str | Path, uri: str | None = None, parent_run_id: str | None = None) -> dict[str, Any]:
    """Upload one run directory; returns the new tracking state. Raises on failure after
    marking the run ``pending`` (nothing half-uploaded is left behind when it can be deleted).
    ``parent_run_id`` (default: the one its state recorded, a sweep's) nests it under that run."""
    # MLflow prints "View run ... at ..." on stdout; keep plurieval's stdout for results only.
    with contextlib.redirect_stdout(sys.stderr):
        return _upload_run(Path(run_dir), uri, parent_run_id)


def _upload_run(run_dir: Path, uri: str | None, parent_run_id: str | None = None) -> dict[str, Any]:
    state = read_state(run_dir)
    uri = uri or state.get("uri")
    parent_run_id = parent_run_id or state.get("parent_run_id")
    if not uri:
        raise ValueError(f"{run_dir}: no tracking URI recorded; pass --uri")
    with _store_guard(uri):
        return _upload_locked(run_dir, uri, state, parent_run_id)


def _upload_locked(run_dir: Path, uri: str, state: dict[str, Any], parent_run_id: str | None) -> dict[str, Any]:
    from plurieval.api import redact_uri, split_credentials

    # What is stored: the URI without its secret (the user name is kept as a hint for `sync`).
    stored_uri, user, _ = split_credentials(uri)
    manifest_path = run_dir / "manifest.json"
    if not manifest_path.exists():
        raise FileNotFoundError(f"{run_dir} has no manifest.json: not a plurieval run directory")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.exists() else {}
    events = read_events(run_dir)
    experiment = state.get("experiment") or f"plurieval-{manifest.get('benchmark', {}).get('name', 'runs')}"
    mlflow_run_id = None
    client = None
    try:
        check_reachable(uri)
        client = _client(uri)
        exp_id = _experiment_id(client, experiment, uri)
        run = client.create_run(exp_id, run_name=manifest.get("run_id", run_dir.name),
                                tags={"mlflow.parentRunId": parent_run_id} if parent_run_id else None)
        mlflow_run_id = run.info.run_id
        metrics = _metric_entries(summary, events)
        ts = int(os.path.getmtime(summary_path) * 1000) if summary_path.exists() else 0
        _log(client, mlflow_run_id, params=_params(manifest), tags=_tags(manifest, run_dir),
             metrics=metrics.pop((), {}), ts=ts)
        _inputs(client, mlflow_run_id, manifest)
        children: dict[tuple, str] = {(): mlflow_run_id}
        for scope in sorted(metrics, key=len):
            for depth in range(1, len(scope) + 1):
                sub = scope[:depth]
                if sub not in children:
                    child = client.create_run(exp_id, run_name=sub[-1], tags={"mlflow.parentRunId": children[sub[:-1]]})
                    children[sub] = child.info.run_id
                    _log(client, child.info.run_id, params=parse_scope_label(sub[-1]),
                         tags={"plurieval.run_id": manifest.get("run_id", ""), "plurieval.scope": " / ".join(sub)})
            _log(client, children[scope], metrics=metrics[scope], ts=ts)
        n_artifacts = _artifacts(client, mlflow_run_id, run_dir, events, manifest)
        status = {"complete": "FINISHED", "failed": "FAILED"}.get(manifest.get("status"), "KILLED")
        for rid in children.values():
            client.set_terminated(rid, status)
        # One evaluation is one MLflow run: an earlier upload of this run directory (the
        # interrupted part of a resumed run, or `sync --force`) is replaced, not kept beside it.
        if state.get("uri") == stored_uri:
            for old in [state.get("mlflow_run_id"), *state.get("child_run_ids", [])]:
                if old and old not in children.values():
                    try:
                        client.delete_run(old)
                    except Exception:  # already deleted by hand: nothing to replace
                        pass
    except Exception as err:
        if client is not None and mlflow_run_id is not None:
            try:  # do not leave a half-uploaded run that a later sync would duplicate
                client.delete_run(mlflow_run_id)
            except Exception:
                pass
        write_state(run_dir, uri=stored_uri, username=user or state.get("username"), experiment=experiment,
                    status="pending", error=redact_uri(f"{type(err).__name__}: {err}"),
                    attempts=state.get("attempts", 0) + 1)
        raise
    return write_state(run_dir, uri=stored_uri, username=user or state.get("username"), experiment=experiment,
                       status="synced", mlflow_run_id=mlflow_run_id,
                       experiment_id=exp_id, nested_runs=len(children) - 1, artifacts=n_artifacts, error=None,
                       child_run_ids=[rid for scope, rid in children.items() if scope], parent_run_id=parent_run_id,
                       attempts=state.get("attempts", 0) + 1)


def pending_runs(root: str | Path) -> list[Path]:
    """Run directories under ``root`` (or ``root`` itself) whose upload is still pending."""
    root = Path(root)
    candidates = [root] if (root / TRACKING_DIR).is_dir() else [p.parent.parent for p in root.glob(f"*/{TRACKING_DIR}/state.json")]
    return sorted(p for p in candidates if read_state(p).get("status") == "pending")


# --- sweeps: one parent run, every run of the sweep nested under it ------------------------------

def start_sweep_run(uri: str, experiment: str, sweep_id: str, params: dict[str, str],
                    previous: dict[str, Any]) -> dict[str, Any]:
    """The sweep's parent run (the one a previous attempt of this sweep created, when it still
    exists on this server), set RUNNING. Returns ``{uri, experiment, experiment_id, parent_run_id}``."""
    with contextlib.redirect_stdout(sys.stderr):
        check_reachable(uri)
        client = _client(uri)
        exp_id = _experiment_id(client, experiment, uri)
        run_id = None
        if previous.get("uri") in (uri, credentials(uri)[0]) and previous.get("parent_run_id"):
            try:
                old = client.get_run(previous["parent_run_id"])
                if old.info.lifecycle_stage == "active":
                    run_id = old.info.run_id
                    client.update_run(run_id, status="RUNNING")
            except Exception:  # deleted on the server: start a new one
                run_id = None
        if run_id is None:
            run = client.create_run(exp_id, run_name=f"sweep {sweep_id}",
                                    tags={"plurieval.sweep_id": sweep_id, "mlflow.source.name": "plurieval sweep"})
            run_id = run.info.run_id
            _log(client, run_id, params={k: v[:PARAM_MAX] for k, v in params.items()})
        return {"uri": uri, "experiment": experiment, "experiment_id": exp_id, "parent_run_id": run_id}


def finish_sweep_run(info: dict[str, Any], sweep_dir: Path, counts: dict[str, int], status: str) -> None:
    """Log the sweep's index and comparison files and its run counts on the parent run, and end it."""
    with contextlib.redirect_stdout(sys.stderr):
        client = _client(info["uri"])
        run_id = info["parent_run_id"]
        _log(client, run_id, metrics={(f"runs_{k}", 0): float(v) for k, v in counts.items()})
        for name in ("sweep.json", "comparison.md", "comparison.png", "comparison.html"):
            if (sweep_dir / name).is_file():
                client.log_artifact(run_id, str(sweep_dir / name))
        client.set_terminated(run_id, status)
