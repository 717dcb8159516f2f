"""Human-label-variation metrics: distributional (KL, JS, TVD, cross-entropy, entropy
calibration) and rank-based (Spearman, Kendall, exact ranking match, accuracy@k).

Conventions shared by every metric here (they matter: papers disagree on them):

- *Prediction* = the model's per-option values in one fixed option order; *reference* = the
  human distribution in the same order. References may be annotator counts: they are divided by
  their sum. Predictions go through ``normalization`` ("none": must already be a distribution,
  checked to 1e-6; "linear": x/Σx, shifting by min(x) first if any value is negative; "softmax":
  for logits).
- 0·log 0 = 0. Where a metric needs smoothing it says so and uses ``epsilon`` (added to every
  probability, then renormalised); with ``epsilon=0`` a zero where the other side is positive
  gives +inf, deliberately, rather than a silently clipped number.
- Each per-example value is a float (or ``None`` where undefined, e.g. a rank correlation on a
  constant vector); the aggregate is the mean over defined values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from plurieval.api import DataError, Metric, MetricContext

_LOG_BASES = {"e": math.e, "2": 2.0, "10": 10.0}


# --- vectors -------------------------------------------------------------------------------------

def _vector(x: Any, what: str, i: int) -> np.ndarray:
    if isinstance(x, dict):
        x = x.get("distribution", x.get("scores"))
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"{what} {i}: expected a list of numbers, got {x!r}") from None
    if arr.ndim != 1 or arr.size == 0:
        raise DataError(f"{what} {i}: expected a non-empty flat list of numbers, got {x!r}")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{what} {i}: values must be finite, got {x!r}")
    return arr


def normalize(x: Sequence[float] | np.ndarray, method: str = "none", *, where: str = "prediction") -> np.ndarray:
    """Turn per-option values into a distribution (see the module docstring for the rules).

    ``linear`` on an all-equal or all-zero vector gives the uniform distribution (there is no
    information to prefer an option)."""
    arr = np.asarray(x, dtype=float)
    if method == "softmax":
        z = np.exp(arr - arr.max())
        return z / z.sum()
    if method == "linear":
        if (arr < 0).any():
            arr = arr - arr.min()
        s = arr.sum()
        return arr / s if s > 0 else np.full_like(arr, 1.0 / arr.size)
    if method == "none":
        if (arr < 0).any() or abs(arr.sum() - 1.0) > 1e-6:
            raise DataError(
                f"{where} {arr.tolist()} is not a probability distribution (sum {arr.sum():.6g}); "
                "pass --set normalization=linear for scores/counts or normalization=softmax for logits"
            )
        return arr
    raise ValueError(f"unknown normalization {method!r}; use none, linear or softmax")


def reference_distribution(x: Any, i: int = 0) -> np.ndarray:
    """Human distribution from probabilities or annotator counts (divided by their sum)."""
    arr = _vector(x, "reference", i)
    if (arr < 0).any() or arr.sum() <= 0:
        raise DataError(f"reference {i}: {arr.tolist()} must be non-negative counts or probabilities with a positive sum")
    return arr / arr.sum()


def _pairs(metric: Any, predictions: Sequence[Any], references: Sequence[Any]):
    norm = getattr(metric.config, "normalization", "none")
    for i, (p, r) in enumerate(zip(predictions, references, strict=True)):
        q = normalize(_vector(p, "prediction", i), norm, where=f"prediction {i}")
        h = reference_distribution(r, i)
        if q.size != h.size:
            raise DataError(f"example {i}: prediction has {q.size} options, reference has {h.size}")
        yield q, h


def smooth(p: np.ndarray, epsilon: float) -> np.ndarray:
    """Add ``epsilon`` to every probability and renormalise (no-op for epsilon=0)."""
    return p if epsilon <= 0 else (p + epsilon) / (1.0 + epsilon * p.size)


def kl(p: np.ndarray, q: np.ndarray, base: float = math.e) -> float:
    """KL(p‖q) = Σ_i p_i log(p_i / q_i), terms with p_i = 0 are 0, p_i > 0 = q_i gives +inf."""
    mask = p > 0
    if np.any(q[mask] <= 0):
        return math.inf
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])) / math.log(base))


def entropy(p: np.ndarray, base: float = math.e) -> float:
    """H(p) = −Σ p_i log p_i with 0·log 0 = 0."""
    mask = p > 0
    return float(-np.sum(p[mask] * np.log(p[mask])) / math.log(base))


def js_divergence(p: np.ndarray, q: np.ndarray, base: float = 2.0) -> float:
    """JSD(p, q) = ½KL(p‖m) + ½KL(q‖m), m = (p+q)/2. Needs no smoothing (m > 0 wherever p or q is)."""
    m = 0.5 * (p + q)
    return max(0.0, 0.5 * kl(p, m, base) + 0.5 * kl(q, m, base))


# --- distributional metrics --------------------------------------------------------------------

class _HLVMetric(Metric):
    input: ClassVar[str] = "distribution"

    def _base(self) -> float:
        return _LOG_BASES[getattr(self.config, "base", "e")]


class KLDivergence(_HLVMetric):
    """Kullback–Leibler divergence between the human and the model distribution.

    Definition: ``direction="human_model"`` (default) = KL(h‖m) = Σ_i h_i log(h_i/m_i) — how many
    extra nats (bits) the model needs to encode human answers; ``"model_human"`` = KL(m‖h).
    Log base ``base`` (default e). Smoothing: ``epsilon`` (default 1e-12) is added to every
    probability of *both* distributions, which are then renormalised; with ``epsilon=0`` a zero
    on the second argument where the first is positive gives +inf. Lower is better (0 = equal).
    """

    def score_examples(self, predictions, references, context: MetricContext | None = None) -> list[float]:
        out = []
        for q, h in _pairs(self, predictions, references):
            h, q = smooth(h, self.config.epsilon), smooth(q, self.config.epsilon)
            out.append(kl(h, q, self._base()) if self.config.direction == "human_model" else kl(q, h, self._base()))
        return out


class JSDivergence(_HLVMetric):
    """Jensen–Shannon *divergence* JSD(h, m) = ½KL(h‖a) + ½KL(m‖a), a = (h+m)/2.

    Symmetric, no smoothing needed. Log base ``base`` (default 2, so the value lies in [0, 1]).
    Lower is better. (The *distance* is its square root: ``js_distance``.)
    """

    def score_examples(self, predictions, references, context=None) -> list[float]:
        return [js_divergence(h, q, self._base()) for q, h in _pairs(self, predictions, references)]


class JSDistance(_HLVMetric):
    """Jensen–Shannon *distance* = sqrt(JSD(h, m)) — what ``scipy.spatial.distance.jensenshannon``
    returns and what ChaosNLI reports as "JSD". Log base ``base`` (default 2: range [0, 1]).
    Symmetric, a metric, no smoothing needed. Lower is better.
    """

    def score_examples(self, predictions, references, context=None) -> list[float]:
        return [math.sqrt(js_divergence(h, q, self._base())) for q, h in _pairs(self, predictions, references)]


class TotalVariation(_HLVMetric):
    """Total variation distance TVD(h, m) = ½ Σ_i |h_i − m_i| ∈ [0, 1] (the largest difference in
    probability the two assign to any set of options). No log, no smoothing. Lower is better."""

    def score_examples(self, predictions, references, context=None) -> list[float]:
        return [float(0.5 * np.abs(h - q).sum()) for q, h in _pairs(self, predictions, references)]


class CrossEntropy(_HLVMetric):
    """Cross-entropy H(h, m) = −Σ_i h_i log m_i = H(h) + KL(h‖m) (soft-label loss).

    Log base ``base`` (default e). Smoothing: ``epsilon`` (default 1e-12) added to the *model*
    probabilities only, then renormalised (the human side needs none: h_i = 0 terms are 0).
    With ``epsilon=0`` a zero model probability on a human-chosen option gives +inf. Lower is
    better; the minimum is H(h), not 0.
    """

    def score_examples(self, predictions, references, context=None) -> list[float]:
        out = []
        for q, h in _pairs(self, predictions, references):
            q = smooth(q, self.config.epsilon)
            mask = h > 0
            out.append(math.inf if np.any(q[mask] <= 0) else float(-np.sum(h[mask] * np.log(q[mask])) / math.log(self._base())))
        return out


class EntropyCalibrationError(_HLVMetric):
    """Entropy calibration error |H(m) − H(h)|: does the model show as much uncertainty as the
    annotators did? (0 = the same entropy, not necessarily the same distribution.) Log base
    ``base`` (default e), 0·log 0 = 0, no smoothing. Lower is better."""

    def score_examples(self, predictions, references, context=None) -> list[float]:
        b = self._base()
        return [abs(entropy(q, b) - entropy(h, b)) for q, h in _pairs(self, predictions, references)]


# --- rank-based metrics --------------------------------------------------------------------------

def _score_pairs(predictions, references):
    for i, (p, r) in enumerate(zip(predictions, references, strict=True)):
        s, h = _vector(p, "prediction", i), _vector(r, "reference", i)
        if s.size != h.size:
            raise DataError(f"example {i}: prediction has {s.size} options, reference has {h.size}")
        yield s, h


def _varies(x: np.ndarray) -> bool:
    return bool(np.ptp(x) > 0)


class RankSpearman(_HLVMetric):
    """Per-item Spearman ρ between the model's option scores and the human distribution,
    averaged over items where *both* vectors vary (ρ is undefined on a constant vector: such
    items get ``None`` and are left out of the mean). Ties get average ranks (scipy). Any
    monotone transform of the scores (softmax, linear) gives the same ρ. Higher is better."""

    input: ClassVar[str] = "scores"

    def score_examples(self, predictions, references, context=None) -> list[float | None]:
        from scipy.stats import spearmanr

        out: list[float | None] = []
        for s, h in _score_pairs(predictions, references):
            out.append(float(spearmanr(s, h).statistic) if _varies(s) and _varies(h) else None)
        return out


class RankKendall(_HLVMetric):
    """Per-item Kendall τ-b (tie-corrected) between model scores and the human distribution,
    averaged over items where both vectors vary (others: ``None``, excluded). Higher is better."""

    input: ClassVar[str] = "scores"

    def score_examples(self, predictions, references, context=None) -> list[float | None]:
        from scipy.stats import kendalltau

        out: list[float | None] = []
        for s, h in _score_pairs(predictions, references):
            out.append(float(kendalltau(s, h, variant="b").statistic) if _varies(s) and _varies(h) else None)
        return out


def _dense_ranks(x: np.ndarray) -> list[int]:
    """Rank 0 = highest; equal values share a rank (a weak order)."""
    levels = sorted(set(x.tolist()), reverse=True)
    return [levels.index(v) for v in x.tolist()]


class RankExactMatch(_HLVMetric):
    """1 if the model orders the options exactly as the annotators do, else 0.

    Orders are compared as weak orders (dense ranks), so ties count: a tie in the human
    distribution is matched only by the same tie in the model's scores, and a constant model
    matches only an all-tied human distribution. Higher is better."""

    input: ClassVar[str] = "scores"

    def score_examples(self, predictions, references, context=None) -> list[float]:
        return [float(_dense_ranks(s) == _dense_ranks(h)) for s, h in _score_pairs(predictions, references)]


class AccuracyAtK(_HLVMetric):
    """Is a human top option (any option with the maximal human probability) among the model's
    ``k`` highest-scoring options? Ties in the model's scores at the k-th place are broken
    uniformly at random and the metric is the *expected* hit (so a constant model on three
    options gets 1/3 at k=1, not 1). k=1 is the usual accuracy against the majority label.
    Higher is better."""

    input: ClassVar[str] = "scores"

    def score_examples(self, predictions, references, context=None) -> list[float]:
        k = self.config.k
        out = []
        for s, h in _score_pairs(predictions, references):
            top_h = set(np.flatnonzero(h == h.max()).tolist())
            if k >= s.size:
                out.append(1.0)
                continue
            kth = np.sort(s)[::-1][k - 1]
            sure = set(np.flatnonzero(s > kth).tolist())
            tied = np.flatnonzero(s == kth).tolist()
            if sure & top_h:
                out.append(1.0)
                continue
            slots, t = k - len(sure), len(tied)
            hits = len(top_h.intersection(tied))
            # P(at least one of the `hits` tied human-top options is among `slots` drawn from `t`)
            out.append(1.0 - math.comb(t - hits, slots) / math.comb(t, slots))
        return out


__all__ = [
    "AccuracyAtK",
    "CrossEntropy",
    "EntropyCalibrationError",
    "JSDistance",
    "JSDivergence",
    "KLDivergence",
    "RankExactMatch",
    "RankKendall",
    "RankSpearman",
    "TotalVariation",
    "entropy",
    "js_divergence",
    "kl",
    "normalize",
    "reference_distribution",
    "smooth",
]
