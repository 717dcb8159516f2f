"""Agreement between a judge and the labels: Cohen's κ, exact agreement, confusion matrix, bias.

Definitions (exact):

- **Cohen's κ** = (p_o − p_e) / (1 − p_e) over the label set ``classes``, with disagreement
  weights w_ij: unweighted (w_ij = [i ≠ j]) for yes/no, **quadratic** (w_ij = (i − j)² /
  (k − 1)²) for the ordinal 0/1/2 relevance scale; weighted form
  κ_w = 1 − Σ w_ij O_ij / Σ w_ij E_ij, O = observed proportions, E = outer product of the
  marginals. Equal to ``sklearn.metrics.cohen_kappa_score(labels, judge, weights=...)`` (a test
  checks it; this vectorised form is used because the bootstrap calls it thousands of times).
  Undefined (NaN) when both raters use one and the same class only.
- **exact agreement** = share of items where judge == label.
- **bias of the mean** = mean(judge) − mean(labels) on the benchmark's own scale: for relevance
  J points (J = 100 · mean / 2), for yes/no rates percentage points (100 · mean).
- **CIs**: 95 % percentile bootstrap over items (1000 resamples, seed 0 by default), the same
  resample indices for every statistic; resamples where κ is undefined are left out of κ's interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def confusion(labels: Sequence[int], judged: Sequence[int], classes: Sequence[int]) -> np.ndarray:
    """Counts, rows = labels, columns = judge, in the order of ``classes``."""
    index = {c: i for i, c in enumerate(classes)}
    m = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for a, b in zip(labels, judged, strict=True):
        m[index[a], index[b]] += 1
    return m


def _weights(k: int, kind: str) -> np.ndarray:
    i, j = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    if kind == "quadratic":
        return (i - j) ** 2 / max(1, (k - 1) ** 2)
    if kind == "linear":
        return np.abs(i - j) / max(1, k - 1)
    return (i != j).astype(float)


def kappa_from_counts(counts: np.ndarray, kind: str = "none") -> np.ndarray:
    """κ of one confusion matrix ``[k, k]`` or a stack ``[b, k, k]`` (vectorised for the bootstrap)."""
    c = np.asarray(counts, dtype=float)
    single = c.ndim == 2
    c = c[None] if single else c
    n = c.sum(axis=(1, 2), keepdims=True)
    obs = c / n
    exp = obs.sum(axis=2, keepdims=True) * obs.sum(axis=1, keepdims=True)
    w = _weights(c.shape[1], kind)[None]
    den = (w * exp).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        k = 1.0 - (w * obs).sum(axis=(1, 2)) / den
    k = np.where(den > 0, k, np.nan)
    return k[0] if single else k


def _interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan"), float("nan")
    a = (1 - confidence) / 2
    return float(np.quantile(finite, a)), float(np.quantile(finite, 1 - a))


def agreement(labels: Sequence[int], judged: Sequence[int], classes: Sequence[int], *, weights: str = "none",
              scale: float = 100.0, resamples: int = 1000, seed: int = 0, confidence: float = 0.95) -> dict[str, Any]:
    """Every statistic of the module docstring, each as ``{"value", "ci_low", "ci_high"}``.
    ``scale`` maps a mean of the class values to the benchmark's scale (100 / 2 for J)."""
    y = np.asarray(labels, dtype=np.int64)
    z = np.asarray(judged, dtype=np.int64)
    n = len(y)
    if n == 0:
        nan = {"value": float("nan"), "ci_low": float("nan"), "ci_high": float("nan")}
        return {"n": 0, "kappa": nan, "exact_agreement": nan, "bias": nan, "mean_labels": float("nan"),
                "mean_judge": float("nan"), "confusion": confusion([], [], classes).tolist(),
                "classes": list(classes), "weights": weights}
    index = {c: i for i, c in enumerate(classes)}
    yi = np.array([index[int(v)] for v in y])
    zi = np.array([index[int(v)] for v in z])
    k = len(classes)
    counts = confusion(y, z, classes)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(resamples, n))
    flat = (yi[idx] * k + zi[idx])  # [b, n] cell ids
    stack = np.stack([np.bincount(row, minlength=k * k) for row in flat]).reshape(resamples, k, k)
    kap = kappa_from_counts(stack, weights)
    agree = (y[idx] == z[idx]).mean(axis=1)
    bias = scale * (z[idx].mean(axis=1) - y[idx].mean(axis=1))

    def stat(value: float, boot: np.ndarray) -> dict[str, float]:
        lo, hi = _interval(boot, confidence)
        return {"value": float(value), "ci_low": lo, "ci_high": hi}

    return {
        "n": n,
        "kappa": stat(float(kappa_from_counts(counts, weights)), kap),
        "exact_agreement": stat(float((y == z).mean()), agree),
        "bias": stat(float(scale * (z.mean() - y.mean())), bias),
        "mean_labels": float(scale * y.mean()),
        "mean_judge": float(scale * z.mean()),
        "confusion": counts.tolist(),
        "classes": list(classes),
        "weights": weights,
    }


__all__ = ["agreement", "confusion", "kappa_from_counts"]
