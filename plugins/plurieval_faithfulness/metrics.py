"""Faithfulness (model in the loop, recorded) and plausibility (pure) metrics of attributions.

Notation: x = the item, y = the model's predicted option on x (``extra.target``), p(y|·) = the
probability of y in the option distribution of the model on an input, r = a rationale (a set of
words chosen from the attribution, see ``conventions``), x∖r = x with r removed.

- ``comprehensiveness`` = p(y|x) − p(y|x∖r) (higher: the rationale mattered);
- ``sufficiency`` = p(y|x) − p(y|r) (lower: the rationale alone keeps the prediction);
- ``aopc_comprehensiveness`` / ``aopc_sufficiency`` = the mean of the same differences over the
  convention's thresholds (AOPC, Samek et al. 2017 as used by ERASER and ferret);
- ``tau_loo`` = Kendall τ-b between the attribution and the leave-one-out effects
  p(y|x) − p(y|x∖{w}) of every word (Jain & Wallace 2019; ferret's ``taucorr_loo``);
  undefined (None) when either vector is constant;
- ``token_f1`` / ``token_iou`` / ``auprc``: the attribution against the human rationale (ferret's
  definitions; see each class).

Each faithfulness metric records its queries per example (``RecordedMetric``): the word masks
(``1`` = kept) and the model's option distribution on each, so its score is recomputed from
results.jsonl alone; the scorer first re-derives the masks from the attribution and refuses a
record whose masks differ.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from plurieval.api import DataError, Metric, MetricContext, RecordedMetric
from plurieval_faithfulness import conventions as conv
from plurieval_faithfulness.items import build_item, outputs, prompt_renderer, record_item, target_of


def _attribution(prediction: Any, where: str) -> list[float]:
    extra = prediction.get("extra") if isinstance(prediction, dict) else None
    scores = (extra or {}).get("attribution")
    if not isinstance(scores, list) or not scores:
        raise DataError(f"{where}: prediction has no 'extra.attribution' list (made by an attribution method)")
    try:
        out = [float(v) for v in scores]
    except (TypeError, ValueError):
        raise DataError(f"{where}: extra.attribution must hold numbers") from None
    if not all(math.isfinite(v) for v in out):
        raise DataError(f"{where}: extra.attribution holds a non-finite value")
    features = (extra or {}).get("features")
    if isinstance(features, list) and len(features) != len(out):
        raise DataError(f"{where}: {len(out)} attribution scores for {len(features)} features")
    return out


def _human(reference: Any, n: int, where: str) -> list[int] | None:
    rationale = reference.get("rationale") if isinstance(reference, dict) else None
    if rationale is None:
        return None
    if not isinstance(rationale, list) or len(rationale) != n or any(v not in (0, 1, True, False) for v in rationale):
        raise DataError(f"{where}: reference.rationale must be {n} values 0/1 (one per feature), got {rationale!r}")
    return [int(v) for v in rationale]


class RemovalMetric(RecordedMetric):
    """Shared by the five faithfulness metrics: masks from the convention, queries, checks."""

    input: ClassVar[str] = "prediction"

    def removal(self) -> str:
        return self.config.removal or "delete"

    def query_settings(self) -> dict[str, Any]:
        data = self.config.model_dump(mode="json")
        data["removal"] = self.removal()
        return {"metric": type(self).__name__, **data}

    def masks(self, prediction: Any, reference: Any, where: str = "prediction") -> list[str]:
        raise NotImplementedError

    def query(self, predictions: Sequence[Any], references: Sequence[Any], context: MetricContext) -> list[dict[str, Any]]:
        examples = list(context.examples or [])
        if len(examples) != len(predictions):
            raise DataError(f"{type(self).__name__}: querying needs the examples (got {len(examples)} for "
                            f"{len(predictions)} predictions)")
        renderer = prompt_renderer() if any("options" in (ex.input or {}) for ex in examples) else None
        plans, queries = [], []
        for pred, ref, ex in zip(predictions, references, examples, strict=True):
            index, target = target_of(pred, ex.id)
            item = build_item(ex, record_item(pred), renderer)
            masks = self.masks(pred, ref, ex.id)
            todo = [m for m in dict.fromkeys(masks) if m != item.full_mask()]
            plans.append((pred, masks, todo))
            queries += [(item, m) for m in todo]
        tokens = {ex.id: target_of(p, ex.id)[1].get("token_id") for p, ex in zip(predictions, examples, strict=True)}
        batch = int(getattr(context, "batch_size", 0) or 8)
        got = iter(outputs(context.model, queries, removal=self.removal(), batch_size=batch,
                           target_tokens={k: v for k, v in tokens.items() if v is not None}))
        records = []
        for pred, masks, todo in plans:
            found = {m: next(got) for m in todo}
            full = [float(v) for v in pred["distribution"]]
            records.append({"masks": masks, "outputs": [found.get(m, full) for m in masks]})
        return records

    def checked(self, prediction: Any, reference: Any, record: dict[str, Any], where: str) -> tuple[float, list[float]]:
        """(p(y|x), p(y|·) on each recorded mask) after checking the record against the prediction."""
        index, _ = target_of(prediction, where)
        dist = [float(v) for v in prediction["distribution"]]
        want = self.masks(prediction, reference, where)
        masks, outs = record.get("masks"), record.get("outputs")
        if masks != want:
            raise DataError(f"{where}: recorded masks {masks!r} are not the ones the attribution gives under "
                            f"convention {self.config.convention!r} ({want!r})")
        if not isinstance(outs, list) or len(outs) != len(masks):
            raise DataError(f"{where}: record needs one output per mask ({len(masks)})")
        values = []
        full = "1" * len(_attribution(prediction, where))
        for mask, out in zip(masks, outs, strict=True):
            if mask == full:
                values.append(dist[index])
                continue
            if (not isinstance(out, list) or len(out) != len(dist)
                    or not all(isinstance(v, int | float) and math.isfinite(v) and 0.0 <= v <= 1.0 for v in out)):
                raise DataError(f"{where}: recorded output {out!r} is not a distribution of {len(dist)} probabilities")
            values.append(float(out[index]))
        return dist[index], values


class Comprehensiveness(RemovalMetric):
    """p(y|x) − p(y|x∖r), r = the convention's single rationale (``k``); higher is better."""

    keep = False

    def rationale(self, prediction, reference, where):
        scores = _attribution(prediction, where)
        return scores, conv.single_rationale(scores, self.config.convention, self.config.k,
                                             _human(reference, len(scores), where))

    def masks(self, prediction, reference, where="prediction"):
        scores, chosen = self.rationale(prediction, reference, where)
        return [] if chosen is None else [conv.to_mask(chosen, len(scores), keep_selected=self.keep)]

    def score_record(self, prediction, reference, record):
        p0, values = self.checked(prediction, reference, record, "prediction")
        if not values:  # ferret: no positive word, no rationale
            return 0.0 if not self.keep else 1.0
        return p0 - values[0]


