"""``plurieval quantization-study``: does quantising the model under evaluation change how well and
how faithfully it explains itself?

One command runs the ``self-explanation`` benchmark for every method and condition on the same
items (the first N in the benchmark's order) — the embedded default model in float32 (the
reference), bfloat16 (``dtype``) and dynamic int8 (``quantization``), the model options of
``plurieval show default`` — and compares each condition with float32 on the same items: task
accuracy, NLE quality (chrF and embedding cosine to the human explanations), counterfactual
quality (validity, minimality), fluency and every faithfulness score, as the metric's own
aggregate per condition and the paired bootstrap interval of (condition − float32) over the
items (the same resampled items for both; ``bootstrap_ci`` of ``plurieval.api``). The simulator
and the fluency reference stay the float32 default model in every condition: only the model
that answers and explains changes.

Runs are ordinary runs (``OUTPUT/runs``): an interrupted study resumes, a finished one is reused,
and the float32 runs can be submitted to the board. Writes ``study.json``, ``study.md`` (the
table) and ``study.png`` (the differences with their intervals) in OUTPUT.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

CONDITIONS: dict[str, dict[str, str]] = {
    "float32": {"dtype": "float32"},
    "bfloat16": {"dtype": "bfloat16"},
    "int8": {"dtype": "float32", "quantization": "int8"},
    "int4": {"dtype": "float32", "quantization": "int4"},  # extra 'int4' (torchao); not run by default
}
DEFAULT_CONDITIONS = ("float32", "bfloat16", "int8")
REFERENCE = "float32"
METHODS = ("nle-post-hoc", "cot", "counterfactual-edit")
ACCURACY = "task_accuracy"


def run_condition(method: str, condition: str, limit: int, output: Path, data_dir: str | None,
                  overrides: Sequence[str], model: str = "default", metrics: list[dict] | None = None,
                  method_params: dict | None = None) -> Path:
    from plurieval.api import apply_overrides, build_run_config, execute, get_host

    params = {"report": False, **({"data_dir": data_dir} if data_dir else {})}
    raw = {"benchmark": {"name": "self-explanation", "params": params},
           "model": {"name": model, "params": dict(CONDITIONS[condition])},
           "method": {"name": method, "params": dict(method_params or {})},
           "limit": limit, "output_dir": str(output / "runs"), "tracking": {"enabled": False}}
    if metrics is not None:
        raw["metrics"] = metrics
    config = build_run_config(apply_overrides(raw, list(overrides)) if overrides else raw)
    return execute(config, get_host()).run_dir


def per_example(rows: list[dict[str, Any]], name: str) -> list[Any]:
    if name == ACCURACY:
        out = []
        for r in rows:
            gold = (r.get("reference") or {}).get("label")
            out.append(None if gold is None else float((r.get("prediction") or {}).get("label") == gold))
        return out
    return [(r.get("scores") or {}).get(name) for r in rows]


def _finite(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else None


def compare(runs: dict[str, dict[str, Path]], resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Per method and metric: each condition's aggregate and (condition − float32) with its paired
    bootstrap interval over the items both runs share."""
    from plurieval.api import bootstrap_ci, get_host, read_jsonl

    host = get_host()
    out: dict[str, Any] = {}
    for method, by_cond in runs.items():
        rows = {c: {r["example_id"]: r for r in read_jsonl(d / "results.jsonl")} for c, d in by_cond.items()}
        ids = sorted(set.intersection(*(set(v) for v in rows.values())))
        names = [ACCURACY] + sorted({k for r in rows[REFERENCE].values() for k in (r.get("scores") or {})})
        table: dict[str, Any] = {}
        for name in names:
            if name == ACCURACY:
                def agg(values):
                    vals = [v for v in values if v is not None]
                    return sum(vals) / len(vals) if vals else float("nan")
                higher = True
            else:
                base = name.split("#")[0]
                spec = host.get("metric", base)
                agg, higher = spec.create({}).aggregate, spec.higher_is_better
            ref = per_example([rows[REFERENCE][i] for i in ids], name)
            entry: dict[str, Any] = {"higher_is_better": higher, REFERENCE: _finite(agg(ref))}
            for cond in by_cond:
                if cond == REFERENCE:
                    continue
                vals = per_example([rows[cond][i] for i in ids], name)
                pairs = list(zip(vals, ref, strict=True))

                def diff(sample, agg=agg):
                    a, b = agg([p[0] for p in sample]), agg([p[1] for p in sample])
                    return a - b

                low, high = bootstrap_ci(pairs, diff, resamples=resamples, seed=seed)
                value = _finite(agg(vals))
                delta = None if value is None or entry[REFERENCE] is None else value - entry[REFERENCE]
                entry[cond] = value
                entry[f"{cond}_minus_{REFERENCE}"] = {"difference": delta, "ci_low": _finite(low),
                                                      "ci_high": _finite(high)}
            if any(entry.get(c) is not None for c in by_cond):
                table[name] = entry
        out[method] = {"items": len(ids), "metrics": table,
                       "runs": {c: str(d) for c, d in by_cond.items()}}
    return out


def _fmt(v: Any) -> str:
    return "—" if v is None else f"{v:.3f}"


