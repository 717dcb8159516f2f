"""Re-score a CLaS-Bench run with the current default judges (``plurieval judge rescore``).

The outputs are kept as generated; language control F and relevance J are recomputed per
example by the registered ``language_control`` and ``relevance`` metrics with their current
defaults, the steering score from those, and ``degenerate_rate`` is added. Both results formats
are read: the core steering loop's (``results.jsonl`` and ``conditions/<name>.jsonl``, every row
with its reference, details and checksum; rows are written back the same way) and the earlier
one (``baseline.json`` outputs), as well as leaderboard entries. The result is a run directory (``manifest.json``
with the judges' configs and a ``rescored`` record, ``results.jsonl``, ``baseline.json``,
``summary.json``) that ``plurieval leaderboard submit`` turns into an entry, so a board's entries
can move to new judges without generating again.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from plurieval.api import DataError, MetricContext, PluriError, Resources, encode_record, read_jsonl, with_ci

from .collect import _manifest, _questions

JUDGED = ("language_control", "relevance", "steering_score")
# Re-scored with the judges; degenerate_rate (a default metric since the detector exists) is added.
RESCORED = (*JUDGED, "degenerate_rate")


class _Run:
    """A CLaS-Bench run to re-score, in either results format: the steering loop's
    (``results.jsonl`` + ``conditions/<name>.jsonl``, each row with its reference, checksums),
    the earlier one (``results.jsonl`` + ``baseline.json`` outputs without references), or a
    leaderboard entry (its manifest and results file)."""

    def __init__(self, source: Path):
        self.conditions: dict[str, list[dict[str, Any]]] = {}
        self.baseline_outputs: list[dict[str, Any]] | None = None
        if source.is_file() and source.suffix == ".json":
            entry = json.loads(source.read_text(encoding="utf-8"))
            results = (entry.get("results") or {}).get("file")
            if not results:
                raise DataError(f"{source}: entry names no results file")
            self.manifest = entry["manifest"]
            self.summary = {"benchmark": entry.get("benchmark"), "spec_version": entry.get("spec_version"),
                            "method": (entry.get("method") or {}).get("name"),
                            "model": (entry.get("model") or {}).get("id")}
            self.rows = read_jsonl(source.parent / results)
        elif source.is_dir():
            self.manifest = _manifest(source)
            summary_path = source / "summary.json"
            self.summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
            self.rows = read_jsonl(source / "results.jsonl")
            folder = source / "conditions"
            if folder.is_dir():
                self.conditions = {p.stem: read_jsonl(p, allow_empty=True) for p in sorted(folder.glob("*.jsonl"))}
            base_path = source / "baseline.json"
            if base_path.is_file():
                self.baseline_outputs = json.loads(base_path.read_text(encoding="utf-8"))["outputs"]
        else:
            raise DataError(f"{source}: neither a run directory nor a leaderboard entry .json")

    def baseline_rows(self, host: Any) -> list[dict[str, Any]] | None:
        """The unsteered answers with their references: the steering loop's baseline condition,
        else the earlier ``baseline.json`` (references rebuilt from the run's own dataset)."""
        if "baseline" in self.conditions:
            return self.conditions["baseline"]
        if self.baseline_outputs is None:
            return None
        questions = _questions(self.manifest, host)
        return [{**b, "reference": {"language": b["example_id"].split("->")[-1],
                                    "question": questions[b["example_id"].split("->")[0]]}}
                for b in self.baseline_outputs]


def _fjs(metrics: dict[str, Any], f: list[float], j: list[int]) -> dict[str, Any]:
    pairs = [{"f": int(a), "j": int(b)} for a, b in zip(f, j, strict=True)]
    return {"language_control": metrics["language_control"].aggregate(f), "relevance": metrics["relevance"].aggregate(j),
            "steering_score": metrics["steering_score"].aggregate(pairs), "n": len(f)}


def _rescore_rows(rows: list[dict[str, Any]], metrics: dict[str, Any], ctx: Any) -> list[dict[str, Any]]:
    """Each row with its judged scores (and their details) recomputed from its prediction and
    reference; every other field as it was."""
    if not rows:
        return []
    preds = [str(r.get("prediction") or "") for r in rows]
    refs = [r["reference"] for r in rows]
    outs = {n: metrics[n].score(preds, refs, ctx) for n in ("language_control", "relevance", "degenerate_rate")}
    new = []
    for i, r in enumerate(rows):
        f, j = outs["language_control"].values[i], outs["relevance"].values[i]
        scores = {**r.get("scores", {}), "language_control": f, "relevance": j,
                  "steering_score": {"f": int(f), "j": int(j)}, "degenerate_rate": outs["degenerate_rate"].values[i]}
        details = {k: v for k, v in (r.get("details") or {}).items() if k not in RESCORED}
        details.update({n: o.details[i] for n, o in outs.items() if o.details[i]})
        row = {k: v for k, v in r.items() if k not in ("scores", "details", "checksum")}
        new.append({**row, "scores": scores, **({"details": details} if details else {})})
    return new


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(encode_record(r))  # with its checksum, as the run loop writes it


def rescore_clasbench(source: str | Path, output: str | Path, host: Any) -> dict[str, Any]:
    """Write the re-scored run to ``output``; returns ``{target: {"before": fjs, "after": fjs}}``
    plus ``"all"``."""
    source, output = Path(source), Path(output)
    run = _Run(source)
    manifest, summary, rows = run.manifest, run.summary, run.rows
    if (manifest.get("config") or {}).get("benchmark", {}).get("name") != "clasbench":
        raise PluriError(f"{source}: not a clasbench run")
    if output.exists() and any(output.iterdir()):
        raise PluriError(f"{output} exists and is not empty; give a new directory")
    specs = {n: host.get("metric", n) for n in RESCORED}
    metrics = {n: s.create({}) for n, s in specs.items()}
    ctx = MetricContext(resources=Resources(host))

    new_rows = _rescore_rows(rows, metrics, ctx)
    f = [r["scores"]["language_control"] for r in new_rows]
    j = [r["scores"]["relevance"] for r in new_rows]
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
    pooled = [r["scores"]["steering_score"] for r in new_rows]
    before_all = _fjs(metrics, [r["scores"]["language_control"] for r in rows], [r["scores"]["relevance"] for r in rows])
    overall = _fjs(metrics, f, j)
    changes["all"] = {"before": before_all, "after": overall}
    steer = metrics["steering_score"]
    degenerate = [r["scores"]["degenerate_rate"] for r in new_rows]
    new_summary = {
        **summary,
        "metrics": {
            **(summary.get("metrics") or {}),
            "language_control": overall["language_control"], "relevance": overall["relevance"],
            "steering_score": with_ci(pooled, steer.aggregate) if len(pooled) > 1 else overall["steering_score"],
            "macro_steering_score": (sum(v["after"]["steering_score"] for k, v in changes.items() if k != "all")
                                     / max(1, len(targets))),
            "degenerate_rate": metrics["degenerate_rate"].aggregate(degenerate),
        },
        "per_language": per_language,
        "relevance_judge": {"metric": "relevance", "config": metrics["relevance"].config.model_dump(mode="json")},
        "language_identifier": metrics["language_control"].config.model_dump(mode="json"),
    }
    if "metrics_ci" in summary or len(new_rows) > 1:  # the intervals too: the loop's were of the old scores
        values = {"language_control": f, "relevance": j, "steering_score": pooled, "degenerate_rate": degenerate}
        new_summary["metrics_ci"] = {**(summary.get("metrics_ci") or {}),
                                     **{n: with_ci(v, metrics[n].aggregate) for n, v in values.items()}}
    output.mkdir(parents=True, exist_ok=True)
    base_rows = run.baseline_rows(host)
    for name, cond_rows in run.conditions.items():  # every condition file, re-scored the same way
        _write_rows(output / "conditions" / f"{name}.jsonl", _rescore_rows(cond_rows, metrics, ctx))
    if base_rows is not None:
        new_base = _rescore_rows(base_rows, metrics, ctx)
        bf = [r["scores"]["language_control"] for r in new_base]
        bj = [r["scores"]["relevance"] for r in new_base]
        b_langs = [r["reference"]["language"] for r in new_base]
        if run.baseline_outputs is not None:  # the summary file of the unsteered answers, same layout
            outputs = [{"example_id": r["example_id"], "prediction": r.get("prediction"),
                        "scores": {"f": int(a), "j": int(c)}} for r, a, c in zip(new_base, bf, bj, strict=True)]
            (output / "baseline.json").write_text(json.dumps({"outputs": outputs}, indent=1, ensure_ascii=False)
                                                  + "\n", encoding="utf-8")
        base_summary = dict(summary.get("baseline") or {})
        base_summary["metrics"] = _fjs(metrics, bf, bj)
        base_summary["per_language"] = {
            t: _fjs(metrics, [a for a, lang in zip(bf, b_langs, strict=True) if lang == t],
                    [c for c, lang in zip(bj, b_langs, strict=True) if lang == t])
            for t in sorted(set(b_langs))}
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
        "note": "outputs unchanged; language_control and relevance re-scored with the current default judges, "
                "degenerate_rate added",
    }
    _write_rows(output / "results.jsonl", new_rows)
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