class Sufficiency(Comprehensiveness):
    """p(y|x) − p(y|r): the rationale alone; lower is better (negative: r alone is more sure)."""

    keep = True


class AOPCComprehensiveness(RemovalMetric):
    """Mean over the convention's thresholds of p(y|x) − p(y|x∖r_t); higher is better."""

    keep = False

    def masks(self, prediction, reference, where="prediction"):
        scores = _attribution(prediction, where)
        return [conv.to_mask(r, len(scores), keep_selected=self.keep)
                for _, r in conv.aopc_rationales(scores, self.config.convention, self.config.thresholds)]

    def score_record(self, prediction, reference, record):
        p0, values = self.checked(prediction, reference, record, "prediction")
        if not values:
            return 0.0 if not self.keep else 1.0
        return float(np.mean([p0 - v for v in values]))


class AOPCSufficiency(AOPCComprehensiveness):
    """Mean over the thresholds of p(y|x) − p(y|r_t); lower is better."""

    keep = True


class TauLOO(RemovalMetric):
    """Kendall τ-b between the attribution and the leave-one-out effects; higher is better."""

    def masks(self, prediction, reference, where="prediction"):
        n = len(_attribution(prediction, where))
        return ["".join("0" if j == i else "1" for j in range(n)) for i in range(n)]

    def score_record(self, prediction, reference, record):
        from scipy.stats import kendalltau

        p0, values = self.checked(prediction, reference, record, "prediction")
        scores = _attribution(prediction, "prediction")
        effects = [p0 - v for v in values]
        if len(scores) < 2 or np.ptp(scores) == 0 or np.ptp(effects) == 0:
            return None
        return float(kendalltau(scores, effects, variant="b").statistic)


