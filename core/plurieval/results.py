"""Per-example results: an append-only JSONL file that survives being killed mid-write and
heals when a record is damaged.

Every record has a unique ``key`` and a ``checksum`` (sha256 of the record's canonical JSON
without that field). Each append is flushed and fsync'ed, so after a SIGKILL the file holds every
finished record and at most one torn last line. Reopening keeps every record that parses and
whose checksum matches, *wherever* it sits: a torn line, a line that is not JSON, or a record
edited by hand in the middle of the file is dropped on its own (the run recomputes just that
one), with a warning naming the lines, and the file is rewritten without it. A resumed run asks
``done(key)`` and skips what is there: nothing valid is lost or duplicated. Records written
before checksums existed (no ``checksum`` field) are kept as they are.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from plurieval.errors import DataError
from plurieval.hashing import canonical_json

CHECKSUM = "checksum"
_CHECKSUM_MARK = b'"checksum": "sha256:'
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
log = logging.getLogger("plurieval")


def _mangled_checksum(row: dict[str, Any]) -> bool:
    """A top-level field that is a digest under a name one typo away from ``checksum``: the
    checksum field of this very record, hit by a flipped byte."""
    return any(isinstance(v, str) and _DIGEST.match(v) and difflib.SequenceMatcher(None, k, CHECKSUM).ratio() >= 0.75
               for k, v in row.items() if k != CHECKSUM)


def record_checksum(record: dict[str, Any]) -> str:
    """sha256 of the record's canonical JSON, its ``checksum`` field left out."""
    body = {k: v for k, v in record.items() if k != CHECKSUM}
    return "sha256:" + hashlib.sha256(canonical_json(body).encode()).hexdigest()


def encode_record(row: dict[str, Any]) -> str:
    """One line of ``results.jsonl``: the row as JSON plus its checksum."""
    plain = json.loads(json.dumps(row, ensure_ascii=False, default=_json_default))
    plain.pop(CHECKSUM, None)
    return json.dumps({**plain, CHECKSUM: record_checksum(plain)}, ensure_ascii=False) + "\n"


def decode_record(line: bytes | str) -> tuple[dict[str, Any] | None, str, bool]:
    """(record without its checksum, "", had a checksum) for a sound line, else (None, why, False)."""
    try:
        row = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, "not valid JSON (torn write or edit)", False
    except RecursionError:
        return None, "nested too deeply", False
    if not isinstance(row, dict) or not isinstance(row.get("key"), str):
        return None, "not a record with a 'key'", False
    stored = row.get(CHECKSUM)
    if stored is not None and stored != record_checksum(row):
        return None, "checksum mismatch (edited or corrupted)", False
    row.pop(CHECKSUM, None)
    return row, "", stored is not None


class ResultsFile:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._rows: dict[str, dict[str, Any]] = {}
        self.dropped: list[tuple[int, str]] = []  # (line number, why) of records reopening dropped
        if self.path.exists():
            self._recover()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")

    def _recover(self) -> None:
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline, else a torn last write
        decoded = [(number, *decode_record(line)) for number, line in enumerate(lines, 1) if line.strip()]
        # A file written with checksums has one on every record: a record without one there is
        # damaged (its checksum field itself was hit), not an old record to take on trust. Any
        # line, even a damaged one, that shows a checksum tells how the file was written.
        checksummed = any(had for _, _, _, had in decoded) or any(_CHECKSUM_MARK in line for line in [*lines, tail])
        for number, row, why, had in decoded:
            if row is not None and not had and (checksummed or _mangled_checksum(row)):
                row, why = None, "no checksum, unlike the other records (damaged)"
            if row is None:
                self.dropped.append((number, why))
            elif row["key"] in self._rows:
                self.dropped.append((number, f"second record for key {row['key']!r}"))
            else:
                self._rows[row["key"]] = row
        if tail.strip():
            self.dropped.append((len(lines) + 1, "torn last line (the process was killed mid-write)"))
        if not self.dropped:
            return
        damaged = [(n, why) for n, why in self.dropped if not why.startswith("torn last line")]
        if damaged:
            shown = "; ".join(f"line {n}: {why}" for n, why in damaged[:5])
            more = f"; and {len(damaged) - 5} more" if len(damaged) > 5 else ""
            log.warning("%s: dropped %d damaged record(s) (%s%s); kept the %d sound ones, the dropped ones "
                        "are recomputed", self.path, len(damaged), shown, more, len(self._rows))
        self._write_all(list(self._rows.values()))

    def _write_all(self, rows: list[dict[str, Any]]) -> None:
        from plurieval.datafiles import atomic_write

        atomic_write(self.path, "".join(encode_record(r) for r in rows))

    def __len__(self) -> int:
        return len(self._rows)

    def done(self, key: str) -> bool:
        return key in self._rows

    def get(self, key: str) -> dict[str, Any] | None:
        return self._rows.get(key)

    def record(self, key: str, row: dict[str, Any]) -> dict[str, Any]:
        if key in self._rows:
            raise ValueError(f"result {key!r} recorded twice")
        row = {"key": key, **row}
        row.pop(CHECKSUM, None)
        self._fh.write(encode_record(row))
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._rows[key] = row
        return row

    def rows(self, prefix: str = "") -> Iterator[dict[str, Any]]:
        for key, row in self._rows.items():
            if key.startswith(prefix):
                yield row

    def forget(self, keys: Iterable[str]) -> None:
        """Drop the records of ``keys`` so they are computed again (the file is rewritten
        atomically without them)."""
        drop = set(keys)
        self._fh.close()
        self._rows = {k: r for k, r in self._rows.items() if k not in drop}
        for row in self._rows.values():
            row.pop(CHECKSUM, None)
        self._write_all(list(self._rows.values()))
        self._fh = open(self.path, "a", encoding="utf-8")

    def rewrite(self, rows: list[dict[str, Any]]) -> None:
        """Replace the file atomically (used once at the end to add per-example scores)."""
        self._fh.close()
        for row in rows:
            row.pop(CHECKSUM, None)
        self._write_all(rows)
        self._rows = {r["key"]: r for r in rows}
        self._fh = open(self.path, "a", encoding="utf-8")

    def close(self) -> None:
        self._fh.close()


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"cannot write {type(obj).__name__} to results")


def read_jsonl(path: str | Path, *, allow_empty: bool = False, what: str = "file") -> list[dict[str, Any]]:
    """Read a JSONL file of objects. Every problem is one ``DataError`` naming the file (and the
    line): missing, a directory, not UTF-8, a line that is not JSON or not an object, nesting
    too deep to be data, and (unless ``allow_empty``) a file without a single row, which would
    otherwise load as zero examples and score as ``null``."""
    from plurieval.datafiles import read_text

    text = read_text(path, what)
    rows = []
    for i, line in enumerate(text.split("\n"), 1):  # not splitlines(): U+2028 may sit inside a string
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{i}: not valid JSON ({err.msg})") from None
        except RecursionError:
            raise DataError(f"{path}:{i}: nested too deeply to be a data row") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}:{i}: each line must be a JSON object, got {type(row).__name__}")
        rows.append(row)
    if not rows and not allow_empty:
        raise DataError(f"{what} {str(path)!r} holds no rows (it is empty): nothing to read")
    return rows
