"""Simulatability (LAS) and the quality of self-explanations: counterfactual validity and
minimality, fluency.

- ``simulatability``: leakage-adjusted simulatability (Hase, Zhang, Xie & Bansal 2020, as in
  ``compute_sim.py`` of their code): a simulator predicts the task model's answer from the input
  and explanation (X+E), the input alone (X) and the explanation alone (E). The examples split
  into *leaking* (the simulator gets the answer from E alone) and *non-leaking* ones; in each
  subgroup the gain is acc(X+E) − acc(X); LAS = the unweighted mean of the two gains. A subgroup
  without examples has no gain, and LAS is then undefined (the reference's ``np.mean`` of an
  empty subgroup is NaN too) — never 0. Per example the value is the three correctness flags;
  the aggregate is LAS, so bootstrap intervals resample examples. The simulator is the
  ``simulator`` resource (default ``lm-simulator``; see ``lm_resources``).
- ``counterfactual_validity``: share of counterfactual edits that change the model's prediction,
  re-queried on the edited item (the flip rate; higher is better).
- ``counterfactual_minimality``: word-level Levenshtein distance between the original and the
  edited field over the original's number of tokens (MiCE's minimality, Ross et al. 2021; tokens
  are words and punctuation marks; lower is better).
- ``fluency``: perplexity of the explanation (for a counterfactual: of the edited field, as in
  MiCE/Polyjuice) under a fixed reference model: exp of the mean natural-log cross-entropy over
  its tokens. Not 2 ** (natural-log cross-entropy), the base mismatch inseq's perplexity step
  function had, which understates perplexity (2^H instead of e^H). Lower is better.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, ClassVar

from plurieval.api import DataError, Example, Metric, MetricContext, PluriError
from plurieval_faithfulness.consistency import SelfTest, _argmax, _dist, _items, ask
from plurieval_faithfulness.items import target_of

# --- simulatability --------------------------------------------------------------------------------

CONDITIONS = ("xe", "x", "e")


def las_parts(per_example: Sequence[Any]) -> dict[str, Any]:
    """LAS and its parts from per-example flags {"xe", "x", "e"} (1 = the simulator got the task
    model's answer). Gains of an empty subgroup and LAS with one are ``None``."""
    rows = [v for v in per_example if isinstance(v, dict)]

    def mean(vals: Sequence[int]) -> float | None:
        return sum(vals) / len(vals) if vals else None

    def gain(group: Sequence[dict[str, int]]) -> float | None:
        return (mean([r["xe"] for r in group]) - mean([r["x"] for r in group])) if group else None  # type: ignore[operator]

    leaked = [r for r in rows if r["e"]]
    nonleaked = [r for r in rows if not r["e"]]
    g_leak, g_non = gain(leaked), gain(nonleaked)
    return {"las": (g_leak + g_non) / 2 if g_leak is not None and g_non is not None else None,
            "leaking_gain": g_leak, "nonleaking_gain": g_non, "leaking": len(leaked), "nonleaking": len(nonleaked),
            "accuracy_xe": mean([r["xe"] for r in rows]), "accuracy_x": mean([r["x"] for r in rows]),
            "accuracy_e": mean([r["e"] for r in rows]), "n": len(rows)}


class Simulatability(SelfTest):
    """Leakage-adjusted simulatability (see the module docstring). Record: the simulator's option
    distribution for ``xe``, ``x`` and ``e`` and the ``simulator`` that made them. Per example
    ``{"xe", "x", "e"}`` (1 = simulated the model's answer); the aggregate is LAS (None where a
    leakage subgroup is empty); higher is better."""

    family: ClassVar[str] = "Simulatability"

    def not_applicable(self, prediction):
        if not isinstance((prediction or {}).get("text"), str) or not prediction["text"].strip():
            return "the prediction has no explanation text"
        return None

    def query_applicable(self, predictions, references, examples, context):
        if context.resources is None:
            raise PluriError("simulatability needs the resources of a plurieval host")
        sim = context.resources.get("simulator", self.config.simulator, self.config.simulator_params)
        items = _items(examples, predictions)
        cases = [(ex.input, list(it.fields), p["text"]) for ex, it, p in zip(examples, items, predictions, strict=True)]
        got = sim.simulate(cases)
        info = sim.describe() if hasattr(sim, "describe") else None
        return [{**g, "simulator": info} for g in got]

    def score_applicable(self, prediction, reference, record):
        index, _ = target_of(prediction)
        k = len(prediction["distribution"])
        return {c: int(_argmax(_dist(record.get(c), k, f"simulatability {c}")) == index) for c in CONDITIONS}

    def aggregate(self, per_example):
        las = las_parts(per_example)["las"]
        return float("nan") if las is None else float(las)


# --- counterfactual quality ---------------------------------------------------------------------------


def _counterfactual(prediction: Any) -> dict[str, Any] | None:
    cf = ((prediction or {}).get("extra") or {}).get("counterfactual")
    return cf if isinstance(cf, dict) else None


class CounterfactualValidity(SelfTest):
    """1 when the counterfactual edit changes the model's prediction (the method is asked again on
    the edited item), else 0 (an empty edit is invalid); None for predictions without a
    counterfactual. Mean = the flip rate; higher is better. Record: ``edited`` (the field text
    asked about) and ``answer`` (the option distribution on the edited item)."""

    family: ClassVar[str] = "CounterfactualValidity"

    def not_applicable(self, prediction):
        return None if _counterfactual(prediction) else "the prediction has no counterfactual (extra.counterfactual)"

    def query_applicable(self, predictions, references, examples, context):
        edited, records = [], []
        for pred, ex in zip(predictions, examples, strict=True):
            cf = _counterfactual(pred)
            if not cf.get("edited"):  # type: ignore[union-attr]
                records.append({"edited": "", "answer": None})
                continue
            inp = dict(ex.input)
            inp[cf["field"]] = cf["edited"]  # type: ignore[index]
            edited.append(Example(ex.id + "#counterfactual", inp, ex.target, ex.metadata))
            records.append({"edited": cf["edited"], "field": cf["field"]})  # type: ignore[index]
        dists, _ = ask(context.method, context.model, edited) if edited else ([], None)
        got = iter(dists)
        for rec in records:
            if rec["edited"]:
                rec["answer"] = [float(v) for v in next(got)]
        return records

    def score_applicable(self, prediction, reference, record):
        cf = _counterfactual(prediction)
        edited = cf.get("edited")  # type: ignore[union-attr]
        if record.get("edited") != (edited or ""):
            raise DataError("counterfactual_validity: the record is about another edit than the prediction's")
        if not edited or edited == cf.get("original"):  # type: ignore[union-attr]
            return 0.0
        index, _ = target_of(prediction)
        after = _argmax(_dist(record.get("answer"), len(prediction["distribution"]), "counterfactual_validity"))
        return 1.0 if after != index else 0.0


_TOKENS = re.compile(r"\w+|[^\w\s]")


def word_tokens(text: str, lowercase: bool = False) -> list[str]:
    return _TOKENS.findall(text.lower() if lowercase else text)


class CounterfactualMinimality(Metric):
    """Word-level Levenshtein distance (rapidfuzz) between the original and the edited field,
    divided by the original's number of tokens (words and punctuation marks); 0 = unchanged.
    None without a counterfactual or for an empty edit. Lower is better (pure: no model)."""

    input: ClassVar[str] = "prediction"

    def score_examples(self, predictions, references, context: MetricContext | None = None):
        from rapidfuzz.distance import Levenshtein

        out: list[float | None] = []
        for p in predictions:
            cf = _counterfactual(p)
            if cf is None or not cf.get("edited"):
                out.append(None)
                continue
            a = word_tokens(cf["original"], self.config.lowercase)
            b = word_tokens(cf["edited"], self.config.lowercase)
            out.append(Levenshtein.distance(a, b) / len(a) if a else None)
        return out


# --- fluency -------------------------------------------------------------------------------------------


def fluency_text(prediction: Any) -> str | None:
    cf = _counterfactual(prediction)
    if cf is not None:
        return cf.get("edited") or None
    text = (prediction or {}).get("text")
    return text if isinstance(text, str) and text.strip() else None


def perplexity(logprobs: Sequence[float]) -> float:
    """exp of the mean natural-log cross-entropy (−mean ln p) over the tokens."""
    return math.exp(-sum(logprobs) / len(logprobs))


class Fluency(SelfTest):
    """Perplexity of the explanation (of the edited field for a counterfactual) under the
    ``reference_lm`` resource: exp(−mean ln p(token)), the first token conditioned on the
    document separator. Record: ``text`` and ``logprobs`` (natural log, one per token) and the
    ``reference`` model. Lower is better."""

    family: ClassVar[str] = "Fluency"

    def not_applicable(self, prediction):
        return None if fluency_text(prediction) else "the prediction has no explanation text"

    def query_applicable(self, predictions, references, examples, context):
        if context.resources is None:
            raise PluriError("fluency needs the resources of a plurieval host")
        ref = context.resources.get("reference_lm", self.config.reference, self.config.reference_params)
        texts = [fluency_text(p) for p in predictions]
        info = ref.describe() if hasattr(ref, "describe") else None
        return [{"text": t, "logprobs": lp, "reference": info} for t, lp in zip(texts, ref.token_logprobs(texts),
                                                                                 strict=True)]

    def score_applicable(self, prediction, reference, record):
        if record.get("text") != fluency_text(prediction):
            raise DataError("fluency: the record scores another text than the prediction's")
        lps = record.get("logprobs")
        if (not isinstance(lps, list) or not lps
                or not all(isinstance(v, int | float) and math.isfinite(v) and v <= 0 for v in lps)):
            raise DataError("fluency: 'logprobs' must be finite natural-log probabilities (≤ 0), one per token")
        return perplexity(lps)
