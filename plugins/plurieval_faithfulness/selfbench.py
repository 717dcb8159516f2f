"""The ``self-explanation`` benchmark (spec_version 1): the ``faithfulness`` benchmark's items,
explained by the model itself.

Protocol: the same NLI items in the same fixed pseudo-random order as ``faithfulness`` (e-SNLI
pairs by default, with the annotators' explanations of each pair as references) → the method
answers and explains (``nle-post-hoc``, ``cot``, ``counterfactual-edit``) → every test re-asks the
model through the method and records its queries with the prediction (counterfactual test,
CC-SHAP, the Lanham tests, biasing feature, simulatability, counterfactual validity, fluency), and
the pure metrics score the rest (counterfactual minimality; NLE similarity to the human
explanations with the existing text metrics chrF and embedding cosine) → means with 95 %
bootstrap intervals, per gold label too. A test that does not apply to a method (the Lanham tests
to a method without reasoning, counterfactual validity to one without a counterfactual) is
undefined for its predictions, so one table holds every method.

The summary adds the model's accuracy, the parts of LAS (leakage subgroups and their gains), the
counterfactual test under both conventions, and every CC-SHAP measure, all from the records.
"""

from __future__ import annotations

import html
from typing import Any

from plurieval.api import DataError, get_host, run_explanation_benchmark
from plurieval_faithfulness.benchmark import FaithfulnessBenchmark, _spread, prediction_input, prediction_summary
from plurieval_faithfulness.config import ESNLIConfig
from plurieval_faithfulness.data import SAMPLE, ESNLIHighlights

TEXT_REFERENCE = "references"


def reference_input(kind: str, target: Any) -> Any:
    if kind == "text":  # NLE similarity: only items with human explanations
        refs = target.get(TEXT_REFERENCE) if isinstance(target, dict) else None
        return {TEXT_REFERENCE: refs} if refs else None
    if kind == "label":
        return target.get("label") if isinstance(target, dict) else target
    return target


class ESNLIExplanations(ESNLIHighlights):
    """The faithfulness benchmark's e-SNLI pairs with their human explanations: ``target.references``
    holds the explanations written for the pair's gold label (LiTEx e-SNLI rows; all of the pair's
    when none has its label), so NLE similarity is scored against what the data says and a
    leaderboard validator re-derives every reference with this loader. Returned in the benchmarks'
    fixed pseudo-random order (sha256 of the item id), so the first N are what ``--limit N`` runs."""

    def load(self, split: str | None = None) -> list[Any]:
        examples = super().load(split)
        rows = get_host().get("dataset", "litex").create({"data_dir": str(self.folder), "sources": ["esnli"]}).load()
        by_pair: dict[str, list[tuple[str | None, str]]] = {}
        for row in rows:
            by_pair.setdefault(str(row.metadata.get("pair_id")), []).append((row.input.get("label"),
                                                                              row.input["explanation"]))
        for ex in examples:
            found = by_pair.get(str(ex.metadata.get("pair_id")), [])
            label = (ex.target or {}).get("label")
            refs = [e for lab, e in found if lab == label] or [e for _, e in found]
            ex.target = {**ex.target, TEXT_REFERENCE: list(dict.fromkeys(refs))}
        self.file_order = {ex.id: i for i, ex in enumerate(examples)}
        return sorted(examples, key=lambda ex: _spread(ex.id))

    def info(self, examples, split):
        base = super().info(examples, split)
        base.id += "-explanations"
        return base


class SelfExplanationBenchmark(FaithfulnessBenchmark):
    def load(self, ctx: Any) -> list[Any]:
        cfg = self.config
        source = cfg.source or "esnli"
        if ctx.params("dataset") is not None or source not in ("esnli", "sample"):
            return super().load(ctx)
        dataset = ESNLIExplanations(ESNLIConfig(data_dir=str(SAMPLE) if source == "sample" else cfg.data_dir,
                                                rationale=cfg.rationale))
        examples = dataset.load()
        if cfg.order == "file":
            examples = sorted(examples, key=lambda ex: dataset.file_order[ex.id])
        examples = examples[: ctx.config.limit] if ctx.config.limit else examples
        if not examples:
            raise DataError("self-explanation: no items to evaluate")
        ctx.add_dataset(dataset.info(examples, None))
        return examples

    def run(self, ctx: Any) -> dict[str, Any]:
        examples = self.load(ctx)
        source = self.config.source or "esnli"
        body = run_explanation_benchmark(ctx, examples, prediction_input=prediction_input,
                                         reference_input=reference_input, group_by="label")
        rows = [ctx.results.get(ex.id) for ex in examples]
        body.update(prediction_summary(rows))
        body["num_examples"] = len(examples)
        body["data"] = {"source": examples[0].metadata.get("source"), "references": "human explanations of the "
                        "pair's label (LiTEx e-SNLI rows)" if source in ("esnli", "sample") else None}
        body.update(record_summaries(rows, ctx))
        if self.config.report:
            path = ctx.artifact_path("artifacts/self_explanations.html")
            path.write_text(render_report(rows, ctx), encoding="utf-8")
            ctx.artifact_written(path, "report")
        return body


