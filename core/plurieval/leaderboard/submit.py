"""Turning a finished run directory into a leaderboard entry.

The entry's numbers are *recomputed* from ``results.jsonl`` under the board's spec, never copied
from ``summary.json``: the run's own summary is only compared with them, and a disagreement
(the benchmark aggregates differently from what the board publishes) stops the submission with
the differing numbers, because a board that silently shows other numbers than the run is worse
than no board.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from plurieval.config import non_finite_paths
from plurieval.datafiles import atomic_write
from plurieval.errors import PluriError
from plurieval.hashing import content_hash, short
from plurieval.leaderboard.schema import (
    BoardMetric,
    BoardSpec,
    Bootstrap,
    Entry,
    Links,
    MethodInfo,
    ModelInfo,
    ResultsRef,
    Submitter,
    load_board,
)
from plurieval.leaderboard.scoring import close, recompute
from plurieval.results import CHECKSUM, read_jsonl, record_checksum
from plurieval.specs import format_validation_error


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise PluriError(f"{path} not found: is {path.parent} a finished plurieval run directory?")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PluriError(f"{path} is not valid JSON: {err}") from None
    except RecursionError:
        raise PluriError(f"{path} is nested too deeply to be a run file") from None
    if not isinstance(data, dict):
        raise PluriError(f"{path} must hold a JSON object")
    return data


def default_board(summary: dict[str, Any], rows: list[dict[str, Any]], host: Any) -> BoardSpec:
    """A board spec for a benchmark that has no board yet: every summary metric that is a
    registered metric with a per-example score in every row; ranked by the first."""
    names = []
    for name in (summary.get("metrics") or {}):
        try:
            host.get("metric", name)
        except PluriError:
            continue
        if rows and all(name in (r.get("scores") or {}) for r in rows):
            names.append(name)
    if not names:
        raise PluriError(
            f"no summary metric of this run has per-example scores in results.jsonl (summary metrics: "
            f"{', '.join(summary.get('metrics') or {}) or 'none'}); a leaderboard entry needs a 'scores' "
            f"mapping in every results row"
        )
    return BoardSpec(benchmark=summary["benchmark"], spec_version=str(summary.get("spec_version")),
                     metrics=[BoardMetric(name=n) for n in names], ranking_metric=names[0], bootstrap=Bootstrap())


def _summary_value(value: Any) -> float | None:
    if isinstance(value, dict):
        value = value.get("value")
    return None if value is None else float(value)


def _method_info(manifest: dict[str, Any]) -> MethodInfo:
    comp = (manifest.get("components") or {}).get("method")
    if not comp:
        return MethodInfo()
    package = comp.get("package")
    version = next((p.get("version") for p in (manifest.get("plugins") or {}).values()
                    if p.get("distribution") == package), None)
    return MethodInfo(name=comp.get("name"), distribution=package, version=version, config=comp.get("config") or {})


def _model_info(manifest: dict[str, Any], summary: dict[str, Any]) -> ModelInfo:
    model = manifest.get("model") if isinstance(manifest.get("model"), dict) else {}
    comp = (manifest.get("components") or {}).get("model") or {}
    return ModelInfo(id=str(model.get("id") or comp.get("name") or summary.get("model")),
                     revision=model.get("revision"), weights_hash=model.get("weights_hash"))


def _mlflow_link(run_dir: Path, manifest: dict[str, Any]) -> str | None:
    """The MLflow run the tracking plugin recorded, if any (manifest first, then its state file)."""
    sources = [manifest.get("tracking")]
    state = run_dir / "tracking" / "state.json"
    if state.is_file():
        try:
            sources.append(json.loads(state.read_text(encoding="utf-8")))
        except json.JSONDecodeError:
            pass
    for src in sources:
        if not isinstance(src, dict):
            continue
        if src.get("run_url"):
            return str(src["run_url"])
        run_id = src.get("mlflow_run_id") or src.get("run_id")
        uri = src.get("uri") or src.get("tracking_uri")
        # Only a server others can open is a link; a local sqlite store is this machine's.
        if run_id and isinstance(uri, str) and uri.startswith(("http://", "https://")):
            from plurieval.redact import split_credentials

            uri = split_credentials(uri)[0]  # a public link never carries a user name or secret
            return f"{uri.rstrip('/')}/#/experiments/{src.get('experiment_id', '0')}/runs/{run_id}"
    return None


def public_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """The run manifest as it goes into a public entry: what it takes to repeat the run stays
    (versions, hashes, configs, seeds); paths that only exist on the submitter's machine go
    (the interpreter's path, a local tracking store) or become package-relative (a plugin's
    shipped sample)."""
    out = json.loads(json.dumps(manifest))
    platform = out.get("platform")
    if isinstance(platform, dict) and isinstance(platform.get("executable"), str):
        platform["executable"] = Path(platform["executable"]).name
    model = out.get("model")
    if isinstance(model, dict) and isinstance(model.get("source"), str):
        from plurieval.datafiles import cache_root

        root = str(cache_root()).rstrip("/") + "/"
        if model["source"].startswith(root):  # a converted model: its weights hash identifies it
            model["source"] = "$PLURIEVAL_CACHE_DIR/" + model["source"][len(root):]
    for ds in out.get("datasets") or []:
        if isinstance(ds, dict) and isinstance(ds.get("source"), str):
            ds["source"] = _data_relative(_package_relative(ds["source"]))
    for iv in out.get("interventions") or []:
        if isinstance(iv, dict) and isinstance(iv.get("path"), str) and Path(iv["path"]).is_absolute():
            parts = Path(iv["path"]).parts  # a saved intervention: relative to its run directory
            if "artifacts" in parts:
                iv["path"] = "/".join(parts[len(parts) - 1 - parts[::-1].index("artifacts"):])
    config = out.get("config")
    if isinstance(config, dict) and isinstance(config.get("output_dir"), str) and Path(config["output_dir"]).is_absolute():
        # Where the submitter kept the run says nothing about it (not part of the config hash).
        config["output_dir"] = Path(config["output_dir"]).name or "runs"
    tracking = out.get("tracking")
    if isinstance(tracking, dict) and not str(tracking.get("uri", "")).startswith(("http://", "https://")):
        tracking.pop("uri", None)
    elif isinstance(tracking, dict):
        from plurieval.redact import split_credentials

        tracking["uri"] = split_credentials(str(tracking["uri"]))[0]
    config_tracking = (out.get("config") or {}).get("tracking")
    if isinstance(config_tracking, dict) and isinstance(config_tracking.get("uri"), str):
        from plurieval.redact import redact_uri

        config_tracking["uri"] = redact_uri(config_tracking["uri"])
    return out


def _data_relative(source: str) -> str:
    """A file under the shared data folder as ``$PLURIEVAL_DATA_DIR/rel`` (the folder differs
    between machines; the data pin, not the path, identifies the data)."""
    import os

    root = os.environ.get("PLURIEVAL_DATA_DIR")
    path = Path(source)
    if not root or not path.is_absolute():
        return source
    try:
        return "$PLURIEVAL_DATA_DIR/" + path.resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return source


def _package_relative(source: str) -> str:
    """A path inside an installed Python package (a plugin's shipped sample) as ``package:rel``,
    the label runs record today; any other source is kept as given."""
    path = Path(source)
    if not path.is_absolute():
        return source
    for parent in path.parents:
        if (parent / "__init__.py").is_file() and not (parent.parent / "__init__.py").is_file():
            return f"{parent.name}:{path.relative_to(parent).as_posix()}"
    return source


def _check_board_data(manifest: dict[str, Any], rows: list[dict[str, Any]], board: BoardSpec,
                      board_dir: str | Path, host: Any) -> None:
    """Refuse, before anything is written, a run the board would refuse for its data: another
    dataset or split (a shipped sample standing in for the real data), rows that are not the
    board's examples, too few of them. The message names the data the run should have used."""
    from plurieval.leaderboard.pins import check_manifest_data, check_rows, pinned_data

    pinned = pinned_data(board, board_dir, host)
    problems: list[str] = []
    check_manifest_data(manifest, pinned, problems)
    if not problems:
        check_rows(rows, pinned, problems)
    if problems:
        raise PluriError(f"this run cannot go on the {board.benchmark} board:\n" + "\n".join(f"  - {p}" for p in problems))


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:60] or "entry"


