"""HLV methods: a label distribution from option logits, and the chain-of-thought support pipeline.

Both work on any example whose ``input`` holds ``options`` plus text fields (``premise`` and
``hypothesis`` for NLI; any other fields are shown as "Field: value" lines), and return a
``Prediction`` with ``scores`` (per option, for rank metrics), ``distribution`` (sums to 1) and
``label`` (the top option).
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

import numpy as np

from plurieval.api import Example, ExplanationMethod, Prediction, choice_logprobs, generate_texts
from plurieval_hlv.metrics import normalize
from plurieval_hlv.segmentation import segment

_NLI_GLOSS = {
    "entailment": "the hypothesis is definitely true given the premise",
    "neutral": "the hypothesis might be true or false",
    "contradiction": "the hypothesis is definitely false given the premise",
}


def describe_item(inp: dict[str, Any]) -> str:
    """The item's text fields as "Field: value" lines (premise and hypothesis first)."""
    keys = [k for k in ("premise", "hypothesis") if k in inp] + [
        k for k in inp if k not in ("premise", "hypothesis", "options")
    ]
    return "\n".join(f"{k.replace('_', ' ').capitalize()}: {inp[k]}" for k in keys)


def options_block(options: Sequence[str]) -> tuple[str, list[str]]:
    letters = list(string.ascii_uppercase[: len(options)])
    lines = [f"{letter}. {opt}" + (f" ({_NLI_GLOSS[opt]})" if opt in _NLI_GLOSS else "")
             for letter, opt in zip(letters, options, strict=True)]
    return "\n".join(lines), letters


def _to_distribution(scores: np.ndarray, normalization: str, temperature: float) -> np.ndarray:
    return normalize(scores / temperature if normalization == "softmax" else scores, normalization)


class OptionLogits(ExplanationMethod):
    """Ask the question once with lettered options; read the next-token log-probabilities of the
    letters (A, B, C, ...). ``scores`` = those log-probabilities (equal to the option logits up
    to a shared constant); ``distribution`` = softmax(scores / T) or the linear normalisation
    (z − min z)/Σ(z − min z) (which gives the lowest option probability 0: use a metric with
    ``epsilon`` smoothing for KL)."""

    def prompt(self, ex: Example) -> tuple[str, list[str]]:
        block, letters = options_block(ex.input["options"])
        text = (f"{describe_item(ex.input)}\n\nWhich answer is correct?\n{block}\n"
                f"Answer with the letter only ({', '.join(letters)}).")
        return text, letters

    def predict(self, model: Any, examples: Sequence[Example], run: Any = None) -> list[Prediction]:
        out: list[Prediction] = []
        groups: dict[int, list[int]] = {}
        for i, ex in enumerate(examples):
            groups.setdefault(len(ex.input["options"]), []).append(i)
        results: dict[int, Prediction] = {}
        batch = run.config.batch_size if run is not None else 8
        for _, idx in groups.items():  # examples with the same number of options share one pass
            prompts, letters = zip(*(self.prompt(examples[i]) for i in idx), strict=True)
            lp = choice_logprobs(model, list(prompts), letters[0], chat=self.config.chat, batch_size=batch)
            for row, i in zip(lp, idx, strict=True):
                dist = _to_distribution(row, self.config.normalization, self.config.temperature)
                options = examples[i].input["options"]
                results[i] = Prediction(examples[i].id, label=options[int(np.argmax(row))],
                                        distribution=dist.tolist(), scores=row.tolist(),
                                        extra={"letters": list(letters[0])})
        out = [results[i] for i in range(len(examples))]
        return out


class CoTSupport(ExplanationMethod):
    """The chain-of-thought HLV pipeline.

    1. Generate a chain of thought (CoT) for the item (greedy, ``max_new_tokens``).
    2. Segment it into statements: sentences split before discourse connectives
       (``plurieval_hlv.segmentation``).
    3. For every statement and option, ask the model whether the statement supports that
       answer; s = P(Yes) / (P(Yes) + P(No)) from the next-token probabilities (> ½ supports,
       < ½ opposes).
    4. Option score = mean over statements of (2s − 1) ∈ [−1, 1]; ranking = scores sorted;
       distribution = softmax(score / T) (or linear). A CoT with no statement gives equal
       scores (a uniform distribution), flagged in ``extra["empty_cot"]``.
    ``extra`` keeps the CoT, the statements and the support matrix, so the explanation can be
    inspected next to the numbers.
    """

    def cot_prompt(self, ex: Example) -> str:
        block, _ = options_block(ex.input["options"])
        return (f"{describe_item(ex.input)}\n\nPossible answers:\n{block}\n"
                "Think step by step: explain in a few short sentences which answers are plausible and why.")

    def judge_prompt(self, ex: Example, statement: str, option: str) -> str:
        return (f"{describe_item(ex.input)}\n\nStatement: \"{statement}\"\n"
                f"Does this statement support the answer \"{option}\"? Answer Yes or No.")

    def predict(self, model: Any, examples: Sequence[Example], run: Any = None) -> list[Prediction]:
        cfg = self.config
        batch = run.config.batch_size if run is not None else 8
        cots = generate_texts(model, run, [self.cot_prompt(ex) for ex in examples],
                              max_new_tokens=cfg.max_new_tokens, chat=cfg.chat)
        statements = [segment(c)[: cfg.max_statements] for c in cots]
        prompts, where = [], []
        for i, (ex, stmts) in enumerate(zip(examples, statements, strict=True)):
            for s_i, st in enumerate(stmts):
                for o_i, opt in enumerate(ex.input["options"]):
                    prompts.append(self.judge_prompt(ex, st, opt))
                    where.append((i, s_i, o_i))
        lp = choice_logprobs(model, prompts, ["Yes", "No"], chat=cfg.chat, batch_size=batch)
        support_p = 1.0 / (1.0 + np.exp(lp[:, 1] - lp[:, 0])) if len(prompts) else np.zeros(0)
        matrices = [np.full((len(st), len(ex.input["options"])), 0.5) for ex, st in zip(examples, statements, strict=True)]
        for (i, s_i, o_i), p in zip(where, support_p, strict=True):
            matrices[i][s_i, o_i] = p
        out = []
        for ex, cot, stmts, mat in zip(examples, cots, statements, matrices, strict=True):
            k = len(ex.input["options"])
            scores = (2 * mat - 1).mean(axis=0) if len(stmts) else np.zeros(k)
            dist = _to_distribution(scores, cfg.normalization, cfg.temperature)
            ranking = [ex.input["options"][j] for j in np.argsort(-scores, kind="stable")]
            out.append(Prediction(
                ex.id, text=cot, label=ranking[0], distribution=dist.tolist(), scores=scores.tolist(),
                extra={"statements": stmts, "support": mat.round(4).tolist(), "ranking": ranking,
                       "empty_cot": not stmts},
            ))
        return out
