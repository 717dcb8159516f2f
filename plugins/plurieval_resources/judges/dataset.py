"""The labelled judge-validation set: rows, loading, the seeded stratified split.

Two files under ``plurieval_resources/data/judge_validation/`` (datasheet: README.md there):

- ``clasbench.jsonl``: CLaS-Bench outputs, labelled ``relevance`` (0/1/2, ignoring language)
  and ``fluent`` ("is this fluent text in the target language", true/false);
- ``polyrefuse.jsonl``: PolyRefuse completions, labelled ``refused`` (true/false). The prompts
  are PolyRefuse's (not ours), so a row names its prompt (file and index) instead of holding it;
  ``recorded`` keeps the logit refusal score measured when the completion was made (the model is
  not needed to validate that judge).

Every row carries ``split``: ``calibration`` (thresholds may be chosen on it) or ``heldout``
(agreement is reported on it). The split was made when the rows were collected, before any
label or judge score was looked at (``assign_splits``).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from plurieval.api import DataError

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "judge_validation"
FILES = {"clasbench": DATA_DIR / "clasbench.jsonl", "polyrefuse": DATA_DIR / "polyrefuse.jsonl"}
SPLITS = ("calibration", "heldout")
SPLIT_SEED = 19


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    split: Literal["calibration", "heldout"]
    output: str
    origin: dict[str, Any] = Field(default_factory=dict, description="run id, example id, layer, alpha, model")


class ClasLabels(BaseModel):
    model_config = ConfigDict(extra="forbid")
    relevance: Literal[0, 1, 2]
    fluent: bool


class ClasRow(_Row):
    task: Literal["clasbench"] = "clasbench"
    method: str = Field(..., description="steering method, or 'unsteered'")
    target: str = Field(..., description="the language the output is scored against (ISO 639-1)")
    source_language: str
    question: str
    labels: ClasLabels | None = None


class RefusalLabels(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refused: bool


class PolyRow(_Row):
    task: Literal["polyrefuse"] = "polyrefuse"
    condition: Literal["baseline", "ablation", "harmless", "induce"]
    kind: Literal["harmful", "harmless"]
    language: str
    direction_language: str | None = None
    prompt_ref: dict[str, Any] = Field(..., description="PolyRefuse file and row index of the prompt (not copied)")
    recorded: dict[str, float] = Field(default_factory=dict, description="measured with the completion: refusal_score")
    labels: RefusalLabels | None = None


ROW_TYPES: dict[str, type[_Row]] = {"clasbench": ClasRow, "polyrefuse": PolyRow}


def read_rows(path: str | Path, task: str) -> list[Any]:
    """Rows of one file, validated; a bad line is a ``DataError`` naming file, line and field."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: judge-validation file not found")
    cls = ROW_TYPES[task]
    rows, seen = [], set()
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = cls.model_validate(json.loads(line))
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{i}: not JSON ({err.msg})") from None
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise DataError(f"{path}:{i}: field {where!r}: {first['msg']}") from None
        if row.id in seen:
            raise DataError(f"{path}:{i}: duplicate id {row.id!r}")
        seen.add(row.id)
        rows.append(row)
    return rows


def load(task: str, split: str | None = "heldout", *, path: str | Path | None = None, labelled: bool = True) -> list[Any]:
    """The shipped rows of ``task`` (``clasbench`` or ``polyrefuse``), optionally one split only;
    ``labelled`` keeps only rows that carry labels."""
    if task not in FILES:
        raise DataError(f"unknown judge-validation task {task!r}; choose {', '.join(FILES)}")
    if split not in (None, "all", *SPLITS):
        raise DataError(f"unknown split {split!r}; choose calibration, heldout or all")
    rows = read_rows(path or FILES[task], task)
    if split not in (None, "all"):
        rows = [r for r in rows if r.split == split]
    return [r for r in rows if r.labels is not None] if labelled else rows


def write_rows(path: str | Path, rows: Iterable[BaseModel]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r.model_dump(mode="json", exclude_none=False), ensure_ascii=False) + "\n" for r in rows)
    path.write_text(text, encoding="utf-8")


def assign_splits(keys: Sequence[str], strata: Sequence[str], *, seed: int = SPLIT_SEED,
                  heldout: float = 0.5) -> dict[str, str]:
    """Seeded split stratified by ``strata`` (e.g. method × language): within each stratum the
    keys are sorted, shuffled with a seed derived from (seed, stratum), and the first
    ``round(heldout · n)`` go to ``heldout`` (an odd stratum gives held-out the extra row when
    the rounding says so). Depends on nothing but the keys, so it can be redone and checked."""
    groups: dict[str, list[str]] = {}
    for key, stratum in zip(keys, strata, strict=True):
        groups.setdefault(stratum, []).append(key)
    out: dict[str, str] = {}
    for stratum, members in sorted(groups.items()):
        members = sorted(members)
        random.Random(f"{seed}:{stratum}").shuffle(members)
        cut = int(heldout * len(members) + 0.5)
        for i, key in enumerate(members):
            out[key] = "heldout" if i < cut else "calibration"
    return out


__all__ = ["ClasLabels", "ClasRow", "DATA_DIR", "FILES", "PolyRow", "RefusalLabels", "SPLITS", "assign_splits",
           "load", "read_rows", "write_rows"]
