"""Collect unlabelled validation rows from finished runs (``plurieval judge collect``).

Reads CLaS-Bench run directories (``results.jsonl`` = steered test outputs; the unsteered ones in
``conditions/baseline.jsonl``, the core steering loop's format, or ``baseline.json`` before it), committed CLaS-Bench leaderboard entries (``*.json`` + results file) and
PolyRefuse run directories (``results.jsonl`` and ``conditions/*.jsonl``), and keeps only what a labeller may see: the question (or a
reference to the PolyRefuse prompt), the target language, the output, and where it came from.
Judge scores stored with the outputs (relevance, language_control, similarity, detected
language, substring verdicts) are dropped, so nobody labels with a score in view. The logit
refusal score is kept aside in ``recorded`` (a judge that needs the model cannot be rerun
without it) and is never shown while labelling.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from plurieval.api import DataError, PluriError, read_jsonl

from .dataset import ClasRow, PolyRow, assign_splits


def _stable_id(prefix: str, *parts: Any) -> str:
    digest = hashlib.sha256(json.dumps(parts, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()
    return f"{prefix}-{digest[:10]}"


def _manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "manifest.json"
    if not path.is_file():
        raise DataError(f"{run_dir}: no manifest.json; give a finished run directory or a leaderboard entry .json")
    return json.loads(path.read_text(encoding="utf-8"))


def _questions(manifest: dict[str, Any], host: Any) -> dict[str, str]:
    """example id (``q3.en``) → question text, from the run's own dataset config."""
    bench = (manifest.get("components", {}).get("benchmark") or {}).get("config", {})
    spec = host.get("dataset", bench.get("dataset", "clasbench-sample"))
    ds = spec.create(bench.get("dataset_params") or {})
    return {e.id: e.input for e in ds.load("all")}


def _clas_rows(results: Iterable[dict[str, Any]], baseline: Iterable[dict[str, Any]], manifest: dict[str, Any],
               questions: dict[str, str], max_new_tokens: Any) -> list[ClasRow]:
    # A re-scored run keeps the outputs of the run that generated them: their ids follow that run,
    # so a labelled output keeps its id (and split) through `plurieval judge rescore`.
    run_id = (manifest.get("rescored") or {}).get("from_run") or manifest.get("run_id")
    model = (manifest.get("model") or {}).get("id")
    rows = []
    for r in results:
        md, ref = r.get("metadata") or {}, r.get("reference") or {}
        rows.append(ClasRow(
            id=_stable_id("clas", run_id, r["example_id"]), split="calibration", output=str(r.get("prediction") or ""),
            method=md.get("method") or "unknown", target=md["target"], source_language=md.get("source", "en"),
            question=ref["question"],
            origin={"run": run_id, "example_id": r["example_id"], "layer": md.get("layer"), "alpha": md.get("alpha"),
                    "model": model, "max_new_tokens": max_new_tokens}))
    # Unsteered outputs: the same text is scored against every target; keep it once, scored
    # against the prompt's own language when that is not English (is the model fluent in it?),
    # else against one target chosen by question number (what the baseline F scores it against).
    by_prompt: dict[str, list[dict[str, Any]]] = {}
    for b in baseline:
        prompt_id, _, target = b["example_id"].partition("->")
        by_prompt.setdefault(prompt_id, []).append({**b, "target": target})
    for prompt_id, group in sorted(by_prompt.items()):
        source = prompt_id.rsplit(".", 1)[-1]
        targets = sorted(g["target"] for g in group)
        qid = int(prompt_id[1:].split(".", 1)[0]) if prompt_id[1:].split(".", 1)[0].isdigit() else 0
        target = source if source != "en" else targets[qid % len(targets)]
        rows.append(ClasRow(
            id=_stable_id("clas", "unsteered", model, prompt_id, group[0].get("prediction")), split="calibration",
            output=str(group[0].get("prediction") or ""), method="unsteered", target=target, source_language=source,
            question=questions[prompt_id],
            origin={"run": run_id, "example_id": f"{prompt_id}->{target}", "model": model,
                    "max_new_tokens": max_new_tokens}))
    return rows


