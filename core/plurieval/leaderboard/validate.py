"""Validating a leaderboard entry: every reason it cannot go on the board, all at once.

Nothing an entry says about itself is trusted. A hash alone proves nothing (anyone can recompute
one after editing a number), so validation recomputes every summary metric and confidence
interval from the per-example results with the benchmark's registered metrics and the board's
bootstrap settings, and compares them with what the entry claims (tolerance 1e-9). The
references those results are scored against are not taken from the entry either: they are
re-derived from the board's pinned data (``leaderboard.pins``). The entry's method, model and
config must be its manifest's; non-finite numbers are refused anywhere. It also checks the
schema (unknown fields are refused), the benchmark and its spec version, the required metrics,
hashes, sizes and file names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from plurieval.errors import PluriError
from plurieval.hashing import content_hash, file_hash
from plurieval.leaderboard.pins import check_manifest_data, check_rows, pinned_data
from plurieval.leaderboard.schema import (
    BoardSpec,
    Entry,
    Limits,
    NonFiniteNumber,
    check_safe_name,
    load_board,
    strict_json,
)
from plurieval.leaderboard.scoring import build_metric, close, finite_or_none, recompute, sort_rows
from plurieval.specs import format_validation_error

# Hard cap before a board is known: nothing larger is even parsed.
_ABSOLUTE_MAX_ENTRY_BYTES = Limits().max_entry_bytes


@dataclass
class EntryReport:
    path: Path
    problems: list[str] = field(default_factory=list)
    entry: Entry | None = None
    rows: list[dict[str, Any]] | None = None
    board: BoardSpec | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def find_board_dir(entry_path: Path, benchmark: str | None, boards_root: Path | None) -> Path | None:
    """The board an entry belongs to: ``<board>/entries/<entry>.json`` → ``<board>``, else
    ``<boards_root>/<benchmark>`` (default ``leaderboards/`` in the current directory)."""
    parent = entry_path.resolve().parent
    if parent.name == "entries" and (parent.parent / "board.yaml").is_file():
        return parent.parent
    if benchmark and isinstance(benchmark, str):
        root = boards_root or Path("leaderboards")
        candidate = root / benchmark
        if (candidate / "board.yaml").is_file():
            return candidate
    return None


def validate_entry(
    path: str | Path,
    host: Any,
    *,
    board_dir: str | Path | None = None,
    boards_root: str | Path | None = None,
) -> EntryReport:
    path = Path(path)
    report = EntryReport(path)
    problems = report.problems
    if path.is_symlink():
        problems.append(f"{path.name}: is a symbolic link; submit the file itself")
        return report
    if path.is_dir():
        problems.append(f"{path}: is a directory; give an entry file (BOARD/entries/NAME.json)")
        return report
    if not path.is_file():
        problems.append(f"{path}: not found")
        return report
    size = path.stat().st_size
    if size > _ABSOLUTE_MAX_ENTRY_BYTES:
        problems.append(f"{path.name}: entry file is {size} bytes, over the limit of {_ABSOLUTE_MAX_ENTRY_BYTES}")
        return report
    try:
        raw = strict_json(path.read_text(encoding="utf-8"))
    except NonFiniteNumber as err:
        problems.append(f"{path.name}: {err}; non-finite numbers are refused")
        return report
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        problems.append(f"{path.name}: not valid JSON ({err})")
        return report
    except RecursionError:
        problems.append(f"{path.name}: nested too deeply to be an entry")
        return report
    if not isinstance(raw, dict):
        problems.append(f"{path.name}: must hold a JSON object")
        return report

    # The board first: it says which limits, metrics and bootstrap settings apply.
    bdir = Path(board_dir) if board_dir else find_board_dir(path, raw.get("benchmark"),
                                                             Path(boards_root) if boards_root else None)
    if bdir is None:
        problems.append(f"benchmark: no board for {raw.get('benchmark')!r} (looked for leaderboards/"
                        f"{raw.get('benchmark')}/board.yaml; pass --board)")
        return report
    try:
        board = load_board(bdir)
    except PluriError as err:
        problems.append(f"board: {err}")
        return report
    report.board = board
    if size > board.limits.max_entry_bytes:
        problems.append(f"{path.name}: entry file is {size} bytes, over the board's limit of "
                        f"{board.limits.max_entry_bytes} (put the per-example results in a file beside it)")

    try:
        entry = Entry.model_validate(raw)
    except ValidationError as err:
        problems.extend(f"schema: {loc}: {msg}" for loc, msg in format_validation_error(err))
        return report
    report.entry = entry

    _check_identity(entry, board, host, problems)
    _check_manifest_agreement(entry, problems)
    rows = _load_rows(entry, path, board, problems)
    if rows is None:
        return report
    report.rows = rows
    if not _check_rows(rows, entry, board, problems):
        return report
    try:
        pinned = pinned_data(board, bdir, host)
    except PluriError as err:
        problems.append(f"data: {err}")
        return report
    check_manifest_data(entry.manifest, pinned, problems)
    references = check_rows(rows, pinned, problems)
    if references is None:
        return report
    _check_rescored(rows, board, host, problems, references)
    _check_numbers(rows, entry, board, host, problems)
    return report


def _check_identity(entry: Entry, board: BoardSpec, host: Any, problems: list[str]) -> None:
    if entry.benchmark != board.benchmark:
        problems.append(f"benchmark: entry is for {entry.benchmark!r} but the board is {board.benchmark!r}")
    if entry.spec_version != board.spec_version:
        problems.append(f"spec_version: unknown benchmark version {entry.spec_version!r} for {board.benchmark!r}; "
                        f"the board accepts spec_version {board.spec_version!r} only (scores of other versions "
                        f"are not comparable)")
    try:
        installed = host.get("benchmark", board.benchmark)
    except PluriError:
        installed = None
    if installed is not None and str(installed.spec_version) != board.spec_version:
        problems.append(f"board: board.yaml says spec_version {board.spec_version!r} but the installed "
                        f"{board.benchmark!r} benchmark is spec_version {installed.spec_version!r}")
    bench = entry.manifest.get("benchmark") if isinstance(entry.manifest.get("benchmark"), dict) else {}
    if bench.get("name") != entry.benchmark or str(bench.get("spec_version")) != entry.spec_version:
        problems.append(f"manifest.benchmark: says {bench.get('name')!r} spec {bench.get('spec_version')!r}, "
                        f"but the entry says {entry.benchmark!r} spec {entry.spec_version!r}")
    if entry.manifest.get("status") != "complete":
        problems.append(f"manifest.status: the run is {entry.manifest.get('status')!r}, not complete")
    if entry.bootstrap != board.bootstrap:
        problems.append(f"bootstrap: entry used {entry.bootstrap.model_dump()} but the board requires "
                        f"{board.bootstrap.model_dump()} (rebuild the entry with `plurieval leaderboard submit`)")
    for name in board.metric_names:
        if name not in entry.metrics:
            problems.append(f"metrics: required metric {name!r} is missing")
    for name in entry.metrics:
        if name not in board.metric_names:
            problems.append(f"metrics: {name!r} is not a metric of this board ({', '.join(board.metric_names)})")


def _check_manifest_agreement(entry: Entry, problems: list[str]) -> None:
    """The entry's method, model and config are read from its manifest, never the other way
    round: an entry claiming another method and a made-up model over a real run's manifest is
    refused, and so is a manifest whose parts disagree with each other."""
    from plurieval.leaderboard.submit import _method_info, _model_info

    manifest = entry.manifest
    components = manifest.get("components") if isinstance(manifest.get("components"), dict) else {}
    try:
        method = _method_info(manifest).model_dump()
    except (ValueError, AttributeError, TypeError):
        method = None
    if method is None or entry.method.model_dump() != method:
        differing = [k for k in entry.method.model_dump() if method is None or entry.method.model_dump()[k] != method[k]]
        problems.append(f"method: the entry says {entry.method.name!r} but its manifest ran "
                        f"{(method or {}).get('name')!r} (differing: {', '.join(differing)}); an entry's method is its "
                        f"manifest's")
    model_comp = components.get("model") if isinstance(components.get("model"), dict) else {}
    if not isinstance(manifest.get("model"), dict) and not model_comp.get("name"):
        problems.append("manifest.model: the manifest names no model, so the entry's model cannot be checked")
    else:
        recorded = _model_info(manifest, {})  # the loaded model's description, else the component's name
        for part in ("id", "revision", "weights_hash"):
            if getattr(entry.model, part) != getattr(recorded, part):
                problems.append(f"model.{part}: the entry says {getattr(entry.model, part)!r} but its manifest "
                                f"recorded {getattr(recorded, part)!r}")
    config = manifest.get("config") if isinstance(manifest.get("config"), dict) else None
    if config is None:
        problems.append("manifest.config: missing; the run cannot be repeated from this manifest")
        return
    try:
        from plurieval.config import RunConfig
        from plurieval.runner import config_digest

        run_config = RunConfig.model_validate(config)
    except (ValueError, RecursionError) as err:
        problems.append(f"manifest.config: not a valid run config ({str(err).splitlines()[0]})")
        return
    if config_digest(run_config) != manifest.get("config_hash"):
        problems.append("manifest.config_hash: does not match manifest.config (the config was edited after the run)")
    refs = {"benchmark": run_config.benchmark, "method": run_config.method, "model": run_config.model}
    for role, ref in refs.items():
        comp = components.get(role) if isinstance(components.get(role), dict) else None
        name = ref.name.partition(":")[0] if ref is not None else None
        if (comp or {}).get("name") != name and not (role == "method" and ref is None and comp is None):
            problems.append(f"manifest.components.{role}: ran {(comp or {}).get('name')!r} but manifest.config asks "
                            f"for {name!r}")


def _load_rows(entry: Entry, entry_path: Path, board: BoardSpec, problems: list[str]) -> list[dict[str, Any]] | None:
    ref = entry.results
    if ref.rows is not None:
        if content_hash(ref.rows) != ref.sha256:
            problems.append("results.sha256: does not match the inline rows (canonical JSON hash)")
            return None
        return ref.rows
    assert ref.file is not None
    try:
        check_safe_name(ref.file)  # the schema did too; kept here so this function is safe on its own
    except ValueError as err:
        problems.append(f"results.file: {err}")
        return None
    folder = entry_path.parent.resolve()
    target = entry_path.parent / ref.file
    if target.is_symlink():
        problems.append(f"results.file: {ref.file!r} is a symbolic link; submit the file itself")
        return None
    if not target.is_file():
        problems.append(f"results.file: {ref.file!r} not found beside the entry")
        return None
    if target.resolve().parent != folder:
        problems.append(f"results.file: {ref.file!r} resolves outside the entry's folder")
        return None
    size = target.stat().st_size
    if size > board.limits.max_results_bytes:
        problems.append(f"results.file: {ref.file!r} is {size} bytes, over the board's limit of "
                        f"{board.limits.max_results_bytes}")
        return None
    if file_hash(target) != ref.sha256:
        problems.append(f"results.sha256: does not match the bytes of {ref.file!r} (the file was changed "
                        f"after the entry was made, or the hash was edited)")
        return None
    rows = []
    try:
        text = target.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        problems.append(f"results.file: {ref.file!r} is not UTF-8 text ({err.reason})")
        return None
    for i, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            rows.append(strict_json(line))
        except NonFiniteNumber as err:
            problems.append(f"results.file: {ref.file}:{i}: {err}; non-finite numbers are refused")
            return None
        except json.JSONDecodeError as err:
            problems.append(f"results.file: {ref.file}:{i}: not valid JSON ({err.msg})")
            return None
        except RecursionError:
            problems.append(f"results.file: {ref.file}:{i}: nested too deeply to be a results row")
            return None
    return rows


def _check_rows(rows: list[dict[str, Any]], entry: Entry, board: BoardSpec, problems: list[str]) -> bool:
    before = len(problems)
    if len(rows) != entry.results.num_rows:
        problems.append(f"results.num_rows: says {entry.results.num_rows} but there are {len(rows)} rows")
    if len(rows) > board.limits.max_rows:
        problems.append(f"results: {len(rows)} rows, over the board's limit of {board.limits.max_rows}")
    seen: set[str] = set()
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict) or "key" not in row:
            problems.append(f"results row {i}: must be an object with a 'key'")
            continue
        if row["key"] in seen:
            problems.append(f"results row {i}: key {row['key']!r} appears twice")
        seen.add(row["key"])
        scores = row.get("scores")
        missing = [m for m in board.metric_names if not isinstance(scores, dict) or m not in scores]
        if missing:
            problems.append(f"results row {i} (key {row['key']!r}): no score for {', '.join(missing)}")
        if len(problems) - before > 20:
            problems.append("results: more problems not shown")
            break
    return len(problems) == before


def _same_score(stored: Any, again: Any) -> bool:
    if isinstance(stored, dict) and isinstance(again, dict):
        return stored.keys() == again.keys() and all(_same_score(stored[k], again[k]) for k in stored)
    if isinstance(stored, (int, float)) and isinstance(again, (int, float)) and not isinstance(stored, bool):
        return close(finite_or_none(stored), finite_or_none(again)) or stored == again
    return stored == again


def _check_rescored(rows: list[dict[str, Any]], board: BoardSpec, host: Any, problems: list[str],
                    references: dict[str, Any]) -> bool:
    """Re-score each row's ``prediction`` against the reference the board's data gives for it
    (``references``, by example_id; never the row's own) with the board's metric.

    Recomputing aggregates from stored per-example scores catches an edited summary, but not
    edited per-example scores with a matching summary and hash; scoring the predictions again
    does. Metrics that need the model under evaluation (``needs``) cannot be re-scored offline
    and rely on re-running (``plurieval rerun``), unless they record their queries
    (``MetricSpec.recorded``): those are re-scored from the records in each prediction."""
    from plurieval.components import MetricContext
    from plurieval.resources import Resources

    before = len(problems)
    ordered = sort_rows(rows)
    for bm in board.metrics:
        if not bm.rescore:
            continue
        spec, metric = build_metric(host, board, bm.name)
        if not getattr(spec, "offline", not spec.needs):
            continue
        lacking = [r["key"] for r in ordered if "prediction" not in r or r.get("example_id") not in references]
        if lacking:
            problems.append(f"results: {len(lacking)} rows (first {lacking[0]!r}) lack 'prediction' or a reference "
                            f"from the board's data, so {bm.name!r} cannot be re-scored")
            break
        try:
            again = metric.score_examples([r["prediction"] for r in ordered],
                                          [references[r["example_id"]] for r in ordered],
                                          MetricContext(resources=Resources(host)))
        except Exception as err:  # a prediction the metric cannot read is the submission's problem
            problems.append(f"results: re-scoring {bm.name!r} from the predictions failed: {type(err).__name__}: {err}")
            continue
        wrong = [(r["key"], r["scores"][bm.name], v) for r, v in zip(ordered, again, strict=True)
                 if not _same_score(r["scores"][bm.name], v)]
        for key, stored, value in wrong[:5]:
            problems.append(f"results row {key!r}: scores.{bm.name} is {stored!r} but its prediction scores {value!r}")
        if len(wrong) > 5:
            problems.append(f"results: {len(wrong) - 5} more rows whose {bm.name} does not match their prediction")
    return len(problems) == before


def _check_numbers(rows: list[dict[str, Any]], entry: Entry, board: BoardSpec, host: Any, problems: list[str]) -> None:
    try:
        again = recompute(rows, board, host)
    except PluriError as err:
        problems.append(f"metrics: {err}")
        return
    except Exception as err:  # a metric choking on a value is the submission's problem, say which
        problems.append(f"metrics: recomputing from the per-example results failed: {type(err).__name__}: {err}")
        return
    for name, want in again.metrics.items():
        got = entry.metrics.get(name)
        if got is None:
            continue
        for part in ("value", "ci_low", "ci_high"):
            if not close(getattr(got, part), getattr(want, part)):
                problems.append(f"metrics.{name}.{part}: entry says {getattr(got, part)!r} but the per-example "
                                f"results give {getattr(want, part)!r}")
        if got.n != want.n:
            problems.append(f"metrics.{name}.n: entry says {got.n} but there are {want.n} per-example results")
    for group, values in entry.per_language.items():
        for name, value in values.items():
            want = again.per_language.get(group, {}).get(name, "absent")
            if want == "absent" or not close(value, want):  # type: ignore[arg-type]
                problems.append(f"per_language.{group}.{name}: entry says {value!r} but the per-example results "
                                f"give {None if want == 'absent' else want!r}")
    for group, values in again.per_language.items():  # leaving a group out is a claim too
        for name, want in values.items():
            if name not in entry.per_language.get(group, {}):
                problems.append(f"per_language.{group}.{name}: missing; the per-example results give {want!r}")


def collect_entries(board_dir: str | Path) -> list[Path]:
    """Entry files of a board: ``entries/*.json`` (results files are ``*.jsonl``)."""
    folder = Path(board_dir) / "entries"
    return sorted(p for p in folder.glob("*.json") if p.is_file() or p.is_symlink()) if folder.is_dir() else []

