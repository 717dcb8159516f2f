"""Recomputing a board's numbers from per-example results.

Everything a board shows is derived here, from the results rows alone, with the benchmark's
registered metrics: the aggregate (``Metric.aggregate``, or a macro mean over groups), its
percentile bootstrap interval (``plurieval.stats.bootstrap_ci`` with the board's seed), the
per-group table, and the paired bootstrap that decides which entries are statistically tied.

Rows are sorted by ``key`` before anything is resampled, so the bootstrap does not depend on the
order a run happened to write its results in, and a validator reproduces an interval exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from plurieval.errors import PluriError
from plurieval.leaderboard.schema import Aggregation, BoardSpec, MetricValue
from plurieval.stats import bootstrap_ci

# An item is (group label, per-example value); the group is used by macro aggregation only.
Item = tuple[Any, Any]


def finite_or_none(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def sort_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: str(r.get("key")))


def build_metric(host: Any, board: BoardSpec, name: str) -> tuple[Any, Any]:
    """(spec, metric instance) of a board metric, built from the host's registry."""
    try:
        spec = host.get("metric", name)
    except PluriError as err:
        raise PluriError(
            f"board metric {name!r} is not installed ({err}); install the plugin that registers it "
            f"to validate or build this board"
        ) from None
    return spec, spec.create(board.metric(name).params, where=f"board metric {name!r} params")


def aggregator(metric: Any, aggregation: Aggregation) -> Callable[[Sequence[Item]], float]:
    """The board's aggregate as a function of (group, value) items."""
    if aggregation.kind == "metric":
        return lambda items: float(metric.aggregate([v for _, v in items]))

    def macro(items: Sequence[Item]) -> float:
        groups: dict[Any, list[Any]] = {}
        for group, value in items:
            groups.setdefault(group, []).append(value)
        per_group = [float(metric.aggregate(vals)) for vals in groups.values()]
        finite = [v for v in per_group if math.isfinite(v)]
        return sum(finite) / len(finite) if finite else float("nan")

    return macro


def items_for(rows: Sequence[dict[str, Any]], name: str, group_by: str) -> list[Item]:
    return [((r.get("metadata") or {}).get(group_by), r["scores"][name]) for r in rows]


@dataclass
class Recomputed:
    metrics: dict[str, MetricValue]
    per_language: dict[str, dict[str, float | None]]


def recompute(rows: Sequence[dict[str, Any]], board: BoardSpec, host: Any) -> Recomputed:
    """Every board metric (value + CI) and the per-group table, from the rows alone."""
    rows = sort_rows(rows)
    group_by = board.aggregation.group_by
    metrics: dict[str, MetricValue] = {}
    per_group: dict[str, dict[str, float | None]] = {}
    groups = sorted({str(g) for g in ((r.get("metadata") or {}).get(group_by) for r in rows) if g is not None})
    for name in board.metric_names:
        _, metric = build_metric(host, board, name)
        items = items_for(rows, name, group_by)
        agg = aggregator(metric, board.aggregation)
        low, high = bootstrap_ci(items, agg, confidence=board.bootstrap.confidence,
                                 resamples=board.bootstrap.resamples, seed=board.bootstrap.seed)
        metrics[name] = MetricValue(value=finite_or_none(agg(items)) if items else None,
                                    ci_low=finite_or_none(low), ci_high=finite_or_none(high), n=len(items))
        for group in groups:
            values = [v for g, v in items if g is not None and str(g) == group]
            per_group.setdefault(group, {})[name] = finite_or_none(metric.aggregate(values))
    return Recomputed(metrics, per_group)


def close(a: float | None, b: float | None, tol: float = 1e-9) -> bool:
    """Equal within ``tol`` (relative for large values); two undefined values are equal."""
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def _by_example(rows: Sequence[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    ids = [r.get("example_id") for r in rows]
    if all(i is not None for i in ids) and len(set(map(str, ids))) == len(ids):
        return {str(i): r for i, r in zip(ids, rows, strict=True)}
    return {r["key"]: r for r in rows}


def paired_difference_ci(
    rows_a: Sequence[dict[str, Any]], rows_b: Sequence[dict[str, Any]], board: BoardSpec, host: Any
) -> tuple[float, float] | None:
    """Bootstrap interval of score(A) − score(B) on the ranking metric, resampling the *same*
    examples for both entries (a paired bootstrap). Rows are matched by ``example_id`` when it is
    unique in both entries (results keys may carry the method's name, as CLaS-Bench's do), else
    by ``key``. ``None`` when the two entries were not scored on the same examples, where a
    paired test is not defined."""
    by_key_a, by_key_b = _by_example(rows_a), _by_example(rows_b)
    if set(by_key_a) != set(by_key_b) or not by_key_a:
        return None
    name, group_by = board.ranking_metric, board.aggregation.group_by
    _, metric = build_metric(host, board, name)
    agg = aggregator(metric, board.aggregation)
    keys = sorted(by_key_a, key=str)
    pairs = [((by_key_a[k].get("metadata") or {}).get(group_by), by_key_a[k]["scores"][name], by_key_b[k]["scores"][name])
             for k in keys]

    def diff(sample: Sequence[tuple[Any, Any, Any]]) -> float:
        return agg([(g, a) for g, a, _ in sample]) - agg([(g, b) for g, _, b in sample])

    return bootstrap_ci(pairs, diff, confidence=board.bootstrap.confidence,
                        resamples=board.bootstrap.resamples, seed=board.bootstrap.seed)
