"""CLaS-Bench metrics: language control F, relevance J, and their harmonic mean.

- **F (language_control)**: per output 1 if the language identifier's label equals the target
  language, else 0 (empty output → "und" → 0). F = 100 · mean.
- **J (relevance)**: per output 0 (irrelevant), 1 (partly relevant), 2 (relevant and coherent),
  judged *ignoring language*. J = 100 · mean / 2. Two judges:
  ``mode="judge"`` — the CLaS-Bench protocol: an LLM judge (any HF chat model) reads the source
  question and the output and answers one digit (prompt: ``JUDGE_PROMPT``; an unparsable reply
  scores 0). ``mode="embedding"`` — offline **proxy**: cosine similarity between multilingual
  embeddings (default embedder: multilingual-e5-small) of output and source question, mapped
  to 0 below ``low``, 1 below ``high``, 2 otherwise. Results label it ``relevance_proxy``.
- **Degenerate text** (``degenerate_check``, on by default; ``plurieval.text.degenerate``): a
  repetition loop, replacement-character or symbol run scores 0 for F and for J whatever the
  identifier or the judge says (details mark it ``"degenerate": true``); ``echo_check`` removes
  a repeated question from the output before the proxy embeds it.
- **Steering score**: S = 2FJ / (F + J) (0 when F + J = 0). Per example the metric stores
  ``{"f": 0|1, "j": 0|1|2}`` so S, F, J and bootstrap intervals can be recomputed from the
  results file alone; note S is a harmonic mean of *aggregates*, not a mean of per-example S.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from plurieval.api import Metric, MetricContext, MetricOutput, PluriError, is_degenerate, strip_echo

from .config import LanguageControlConfig, RelevanceConfig

JUDGE_PROMPT = """You are grading how well an answer responds to a question. The answer may be written in a \
different language from the question: ignore the language completely and judge only the content.

Question: {question}

Answer: {answer}

Score the answer:
0 = irrelevant or incoherent (does not address the question, gibberish, or endless repetition)
1 = partly relevant (related to the question, but incomplete, partly wrong or partly incoherent)
2 = relevant and coherent (sensibly addresses the question)

Reply with a single digit: 0, 1 or 2."""

_DIGIT = re.compile(r"[012]")


def f_score(flags: Sequence[float]) -> float:
    """F = 100 · share of outputs in the target language."""
    return 100.0 * sum(flags) / len(flags) if flags else float("nan")


def j_score(scores: Sequence[float]) -> float:
    """J = 100 · mean(0/1/2 scores) / 2."""
    return 100.0 * sum(scores) / (2 * len(scores)) if scores else float("nan")


def harmonic(f: float, j: float) -> float:
    """2FJ/(F+J); 0 when both are 0 (a method that neither controls language nor stays
    relevant scores 0, not NaN); NaN if either is undefined."""
    if math.isnan(f) or math.isnan(j):
        return float("nan")
    return 0.0 if f + j == 0 else 2 * f * j / (f + j)


def parse_judge(text: str) -> int | None:
    """First 0/1/2 digit of the judge's reply; None if there is none."""
    m = _DIGIT.search(text or "")
    return int(m.group()) if m else None


def _text(p: Any) -> str:
    return p if isinstance(p, str) else getattr(p, "text", None) or (p.get("text", "") if isinstance(p, dict) else str(p))


def _ref(r: Any, key: str) -> Any:
    return r.get(key) if isinstance(r, dict) else r


class LanguageControl(Metric):
    """References: the target language code (or a dict with ``"language"``). Details per
    example: ``{"detected": <code>}``."""

    def score(self, predictions, references, context: MetricContext | None = None) -> MetricOutput:
        cfg: LanguageControlConfig = self.config
        lid = _resources(context).get("language_identifier", cfg.identifier, cfg.identifier_params)
        texts = [_text(p) for p in predictions]
        detected = lid.detect(texts)
        langs = [_ref(r, "language") for r in references]
        # py3langid labels symbol runs as a language (issue 19): F counts only non-degenerate text
        degenerate = [bool(cfg.degenerate_check and is_degenerate(t, lang, cfg.degenerate))
                      for lang, t in zip(langs, texts, strict=True)]
        values = [1.0 if d == lang and not bad else 0.0 for d, lang, bad in zip(detected, langs, degenerate, strict=True)]
        details = [{"detected": d, **({"degenerate": True} if bad else {})} for d, bad in zip(detected, degenerate, strict=True)]
        return MetricOutput(values, details)

    def aggregate(self, per_example) -> float:
        return f_score([float(v) for v in per_example])


