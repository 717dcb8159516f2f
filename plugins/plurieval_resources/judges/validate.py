"""Run a judge on labelled rows and measure its agreement with the labels."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from plurieval.api import PluriError

from .agreement import agreement
from .catalogue import TASKS, Judge
from .dataset import load

_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


def label_of(row: Any, task: str) -> int:
    value = int(getattr(row.labels, TASKS[task]["label"]))
    return 1 - value if TASKS[task].get("invert") else value


def references(rows: Sequence[Any], task: str) -> list[dict[str, Any]]:
    if task in ("relevance", "fluency"):
        return [{"question": r.question, "language": r.target} for r in rows]
    return [{"lang": r.language} for r in rows]


def parse_yes_no(text: str) -> int:
    """1 for a reply whose first yes/no word is yes, else 0 (no word → 0)."""
    m = _YES_NO.search(text or "")
    return int(bool(m) and m.group(1).lower() == "yes")


def run_judge(judge: Judge, rows: Sequence[Any], host: Any) -> tuple[list[int], list[str] | None]:
    """The judge's verdict per row (0/1/2 relevance, 0/1 otherwise), computed now, and the raw
    replies of a model judge (None for the others)."""
    from plurieval.api import MetricContext, Resources

    if not rows:
        return [], None
    outputs = [r.output for r in rows]
    if judge.recorded is not None:
        missing = [r.id for r in rows if judge.recorded not in r.recorded]
        if missing:
            raise PluriError(f"judge {judge.name!r} needs the recorded {judge.recorded!r}, which row {missing[0]!r} lacks")
        return [int(r.recorded[judge.recorded] > judge.threshold) for r in rows], None
    resources = Resources(host)
    if judge.llm_question is not None:
        lm_judge = resources.get("judge", "hf-judge", {"model": judge.llm_model, "max_new_tokens": 4})
        replies = lm_judge.judge([judge.llm_question.format(answer=o) for o in outputs])
        return [parse_yes_no(r) for r in replies], list(replies)
    spec = host.get("metric", judge.metric)
    metric = spec.create(judge.params, where=f"judge {judge.name!r} params")
    out = metric.score(outputs, references(rows, judge.task), MetricContext(resources=resources))
    replies = [d.get("reply") for d in out.details]  # an LLM judge's raw answers (MetricOutput details)
    return [int(round(float(v))) for v in out.values], replies if any(r is not None for r in replies) else None


def read_verdicts(path: str | Path, judge: Judge, rows: Sequence[Any]) -> list[int]:
    """Verdicts recorded by ``plurieval judge run`` (one JSON object per line: judge, id,
    verdict, reply); every row must be covered and the judge must be the one asked for."""
    import json

    recorded: dict[str, int] = {}
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        item = json.loads(line)
        if item.get("judge") != judge.name or item.get("params", {}) != judge.params:
            raise PluriError(f"{path}:{i}: verdict of judge {item.get('judge')!r} {item.get('params')}, not of "
                             f"{judge.name!r} {judge.params}")
        verdict = item.get("verdict")
        if verdict not in TASKS[judge.task]["classes"]:
            raise PluriError(f"{path}:{i}: verdict {verdict!r} is not one of {TASKS[judge.task]['classes']}")
        recorded[item["id"]] = int(verdict)
    missing = [r.id for r in rows if r.id not in recorded]
    if missing:
        raise PluriError(f"{path}: no recorded verdict for {len(missing)} rows (first {missing[0]!r}); run "
                         f"`plurieval judge run {judge.name}` again")
    return [recorded[r.id] for r in rows]


def validate(judge: Judge, host: Any, *, split: str = "heldout", resamples: int = 1000, seed: int = 0,
             rows: Sequence[Any] | None = None, by_group: bool = True,
             verdicts: str | Path | None = None, confidence: float = 0.95) -> dict[str, Any]:
    """Agreement report of ``judge`` on the labelled ``split`` (see ``agreement``), overall and
    per language (the target language for CLaS-Bench, the prompt language for PolyRefuse)."""
    task = TASKS[judge.task]
    rows = list(rows) if rows is not None else load(task["file"], split)
    if not rows:
        raise PluriError(f"no labelled {task['file']} rows in split {split!r}")
    start = time.perf_counter()
    judged = read_verdicts(verdicts, judge, rows) if verdicts else run_judge(judge, rows, host)[0]
    seconds = time.perf_counter() - start
    labels = [label_of(r, judge.task) for r in rows]
    kw = {"weights": task["weights"], "scale": task["scale"], "resamples": resamples, "seed": seed,
          "confidence": confidence}
    report: dict[str, Any] = {
        "judge": judge.name, "task": judge.task, "description": judge.description, "split": split,
        "metric": judge.metric, "params": judge.params,
        **({"recorded": judge.recorded, "threshold": judge.threshold} if judge.recorded else {}),
        **({"llm_model": judge.llm_model} if judge.llm_question else {}),
        "unit": task["unit"], "judge_seconds": round(seconds, 2),
        "verdicts_from": str(verdicts) if verdicts else "computed now",
        **agreement(labels, judged, task["classes"], **kw),
    }
    if by_group:
        groups: dict[str, list[int]] = {}
        for i, r in enumerate(rows):
            groups.setdefault(getattr(r, task["group"]), []).append(i)
        report["per_group"] = {
            g: agreement([labels[i] for i in idx], [judged[i] for i in idx], task["classes"], **kw)
            for g, idx in sorted(groups.items())}
        report["group_by"] = task["group"]
    report["verdicts"] = {r.id: v for r, v in zip(rows, judged, strict=True)}
    return report


__all__ = ["label_of", "parse_yes_no", "read_verdicts", "references", "run_judge", "validate"]
