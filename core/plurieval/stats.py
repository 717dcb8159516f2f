"""Aggregates with bootstrap confidence intervals (percentile method).

The interval is computed by resampling *examples* and re-running the metric's own
``aggregate``, so it is valid for any aggregate (a mean, a harmonic mean of two means, ...).
Leaderboard validation recomputes it from the per-example results with the same seed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0


def bootstrap_ci(
    per_example: Sequence[Any],
    aggregate: Callable[[Sequence[Any]], float],
    *,
    confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> tuple[float, float]:
    """(low, high) percentile interval of ``aggregate`` over bootstrap resamples of examples.
    Examples whose value is ``None`` stay in the pool (the aggregate decides what to do with
    them). Returns (nan, nan) for fewer than two examples."""
    values = list(per_example)
    n = len(values)
    if n < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    stats = np.empty(resamples)
    for b in range(resamples):
        idx = rng.integers(0, n, size=n)
        stats[b] = aggregate([values[i] for i in idx])
    alpha = (1 - confidence) / 2
    finite = stats[np.isfinite(stats)]
    if finite.size == 0:
        return float("nan"), float("nan")
    return float(np.quantile(finite, alpha)), float(np.quantile(finite, 1 - alpha))


def mean(values: Sequence[Any]) -> float:
    """Mean of the defined values (``None`` and NaN left out); NaN when none is defined."""
    vals = [float(v) for v in values if v is not None and not (isinstance(v, float) and v != v)]
    return sum(vals) / len(vals) if vals else float("nan")


def with_ci(per_example: Sequence[Any], aggregate: Callable[[Sequence[Any]], float], **kw: Any) -> dict[str, float]:
    low, high = bootstrap_ci(per_example, aggregate, **kw)
    return {"value": float(aggregate(list(per_example))), "ci_low": low, "ci_high": high, "n": len(per_example)}
