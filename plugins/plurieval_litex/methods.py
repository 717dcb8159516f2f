"""LITEX methods: explanation generation under three conditions, and a taxonomy classifier.

Generation conditions (what the prompt gives besides premise and hypothesis):

- ``label``: the gold NLI label;
- ``label+highlights``: the label and the words human annotators highlighted (e-SNLI);
  examples without highlights fall back to the label alone (``extra["condition_used"]``);
- ``label+category``: the label and the LiTEx category, with its definition, that the human
  explanation belongs to, so the model is asked for *that kind* of explanation.

The classifier assigns a category to a free-text explanation by reading the next-token
log-probabilities of the category letters (A–H) after a prompt listing the eight categories with
their definitions; it returns the label (category key) and a distribution over the categories.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from typing import Any

import numpy as np

from plurieval.api import Example, ExplanationMethod, Prediction, choice_logprobs, generate_texts
from plurieval_litex.taxonomy import TAXONOMY


def _item(inp: dict[str, Any]) -> str:
    return f"Premise: {inp['premise']}\nHypothesis: {inp['hypothesis']}"


def first_sentence(text: str) -> str:
    """The explanation proper: the first non-empty line, cut after its first sentence end."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = re.sub(r"^(explanation|answer)\s*:\s*", "", line, flags=re.IGNORECASE)
    m = re.search(r"[.!?](\s|$)", line)
    return line[: m.start() + 1] if m else line


class Explain(ExplanationMethod):
    """Generate a one-sentence explanation of the NLI label (see the module docstring)."""

    def prompt(self, ex: Example) -> tuple[str, str]:
        inp, cond = ex.input, self.config.condition
        parts = [_item(inp)]
        if inp.get("label"):
            parts.append(f"Label: {inp['label']}")
        used = "label"
        if cond == "label+highlights":
            hl = inp.get("highlights") or {}
            if hl.get("premise") or hl.get("hypothesis"):
                parts.append(f"Key words in the premise: {', '.join(hl.get('premise') or []) or '(none)'}\n"
                             f"Key words in the hypothesis: {', '.join(hl.get('hypothesis') or []) or '(none)'}")
                used = cond
        elif cond == "label+category" and inp.get("category"):
            cat = TAXONOMY.normalize(inp["category"])
            parts.append(f"Explanation type: {cat.name}: {cat.definition}")
            used = cond
        parts.append("Explain in one short sentence why the label holds"
                     + (", giving an explanation of that type." if used == "label+category" else "."))
        return "\n".join(parts), used

    def predict(self, model: Any, examples: Sequence[Example], run: Any = None) -> list[Prediction]:
        prompts, used = zip(*(self.prompt(ex) for ex in examples), strict=True) if examples else ((), ())
        texts = generate_texts(model, run, list(prompts), max_new_tokens=self.config.max_new_tokens,
                               chat=self.config.chat)
        return [Prediction(ex.id, text=first_sentence(t), extra={"raw": t, "condition_used": u})
                for ex, t, u in zip(examples, texts, used, strict=True)]


class Classify(ExplanationMethod):
    """Assign a LiTEx category to the human explanation of each example."""

    def prompt(self, ex: Example) -> str:
        letters = string.ascii_uppercase[: len(TAXONOMY)]
        lines = [f"{letter}. {c.name}" + (f": {c.definition}" if self.config.with_definitions else "")
                 for letter, c in zip(letters, TAXONOMY, strict=True)]
        label = f"\nLabel: {ex.input['label']}" if ex.input.get("label") else ""
        return (f"{_item(ex.input)}{label}\nExplanation: {ex.input['explanation']}\n\n"
                "Which type of reasoning does the explanation use?\n" + "\n".join(lines) +
                f"\nAnswer with one letter ({letters[0]}-{letters[-1]}).")

    def predict(self, model: Any, examples: Sequence[Example], run: Any = None) -> list[Prediction]:
        letters = list(string.ascii_uppercase[: len(TAXONOMY)])
        batch = run.config.batch_size if run is not None else 8
        lp = choice_logprobs(model, [self.prompt(ex) for ex in examples], letters, chat=self.config.chat,
                             batch_size=batch)
        out = []
        for ex, row in zip(examples, lp, strict=True):
            z = np.exp(row - row.max())
            dist = z / z.sum()
            out.append(Prediction(ex.id, label=TAXONOMY.keys[int(np.argmax(row))], distribution=dist.tolist(),
                                  scores=row.tolist()))
        return out