# --- plausibility ----------------------------------------------------------------------------------


class _Plausibility(Metric):
    input: ClassVar[str] = "rationale"  # the whole prediction; items without a human rationale are skipped

    def pairs(self, predictions, references):
        for i, (p, r) in enumerate(zip(predictions, references, strict=True)):
            scores = _attribution(p, f"prediction {i}")
            yield scores, _human(r, len(scores), f"reference {i}")

    def hard(self, scores: list[float]) -> list[int]:
        cfg = self.config
        n = len(scores)
        if cfg.discretise == "threshold":
            return [i for i, s in enumerate(scores) if s > cfg.threshold]
        k = cfg.k if cfg.discretise == "top_k" else conv.count_at(cfg.fraction, n)
        if cfg.only_pos:
            return conv.top(scores, k, "ferret")
        # ferret without only_pos ranks by |score| (ties: later word first)
        return sorted(range(n), key=lambda i: (-abs(scores[i]), -i))[:k]


class TokenF1(_Plausibility):
    """Per item: the attribution's hard rationale (``discretise``; ferret default: top 5 words with
    a positive score) against the human rationale: precision = tp/|pred|, recall = tp/|human|,
    F1 = 2PR/(P+R) (0 when P or R is 0; 0 for an empty predicted rationale). Mean over items =
    ferret's (and ERASER's) instance macro F1. None when the human rationale is empty."""

    def score_examples(self, predictions, references, context=None):
        out: list[float | None] = []
        for scores, human in self.pairs(predictions, references):
            if human is None or not any(human):
                out.append(None)
                continue
            pred = set(self.hard(scores))
            gold = {i for i, h in enumerate(human) if h}
            tp = len(pred & gold)
            p = tp / len(pred) if pred else 0.0
            r = tp / len(gold)
            out.append(0.0 if p == 0 or r == 0 else 2 * p * r / (p + r))
        return out


class TokenIOU(_Plausibility):
    """|pred ∩ human| / |pred ∪ human| of the hard rationale and the human one (ERASER's token
    IOU as ferret computes it, per item); None when the human rationale is empty."""

    def score_examples(self, predictions, references, context=None):
        out: list[float | None] = []
        for scores, human in self.pairs(predictions, references):
            if human is None or not any(human):
                out.append(None)
                continue
            pred = set(self.hard(scores))
            gold = {i for i, h in enumerate(human) if h}
            out.append(len(pred & gold) / len(pred | gold))
        return out


class AUPRC(_Plausibility):
    """Area under the precision–recall curve of the soft scores against the human rationale:
    ``sklearn.metrics.precision_recall_curve`` then ``auc(recall, precision)`` (trapezoidal), as
    in ERASER's ``_auprc`` and ferret's ``auprc_plau``; with ``only_pos`` negative scores count as
    0 (ferret). None when the human rationale is empty."""

    def score_examples(self, predictions, references, context=None):
        from sklearn.metrics import auc, precision_recall_curve

        out: list[float | None] = []
        for scores, human in self.pairs(predictions, references):
            if human is None or not any(human):
                out.append(None)
                continue
            soft = [max(0.0, s) for s in scores] if self.config.only_pos else scores
            precision, recall, _ = precision_recall_curve(human, soft)
            out.append(float(auc(recall, precision)))
        return out