def entry_from_run(
    run_dir: str | Path,
    host: Any,
    *,
    submitter: str,
    board_dir: str | Path | None = None,
    board: BoardSpec | None = None,
    paper: str | None = None,
    mlflow_run: str | None = None,
    code: str | None = None,
) -> tuple[Entry, list[dict[str, Any]]]:
    """The entry a finished run makes on a board (``board``, else the one in ``board_dir``, else
    a default board), with its rows inline, and the rows; nothing is written. Raises a
    ``PluriError`` naming the problem when the run cannot make an entry."""
    run_dir = Path(run_dir)
    manifest = _read_json(run_dir / "manifest.json")
    summary = _read_json(run_dir / "summary.json")
    if manifest.get("status") != "complete":
        raise PluriError(f"run {run_dir} is {manifest.get('status')!r}, not complete; finish it first")
    results_path = run_dir / "results.jsonl"
    if not results_path.is_file():
        raise PluriError(f"{results_path} not found: a leaderboard entry needs the per-example results")
    rows = read_jsonl(results_path)
    for number, row in enumerate(rows, 1):
        if CHECKSUM in row and row[CHECKSUM] != record_checksum(row):
            raise PluriError(f"{results_path}: row {number} (key {row.get('key')!r}) was changed after the run wrote "
                             f"it (its checksum does not match); restore it, or resume the run to recompute it")
        bad = non_finite_paths(row)
        if bad:
            raise PluriError(f"{results_path}: row {number} (key {row.get('key')!r}) holds a non-finite number at "
                             f"{bad[0]}; leaderboards accept finite numbers or null only (a metric that gives NaN or "
                             f"infinity for an example should report null, or use a config that keeps it finite)")
    benchmark = summary.get("benchmark")
    if board is None:
        board = load_board(board_dir) if board_dir else default_board(summary, rows, host)
    if board.benchmark != benchmark:
        raise PluriError(f"run {run_dir} is a {benchmark!r} run but the board is for {board.benchmark!r}")
    if str(summary.get("spec_version")) != board.spec_version:
        raise PluriError(f"run {run_dir} used {benchmark} spec_version {summary.get('spec_version')!r}; the board "
                         f"accepts {board.spec_version!r} only")
    missing = [m for m in board.metric_names if not all(m in (r.get("scores") or {}) for r in rows)]
    if missing:
        raise PluriError(f"results.jsonl rows lack per-example scores for {', '.join(missing)} "
                         f"(the board requires {', '.join(board.metric_names)})")

    if board_dir is not None and board.data is not None:
        _check_board_data(manifest, rows, board, board_dir, host)
    again = recompute(rows, board, host)
    reported = summary.get("metrics") or {}
    disagree = [f"  {name}: summary.json {_summary_value(reported[name])!r}, recomputed {again.metrics[name].value!r}"
                for name in board.metric_names
                if name in reported and not close(_summary_value(reported[name]), again.metrics[name].value)]
    if disagree:
        raise PluriError("the run's summary.json disagrees with the board's aggregation of its per-example "
                         f"results ({board.aggregation.kind} aggregation):\n" + "\n".join(disagree))
    try:
        entry = Entry(
            benchmark=board.benchmark,
            spec_version=board.spec_version,
            submitter=Submitter(name=submitter),
            method=_method_info(manifest),
            model=_model_info(manifest, summary),
            created_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            manifest=public_manifest(manifest),
            bootstrap=board.bootstrap,
            metrics=again.metrics,
            per_language=again.per_language,
            results=ResultsRef(rows=rows, sha256=content_hash(rows), num_rows=len(rows)),
            links=Links(mlflow_run=mlflow_run or _mlflow_link(run_dir, manifest), paper=paper, code=code),
        )
    except ValidationError as err:
        problems = "; ".join(f"{path}: {msg}" for path, msg in format_validation_error(err))
        raise PluriError(f"cannot make an entry of run {run_dir}: {problems}") from None
    return entry, rows


