"""LeWiDi 2025 metrics: soft-label distances (Manhattan, Wasserstein for ordinal labels) and
perspectivist scores of per-annotator predictions (error rate, mean absolute distance).

Soft-label metrics compare a predicted with the human label distribution, like the other HLV
metrics (``normalization`` applies to the prediction; references may be counts). Perspectivist
metrics compare *one predicted label per annotator* with that annotator's actual label: the
prediction and the reference are equally long vectors of label values, nothing is normalised.

``multilabel=true`` (LeWiDi's VariErrNLI): an item is a list of per-label vectors (for
distances: one distribution [p(0), p(1)] per label; for the error rate: one 0/1 vector over
annotators per label); the item's value is the mean over its labels. Items may also be given
as ``{label: vector}`` mappings, matched by label name.

``round_example`` / ``round_mean`` reproduce the scripts' rounding (Python ``round``); with
rounding on, the mean is rounded after averaging the rounded item values, as the scripts do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from plurieval.api import DataError, Metric
from plurieval_hlv.metrics import _vector, normalize, reference_distribution


def _round(x: float, digits: int | None) -> float:
    return float(x) if digits is None else round(float(x), digits)


def _labels(x: Any, what: str, i: int) -> list[Any]:
    """A multilabel item as a list of per-label vectors; a mapping is sorted by label name."""
    if isinstance(x, dict):
        return [x[k] for k in sorted(x)]
    if isinstance(x, (list, tuple)) and x and all(isinstance(v, (list, tuple, dict)) for v in x):
        return list(x)
    raise DataError(f"{what} {i}: multilabel=true expects a list of per-label vectors or a mapping "
                    f"label -> vector, got {x!r}")


def _aligned(p: Any, r: Any, i: int) -> list[tuple[Any, Any]]:
    if isinstance(p, dict) and isinstance(r, dict) and set(p) != set(r):
        raise DataError(f"example {i}: prediction labels {sorted(p)} differ from reference labels {sorted(r)}")
    ps, rs = _labels(p, "prediction", i), _labels(r, "reference", i)
    if len(ps) != len(rs):
        raise DataError(f"example {i}: prediction has {len(ps)} labels, reference has {len(rs)}")
    return list(zip(ps, rs, strict=True))


def _as_vector(x: Any) -> Any:
    # {"0": p0, "1": p1} (LeWiDi's VariErrNLI soft labels) -> [p0, p1] in key order; any other
    # mapping ({"distribution": [...]}) is left to _vector
    if isinstance(x, dict) and x and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in x.values()):
        return [x[k] for k in sorted(x)]
    return x


class _RoundedMean(Metric):
    def aggregate(self, per_example: Sequence[Any]) -> float:
        mean = super().aggregate(per_example)
        return mean if mean != mean else _round(mean, getattr(self.config, "round_mean", None))  # NaN stays NaN


class _SoftLabel(_RoundedMean):
    input: ClassVar[str] = "distribution"

    def _distance(self, q: np.ndarray, h: np.ndarray) -> float:
        raise NotImplementedError

    def _one(self, p: Any, r: Any, i: int) -> float:
        q = normalize(_vector(_as_vector(p), "prediction", i), self.config.normalization, where=f"prediction {i}")
        h = reference_distribution(_as_vector(r), i)
        if q.size != h.size:
            raise DataError(f"example {i}: prediction has {q.size} options, reference has {h.size}")
        return _round(self._distance(q, h), self.config.round_example)

    def score_examples(self, predictions, references, context=None) -> list[float]:
        out = []
        for i, (p, r) in enumerate(zip(predictions, references, strict=True)):
            if getattr(self.config, "multilabel", False):
                vals = [self._one(pl, rl, i) for pl, rl in _aligned(p, r, i)]
                out.append(_round(sum(vals) / len(vals), self.config.round_example))
            else:
                out.append(self._one(p, r, i))
        return out


class ManhattanDistance(_SoftLabel):
    """Manhattan (L1) distance Σ_i |m_i − h_i| ∈ [0, 2] between the predicted and the human
    distribution (LeWiDi 2025 ``average_MD``; twice the total variation). ``multilabel=true``:
    the mean over labels of the per-label distances (``multilabel_average_MD``). Lower is better."""

    def _distance(self, q: np.ndarray, h: np.ndarray) -> float:
        return float(np.abs(q - h).sum())


class WassersteinDistance(_SoftLabel):
    """Earth mover's (1-Wasserstein) distance between two distributions over *ordinal* labels:
    the least probability mass × label distance needed to turn one into the other,
    = Σ_j |M_j − H_j| (Δ position) over the cumulative distributions. Label values are
    ``positions`` (default 0, 1, ..., K−1: LeWiDi 2025 ``average_WS``, POT ``emd2`` with cost
    |i − j|); computed with ``scipy.stats.wasserstein_distance``. Lower is better."""

    def _distance(self, q: np.ndarray, h: np.ndarray) -> float:
        from scipy.stats import wasserstein_distance

        pos = np.arange(q.size, dtype=float) if self.config.positions is None else np.asarray(self.config.positions, float)
        if pos.size != q.size:
            raise DataError(f"positions has {pos.size} values but the distributions have {q.size} options")
        return float(wasserstein_distance(pos, pos, u_weights=q, v_weights=h))


class _Perspectivist(_RoundedMean):
    input: ClassVar[str] = "label"

    @staticmethod
    def _pair(p: Any, r: Any, i: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = _vector(_as_vector(p), "prediction", i), _vector(_as_vector(r), "reference", i)
        if a.size != b.size:
            raise DataError(f"example {i}: prediction has {a.size} annotator labels, reference has {b.size}")
        return a, b


class ErrorRate(_Perspectivist):
    """Share of annotators whose label the model predicted wrongly: Σ_a |t_a − p_a| / n for 0/1
    labels (LeWiDi 2025 ``error_rate``, which computes it as 1 − (n − errors)/n; its comment calls
    it a match score where higher is better, but 0 is a perfect prediction). Prediction and
    reference: one label per annotator. ``multilabel=true``: per-label annotator vectors, the
    item's value is their mean (``multilabel_error_rate``). Lower is better."""

    def _one(self, p: Any, r: Any, i: int) -> float:
        a, b = self._pair(p, r, i)
        return _round(np.abs(b - a).sum() / a.size, self.config.round_example)

    def score_examples(self, predictions, references, context=None) -> list[float]:
        out = []
        for i, (p, r) in enumerate(zip(predictions, references, strict=True)):
            if self.config.multilabel:
                vals = [self._one(pl, rl, i) for pl, rl in _aligned(p, r, i)]
                out.append(sum(vals) / len(vals))
            else:
                out.append(self._one(p, r, i))
        return out


class MeanAbsoluteDistance(_Perspectivist):
    """Mean over annotators of |t_a − p_a| divided by ``scale`` (LeWiDi 2025
    ``mean_absolute_distance`` for ordinal ratings, e.g. Par's −5..5 with scale 11, CSC's with
    scale 6). Prediction and reference: one rating per annotator. Lower is better."""

    def score_examples(self, predictions, references, context=None) -> list[float]:
        out = []
        for i, (p, r) in enumerate(zip(predictions, references, strict=True)):
            a, b = self._pair(p, r, i)
            out.append(float(np.abs(b - a).sum() / a.size / self.config.scale))
        return out


__all__ = ["ErrorRate", "ManhattanDistance", "MeanAbsoluteDistance", "WassersteinDistance"]
