"""Human-label-variation metrics: distributional (KL, JS, TVD, cross-entropy, entropy
calibration, ECE) and rank-based (Spearman, Kendall, exact ranking match, accuracy@k).

Conventions shared by every metric here (they matter: papers disagree on them; each config's
``convention`` reproduces one reference implementation, see ``plurieval_hlv.conventions``):

- *Prediction* = the model's per-option values in one fixed option order; *reference* = the
  human distribution in the same order. References may be annotator counts: they are divided by
  their sum. Predictions go through ``normalization`` ("none": must already be a distribution,
  checked to 1e-6; "linear": x/Σx, shifting by min(x) first only if a value is negative;
  "shift_min": (x − min x)/Σ(x − min x) always; "softmax": for logits).
- 0·log 0 = 0. Where a metric smooths it says so and uses ``epsilon`` with ``smoothing``
  ("add": add ε to every probability and renormalise; "floor": raise values below ε to ε and
  renormalise; "clip": clip to [ε, 1 − ε], no renormalisation); with ``epsilon=0`` a zero where
  the other side is positive gives +inf, deliberately, rather than a silently clipped number.
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

    ``linear`` and ``shift_min`` on an all-equal or all-zero vector give the uniform distribution
    (there is no information to prefer an option)."""
    arr = np.asarray(x, dtype=float)
    if method == "softmax":
        z = np.exp(arr - arr.max())
        return z / z.sum()
    if method in ("linear", "shift_min"):
        if method == "shift_min" or (arr < 0).any():
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
    raise ValueError(f"unknown normalization {method!r}; use none, linear, shift_min or softmax")


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


def smooth(p: np.ndarray, epsilon: float, mode: str = "add") -> np.ndarray:
    """Apply ``epsilon`` to a distribution (no-op for epsilon=0):

    - ``add``: (p + ε) / (1 + Kε) — every option gains the same mass;
    - ``floor``: values below ε become ε, then renormalise (ChaosNLI's ``normalize_dist``);
    - ``clip``: clip to [ε, 1 − ε] and do *not* renormalise (LeWiDi's ``np.clip``)."""
    if epsilon <= 0:
        return p
    if mode == "add":
        return (p + epsilon) / (1.0 + epsilon * p.size)
    if mode == "floor":
        q = np.where(np.abs(p) < epsilon, epsilon, p)
        return q / q.sum()
    if mode == "clip":
        return np.clip(p, epsilon, 1.0 - epsilon)
    raise ValueError(f"unknown smoothing {mode!r}; use add, floor or clip")


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
    """JSD(p, q) = ½KL(p‖m) + ½KL(q‖m), m = (p+q)/2. Needs no smoothing (m > 0 wherever p or q is).
    Rounding can leave a tiny negative value for equal inputs: it is reported as 0 (where scipy's
    sqrt gives NaN, which ChaosNLI's script also sets to 0)."""
    m = 0.5 * (p + q)
    return max(0.0, 0.5 * kl(p, m, base) + 0.5 * kl(q, m, base))


# --- distributional metrics --------------------------------------------------------------------

class _HLVMetric(Metric):
    input: ClassVar[str] = "distribution"

    def _base(self) -> float:
        return _LOG_BASES[getattr(self.config, "base", "e")]

    def _smooth(self, p: np.ndarray) -> np.ndarray:
        return smooth(p, getattr(self.config, "epsilon", 0.0), getattr(self.config, "smoothing", "add"))