def _baseline(run_dir: Path) -> list[dict[str, Any]]:
    """The unsteered answers of a CLaS-Bench run: the steering loop's ``conditions/baseline.jsonl``,
    else the earlier ``baseline.json`` (both give ``example_id`` ``q3.en->de`` and ``prediction``)."""
    condition = run_dir / "conditions" / "baseline.jsonl"
    if condition.is_file():
        return read_jsonl(condition, allow_empty=True)
    path = run_dir / "baseline.json"
    return json.loads(path.read_text(encoding="utf-8"))["outputs"] if path.is_file() else []


def _polyrefuse_rows(run_dir: Path) -> list[dict[str, Any]]:
    """Every completion of a PolyRefuse run: the headline ``results.jsonl`` and, in the steering
    loop's format, the other conditions (``conditions/*.jsonl``: baseline, harmless, induce)."""
    rows = read_jsonl(run_dir / "results.jsonl")
    folder = run_dir / "conditions"
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        rows += read_jsonl(path, allow_empty=True)
    return rows


def collect_clasbench(paths: Iterable[str | Path], host: Any) -> list[ClasRow]:
    """Rows from CLaS-Bench run directories and/or leaderboard entry files (split not yet set)."""
    out: dict[str, ClasRow] = {}
    for p in paths:
        p = Path(p)
        if p.is_file() and p.suffix == ".json":  # a leaderboard entry: manifest inside, results beside it
            entry = json.loads(p.read_text(encoding="utf-8"))
            manifest = entry["manifest"]
            results_name = (entry.get("results") or {}).get("file")
            if not results_name:
                raise DataError(f"{p}: entry names no results file")
            results = read_jsonl(p.parent / results_name)
            baseline: list[dict[str, Any]] = []
        elif p.is_dir():
            manifest = _manifest(p)
            results = read_jsonl(p / "results.jsonl")
            baseline = _baseline(p)
        else:
            raise DataError(f"{p}: neither a run directory nor a leaderboard entry .json")
        if manifest.get("config", {}).get("benchmark", {}).get("name") != "clasbench":
            raise PluriError(f"{p}: not a clasbench run")
        bench = (manifest.get("components", {}).get("benchmark") or {}).get("config", {})
        for row in _clas_rows(results, baseline, manifest, _questions(manifest, host), bench.get("max_new_tokens")):
            # the same unsteered text from several runs of one model is one row
            out.setdefault(row.id, row)
    return list(out.values())


def collect_polyrefuse(paths: Iterable[str | Path]) -> list[PolyRow]:
    """Rows from PolyRefuse run directories (split not yet set)."""
    out: dict[str, PolyRow] = {}
    for p in paths:
        p = Path(p)
        manifest = _manifest(p)
        if manifest.get("config", {}).get("benchmark", {}).get("name") != "polyrefuse":
            raise PluriError(f"{p}: not a polyrefuse run")
        run_id = manifest.get("run_id")
        model = (manifest.get("model") or {}).get("id")
        max_new = ((manifest.get("components", {}).get("benchmark") or {}).get("config", {})).get("max_new_tokens")
        for r in _polyrefuse_rows(p):
            md = r.get("metadata") or {}
            lang, split, kind, index = r["example_id"].rsplit("-", 3)
            row = PolyRow(
                id=_stable_id("poly", run_id, r["key"]), split="calibration", output=str(r.get("prediction") or ""),
                condition=md["condition"], kind=kind, language=md["language"],
                direction_language=md.get("direction_language"),
                prompt_ref={"dataset": "polyrefuse", "file": f"{kind}_{split}_translated_{lang}.json", "index": int(index)},
                recorded={"refusal_score": float(r["scores"]["refusal_score"])},
                origin={"run": run_id, "key": r["key"], "model": model, "max_new_tokens": max_new})
            out.setdefault(row.id, row)
    return list(out.values())


def split_rows(rows: list[Any], *, seed: int, heldout: float = 0.5) -> list[Any]:
    """Assign calibration / held-out, stratified by method × target (CLaS) or condition ×
    language (PolyRefuse)."""
    strata = [f"{r.method}|{r.target}" if r.task == "clasbench" else f"{r.condition}|{r.language}" for r in rows]
    splits = assign_splits([r.id for r in rows], strata, seed=seed, heldout=heldout)
    return sorted((r.model_copy(update={"split": splits[r.id]}) for r in rows), key=lambda r: r.id)


__all__ = ["collect_clasbench", "collect_polyrefuse", "split_rows"]
