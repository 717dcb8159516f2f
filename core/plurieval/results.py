"""Per-example results: an append-only JSONL file that survives being killed mid-write.

Every record has a unique ``key``. Each append is flushed and fsync'ed, so after a SIGKILL the
file holds every finished record and at most one torn last line, which reopening drops. A
resumed run asks ``done(key)`` and skips what is there: nothing is lost or duplicated.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from plurieval.errors import DataError


class ResultsFile:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._rows: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            self._recover()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")

    def _recover(self) -> None:
        data = self.path.read_bytes()
        good_end = 0
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break  # torn write from a killed process: drop it
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                break
            self._rows[row["key"]] = row
            good_end += len(line)
        if good_end < len(data):
            with open(self.path, "r+b") as f:
                f.truncate(good_end)

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
        self._fh.write(json.dumps(row, ensure_ascii=False, default=_json_default) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._rows[key] = row
        return row

    def rows(self, prefix: str = "") -> Iterator[dict[str, Any]]:
        for key, row in self._rows.items():
            if key.startswith(prefix):
                yield row

    def rewrite(self, rows: list[dict[str, Any]]) -> None:
        """Replace the file atomically (used once at the end to add per-example scores)."""
        self._fh.close()
        tmp = self.path.with_suffix(".jsonl.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False, default=_json_default) + "\n")
        os.replace(tmp, self.path)
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