class KLDivergence(_HLVMetric):
    """Kullback–Leibler divergence between the human and the model distribution.

    Definition: ``direction="human_model"`` (default) = KL(h‖m) = Σ_i h_i log(h_i/m_i) — how many
    extra nats (bits) the model needs to encode human answers; ``"model_human"`` = KL(m‖h).
    Log base ``base`` (default e). Smoothing: ``epsilon`` (default 1e-12) applied as ``smoothing``
    (default "add") to ``smoothed`` (default "both" distributions; "model": the model's only, as
    ChaosNLI does); with ``epsilon=0`` a zero on the second argument where the first is positive
    gives +inf. Lower is better (0 = equal).
    """

    def score_examples(self, predictions, references, context: MetricContext | None = None) -> list[float]:
        out = []
        for q, h in _pairs(self, predictions, references):
            q = self._smooth(q)
            if self.config.smoothed == "both":
                h = self._smooth(h)
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
    returns and what ChaosNLI (base e) and CoT-HLV (base 2) report as "JSD". Log base ``base``
    (default 2: range [0, 1]). Symmetric, a metric, no smoothing needed (``epsilon`` > 0 smooths
    the ``smoothed`` side first, as ChaosNLI floors model probabilities at 1e-15). Lower is better.
    """

    def score_examples(self, predictions, references, context=None) -> list[float]:
        out = []
        for q, h in _pairs(self, predictions, references):
            q = self._smooth(q)
            if self.config.smoothed == "both":
                h = self._smooth(h)
            out.append(math.sqrt(js_divergence(h, q, self._base())))
        return out


class TotalVariation(_HLVMetric):
    """Total variation distance TVD(h, m) = ½ Σ_i |h_i − m_i| ∈ [0, 1] (the largest difference in
    probability the two assign to any set of options; Baan et al.'s DistCE). No log, no
    smoothing. Lower is better."""

    def score_examples(self, predictions, references, context=None) -> list[float]:
        return [float(0.5 * np.abs(h - q).sum()) for q, h in _pairs(self, predictions, references)]


class CrossEntropy(_HLVMetric):
    """Cross-entropy H(h, m) = −Σ_i h_i log(m_i + log_offset) = H(h) + KL(h‖m) (soft-label loss).

    Log base ``base`` (default e). Smoothing: ``epsilon`` (default 1e-12) applied to the *model*
    probabilities only, as ``smoothing`` (default "add": renormalised; LeWiDi 2023 "clip"s to
    [1e-12, 1 − 1e-12] and adds ``log_offset`` 1e-9 inside the log without renormalising). The
    human side needs none: h_i = 0 terms are 0. With ``epsilon=0`` and no offset a zero model
    probability on a human-chosen option gives +inf. Lower is better; the minimum is H(h), not 0.
    """

    def score_examples(self, predictions, references, context=None) -> list[float]:
        out = []
        offset = self.config.log_offset
        for q, h in _pairs(self, predictions, references):
            q = self._smooth(q) + offset
            mask = h > 0
            out.append(math.inf if np.any(q[mask] <= 0) else float(-np.sum(h[mask] * np.log(q[mask])) / math.log(self._base())))
        return out


class EntropyCalibrationError(_HLVMetric):
    """Entropy calibration error |H(m) − H(h)|: does the model show as much uncertainty as the
    annotators did? (0 = the same entropy, not necessarily the same distribution.) With
    ``signed=true``: H(m) − H(h) (> 0: the model is less certain than the annotators; the mean
    can cancel out). Log base ``base`` (default e), 0·log 0 = 0, no smoothing. Lower is better
    (for the signed form: closer to 0)."""

    def score_examples(self, predictions, references, context=None) -> list[float]:
        b = self._base()
        diffs = [entropy(q, b) - entropy(h, b) for q, h in _pairs(self, predictions, references)]
        return diffs if self.config.signed else [abs(d) for d in diffs]


# --- rank-based metrics --------------------------------------------------------------------------

def _score_pairs(predictions, references):
    for i, (p, r) in enumerate(zip(predictions, references, strict=True)):
        s, h = _vector(p, "prediction", i), _vector(r, "reference", i)
        if s.size != h.size:
            raise DataError(f"example {i}: prediction has {s.size} options, reference has {h.size}")
        yield s, h


def _varies(x: np.ndarray) -> bool:
    return bool(np.ptp(x) > 0)


def _undefined(config: Any) -> float | None:
    return 0.0 if config.undefined == "zero" else None


class RankSpearman(_HLVMetric):
    """Per-item Spearman ρ between the model's option scores and the human distribution,
    averaged over items where *both* vectors vary (ρ is undefined on a constant vector: such
    items get ``None`` and are left out of the mean; ``undefined=zero`` counts them as 0, as
    CoT-HLV does). Ties get average ranks (scipy). Any monotone transform of the scores
    (softmax, linear) gives the same ρ. With ``few_options=accuracy`` an item with fewer than
    three options scores argmax == argmax (first of ties) instead (CoT-HLV). Higher is better."""

    input: ClassVar[str] = "scores"

    def score_examples(self, predictions, references, context=None) -> list[float | None]:
        from scipy.stats import spearmanr

        out: list[float | None] = []
        for s, h in _score_pairs(predictions, references):
            if s.size < 3 and self.config.few_options == "accuracy":
                out.append(float(np.argmax(s) == np.argmax(h)))
            elif _varies(s) and _varies(h):
                out.append(float(spearmanr(s, h).statistic))
            else:
                out.append(_undefined(self.config))
        return out


class RankKendall(_HLVMetric):
    """Per-item Kendall τ-b (tie-corrected) between model scores and the human distribution,
    averaged over items where both vectors vary (others: ``None``, excluded; ``undefined=zero``:
    0, kept). Higher is better."""

    input: ClassVar[str] = "scores"

    def score_examples(self, predictions, references, context=None) -> list[float | None]:
        from scipy.stats import kendalltau

        out: list[float | None] = []
        for s, h in _score_pairs(predictions, references):
            out.append(float(kendalltau(s, h, variant="b").statistic) if _varies(s) and _varies(h)
                       else _undefined(self.config))
        return out


def _dense_ranks(x: np.ndarray) -> list[int]:
    """Rank 0 = highest; equal values share a rank (a weak order)."""
    levels = sorted(set(x.tolist()), reverse=True)
    return [levels.index(v) for v in x.tolist()]


def ranked(x: np.ndarray, ties: str) -> list[int]:
    """Option indices from the highest value to the lowest; equal values in index order
    (``first``: the lower index ranks higher, as np.argmax) or reversed (``last``: the higher
    index ranks higher, as np.argsort(x, kind="stable")[::-1] — Baan et al.'s rule)."""
    sign = 1 if ties == "first" else -1
    return sorted(range(x.size), key=lambda i: (-x[i], sign * i))


class RankExactMatch(_HLVMetric):
    """1 if the model orders the options exactly as the annotators do, else 0.

    ``ties=weak_order`` (default): orders are compared as weak orders (dense ranks), so ties
    count: a tie in the human distribution is matched only by the same tie in the model's
    scores, and a constant model matches only an all-tied human distribution.
    ``ties=index`` (Baan et al.'s RankCS): both sides become full orders with ties in index order
    (argsort == argsort), so a strict model order can match a tied human one. Higher is better."""

    input: ClassVar[str] = "scores"

    def score_examples(self, predictions, references, context=None) -> list[float]:
        if self.config.ties == "index":
            return [float(ranked(s, "last") == ranked(h, "last")) for s, h in _score_pairs(predictions, references)]
        return [float(_dense_ranks(s) == _dense_ranks(h)) for s, h in _score_pairs(predictions, references)]


def _at_rank(x: np.ndarray, k: int, ties: str) -> np.ndarray:
    """Weights over options for "the option at rank k" (1-based): one-hot for ``first``/``last``;
    uniform over the options tied at that rank for ``expected`` (random tie-breaking); the
    indicator of those tied options for ``any`` (every one of them counts)."""
    out = np.zeros(x.size)
    if ties in ("first", "last"):
        out[ranked(x, ties)[k - 1]] = 1.0
        return out
    value = np.sort(x)[::-1][k - 1]
    group = x == value
    out[group] = 1.0 if ties == "any" else 1.0 / group.sum()
    return out


def _in_top_k(s: np.ndarray, k: int, ties: str) -> np.ndarray:
    """P(option i is among the model's k highest) for each i: 0/1 for ``first``/``last``; with
    ``expected`` the options tied at the k-th value share the remaining slots at random."""
    if k >= s.size:
        return np.ones(s.size)
    if ties in ("first", "last"):
        out = np.zeros(s.size)
        out[ranked(s, ties)[:k]] = 1.0
        return out
    kth = np.sort(s)[::-1][k - 1]
    sure, tied = s > kth, s == kth
    out = sure.astype(float)
    out[tied] = (k - sure.sum()) / tied.sum()
    return out


def top_k_hit(s: np.ndarray, h: np.ndarray, k: int, model_ties: str, human_ties: str) -> float:
    """Probability that a human top option is among the model's top k (see AccuracyAtK)."""
    if human_ties != "any":
        return float(_at_rank(h, 1, human_ties) @ _in_top_k(s, k, model_ties))
    top_h = h == h.max()
    if model_ties != "expected" or k >= s.size:
        return float((_in_top_k(s, k, model_ties)[top_h] > 0).any())
    kth = np.sort(s)[::-1][k - 1]
    sure, tied = s > kth, s == kth
    if (sure & top_h).any():
        return 1.0
    slots, t, hits = k - int(sure.sum()), int(tied.sum()), int((tied & top_h).sum())
    # P(at least one of the `hits` tied human-top options is among `slots` drawn from `t`)
    return 1.0 - math.comb(t - hits, slots) / math.comb(t, slots)


class AccuracyAtK(_HLVMetric):
    """Agreement between the model's ranking and the human top option(s).

    ``mode=top_k`` (default): is a human top option among the model's ``k`` highest-scoring
    options? k=1 is the usual accuracy against the majority label. ``mode=kth_rank`` (Baan et
    al.'s acc@k): is the model's k-th ranked option the human k-th ranked option?

    Ties are sub-choices: ``model_ties=expected`` (default) breaks ties in the model's scores
    uniformly at random and reports the *expected* hit (a constant model on three options gets
    1/3 at k=1, not 1); ``first``/``last`` resolve them by option index (np.argmax /
    np.argsort()[-1]). ``human_ties=any`` (default) counts every tied human top option;
    ``first``/``last`` pick one. Higher is better."""

    input: ClassVar[str] = "scores"

    def score_examples(self, predictions, references, context=None) -> list[float]:
        cfg = self.config
        out = []
        for i, (s, h) in enumerate(_score_pairs(predictions, references)):
            if cfg.mode == "top_k":
                out.append(top_k_hit(s, h, cfg.k, cfg.model_ties, cfg.human_ties))
                continue
            if cfg.k > s.size:
                raise DataError(f"example {i}: mode=kth_rank with k={cfg.k} needs at least {cfg.k} options, "
                                f"got {s.size}")
            out.append(float(_at_rank(s, cfg.k, cfg.model_ties) @ _at_rank(h, cfg.k, cfg.human_ties)))
        return out


class ECE(_HLVMetric):
    """Expected calibration error of the model's confidence against the human majority label.

    Per item: confidence = max_i m_i, correct = the model's top option is a human top option
    (with ``model_ties``/``human_ties`` as in accuracy_at_k; Baan et al.: np.argmax on both
    sides). Over the data set: items fall into ``bins`` equal-width confidence bins (a, b] of
    [0, 1]; ECE = Σ_bins (n_b / n) |mean confidence_b − accuracy_b|, empty bins skipped. A data
    set metric: the per-item values are the (confidence, correct) pairs, the aggregate bins them.
    Baan et al. argue that against disagreeing annotators this measure misleads; it is here to
    reproduce their numbers. Lower is better."""

    def score_examples(self, predictions, references, context=None) -> list[dict[str, float]]:
        cfg = self.config
        return [{"confidence": float(q.max()), "correct": top_k_hit(q, h, 1, cfg.model_ties, cfg.human_ties)}
                for q, h in _pairs(self, predictions, references)]

    def aggregate(self, per_example: Sequence[Any]) -> float:
        items = [v for v in per_example if isinstance(v, dict)]
        if not items:
            return float("nan")
        conf = np.array([v["confidence"] for v in items])
        correct = np.array([v["correct"] for v in items])
        edges = np.linspace(0.0, 1.0, self.config.bins + 1)
        total, n = 0.0, 0
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            idx = (conf > a) & (conf <= b)
            if idx.any():
                total += idx.sum() * abs(conf[idx].mean() - correct[idx].mean())
                n += int(idx.sum())
        return float(total / n)


__all__ = [
    "ECE",
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
    "ranked",
    "reference_distribution",
    "smooth",
    "top_k_hit",
]