class Relevance(Metric):
    """References: the source question (or a dict with ``"question"``). Details per example:
    the cosine ``similarity`` (embedding proxy) or the judge's raw ``reply`` (judge)."""

    def score(self, predictions, references, context: MetricContext | None = None) -> MetricOutput:
        outputs = [_text(p) for p in predictions]
        questions = [_ref(r, "question") for r in references]
        cfg: RelevanceConfig = self.config
        out = self._judge(outputs, questions, context) if cfg.mode == "judge" else self._embedding(outputs, questions, context)
        if cfg.degenerate_check:  # a loop of on-topic words is close to the question in embedding space
            for i, o in enumerate(outputs):
                if is_degenerate(o, None, cfg.degenerate):
                    out.values[i] = 0
                    out.details[i]["degenerate"] = True
        return out

    def _embedding(self, outputs: list[str], questions: list[str], context: MetricContext | None) -> MetricOutput:
        import numpy as np

        cfg: RelevanceConfig = self.config
        if cfg.low > cfg.high:
            raise PluriError(f"relevance thresholds must satisfy low <= high (got low={cfg.low}, high={cfg.high})")
        emb = _resources(context).get("embedder", cfg.embedder, cfg.embedder_params)
        if cfg.echo_check:  # a repeated question is as close to the question as text gets, and no answer
            outputs = [strip_echo(o, q) for o, q in zip(outputs, questions, strict=True)]
        a = np.asarray(emb.encode([o if o.strip() else " " for o in outputs]))
        b = np.asarray(emb.encode(questions))
        sims = (a * b).sum(1)  # compared in the embedder's dtype, as published thresholds were calibrated
        values = [0 if not o.strip() else 0 if s < cfg.low else 1 if s < cfg.high else 2
                  for o, s in zip(outputs, sims, strict=True)]
        return MetricOutput(values, [{"similarity": float(s)} for s in sims])

    def _judge(self, outputs: list[str], questions: list[str], context: MetricContext | None) -> MetricOutput:
        cfg: RelevanceConfig = self.config
        params = {"model": cfg.judge_model, "max_new_tokens": cfg.judge_max_new_tokens} if cfg.judge_model else {}
        judge = _resources(context).get("judge", cfg.judge or "hf-judge", params)
        prompts = [JUDGE_PROMPT.format(question=q, answer=o) for q, o in zip(questions, outputs, strict=True)]
        replies = judge.judge(prompts)
        return MetricOutput([parse_judge(r) or 0 for r in replies], [{"reply": r} for r in replies])

    def aggregate(self, per_example) -> float:
        return j_score([float(v) for v in per_example])


class SteeringScore(Metric):
    """References: ``{"language": target, "question": source question}``. Per example
    ``{"f", "j"}``; aggregate 2FJ/(F+J) over the aggregates F and J. Parts already scored on
    the same examples with the same settings (``MetricContext.computed``) are reused."""

    def score_examples(self, predictions, references, context: MetricContext | None = None) -> list[dict[str, int]]:
        f = _part(context, "language_control", self.config.language_control)
        if f is None:
            f = LanguageControl(self.config.language_control).score_examples(predictions, references, context)
        j = _part(context, "relevance", self.config.relevance)
        if j is None:
            j = Relevance(self.config.relevance).score_examples(predictions, references, context)
        return combine(f, j)

    def aggregate(self, per_example) -> float:
        return steering_aggregate(per_example)


def _part(context: MetricContext | None, name: str, config: Any) -> list[Any] | None:
    if context is None or name not in context.computed:
        return None
    part_config, values = context.computed[name]
    return list(values) if part_config == config else None


def combine(f: Sequence[float], j: Sequence[float]) -> list[dict[str, int]]:
    return [{"f": int(a), "j": int(b)} for a, b in zip(f, j, strict=True)]


def steering_aggregate(per_example: Sequence[dict[str, Any]]) -> float:
    rows = [r for r in per_example if r is not None]
    return harmonic(f_score([r["f"] for r in rows]), j_score([r["j"] for r in rows]))


def _resources(context: MetricContext | None) -> Any:
    if context is None or context.resources is None:
        from plurieval.api import Resources

        return Resources.default()
    return context.resources


class HFJudge:
    """Resource ``judge``: any HF chat model as judge (greedy, short replies)."""

    def __init__(self, config: Any):
        from plurieval.api import load_hf

        self.config = config
        self.lm = _registered_model(config.model) or load_hf(config.model)

    def judge(self, prompts: list[str]) -> list[str]:
        gens = self.lm.generate(prompts, max_new_tokens=self.config.max_new_tokens, batch_size=self.config.batch_size)
        return [g.text for g in gens]


def _registered_model(name: str) -> Any:
    """A registered model by name (``default``, ``gemma3-270m``), or None for a hub id / folder."""
    from plurieval.api import get_host

    host = get_host()
    if "/" in name or name not in {s.name for s in host.registry.all("model")}:
        return None
    return host.get("model", name).create({})


__all__ = ["JUDGE_PROMPT", "HFJudge", "LanguageControl", "Relevance", "SteeringScore", "f_score", "harmonic",
           "j_score", "parse_judge", "steering_aggregate"]
