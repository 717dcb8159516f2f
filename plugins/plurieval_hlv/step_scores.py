"""Step scores of generated tokens, the quantities inseq attaches to each generation step
(``inseq.attr.step_functions``): the target token's logit, probability, log-probability and
cross-entropy, the entropy of the next-token distribution, and perplexity.

Input, per item: ``prediction`` = the next-token logits at each step, ``[[...vocab...], ...]``
(one flat vector = one step; ``{"logits": ...}`` also works); ``reference`` = the target token
id at each step (one int for one step; ignored by ``step_entropy``). Logits may contain −inf
(masked tokens) but no NaN or +inf. The item's value reduces its steps with ``reduction``.

The perplexity pitfall: inseq's ``perplexity_fn`` is ``2 ** crossentropy_fn`` while its
``crossentropy_fn`` is ``F.cross_entropy`` in nats, so inseq's "perplexity" of a step is
2^(−ln p) = p^(−ln 2) ≈ p^−0.693, not the 1/p that perplexity means (older inseq releases took
the cross-entropy in bits, −log2 p, and were right). ``convention=inseq`` reproduces inseq's
numbers; the default is the usual sequence perplexity exp(mean_t −ln p_t).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from plurieval.api import DataError, Metric
from plurieval_hlv.metrics import _LOG_BASES


def _steps(prediction: Any, reference: Any, i: int,
           needs_target: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(logits [steps, vocab], their log-softmax, the target ids [steps] or None if not needed)."""
    if isinstance(prediction, dict):
        prediction = prediction.get("logits")
    try:
        logits = np.asarray(prediction, dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"prediction {i}: expected logits (a list of numbers per step), got {prediction!r}") from None
    if logits.ndim == 1:
        logits = logits[None, :]
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise DataError(f"prediction {i}: expected logits of shape [steps, vocabulary], got shape {logits.shape}")
    if np.isnan(logits).any() or np.isposinf(logits).any() or not np.isfinite(logits.max(axis=1)).all():
        raise DataError(f"prediction {i}: logits must be finite (−inf allowed for masked tokens, not NaN/+inf, "
                        "and every step needs one finite logit)")
    targets = None
    if needs_target:
        raw = [reference] if isinstance(reference, (int, np.integer)) and not isinstance(reference, bool) else reference
        try:
            targets = np.asarray(raw)
        except (TypeError, ValueError):
            targets = np.asarray([None])
        if targets.ndim != 1 or not np.issubdtype(targets.dtype, np.integer):
            raise DataError(f"reference {i}: expected the target token id of each step (integers), got {reference!r}")
        if targets.size != logits.shape[0]:
            raise DataError(f"example {i}: {logits.shape[0]} steps of logits but {targets.size} target ids")
        if (targets < 0).any() or (targets >= logits.shape[1]).any():
            raise DataError(f"reference {i}: target ids must lie in [0, {logits.shape[1]}), got {targets.tolist()}")
    from scipy.special import logsumexp

    return logits, (logits - logsumexp(logits, axis=1, keepdims=True)), targets


class _StepScore(Metric):
    input: ClassVar[str] = "logits"
    needs_target: ClassVar[bool] = True

    def _step_values(self, logits: np.ndarray, logp: np.ndarray, targets: np.ndarray | None) -> np.ndarray:
        raise NotImplementedError

    def _reduce(self, values: np.ndarray) -> float:
        return float(values.mean() if self.config.reduction == "mean" else values.sum())

    def score_examples(self, predictions, references, context=None) -> list[float]:
        out = []
        for i, (p, r) in enumerate(zip(predictions, references, strict=True)):
            logits, logp, targets = _steps(p, r, i, self.needs_target)
            out.append(self._reduce(self._step_values(logits, logp, targets)))
        return out

    @staticmethod
    def _target(x: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return x[np.arange(x.shape[0]), targets]


class StepLogit(_StepScore):
    """The target token's logit at each step (inseq ``logit``). Higher = more expected."""

    def _step_values(self, logits, logp, targets):
        return self._target(logits, targets)


class StepProbability(_StepScore):
    """The target token's probability softmax(logits)[target] (inseq ``probability``)."""

    def _step_values(self, logits, logp, targets):
        return np.exp(self._target(logp, targets))


class StepLogprob(_StepScore):
    """The target token's log-probability, natural log (inseq ``probability`` with logprob=True)."""

    def _step_values(self, logits, logp, targets):
        return self._target(logp, targets)


class StepEntropy(_StepScore):
    """Entropy of the next-token distribution, −Σ p log p (inseq ``entropy``: nats; ``base``
    changes the unit). Needs no target. Lower = more certain."""

    needs_target: ClassVar[bool] = False

    def _step_values(self, logits, logp, targets):
        p = np.exp(logp)
        terms = p * np.where(p > 0, logp, 0.0)  # 0 log 0 = 0 (masked tokens: logp = -inf)
        return -terms.sum(axis=1) / math.log(_LOG_BASES[self.config.base])


class StepCrossEntropy(_StepScore):
    """Cross-entropy of the target token, −log p(target) (inseq ``crossentropy``: nats, as
    F.cross_entropy; ``base`` changes the unit). Lower is better."""

    def _step_values(self, logits, logp, targets):
        return -self._target(logp, targets) / math.log(_LOG_BASES[self.config.base])


class StepPerplexity(_StepScore):
    """Perplexity of the target tokens. ``perplexity=sequence`` (default): exp(mean_t −ln p_t),
    the usual perplexity of the item's steps. ``perplexity=inseq``: inseq's per-step
    ``2 ** crossentropy`` with the cross-entropy in nats (= 2^(−ln p), not 1/p; see the module
    docstring), then reduced with ``reduction``. Lower is better."""

    def _step_values(self, logits, logp, targets):
        nats = -self._target(logp, targets)
        return 2.0 ** nats if self.config.perplexity == "inseq" else nats

    def _reduce(self, values: np.ndarray) -> float:
        if self.config.perplexity == "sequence":
            return float(np.exp(values.mean()))
        return super()._reduce(values)


__all__ = ["StepCrossEntropy", "StepEntropy", "StepLogit", "StepLogprob", "StepPerplexity", "StepProbability"]
