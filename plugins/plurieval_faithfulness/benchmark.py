"""The ``faithfulness`` benchmark (spec_version 1).

Protocol: NLI items (e-SNLI pairs with human highlights by default; ChaosNLI / VariErr items or
the shipped sample by config) in a fixed pseudo-random order (sha256 of the item id, so
``--limit N`` spreads over premises and labels) → the model predicts each item (the
``option-logits`` prediction) → the method explains that prediction (one score per word) → the
faithfulness metrics re-query the model with words removed, recording every query with the
prediction, and the plausibility metrics compare the scores with the human rationale → means
with 95 % bootstrap intervals, per gold label too. Every number can be recomputed from
results.jsonl without the model (``plurieval score METRIC results.jsonl``).

The benchmark is method-kind agnostic within explanation methods: any method whose predictions
carry ``extra.features`` / ``extra.attribution`` (or, for metrics that read other parts, what they
document in ``plurieval show``) can be evaluated on the same items.
"""

from __future__ import annotations

import html
from collections import Counter
from typing import Any

from plurieval.api import Benchmark, DataError, run_explanation_benchmark
from plurieval_faithfulness.config import ESNLIConfig
from plurieval_faithfulness.data import SAMPLE, ESNLIHighlights, chaosnli_items, spread_key


def prediction_input(kind: str, pred: dict[str, Any]) -> Any:
    if kind in ("prediction", "rationale"):
        return pred
    if kind == "scores":
        return pred.get("scores", pred.get("distribution"))
    return pred.get(kind if kind in ("distribution", "text", "label") else "distribution")


def reference_input(kind: str, target: Any) -> Any:
    if kind == "rationale":  # plausibility: only items with a human rationale
        return target if isinstance(target, dict) and target.get("rationale") is not None else None
    if kind == "label":
        return target.get("label") if isinstance(target, dict) else target
    return target


_spread = spread_key


class FaithfulnessBenchmark(Benchmark):
    def load(self, ctx: Any) -> list[Any]:
        cfg = self.config
        override = ctx.params("dataset")
        source = cfg.source or "esnli"
        if override is not None:  # --set dataset=NAME ... : any dataset of faithfulness items
            spec = ctx.components["dataset"][0]
            dataset = spec.create(override)
            examples = dataset.load(None)
            info = dataset.info(examples, None)
        elif source in ("esnli", "sample"):
            data_dir = str(SAMPLE) if source == "sample" else cfg.data_dir
            dataset = ESNLIHighlights(ESNLIConfig(data_dir=data_dir, rationale=cfg.rationale))
            examples = dataset.load()
            info = None
        else:
            examples, info = chaosnli_items("varierr" if source == "varierr" else cfg.split, cfg.data_dir)
            dataset = None
        if cfg.order == "spread":
            examples = sorted(examples, key=lambda ex: _spread(ex.id))
        if ctx.config.limit:
            examples = examples[: ctx.config.limit]
        if not examples:
            raise DataError("faithfulness: no items to evaluate")
        ctx.add_dataset(info if info is not None else dataset.info(examples, None))
        return examples

    def run(self, ctx: Any) -> dict[str, Any]:
        examples = self.load(ctx)
        body = run_explanation_benchmark(ctx, examples, prediction_input=prediction_input,
                                         reference_input=reference_input, group_by="label")
        rows = [ctx.results.get(ex.id) for ex in examples]
        body.update(prediction_summary(rows))
        body["num_examples"] = len(examples)
        body["data"] = {"source": examples[0].metadata.get("source"), "rationale": self.config.rationale}
        curves = aopc_curves(rows)
        if curves:
            body["aopc_curves"] = curves
        if self.config.report:
            path = ctx.artifact_path("artifacts/attributions.html")
            path.write_text(render_report(rows, ctx), encoding="utf-8")
            ctx.artifact_written(path, "report")
            if curves:
                plot = plot_curves(curves, ctx.artifact_path("plots/aopc.png"),
                                   f"{ctx.config.method.name if ctx.config.method else ''} · {ctx.config.model.name}")
                ctx.artifact_written(plot, "plot")
        return body