def markdown(result: dict[str, Any], conditions: Sequence[str]) -> str:
    others = [c for c in conditions if c != REFERENCE]
    head = ("| method | metric | better | " + " | ".join(conditions) + " | "
            + " | ".join(f"{c} − {REFERENCE} [95 % CI]" for c in others) + " |")
    lines = [head, "|" + "---|" * (3 + len(conditions) + len(others))]
    for method, block in result.items():
        for name, e in block["metrics"].items():
            cells = [_fmt(e.get(c)) for c in conditions]
            for c in others:
                d = e.get(f"{c}_minus_{REFERENCE}") or {}
                cells.append(f"{_fmt(d.get('difference'))} [{_fmt(d.get('ci_low'))}, {_fmt(d.get('ci_high'))}]")
            lines.append(f"| {method} | `{name}` | {'higher' if e['higher_is_better'] else 'lower'} | "
                         + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], conditions: Sequence[str], path: Path) -> Path:
    """One panel per method: each metric's (condition − float32) with its interval, scaled by the
    float32 value's magnitude where it is not 0 so metrics of different ranges share an axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    others = [c for c in conditions if c != REFERENCE]
    methods = list(result)
    fig, axes = plt.subplots(1, len(methods), figsize=(5.2 * len(methods), 0.42 * max(
        len(b["metrics"]) for b in result.values()) + 1.6), squeeze=False)
    for ax, method in zip(axes[0], methods, strict=True):
        names = list(result[method]["metrics"])
        for k, cond in enumerate(others):
            ys, xs, lo, hi = [], [], [], []
            for j, name in enumerate(names):
                e = result[method]["metrics"][name]
                d = e.get(f"{cond}_minus_{REFERENCE}") or {}
                if d.get("difference") is None:
                    continue
                scale = abs(e[REFERENCE]) if e.get(REFERENCE) else 1.0
                ys.append(j + 0.18 * (k - (len(others) - 1) / 2))
                xs.append(d["difference"] / scale)
                lo.append((d["difference"] - (d["ci_low"] if d["ci_low"] is not None else d["difference"])) / scale)
                hi.append(((d["ci_high"] if d["ci_high"] is not None else d["difference"]) - d["difference"]) / scale)
            ax.errorbar(xs, ys, xerr=[lo, hi], fmt="o", capsize=3, label=f"{cond} − {REFERENCE}")
        ax.axvline(0, color="#888", lw=1)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(f"{method} ({result[method]['items']} items)", fontsize=10)
        ax.set_xlabel(f"difference / |{REFERENCE} value| (95 % paired bootstrap CI)", fontsize=8)
    # One legend above the panels: inside a panel it covers the lowest metrics' intervals.
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(others), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def register(cli: Any) -> None:
    @cli.command("quantization-study")
    def quantization_study(
        limit: Annotated[int, typer.Option(help="items (the first N in the benchmark's order)")] = 4,
        methods: Annotated[str, typer.Option(help="comma-separated self-explanation methods")] = ",".join(METHODS),
        conditions: Annotated[str, typer.Option(help=f"comma-separated, from {', '.join(CONDITIONS)}; "
                                                     f"{REFERENCE} is always run; int4 needs the extra 'int4'")] = ",".join(
                                                     DEFAULT_CONDITIONS),
        output: Annotated[Path, typer.Option(help="folder for the runs and study.json/.md/.png")] = Path(
            "runs/quantization-study"),
        data_dir: Annotated[str | None, typer.Option(help="shared data root (default: $PLURIEVAL_DATA_DIR, else "
                                                          "the shipped sample)")] = None,
        set_: Annotated[list[str] | None, typer.Option("--set", help="override for every run (key=value)")] = None,
        resamples: Annotated[int, typer.Option(help="bootstrap resamples")] = 1000,
        model: Annotated[str, typer.Option(help="the model under study (its spec must take dtype and "
                                                "quantization, as 'default' and 'hf:PATH' do)")] = "default",
    ) -> None:
        """Quantisation study: the embedded default model in float32, bfloat16 and int8 on the same
        items, every self-explanation method; task accuracy, NLE and counterfactual quality and every
        faithfulness score with paired bootstrap CIs against float32.

        Example: PLURIEVAL_DATA_DIR=../shared/data plurieval quantization-study --limit 4
        """
        from rich.console import Console

        err = Console(stderr=True)
        conds = [c.strip() for c in conditions.split(",") if c.strip()]
        bad = [c for c in conds if c not in CONDITIONS]
        if bad:
            raise typer.BadParameter(f"unknown condition {bad[0]!r}; choose from {', '.join(CONDITIONS)}")
        conds = [REFERENCE] + [c for c in conds if c != REFERENCE]
        names = [m.strip() for m in methods.split(",") if m.strip()]
        unknown = [m for m in names if m not in METHODS]
        if unknown:
            raise typer.BadParameter(f"unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}")
        runs: dict[str, dict[str, Path]] = {}
        total, done = len(names) * len(conds), 0
        for cond in conds:  # float32 first: its runs are the reference (and the board's entries)
            for method in names:
                done += 1
                err.print(f"[{done}/{total}] {method} · {cond}", highlight=False)
                runs.setdefault(method, {})[cond] = run_condition(method, cond, limit, output, data_dir, set_ or [],
                                                                   model)
        result = compare(runs, resamples=resamples)
        output.mkdir(parents=True, exist_ok=True)
        (output / "study.json").write_text(json.dumps({"model": model, "conditions": {c: CONDITIONS[c] for c in conds},
                                                       "limit": limit, "results": result}, indent=1))
        table = markdown(result, conds)
        (output / "study.md").write_text(table)
        plot(result, conds, output / "study.png")
        print(table, end="")
        err.print(f"wrote {output / 'study.json'}, study.md, study.png", highlight=False)
