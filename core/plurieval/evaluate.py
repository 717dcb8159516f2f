"""The shared loop of explanation benchmarks (HLV, LITEX, ...).

load examples → ``method.predict`` in batches (resumable: each example is recorded as soon as
it is predicted, a restarted run skips what ``ctx.results`` already holds) → every metric on
the recorded predictions → summary with bootstrap confidence intervals (``plurieval.stats``),
optionally per group (a metadata field such as the source dataset) and for baselines.

Metrics say what they consume with a class attribute ``input`` ("distribution", "scores",
"text", "label", "prediction" = the whole prediction dict; default "distribution"); the
benchmark says how to turn a recorded row into that input with ``prediction_input``/``reference_input``. A metric for which no example has an
input (a label metric on a text-generating method) is skipped and listed under
``skipped_metrics`` rather than failing the run.

A ``RecordedMetric`` (model in the loop) is queried batch by batch, right after the method
predicts: its records go into each prediction (``prediction["queries"][name]``) before the row
is written, so a resumed run keeps them and every score is later computed from the records.

Also here: ``data_path`` — where shared data lives (explicit path, else ``$PLURIEVAL_DATA_DIR``,
else a sample shipped with a plugin), used by every plugin that reads ``../shared/data``.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from plurieval.components import Example, MetricContext, Prediction, RecordedMetric, attach_queries
from plurieval.errors import DataError
from plurieval.stats import with_ci

log = logging.getLogger("plurieval")

DATA_ENV = "PLURIEVAL_DATA_DIR"

InputFn = Callable[[str, dict[str, Any]], Any]


def data_path(explicit: str | os.PathLike[str] | None, relative: str, *, marker: str,
              sample: Path | None = None, what: str = "data") -> tuple[Path, bool]:
    """Resolve a data folder: ``explicit`` (the shared data root, or the folder itself), else
    ``$PLURIEVAL_DATA_DIR``, else ``sample`` (a small set shipped with the plugin, with a
    warning). ``marker`` is a file the folder must contain. Returns (path, is_sample).

    A root that is given but lacks the data is an error (naming what was looked for and the
    fix), never a silent fall-back to the sample."""
    env = os.environ.get(DATA_ENV)
    root = explicit or env
    if root:
        root = Path(root).expanduser()
        for cand in (root / relative, root):
            if (cand / marker).is_file():
                return cand, False
        source = "data_dir" if explicit else f"${DATA_ENV}"
        raise DataError(f"{what}: {marker} not found in {root / relative} or {root} ({source}={root}); "
                        f"point {source} at the shared data root holding {relative}/")
    if sample is not None:
        log.warning("%s: no shared data (set %s or data_dir); using the small sample shipped with the plugin",
                    what, DATA_ENV)
        return sample, True
    raise DataError(f"{what}: no data; pass data_dir=/path/to/shared/data or set {DATA_ENV} "
                    f"to the folder holding {relative}/")


def default_prediction_input(kind: str, pred: dict[str, Any]) -> Any:
    """Prediction dict (``Prediction.to_dict``) → what a metric of ``kind`` consumes."""
    if kind == "scores":
        return pred.get("scores", pred.get("distribution"))
    if kind == "prediction":  # the whole prediction (attributions, recorded queries, ...)
        return pred
    return pred.get(kind if kind in ("distribution", "text", "label") else "distribution")


def default_reference_input(kind: str, reference: Any) -> Any:
    return reference


def _json_float(v: Any) -> float | None:
    """NaN (undefined, e.g. a rank correlation of a constant baseline) → None: JSON has no NaN."""
    v = float(v)
    return None if math.isnan(v) else v


def run_explanation_benchmark(
    ctx: Any,
    examples: Sequence[Example],
    *,
    prediction_input: InputFn = default_prediction_input,
    reference_input: InputFn = default_reference_input,
    group_by: str | None = None,
    baselines: dict[str, Callable[[Example], Prediction]] | None = None,
    key_prefix: str = "",
) -> dict[str, Any]:
    """Run ``ctx.method`` on ``examples`` and score with ``ctx.metrics()``. Returns the summary
    body: ``metrics`` (name → value), ``metrics_ci`` (name → value, ci_low, ci_high, n),
    ``higher_is_better``, ``per_group`` (when ``group_by`` names a metadata field),
    ``baselines`` (name → metrics of a fixed predictor such as the uniform distribution) and
    ``skipped_metrics``. Per-example scores are written into ``results.jsonl``."""
    method, model = ctx.method, None
    if method is None:
        raise DataError("this benchmark evaluates an explanation method; pass --method NAME")
    todo = [ex for ex in examples if not ctx.results.done(key_prefix + ex.id)]
    if todo:
        model = ctx.model
        fit = getattr(method, "fit", None)
        if fit is not None:
            fit(model, examples, ctx)
    bs = ctx.config.batch_size or 8  # examples per predict call (the resume step)
    batches = [todo[i:i + bs] for i in range(0, len(todo), bs)]
    metrics = ctx.metrics()
    names = _metric_names(metrics)
    # Metrics that query the model record their queries with each prediction, batch by batch,
    # so an interrupted run resumes without losing them and the scores need no model later.
    recorded = [(name, spec, metric) for name, (spec, metric) in zip(names, metrics, strict=True)
                if isinstance(metric, RecordedMetric)]
    for batch in ctx.progress(batches, total=len(batches), desc=f"{ctx.benchmark_spec.name}: predicting"):
        preds = method.predict(model, batch, ctx)
        if len(preds) != len(batch):
            raise DataError(f"method returned {len(preds)} predictions for {len(batch)} examples")
        pred_dicts = [pred.to_dict() for pred in preds]
        for name, spec, metric in recorded:
            kind = getattr(metric, "input", "distribution")
            usable = [i for i, (p, ex) in enumerate(zip(pred_dicts, batch, strict=True))
                      if prediction_input(kind, p) is not None and reference_input(kind, ex.target) is not None]
            if usable:
                attach_queries(metric, name, [prediction_input(kind, pred_dicts[i]) for i in usable],
                               [reference_input(kind, batch[i].target) for i in usable],
                               ctx.metric_context(spec, examples=[batch[i] for i in usable]))
        for ex, pred in zip(batch, pred_dicts, strict=True):
            ctx.record(key_prefix + ex.id, {"example_id": ex.id, "prediction": pred,
                                            "reference": ex.target, "metadata": ex.metadata})

    rows = [ctx.results.get(key_prefix + ex.id) for ex in examples]
    body: dict[str, Any] = {"metrics": {}, "metrics_ci": {}, "higher_is_better": {}, "skipped_metrics": []}
    groups = sorted({str(r["metadata"].get(group_by)) for r in rows}) if group_by else []
    per_group: dict[str, dict[str, float]] = {g: {} for g in groups}
    baseline_rows = {name: [fn(ex).to_dict() for ex in examples] for name, fn in (baselines or {}).items()}
    baseline_out: dict[str, dict[str, float]] = {name: {} for name in baseline_rows}
    for name, (spec, metric) in zip(names, metrics, strict=True):
        kind = getattr(metric, "input", "distribution")
        values = _score(metric, spec, ctx, rows, [r["prediction"] for r in rows], kind, prediction_input, reference_input)
        if values is None:
            body["skipped_metrics"].append(name)
            continue
        aggregate = metric.aggregate
        stats = with_ci(values, aggregate, seed=ctx.config.seed)
        stats = {k: _json_float(v) if k != "n" else v for k, v in stats.items()}
        body["metrics"][name] = stats["value"]
        body["metrics_ci"][name] = stats
        body["higher_is_better"][name] = spec.higher_is_better
        if stats["value"] is not None:
            ctx.log_metric(name, stats["value"])
        for row, v in zip(rows, values, strict=True):
            row.setdefault("scores", {})[name] = v
        for g in groups:
            idx = [i for i, r in enumerate(rows) if str(r["metadata"].get(group_by)) == g]
            per_group[g][name] = _json_float(aggregate([values[i] for i in idx]))
            if per_group[g][name] is not None:
                ctx.log_metric(name, per_group[g][name], **{group_by: g})
        for bname, preds in baseline_rows.items():
            if isinstance(metric, RecordedMetric):  # a fixed predictor made no queries
                continue
            bvals = _score(metric, spec, ctx, rows, preds, kind, prediction_input, reference_input)
            if bvals is not None:
                baseline_out[bname][name] = _json_float(aggregate(bvals))
    ctx.results.rewrite(rows)
    if group_by:
        body["per_group"] = {"by": group_by, **per_group}
    if baseline_out:
        body["baselines"] = baseline_out
    return body


def _metric_names(metrics: Sequence[tuple[Any, Any]]) -> list[str]:
    """Result names of the run's metrics: the registered name, ``name#2`` ... for repeats."""
    seen: dict[str, int] = {}
    names = []
    for spec, _ in metrics:
        names.append(spec.name if spec.name not in seen else f"{spec.name}#{seen[spec.name] + 1}")
        seen[spec.name] = seen.get(spec.name, 0) + 1
    return names


