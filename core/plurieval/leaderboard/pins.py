"""Entries that cannot lie about their data: a board pins its data, and every row is checked
against it.

Scoring a row's prediction again proves nothing if the reference it is scored against came from
the entry: rewrite every reference to match its prediction, re-score honestly, fix the hash, and
the entry ranks first. So a board declares its data in ``board.yaml`` (``data:``: registered
dataset + config, split, id, revision, content hash, size, minimum rows) and how each results
row follows from one example (``data.rows``: templates for ``example_id``, ``reference`` and
pinned ``metadata``, an optional ``where`` filter, ``for_each`` expansion, ordering, coverage).
The validator loads the data *with the registered dataset loader*, checks its content hash
against the pin, and derives every expected row itself; an entry's references are compared with
what the data says and never used unchecked. Where the data is not available to the validator
(it cannot be redistributed, or is simply not on this machine), the board may publish a digest
per expected row beside ``board.yaml`` (``plurieval leaderboard pin --digests``), and each row's
reference and pinned metadata are checked against those instead.

Coverage ``prefix`` (the default) also stops cherry-picking: the rows must be the first N
examples of the split in the benchmark's order (what ``--limit N`` gives), with every
``for_each`` value of each.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plurieval.errors import PluriError
from plurieval.hashing import canonical_json
from plurieval.leaderboard.schema import BoardSpec, DataPin, RowTemplate, check_safe_name

DIGESTS_FORMAT = 1
_PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*(?:\.[\w-]+)*)\}")
_MAX_PROBLEMS = 5


class TemplateError(PluriError):
    pass


def _lookup(path: str, scope: dict[str, Any]) -> Any:
    parts = path.split(".")
    if parts[0] not in scope:
        raise TemplateError(f"unknown placeholder {{{path}}} (known: example, {', '.join(k for k in scope if k != 'example')})")
    value = scope[parts[0]]
    for part in parts[1:]:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise TemplateError(f"{{{path}}}: {part!r} is not there")
    return value


def render(template: Any, scope: dict[str, Any]) -> Any:
    """Fill a row template (see ``RowTemplate``) for one example."""
    if isinstance(template, str):
        whole = _PLACEHOLDER.fullmatch(template)
        if whole:
            return _lookup(whole[1], scope)
        return _PLACEHOLDER.sub(lambda m: str(_lookup(m[1], scope)), template)
    if isinstance(template, dict):
        return {str(k): render(v, scope) for k, v in template.items()}
    if isinstance(template, list):
        return [render(v, scope) for v in template]
    return template


def _plain(value: Any) -> Any:
    """The JSON form of a value (tuples become lists, ...), so data and rows compare alike."""
    return json.loads(canonical_json(value))


def row_digest(reference: Any, metadata: dict[str, Any]) -> str:
    """What a board publishes per expected row when its data cannot be redistributed."""
    return hashlib.sha256(canonical_json({"reference": reference, "metadata": metadata}).encode()).hexdigest()


@dataclass
class ExpectedRow:
    index: int  # position of its example in the benchmark's order
    example_id: str  # the example's own id
    reference: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)
    digest: str = ""


@dataclass
class PinnedData:
    """Every row the board's data allows, by row ``example_id``."""

    pin: DataPin
    rows: dict[str, ExpectedRow]
    per_example: int
    source: str  # "data" (loaded and hash-checked) or "digests"
    prefix_hash: Callable[[int], str] | None = None  # content hash of the first n examples (data only)


def _where(example: dict[str, Any], where: dict[str, Any]) -> bool:
    for path, want in where.items():
        try:
            if _plain(_lookup(path, {"example": example})) != _plain(want):
                return False
        except TemplateError:
            return False
    return True


