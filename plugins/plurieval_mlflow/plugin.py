"""MLflow tracking for plurieval runs, as an ordinary plugin of the lifecycle hooks.

While a run goes on, events are journaled locally (``RUN_DIR/tracking/``); when it ends the
journal, manifest, summary and files are uploaded to MLflow (see ``upload.py``). An unreachable
or failing tracking store never fails a run: the run is marked pending and
``plurieval sync`` (contributed below through ``register_commands``, like any third-party
command) uploads it later.

Kept import-light: no mlflow, no torch at module level (``plurieval list`` must stay fast).
"""

import os
import re
import sys
from typing import Any

from plurieval.api import hookimpl


def _enabled(run: Any) -> bool:
    # PLURIEVAL_NO_TRACKING=1 switches tracking off everywhere (test suites, air-gapped batch jobs)
    if os.environ.get("PLURIEVAL_NO_TRACKING", "") not in ("", "0", "false"):
        return False
    tracking = getattr(run.config, "tracking", None)
    return bool(tracking is not None and tracking.enabled)


def _redact(uri: str) -> str:
    return re.sub(r"//[^/@]+@", "//***@", uri)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


@hookimpl
def run_started(run: Any) -> None:
    if not _enabled(run):
        return
    from plurieval_mlflow import journal

    uri = journal.resolve_uri(run.config)
    experiment = journal.experiment_name(run.config)
    journal.write_state(run.run_dir, uri=uri, experiment=experiment, status="recording")
    journal.append_event(run.run_dir, {"type": "start", "resumed": run.resumed})
    run.annotate("tracking", {"backend": "mlflow", "uri": _redact(uri), "experiment": experiment})
    if uri.startswith(("http://", "https://")):
        from plurieval_mlflow.upload import TrackingUnavailable, check_reachable

        try:
            check_reachable(uri, timeout=3)
        except TrackingUnavailable as err:
            _warn(f"{err}. The run continues and is recorded locally in {run.run_dir}; "
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
    from plurieval_mlflow.upload import TrackingUnavailable, upload_run

    try:
        state = upload_run(run.run_dir)
    except TrackingUnavailable as err:
        _warn(f"{err}. Nothing was lost: the run is complete in {run.run_dir} and marked for upload; "
              f"run `plurieval sync {run.run_dir}` when the server is back.")
    except Exception as err:  # tracking must never fail a run
        _warn(f"MLflow upload failed ({type(err).__name__}: {err}). The run is saved in {run.run_dir}; "
              f"retry with `plurieval sync {run.run_dir}`.")
    else:
        print(f"mlflow: run {state['mlflow_run_id']} in experiment {state['experiment']!r} at "
              f"{_redact(state['uri'])}", file=sys.stderr)


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
                print(f"pending  {run_dir}: {type(err).__name__}: {err}", file=sys.stderr)
                continue
            print(f"synced   {run_dir} -> run {state['mlflow_run_id']} ({state['experiment']}, {_redact(state['uri'])})")
        if failed:
            still = [str(p) for p in targets if read_state(p).get("status") == "pending"]
            print(f"{failed} run(s) still pending: {', '.join(still)}", file=sys.stderr)
            raise typer.Exit(1)
