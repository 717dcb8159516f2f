"""Re-score a CLaS-Bench run with the current default judges (``plurieval judge rescore``).

The outputs are kept as generated; language control F and relevance J are recomputed per
example by the registered ``language_control`` and ``relevance`` metrics with their current
defaults, and the steering score from those. The result is a run directory (``manifest.json``
with the judges' configs and a ``rescored`` record, ``results.jsonl``, ``baseline.json``,
``summary.json``) that ``plurieval leaderboard submit`` turns into an entry, so a board's entries
can move to new judges without generating again.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from plurieval.api import DataError, MetricContext, PluriError, Resources, read_jsonl, with_ci

from .collect import _manifest, _questions


def _load(source: Path) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]], list[dict[str, Any]] | None]:
    if source.is_file() and source.suffix == ".json":
        entry = json.loads(source.read_text(encoding="utf-8"))
        results = (entry.get("results") or {}).get("file")
        if not results:
            raise DataError(f"{source}: entry names no results file")
        summary = {"benchmark": entry.get("benchmark"), "spec_version": entry.get("spec_version"),
                   "method": (entry.get("method") or {}).get("name"), "model": (entry.get("model") or {}).get("id")}
        return entry["manifest"], summary, read_jsonl(source.parent / results), None
    if source.is_dir():
        summary_path = source / "summary.json"
        summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
        base_path = source / "baseline.json"
        baseline = json.loads(base_path.read_text(encoding="utf-8"))["outputs"] if base_path.is_file() else None
        return _manifest(source), summary, read_jsonl(source / "results.jsonl"), baseline
    raise DataError(f"{source}: neither a run directory nor a leaderboard entry .json")


def _fjs(metrics: dict[str, Any], f: list[float], j: list[int]) -> dict[str, Any]:
    pairs = [{"f": int(a), "j": int(b)} for a, b in zip(f, j, strict=True)]
    return {"language_control": metrics["language_control"].aggregate(f), "relevance": metrics["relevance"].aggregate(j),
            "steering_score": metrics["steering_score"].aggregate(pairs), "n": len(f)}


def rescore_clasbench(source: str | Path, output: str | Path, host: Any) -> dict[str, Any]:
    """Write the re-scored run to ``output``; returns ``{target: {"before": fjs, "after": fjs}}``
    plus ``"all"``."""
    source, output = Path(source), Path(output)
    manifest, summary, rows, baseline = _load(source)
    if (manifest.get("config") or {}).get("benchmark", {}).get("name") != "clasbench":
        raise PluriError(f"{source}: not a clasbench run")
    if output.exists() and any(output.iterdir()):
        raise PluriError(f"{output} exists and is not empty; give a new directory")
    specs = {n: host.get("metric", n) for n in ("language_control", "relevance", "steering_score")}
    metrics = {n: s.create({}) for n, s in specs.items()}
    ctx = MetricContext(resources=Resources(host))

    def score(preds: list[str], refs: list[dict[str, Any]]) -> tuple[list[float], list[int]]:
        return (metrics["language_control"].score_examples(preds, refs, ctx),
                metrics["relevance"].score_examples(preds, refs, ctx))

    preds = [str(r.get("prediction") or "") for r in rows]
    refs = [r["reference"] for r in rows]
    f, j = score(preds, refs)
    new_rows = []
    for r, a, b in zip(rows, f, j, strict=True):
        new_rows.append({**r, "scores": {**r.get("scores", {}), "language_control": a, "relevance": b,
                                          "steering_score": {"f": int(a), "j": int(b)}}})
    changes: dict[str, Any] = {}
    targets = sorted({r["reference"]["language"] for r in rows})
    per_language = dict(summary.get("per_language") or {})
    for t in targets:
        idx = [i for i, r in enumerate(rows) if r["reference"]["language"] == t]
        before = _fjs(metrics, [rows[i]["scores"]["language_control"] for i in idx],
                      [rows[i]["scores"]["relevance"] for i in idx])
        after = _fjs(metrics, [f[i] for i in idx], [j[i] for i in idx])
        changes[t] = {"before": before, "after": after}
        per_language[t] = {**per_language.get(t, {}), **after}
    pooled = [{"f": int(a), "j": int(b)} for a, b in zip(f, j, strict=True)]
    before_all = _fjs(metrics, [r["scores"]["language_control"] for r in rows], [r["scores"]["relevance"] for r in rows])
    overall = _fjs(metrics, f, j)
    changes["all"] = {"before": before_all, "after": overall}
    steer = metrics["steering_score"]
    new_summary = {
        **summary,
        "metrics": {
            "language_control": overall["language_control"], "relevance": overall["relevance"],
            "steering_score": with_ci(pooled, steer.aggregate) if len(pooled) > 1 else overall["steering_score"],
            "macro_steering_score": (sum(v["after"]["steering_score"] for k, v in changes.items() if k != "all")
                                     / max(1, len(targets))),
        },
        "per_language": per_language,
        "relevance_judge": {"metric": "relevance", "config": metrics["relevance"].config.model_dump(mode="json")},
        "language_identifier": metrics["language_control"].config.model_dump(mode="json"),
    }
    output.mkdir(parents=True, exist_ok=True)
    if baseline is not None:
        questions = _questions(manifest, host)
        b_preds = [str(b.get("prediction") or "") for b in baseline]
        b_refs = [{"language": b["example_id"].split("->")[-1], "question": questions[b["example_id"].split("->")[0]]}
                  for b in baseline]
        bf, bj = score(b_preds, b_refs)
        new_base = [{**b, "scores": {"f": int(a), "j": int(c)}} for b, a, c in zip(baseline, bf, bj, strict=True)]
        (output / "baseline.json").write_text(json.dumps({"outputs": new_base}, indent=1, ensure_ascii=False) + "\n",
                                              encoding="utf-8")
        base_summary = dict(summary.get("baseline") or {})
        base_summary["metrics"] = _fjs(metrics, bf, bj)
        base_summary["per_language"] = {
            t: _fjs(metrics, [a for a, r in zip(bf, b_refs, strict=True) if r["language"] == t],
                    [c for c, r in zip(bj, b_refs, strict=True) if r["language"] == t])
            for t in sorted({r["language"] for r in b_refs})}
        new_summary["baseline"] = base_summary
        for t, v in new_summary["per_language"].items():
            if isinstance(v, dict) and t in base_summary["per_language"]:
                v["baseline"] = base_summary["per_language"][t]
    new_manifest = json.loads(json.dumps(manifest))
    bench_cfg = new_manifest.setdefault("components", {}).setdefault("benchmark", {}).setdefault("config", {})
    bench_cfg["relevance"] = metrics["relevance"].config.model_dump(mode="json")
    bench_cfg["language_control"] = metrics["language_control"].config.model_dump(mode="json")
    new_manifest["status"] = "complete"
    new_manifest["run_id"] = f"{manifest.get('run_id', 'run')}-rescored"
    new_manifest["rescored"] = {
        "from_run": manifest.get("run_id"), "source": str(source), "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "judges": {n: {"version": s.version, "config": metrics[n].config.model_dump(mode="json")}
                   for n, s in specs.items() if n != "steering_score"},
        "note": "outputs unchanged; language_control and relevance re-scored with the current default judges",
    }
    with open(output / "results.jsonl", "w", encoding="utf-8") as fh:
        for r in new_rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    (output / "summary.json").write_text(json.dumps(new_summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (output / "manifest.json").write_text(json.dumps(new_manifest, indent=2, ensure_ascii=False) + "\n",
                                          encoding="utf-8")
    return changes


def print_changes(changes: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_edge=False, title="before → after re-scoring (F, J, S in %)", title_justify="left")
    for col in ("target", "n", "F", "J", "S"):
        table.add_column(col, justify="right" if col != "target" else "left")
    for t, v in changes.items():
        b, a = v["before"], v["after"]
        table.add_row(t, str(a["n"]), *[f"{b[k]:.1f} → {a[k]:.1f}" for k in ("language_control", "relevance",
                                                                             "steering_score")])
    Console().print(table)


__all__ = ["print_changes", "rescore_clasbench"]
