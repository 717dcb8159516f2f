"""MLflow tracking for plurieval runs, as an ordinary plugin of the lifecycle hooks.

While a run goes on, events are journaled locally (``RUN_DIR/tracking/``); when it ends the
journal, manifest, summary and files are uploaded to MLflow (see ``upload.py``). An unreachable
or failing tracking store never fails a run: the run is marked pending and
``plurieval sync`` (contributed below through ``register_commands``, like any third-party
command) uploads it later.

Kept import-light: no mlflow, no torch at module level (``plurieval list`` must stay fast).
"""

import os
import sys
from typing import Any

from plurieval.api import hookimpl


def _enabled(run: Any) -> bool:
    # PLURIEVAL_NO_TRACKING=1 switches tracking off everywhere (test suites, air-gapped batch jobs)
    if os.environ.get("PLURIEVAL_NO_TRACKING", "") not in ("", "0", "false"):
        return False
    tracking = getattr(run.config, "tracking", None)
    return bool(tracking is not None and tracking.enabled)


def _redact(text: str) -> str:
    from plurieval.api import redact_uri

    return redact_uri(str(text))


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def _sweep_tracking(run: Any) -> dict[str, Any] | None:
    """What the sweep's driver shared with this run (its MLflow parent run), if it is one."""
    sweep = getattr(run, "sweep", None) or {}
    info = (sweep.get("data") or {}).get("mlflow")
    return info if isinstance(info, dict) else None


@hookimpl
def run_started(run: Any) -> None:
    if not _enabled(run):
        return
    from plurieval.api import split_credentials
    from plurieval_mlflow import journal

    sweep = _sweep_tracking(run)
    uri = sweep["uri"] if sweep else journal.resolve_uri(run.config)
    experiment = sweep["experiment"] if sweep else journal.experiment_name(run.config)
    stored, user, _ = split_credentials(uri)  # the password stays in this process, never on disk
    journal.write_state(run.run_dir, uri=stored, username=user, experiment=experiment, status="recording",
                        **({"parent_run_id": sweep.get("parent_run_id")} if sweep else {}))
    journal.append_event(run.run_dir, {"type": "start", "resumed": run.resumed})
    run.annotate("tracking", {"backend": "mlflow", "uri": _redact(uri), "experiment": experiment})
    if uri.startswith(("http://", "https://")) and not sweep:  # in a sweep the driver uploads
        from plurieval_mlflow.upload import TrackingUnavailable, check_reachable

        try:
            check_reachable(uri, timeout=3)
        except TrackingUnavailable as err:
            _warn(f"{_redact(err)}. The run continues and is recorded locally in {run.run_dir}; "
                  f"upload it later with `plurieval sync {run.run_dir}`.")


@hookimpl
def metric_computed(run: Any, name: str, value: float, step: int | None, labels: dict[str, str]) -> None:
    if not _enabled(run):
        return
    from plurieval_mlflow import journal

    journal.append_event(run.run_dir, {"type": "metric", "name": name, "value": value, "step": step,
                                       "labels": dict(labels or {}), "scope": list(getattr(run, "scope", []))})


@hookimpl
def artifact_written(run: Any, path: str, kind: str) -> None:
    # files inside the run directory are uploaded with it; only outside files need a note
    if not _enabled(run):
        return
    from pathlib import Path

    if not Path(path).resolve().is_relative_to(Path(run.run_dir).resolve()):
        from plurieval_mlflow import journal

        journal.append_event(run.run_dir, {"type": "artifact", "path": str(Path(path).resolve()), "kind": kind})


@hookimpl
def run_finished(run: Any, summary: dict[str, Any] | None, error: BaseException | None) -> None:
    if not _enabled(run):
        return
    from plurieval_mlflow import journal

    if _sweep_tracking(run) is not None:
        # The sweep's driver uploads it (nested under the sweep's run) once the run directory is
        # in the output folder; the worker may not even reach the tracking server.
        journal.write_state(run.run_dir, status="pending")
        return
    from plurieval_mlflow.upload import TrackingUnavailable, upload_run

    try:
        # The configured URI, credentials included (state.json holds it without them).
        state = upload_run(run.run_dir, uri=journal.resolve_uri(run.config))
    except TrackingUnavailable as err:
        _warn(f"{_redact(err)}. Nothing was lost: the run is complete in {run.run_dir} and marked for upload; "
              f"run `plurieval sync {run.run_dir}` when the server is back.")
    except Exception as err:  # tracking must never fail a run
        _warn(f"MLflow upload failed ({type(err).__name__}: {_redact(err)}). The run is saved in {run.run_dir}; "
              f"retry with `plurieval sync {run.run_dir}`.")
    else:
        print(f"mlflow: run {state['mlflow_run_id']} in experiment {state['experiment']!r} at "
              f"{_redact(state['uri'])}", file=sys.stderr)


def _sweep_enabled(sweep: Any) -> bool:
    if os.environ.get("PLURIEVAL_NO_TRACKING", "") not in ("", "0", "false"):
        return False
    return bool(sweep.config.tracking.enabled)


