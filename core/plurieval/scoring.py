"""Standalone scoring: any registered metric on a JSONL file or on Python lists, like
``evaluate``'s ``compute``. Metrics that need a model cannot be scored this way, unless they
record their queries (``MetricSpec.recorded``): those are recomputed from the records each
prediction carries, without the model."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from plurieval.components import MetricContext
from plurieval.config import set_path, split_assignment
from plurieval.errors import DataError, PluriError
from plurieval.resources import Resources
from plurieval.results import read_jsonl


def compute(host: Any, metric: str, predictions: list[Any], references: list[Any], **params: Any) -> dict[str, Any]:
    """Score with a registered metric from Python: ``compute(get_host(), "js_distance", p, r, base=2)``."""
    spec = host.get("metric", metric)
    if not spec.offline:
        raise PluriError(
            f"metric {metric!r} needs the {' and '.join(sorted(spec.needs))} under evaluation; "
            f"it can only be computed inside `plurieval run`"
        )
    # A recorded metric (``spec.recorded``) scores from the queries each prediction carries
    # (``prediction["queries"]``); without a model in the context it never asks one.
    config = spec.make_config(params, where="--set")
    instance = spec.create(config)
    result = instance.compute(predictions, references, MetricContext(resources=Resources(host)))
    return {
        "metric": spec.name,
        "config": config.model_dump(mode="json"),
        "score": _clean(result.score),
        "per_example": [_clean(v) for v in result.per_example],
        **({"details": result.details} if result.details else {}),
    }


def score_file(host: Any, metric: str, path: str | Path, assignments: list[str]) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise PluriError(f"file {str(path)!r} does not exist")
    rows = read_jsonl(path)
    predictions, references = [], []
    for i, row in enumerate(rows, 1):
        missing = [k for k in ("prediction", "reference") if not isinstance(row, dict) or k not in row]
        if missing:
            raise DataError(f"{path}:{i}: missing field(s) {', '.join(missing)}; each line must be "
                            '{"prediction": ..., "reference": ...}')
        predictions.append(row["prediction"])
        references.append(row["reference"])
    params: dict[str, Any] = {}
    for item in assignments:
        set_path(params, *split_assignment(item))
    return compute(host, metric, predictions, references, **params)


def _clean(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def json_safe(v: Any) -> Any:
    """JSON has no infinity: ±inf (KL with ``epsilon=0`` where the model gives an option zero
    probability) becomes the string ``"inf"``/``"-inf"`` so `plurieval score` always prints
    valid JSON; NaN is already null."""
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if isinstance(v, dict):
        return {k: json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [json_safe(x) for x in v]
    return v