def _score(metric: Any, spec: Any, ctx: Any, rows: list[dict[str, Any]], preds: list[dict[str, Any]], kind: str,
           prediction_input: InputFn, reference_input: InputFn) -> list[Any] | None:
    """Per-example values (``None`` where the example has no input for this metric), or
    ``None`` when no example has one."""
    pairs = [(prediction_input(kind, p), reference_input(kind, r["reference"])) for p, r in zip(preds, rows, strict=True)]
    usable = [i for i, (p, r) in enumerate(pairs) if p is not None and r is not None]
    if not usable:
        return None
    # A recorded metric scores from the records in its predictions: no model is loaded for it.
    context = MetricContext(resources=ctx.resources) if isinstance(metric, RecordedMetric) else ctx.metric_context(spec)
    scored = metric.score_examples([pairs[i][0] for i in usable], [pairs[i][1] for i in usable], context)
    values: list[Any] = [None] * len(rows)
    for i, v in zip(usable, scored, strict=True):
        values[i] = v
    return values


# --- model helpers shared by explanation methods ------------------------------------------------

def generate_texts(model: Any, run: Any, prompts: Sequence[str], **settings: Any) -> list[str]:
    """Generated texts for ``prompts``: through ``run.generate`` when a run is given (so the
    run's cache and batch size apply), else ``model.generate``. Identical prompts are generated
    once."""
    unique = list(dict.fromkeys(prompts))
    gens = run.generate(unique, **settings) if run is not None else model.generate(unique, **settings)
    by_prompt = {p: g.text for p, g in zip(unique, gens, strict=True)}
    return [by_prompt[p] for p in prompts]