@hookimpl
def sweep_started(sweep: Any) -> None:
    """One MLflow run for the whole sweep; its id travels to every run of the sweep."""
    if not _sweep_enabled(sweep):
        return
    from plurieval_mlflow import journal
    from plurieval_mlflow.upload import TrackingUnavailable, start_sweep_run

    tracking = sweep.config.tracking
    uri = tracking.uri or os.environ.get("MLFLOW_TRACKING_URI") or \
        "sqlite:///" + str((sweep.output_dir / "mlflow.db").resolve())
    benchmarks = sorted({r.point["benchmark"] for r in sweep.runs})
    experiment = tracking.experiment or (f"plurieval-{benchmarks[0]}" if len(benchmarks) == 1 else "plurieval-sweeps")
    params = journal.flatten({"grid": sweep.config.grid, "set": sweep.config.set,
                              "executor": sweep.config.executor.model_dump(mode="json"),
                              "runs": len(sweep.runs), "benchmark": benchmarks,
                              "model": [m.name for m in sweep.config.model],
                              "methods": [m.name if m else "none" for m in sweep.config.methods]})
    previous = journal.read_state(sweep.directory)
    info: dict[str, Any] = {"uri": uri, "experiment": experiment, "parent_run_id": None}
    try:
        info = start_sweep_run(uri, experiment, sweep.sweep_id, params, previous)
    except TrackingUnavailable as err:
        _warn(f"{_redact(err)}. The sweep continues; every run is recorded locally; upload them later with "
              f"`plurieval sync {sweep.output_dir}`.")
    except Exception as err:  # tracking must never fail a sweep
        _warn(f"MLflow: could not start the sweep's run ({type(err).__name__}: {_redact(err)}); runs are recorded locally.")
    from plurieval.api import split_credentials

    journal.write_state(sweep.directory, **{**info, "uri": split_credentials(info["uri"])[0]}, status="running")
    sweep.data["mlflow"] = info


@hookimpl
def sweep_run_finished(sweep: Any, record: Any) -> None:
    """Upload a finished run nested under the sweep's run (a run finished earlier is moved
    under it: one evaluation stays one MLflow run)."""
    info = sweep.data.get("mlflow") if _sweep_enabled(sweep) else None
    if not info or not info.get("parent_run_id") or record.status != "complete":
        return
    from plurieval.api import split_credentials
    from plurieval_mlflow.journal import read_state, write_state
    from plurieval_mlflow.upload import upload_run

    state = read_state(record.run_dir)
    stored = split_credentials(info["uri"])[0]  # state files never hold a password
    if (state.get("status") == "synced" and state.get("uri") == stored
            and state.get("parent_run_id") == info["parent_run_id"]):
        return
    if not state:  # finished before tracking knew it (tracking off then): record it now
        write_state(record.run_dir, uri=stored, experiment=info["experiment"], status="pending")
    else:  # a run uploaded outside this sweep moves into the sweep's experiment
        write_state(record.run_dir, experiment=info["experiment"])
    try:
        upload_run(record.run_dir, uri=info["uri"], parent_run_id=info["parent_run_id"])
    except Exception as err:
        _warn(f"MLflow upload of {record.run_dir} failed ({type(err).__name__}: {_redact(err)}); the run is saved; "
              f"retry with `plurieval sync {record.run_dir}`.")


@hookimpl
def sweep_finished(sweep: Any, index: dict[str, Any], error: BaseException | None) -> None:
    info = sweep.data.get("mlflow") if _sweep_enabled(sweep) else None
    if not info or not info.get("parent_run_id"):
        return
    from plurieval_mlflow.journal import write_state
    from plurieval_mlflow.upload import finish_sweep_run

    status = "KILLED" if isinstance(error, KeyboardInterrupt) else \
        "FAILED" if error is not None or index.get("status") != "complete" else "FINISHED"
    try:
        finish_sweep_run(info, sweep.directory, index.get("counts") or {}, status)
    except Exception as err:
        _warn(f"MLflow: could not finish the sweep's run ({type(err).__name__}: {err})")
        return
    write_state(sweep.directory, status="finished" if status == "FINISHED" else status.lower())
    print(f"mlflow: sweep run {info['parent_run_id']} in experiment {info['experiment']!r} at "
          f"{_redact(info['uri'])}", file=sys.stderr)


@hookimpl
def register_commands(cli: Any) -> None:
    from pathlib import Path
    from typing import Annotated

    import typer

    @cli.command("sync")
    def sync(
        run_dirs: Annotated[list[Path] | None, typer.Argument(help="run directories, or output dirs to scan (default: runs)")] = None,
        uri: Annotated[str | None, typer.Option(help="tracking URI to upload to (default: the one each run recorded)")] = None,
        force: Annotated[bool, typer.Option("--force", help="upload even runs already synced")] = False,
    ) -> None:
        """Upload runs whose MLflow upload is pending (tracking server was down) or failed.

        Example: plurieval sync runs/  (or: plurieval sync runs/clasbench_diffmean_default_ab12cd34ef)
        """
        from plurieval_mlflow.journal import read_state
        from plurieval_mlflow.upload import pending_runs, upload_run

        targets: list[Path] = []
        for root in run_dirs or [Path("runs")]:
            if not root.exists():
                print(f"error: {root} does not exist", file=sys.stderr)
                raise typer.Exit(2)
            if force and (root / "manifest.json").exists():
                targets.append(root)
            else:
                targets.extend(pending_runs(root))
        if not targets:
            print("nothing to sync: no pending runs" + ("" if run_dirs else " under runs/"))
            return
        failed = 0
        for run_dir in targets:
            try:
                state = upload_run(run_dir, uri=uri)
            except Exception as err:
                failed += 1
                print(f"pending  {run_dir}: {type(err).__name__}: {_redact(err)}", file=sys.stderr)
                continue
            print(f"synced   {run_dir} -> run {state['mlflow_run_id']} ({state['experiment']}, {_redact(state['uri'])})")
        if failed:
            still = [str(p) for p in targets if read_state(p).get("status") == "pending"]
            print(f"{failed} run(s) still pending: {', '.join(still)}", file=sys.stderr)
            raise typer.Exit(1)