def _rescored(rows: list[dict[str, Any]], name: str, params: dict[str, Any]) -> list[Any]:
    """Per-row values of a recorded test under other (scoring-only) params, from the records."""
    metric = get_host().get("metric", name).create(params)
    out = []
    for row in rows:
        pred = row.get("prediction") or {}
        record = metric.find_record(pred)
        out.append(None if record is None else metric.score_record(pred, row.get("reference"), record))
    return out


def _mean(values: list[Any]) -> float | None:
    vals = [float(v) for v in values if isinstance(v, int | float)]
    return sum(vals) / len(vals) if vals else None


def record_summaries(rows: list[dict[str, Any]], ctx: Any) -> dict[str, Any]:
    """What the records give beyond each metric's own number (run with the default configs)."""
    from plurieval_faithfulness.quality import las_parts

    out: dict[str, Any] = {}
    names = {spec.name: metric for spec, metric in ctx.metrics()}
    sim = [(r.get("scores") or {}).get("simulatability") for r in rows]
    if "simulatability" in names and any(isinstance(v, dict) for v in sim):
        out["simulatability_parts"] = las_parts(sim)
    if "counterfactual_test" in names:
        params = names["counterfactual_test"].config.model_dump()
        out["counterfactual_test_conventions"] = {
            conv: _mean(_rescored(rows, "counterfactual_test", {**params, "convention": conv}))
            for conv in ("atanasova", "cc-shap")}
    if "cc_shap" in names:
        params = names["cc_shap"].config.model_dump()
        out["cc_shap_measures"] = {m: _mean(_rescored(rows, "cc_shap", {**params, "measure": m}))
                                   for m in ("cosine", "correlation", "mse", "var", "kl", "js")}
    return out


def render_report(rows: list[dict[str, Any]], ctx: Any) -> str:
    """One block per item: the pair, the prediction and gold label, the explanation, the scores."""
    method = ctx.config.method.name if ctx.config.method else "?"
    parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(method)} self-explanations</title>",
             "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
             ".item{margin:1.2em 0;border-bottom:1px solid #ddd;padding-bottom:.8em}.meta{color:#555;font-size:13px}"
             ".expl{background:#f4f6fb;padding:.4em .6em;border-radius:4px;white-space:pre-wrap}</style>",
             f"<h1>{html.escape(method)} on {html.escape(ctx.benchmark_spec.name)}</h1>"]
    for row in rows:
        pred = row.get("prediction") or {}
        inp = (row.get("metadata") or {})
        scores = ", ".join(f"{k}={v:.3f}" for k, v in (row.get("scores") or {}).items() if isinstance(v, float))
        cf = (pred.get("extra") or {}).get("counterfactual")
        extra = (f"<div class=meta>counterfactual ({html.escape(str(cf.get('field')))}): "
                 f"{html.escape(str(cf.get('edited')))} → {html.escape(str(cf.get('requeried_label')))}"
                 f"{' (flipped)' if cf.get('flipped') else ''}</div>") if isinstance(cf, dict) else ""
        parts.append(f"<div class=item><div class=meta>{html.escape(row['example_id'])} · predicted "
                     f"<b>{html.escape(str(pred.get('label')))}</b> · gold "
                     f"{html.escape(str((row.get('reference') or {}).get('label')))} · "
                     f"{html.escape(str(inp.get('source')))}</div>"
                     f"<div class=expl>{html.escape(str(pred.get('text') or ''))}</div>{extra}"
                     f"<div class=meta>{html.escape(scores)}</div></div>")
    return "\n".join(parts) + "\n"