def prediction_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The model's accuracy against the gold labels, its predicted and the gold label counts, and
    the per-item wall time of the method (``extra.seconds``) when every row has it."""
    gold = [(r.get("reference") or {}).get("label") for r in rows]
    pred = [(r.get("prediction") or {}).get("label") for r in rows]
    scored = [(g, p) for g, p in zip(gold, pred, strict=True) if g]
    out: dict[str, Any] = {"model_predictions": {
        "accuracy": sum(g == p for g, p in scored) / len(scored) if scored else None,
        "predicted": dict(Counter(p for p in pred if p)),
        "gold": dict(Counter(g for g in gold if g)),
    }}
    seconds = [((r.get("prediction") or {}).get("extra") or {}).get("seconds") for r in rows]
    if rows and all(isinstance(v, int | float) for v in seconds):
        out["explanation_seconds"] = {"total": round(sum(seconds), 2), "per_item": round(sum(seconds) / len(rows), 3)}
    return out


def render_report(rows: list[dict[str, Any]], ctx: Any) -> str:
    """One block per item: words shaded by attribution (blue: for the prediction, red: against,
    scaled by the item's largest |score|), human-highlighted words underlined."""
    method = ctx.config.method.name if ctx.config.method else "?"
    parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(method)} attributions</title>",
             "<style>body{font:15px/1.6 system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
             ".w{padding:1px 3px;border-radius:3px}.h{text-decoration:underline 2px}.item{margin:1.2em 0;"
             "border-bottom:1px solid #ddd;padding-bottom:.8em}.meta{color:#555;font-size:13px}</style>",
             f"<h1>{html.escape(method)} on {html.escape(ctx.benchmark_spec.name)}</h1>",
             "<p class=meta>Blue: the word supports the model's prediction; red: it speaks against it; "
             "shade ∝ |score| / the item's largest |score|. Underlined: the human rationale.</p>"]
    for row in rows:
        pred = row.get("prediction") or {}
        extra = pred.get("extra") or {}
        scores, feats = extra.get("attribution") or [], extra.get("features") or []
        rationale = (row.get("reference") or {}).get("rationale") or [0] * len(feats)
        top = max((abs(s) for s in scores), default=0.0) or 1.0
        line, field = [], None
        for f, s, h in zip(feats, scores, rationale, strict=False):
            if f["field"] != field:
                field = f["field"]
                line.append(f"<br><b>{html.escape(field)}:</b> ")
            a = min(1.0, abs(s) / top)
            colour = f"rgba(30,90,220,{a:.2f})" if s >= 0 else f"rgba(220,40,40,{a:.2f})"
            cls = "w h" if h else "w"
            line.append(f"<span class='{cls}' style='background:{colour}' title='{s:.4g}'>{html.escape(f['word'])}</span>")
        scores_txt = ", ".join(f"{k}={v:.3f}" for k, v in (row.get("scores") or {}).items() if isinstance(v, float))
        parts.append(f"<div class=item><div class=meta>{html.escape(row['example_id'])} · predicted "
                     f"<b>{html.escape(str(pred.get('label')))}</b> · gold {html.escape(str((row.get('reference') or {}).get('label')))}"
                     f" · {html.escape(scores_txt)}</div>{' '.join(line)}</div>")
    return "\n".join(parts) + "\n"


def aopc_curves(rows: list[dict[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """Per threshold, the mean over items of p(y|x) − p(y|·) for the recorded AOPC metrics of the
    ERASER convention (fixed thresholds, so items line up; ERASER's "aopc points"), from the
    records alone."""
    out: dict[str, dict[str, list[float]]] = {}
    for name in ("aopc_comprehensiveness", "aopc_sufficiency"):
        per_item = []
        thresholds = None
        for row in rows:
            pred = row.get("prediction") or {}
            record = (pred.get("queries") or {}).get(name)
            target = ((pred.get("extra") or {}).get("target") or {}).get("index")
            if not record or record["settings"].get("convention") != "eraser" or target is None:
                continue
            thresholds = record["settings"].get("thresholds") or [0.01, 0.05, 0.1, 0.2, 0.5]
            p0 = pred["distribution"][target]
            full = "1" * len(record["masks"][0]) if record["masks"] else ""
            per_item.append([0.0 if m == full else p0 - o[target] for m, o in zip(record["masks"], record["outputs"], strict=True)])
        if per_item and thresholds and all(len(v) == len(thresholds) for v in per_item):
            out[name] = {"thresholds": [float(t) for t in thresholds],
                         "mean_difference": [sum(v[i] for v in per_item) / len(per_item) for i in range(len(thresholds))]}
    return out


def plot_curves(curves: dict[str, dict[str, list[float]]], path: Any, title: str) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    labels = {"aopc_comprehensiveness": "removed: p(y|x) − p(y|x∖r)", "aopc_sufficiency": "kept: p(y|x) − p(y|r)"}
    for name, curve in curves.items():
        ax.plot([100 * t for t in curve["thresholds"]], curve["mean_difference"], marker="o", label=labels[name])
    ax.axhline(0, color="#999", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("rationale size (% of the words, ERASER bins)")
    ax.set_ylabel("mean probability difference")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
