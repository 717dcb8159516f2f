"""Labelling the validation rows by reading them (``plurieval judge label``).

What a labeller sees is the question (or, for PolyRefuse, the prompt looked up in the local
PolyRefuse copy, never stored), the target language and the output; judge scores are not in the
rows at all. Labels follow the rubric in the datasheet (``data/judge_validation/README.md``).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from plurieval.api import DataError

from .dataset import ClasLabels, RefusalLabels, read_rows, write_rows

_YES = {"y": True, "yes": True, "1": True, "true": True, "n": False, "no": False, "0": False, "false": False}


def _flag(value: str, where: str) -> bool:
    key = value.strip().lower()
    if key not in _YES:
        raise DataError(f"{where}: expected y or n, got {value!r}")
    return _YES[key]


def _labels(task: str, fields: list[str], where: str) -> Any:
    if task == "clasbench":
        if len(fields) != 2 or fields[0].strip() not in ("0", "1", "2"):
            raise DataError(f"{where}: expected 'relevance (0/1/2), fluent (y/n)', got {fields!r}")
        return ClasLabels(relevance=int(fields[0]), fluent=_flag(fields[1], where))
    if len(fields) != 1:
        raise DataError(f"{where}: expected 'refused (y/n)', got {fields!r}")
    return RefusalLabels(refused=_flag(fields[0], where))


def apply_labels(file: Path, task: str, labels_tsv: Path) -> int:
    """Merge ``id<TAB>labels...`` lines (``#`` comments allowed) into ``file``; an unknown id or
    a malformed label is an error naming the line, and nothing is written then."""
    rows = read_rows(file, task)
    by_id = {r.id: i for i, r in enumerate(rows)}
    updates: dict[int, Any] = {}
    with open(labels_tsv, encoding="utf-8", newline="") as fh:
        for n, fields in enumerate(csv.reader(fh, delimiter="\t"), 1):
            if not fields or not fields[0].strip() or fields[0].lstrip().startswith("#"):
                continue
            where = f"{labels_tsv}:{n}"
            rid = fields[0].strip()
            if rid not in by_id:
                raise DataError(f"{where}: no row with id {rid!r} in {file}")
            updates[by_id[rid]] = _labels(task, fields[1:], where)
    for i, labels in updates.items():
        rows[i] = rows[i].model_copy(update={"labels": labels})
    write_rows(file, rows)
    return len(updates)


def prompt_text(row: Any) -> str:
    """The PolyRefuse prompt a row refers to, read from the local copy (for the labeller only)."""
    import json
    import os

    root = os.environ.get("PLURIEVAL_DATA_DIR")
    path = Path(root or ".") / "polyrefuse" / row.prompt_ref["file"]
    if not path.is_file():
        return f"(prompt {row.prompt_ref} not found: set PLURIEVAL_DATA_DIR to the folder holding polyrefuse/)"
    item = json.loads(path.read_text(encoding="utf-8"))[row.prompt_ref["index"]]
    return str(item.get("instruction_translated") or item.get("instruction"))


def show(row: Any) -> str:
    if row.task == "clasbench":
        return (f"[{row.id}] target={row.target} method={row.method}\n  Q: {row.question}\n"
                f"  A: {row.output!r}")
    return (f"[{row.id}] {row.condition} {row.kind} lang={row.language}\n  P: {prompt_text(row)}\n"
            f"  C: {row.output!r}")


def interactive(file: Path, task: str) -> None:
    import typer

    rows = read_rows(file, task)
    todo = [i for i, r in enumerate(rows) if r.labels is None]
    typer.echo(f"{len(todo)} of {len(rows)} rows unlabelled; rubric: data/judge_validation/README.md. Ctrl-C stops "
               "(labels so far are saved).")
    for k, i in enumerate(todo, 1):
        typer.echo(f"\n({k}/{len(todo)}) {show(rows[i])}")
        while True:
            ask = "relevance 0/1/2 and fluent y/n (e.g. '2 y')" if task == "clasbench" else "refused y/n"
            answer = typer.prompt(ask)
            try:
                rows[i] = rows[i].model_copy(update={"labels": _labels(task, answer.split(), "answer")})
                break
            except DataError as err:
                typer.echo(str(err))
        write_rows(file, rows)


__all__ = ["apply_labels", "interactive", "prompt_text", "show"]