def build_entry(
    run_dir: str | Path,
    host: Any,
    *,
    submitter: str,
    board_dir: str | Path | None = None,
    output: str | Path | None = None,
    inline: bool = False,
    paper: str | None = None,
    mlflow_run: str | None = None,
    code: str | None = None,
) -> Path:
    """Write an entry (and its results file beside it) for a finished run; returns its path.
    Everything is built and checked first; then the results file and the entry are each written
    atomically, so a failure never leaves half an entry behind."""
    run_dir = Path(run_dir)
    if board_dir is None:
        benchmark = _read_json(run_dir / "summary.json").get("benchmark")
        if (Path("leaderboards") / str(benchmark) / "board.yaml").is_file():
            board_dir = Path("leaderboards") / str(benchmark)
    entry, rows = entry_from_run(run_dir, host, submitter=submitter, board_dir=board_dir, paper=paper,
                                 mlflow_run=mlflow_run, code=code)
    if output is None:
        name = "_".join([slug(entry.method.name or "none")[:24], slug(entry.model.id)[:32], slug(submitter)[:24],
                         short(content_hash(_read_json(run_dir / "manifest.json")), 8)])
        folder = Path(board_dir) / "entries" if board_dir else run_dir / "leaderboard"
        output = folder / f"{name}.json"
    output = Path(output)
    results_bytes = (run_dir / "results.jsonl").read_bytes()
    results_name = output.stem + ".results.jsonl"
    if not inline:
        entry = entry.model_copy(update={"results": ResultsRef(
            file=results_name, sha256="sha256:" + hashlib.sha256(results_bytes).hexdigest(), num_rows=len(rows))})
    text = json.dumps(entry.model_dump(mode="json"), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    if not inline:
        atomic_write(output.parent / results_name, results_bytes)
    atomic_write(output, text)
    return output