def _interleave(examples: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for ex in examples:
        groups.setdefault(canonical_json(_lookup(path, {"example": ex})), []).append(ex)
    return [ex for batch in itertools.zip_longest(*groups.values()) for ex in batch if ex is not None]


def ordered_examples(examples: list[Any], template: RowTemplate) -> list[Any]:
    """The examples a benchmark evaluates, in its order (``where``, then ``interleave_by``)."""
    pairs = [(ex, ex.to_dict()) for ex in examples]
    kept = [(ex, d) for ex, d in pairs if _where(d, template.where)]
    if template.interleave_by:
        order = _interleave([d for _, d in kept], template.interleave_by)
        by_id = {id(d): ex for ex, d in kept}
        return [by_id[id(d)] for d in order]
    return [ex for ex, _ in kept]


def expected_rows(examples: list[Any], template: RowTemplate) -> tuple[dict[str, ExpectedRow], int]:
    names = list(template.for_each)
    combos = list(itertools.product(*(template.for_each[n] for n in names))) or [()]
    rows: dict[str, ExpectedRow] = {}
    for index, ex in enumerate(examples):
        data = ex.to_dict()
        for combo in combos:
            scope = {"example": data, **dict(zip(names, combo, strict=True))}
            row_id = str(render(template.example_id, scope))
            reference = _plain(render(template.reference, scope))
            metadata = {k: _plain(render(v, scope)) for k, v in template.metadata.items()}
            if row_id in rows:
                raise TemplateError(f"data.rows.example_id gives {row_id!r} twice; it must tell rows apart")
            rows[row_id] = ExpectedRow(index, str(data["id"]), reference, metadata, row_digest(reference, metadata))
    return rows, len(combos)


def load_pinned_examples(pin: DataPin, host: Any) -> tuple[Any, list[Any]]:
    """(dataset, examples) read by the registered loader with the pin's config; raises
    ``PluriError`` when they cannot be read here."""
    try:
        spec = host.get("dataset", pin.dataset)
    except PluriError as err:
        raise PluriError(f"the board's dataset {pin.dataset!r} is not installed ({err})") from None
    quiet = logging.getLogger("plurieval")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # a loader falling back to its sample says so; the hash check below decides
    try:
        dataset = spec.create(pin.params, where="data.params")
        examples = dataset.load(pin.split)
    except PluriError as err:
        raise PluriError(f"cannot read the board's data here: {err}") from None
    except (OSError, ValueError, KeyError) as err:
        raise PluriError(f"cannot read the board's data here: {type(err).__name__}: {err}") from None
    finally:
        quiet.setLevel(level)
    return dataset, list(examples)


def _from_data(pin: DataPin, host: Any) -> PinnedData:
    dataset, examples = load_pinned_examples(pin, host)
    info = dataset.info(examples, pin.split)
    if info.content_hash != pin.content_hash or len(examples) != pin.num_examples:
        raise PluriError(f"the data the {pin.dataset!r} loader reads here ({len(examples)} examples, content hash "
                         f"{info.content_hash[:19]}…) is not the board's data")
    ordered = ordered_examples(examples, pin.rows)
    rows, per_example = expected_rows(ordered, pin.rows)

    def prefix_hash(n: int) -> str:
        return dataset.info(ordered[:n], pin.split).content_hash

    return PinnedData(pin, rows, per_example, "data", prefix_hash)


def _from_digests(pin: DataPin, board_dir: Path) -> PinnedData:
    assert pin.reference_digests is not None
    check_safe_name(pin.reference_digests)
    path = board_dir / pin.reference_digests
    if path.is_symlink() or not path.is_file():
        raise PluriError(f"{path} (data.reference_digests) not found")
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        if body.get("format") != DIGESTS_FORMAT or body.get("content_hash") != pin.content_hash:
            raise ValueError("it was written for other data (format or content hash differ): regenerate it")
        per_example = int(body["rows_per_example"])
        rows = {}
        for position, (row_id, digest) in enumerate(body["rows"]):
            rows[str(row_id)] = ExpectedRow(position // per_example, str(row_id), digest=str(digest))
    except (ValueError, KeyError, TypeError) as err:
        raise PluriError(f"{path} is not a reference-digest file of this board: {err}") from None
    return PinnedData(pin, rows, per_example, "digests")


# Expected rows derived from data whose content hash matched the pin are a function of the pin
# alone, so they are kept for the process (a board's entries are validated one after another);
# digests are kept while their file is unchanged; failures are never kept (the data may appear).
_CACHE: dict[tuple[Any, ...], PinnedData] = {}


def pinned_data(board: BoardSpec, board_dir: str | Path, host: Any) -> PinnedData:
    """The board's expected rows: from the data itself when the registered loader reads it here
    with the pinned content hash, else from the published digests; a ``PluriError`` saying what
    is missing otherwise."""
    pin = board.data
    if pin is None:
        raise PluriError("the board declares no data (`data:` in board.yaml), so no row's reference can be checked; "
                         "see docs/leaderboards.md, 'Pinning the data'")
    pin_key = canonical_json(pin.model_dump(mode="json"))
    data_key = ("data", pin_key, id(host))
    if data_key in _CACHE:
        return _CACHE[data_key]
    try:
        _CACHE[data_key] = _from_data(pin, host)
        return _CACHE[data_key]
    except PluriError as data_err:
        if not pin.reference_digests:
            raise PluriError(f"{data_err}; the board's data is {pin.describe()}, needed to check the references "
                             f"(the board publishes no reference digests)"
                             + (f". {pin.obtain}" if pin.obtain else "")) from None
        path = Path(board_dir) / pin.reference_digests
        try:
            stat = path.stat()
            digest_key: tuple[Any, ...] = ("digests", pin_key, str(path.resolve()), stat.st_mtime_ns, stat.st_size)
        except OSError:
            digest_key = ("digests", pin_key, str(path), None, None)
        if digest_key not in _CACHE:
            try:
                _CACHE[digest_key] = _from_digests(pin, Path(board_dir))
            except PluriError as err:
                raise PluriError(f"{data_err}, and {err}" + (f". {pin.obtain}" if pin.obtain else "")) from None
        return _CACHE[digest_key]


def check_manifest_data(manifest: dict[str, Any], pinned: PinnedData, problems: list[str]) -> None:
    """The run's manifest must record reading the pinned data (id, split, revision, and the
    pinned content hash, or that of the first N examples where the benchmark hashes what it
    used). A sample-data run is refused here, with the data it should have used."""
    pin = pinned.pin
    read = [d for d in manifest.get("datasets") or [] if isinstance(d, dict)]

    def acceptable(d: dict[str, Any]) -> bool:
        if d.get("id") != pin.id or d.get("split") != pin.split or d.get("revision") != pin.revision:
            return False
        n = d.get("num_examples")
        if d.get("content_hash") == pin.content_hash:
            return n == pin.num_examples
        if not isinstance(n, int) or isinstance(n, bool) or not 0 < n < pin.num_examples:
            return False
        if pinned.prefix_hash is not None:
            return d.get("content_hash") == pinned.prefix_hash(n)
        return True  # without the data its prefix hash is unknown; every row is checked by digest below

    if any(acceptable(d) for d in read):
        return
    used = "; ".join(
        f"{d.get('id')!r} split {d.get('split')!r}" + (f" at {d.get('revision')}" if d.get("revision") else "")
        + f" ({d.get('num_examples')} examples, content hash {str(d.get('content_hash'))[:19]}…"
        + (f", from {d.get('source')}" if d.get("source") else "") + ")"
        for d in read) or "no dataset at all"
    problems.append(f"data: the run read {used}, not the board's data: {pin.describe()}"
                    + (f". {pin.obtain}" if pin.obtain else ""))


def check_rows(rows: list[dict[str, Any]], pinned: PinnedData, problems: list[str]) -> dict[str, Any] | None:
    """Check every row against the pinned data. Returns ``{row example_id: reference}`` to
    re-score with (the data's own references), or ``None`` when rows are not the board's."""
    pin, template = pinned.pin, pinned.pin.rows
    before = len(problems)
    unknown: list[str] = []
    wrong: list[str] = []
    seen: dict[str, int] = {}
    covered: dict[int, int] = {}
    references: dict[str, Any] = {}
    for number, row in enumerate(rows, 1):
        row_id = row.get("example_id")
        expected = pinned.rows.get(row_id) if isinstance(row_id, str) else None
        if expected is None:
            unknown.append(repr(row_id))
            continue
        if row_id in seen:
            problems.append(f"results row {number}: example_id {row_id!r} appears twice (also row {seen[row_id]})")
            continue
        seen[row_id] = number
        covered[expected.index] = covered.get(expected.index, 0) + 1
        metadata = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
        pinned_meta = {k: metadata.get(k) for k in template.metadata}
        if pinned.source == "data":
            if _plain(row.get("reference")) != expected.reference:
                wrong.append(f"results row {row_id!r}: reference differs from the board's data "
                             f"(the data says {_short(expected.reference)}, the row {_short(row.get('reference'))})")
            for k, want in expected.metadata.items():
                if _plain(pinned_meta[k]) != want:
                    wrong.append(f"results row {row_id!r}: metadata.{k} is {_short(pinned_meta[k])} but the board's "
                                 f"data gives {_short(want)}")
            references[row_id] = expected.reference
        else:
            if row_digest(_plain(row.get("reference")), _plain(pinned_meta)) != expected.digest:
                wrong.append(f"results row {row_id!r}: reference or metadata ({', '.join(template.metadata)}) do not "
                             f"match the digest the board publishes for it")
            references[row_id] = row.get("reference")
    if unknown:
        problems.append(f"results: {len(unknown)} of {len(rows)} rows are not examples of the board's data "
                        f"{pin.describe()} (first: {', '.join(unknown[:3])})"
                        + (f". {pin.obtain}" if pin.obtain and len(unknown) * 2 > len(rows) else ""))
    problems.extend(wrong[:_MAX_PROBLEMS])
    if len(wrong) > _MAX_PROBLEMS:
        problems.append(f"results: {len(wrong) - _MAX_PROBLEMS} more rows disagree with the board's data")
    partial = sorted(i for i, n in covered.items() if n != pinned.per_example)
    if partial:
        names = ", ".join(template.for_each) or "rows"
        problems.append(f"results: {len(partial)} examples lack some of their {pinned.per_example} rows (one per "
                        f"{names}); the board needs every one of each example it covers")
    if template.coverage == "prefix" and covered and sorted(covered) != list(range(len(covered))):
        missing = [i for i in range(max(covered) + 1) if i not in covered]
        problems.append(f"results: the rows cover {len(covered)} examples but not the first {len(covered)} of the "
                        f"board's order (example #{missing[0] + 1} is missing); the board takes the first N examples "
                        f"of its data, as `--limit N` gives, not a selection")
    if len(rows) < pin.min_examples:
        problems.append(f"results: {len(rows)} rows, fewer than the {pin.min_examples} the board requires "
                        f"(run with a larger --limit)")
    return references if len(problems) == before else None


def _short(value: Any, n: int = 60) -> str:
    text = canonical_json(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= n else text[: n - 1] + "…"


def compute_pins(board: BoardSpec, host: Any) -> dict[str, Any]:
    """What ``data:`` should say for the data the loader reads here (for ``leaderboard pin``)."""
    pin = board.data
    if pin is None:
        raise PluriError("board.yaml has no `data:` section to fill in: add dataset, params, split, id and rows first")
    dataset, examples = load_pinned_examples(pin, host)
    info = dataset.info(examples, pin.split)
    ordered = ordered_examples(examples, pin.rows)
    rows, per_example = expected_rows(ordered, pin.rows)
    return {"id": info.id, "revision": info.revision, "split": pin.split, "content_hash": info.content_hash,
            "num_examples": len(examples), "expected_rows": len(rows), "rows_per_example": per_example,
            "source": info.source, "_rows": rows}


def write_digests(board: BoardSpec, board_dir: str | Path, host: Any) -> Path:
    """Write ``data.reference_digests`` beside board.yaml from the data read here."""
    pin = board.data
    if pin is None or not pin.reference_digests:
        raise PluriError("set data.reference_digests (a file name) in board.yaml first")
    found = compute_pins(board, host)
    if found["content_hash"] != pin.content_hash:
        raise PluriError(f"the data read here (content hash {found['content_hash']}) is not the pinned data "
                         f"({pin.content_hash}); pin it first or point the loader at the right copy")
    from plurieval.datafiles import atomic_write

    body = {"format": DIGESTS_FORMAT, "benchmark": board.benchmark, "dataset": pin.id, "split": pin.split,
            "content_hash": pin.content_hash, "rows_per_example": found["rows_per_example"],
            "digest": "sha256 of canonical JSON {reference, metadata} (leaderboard.pins.row_digest)",
            "rows": [[row_id, row.digest] for row_id, row in found["_rows"].items()]}
    path = Path(board_dir) / pin.reference_digests
    atomic_write(path, json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n")
    return path