def choice_logprobs(model: Any, prompts: Sequence[str], choices: Sequence[str], *, chat: bool = True,
                    batch_size: int = 8) -> Any:
    """``[n, len(choices)]`` numpy array: log-probability that the answer after each prompt
    starts with each choice. A choice whose text (or " " + text) is one token is read from one
    forward pass (``next_token_logprobs``; both spellings are summed in probability); any other
    choice is scored as a whole continuation (``continuation_logprobs``)."""
    import numpy as np

    tok = model.tokenizer
    variants: list[list[int]] = []
    for c in choices:
        ids = {tuple(tok.encode(v, add_special_tokens=False)) for v in (c, " " + c)}
        variants.append(sorted(i[0] for i in ids if len(i) == 1))
    n = len(prompts)
    out = np.full((n, len(choices)), -np.inf)
    if n == 0:
        return out
    if any(variants):
        lp = model.next_token_logprobs(list(prompts), chat=chat, batch_size=batch_size).numpy()
        for j, ids in enumerate(variants):
            if ids:
                out[:, j] = np.logaddexp.reduce(lp[:, ids], axis=1)
    for j, ids in enumerate(variants):
        if not ids:
            out[:, j] = model.continuation_logprobs(list(prompts), [choices[j]] * n, chat=chat, batch_size=batch_size)
    return out


__all__ = [
    "DATA_ENV",
    "choice_logprobs",
    "data_path",
    "default_prediction_input",
    "default_reference_input",
    "generate_texts",
    "run_explanation_benchmark",
]
