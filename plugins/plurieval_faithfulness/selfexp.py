"""Self-explanation methods: the model under evaluation explains its own answer.

Every method works on option items (NLI and any multiple-choice item) through the same
:class:`~plurieval_faithfulness.items.Item` the attribution methods use, and answers in two steps
that the faithfulness tests call separately (so a test that perturbs the input can re-ask only
what it needs):

- ``answer`` — the model's prediction: ``nle-post-hoc`` and ``counterfactual-edit`` read it from
  the option letters' next-token log-probabilities after the ``option-logits`` prompt (the
  prediction the attribution methods explain); ``cot`` generates a chain of thought first and
  reads the letter after "The best answer is: (" that follows it.
- ``explain`` — the explanation of that answer: ``nle-post-hoc`` asks "Why?" after the answer
  and lets the model continue "Because" (CC-SHAP's post-hoc prompt); ``cot``'s explanation is its
  reasoning; ``counterfactual-edit`` asks the model to rewrite one field minimally so that its
  answer would become another option, then re-queries the model on the rewritten item to check
  the edit (``extra.counterfactual``: the edit, the requested option, the new prediction,
  whether it flipped) and verbalises it as its explanation text.

A prompt is a :class:`Template`: chat turns made of segments that are the item (its words can be
masked), fixed scaffold, or *suffix* words (the answer and question around the explanation,
which CC-SHAP treats as players and marginalises). ``render`` turns a template into the exact
text fed to the model; the tests build their perturbed prompts through the same function.

Generation is greedy and goes through the run (``generate_texts``), so it is cached by content.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from plurieval.api import DataError, Example, ExplanationMethod, PluriError, Prediction, choice_logprobs, generate_texts
from plurieval_faithfulness.items import Item, ItemSettings, build_item, masked_words, predicted, prompt_renderer

ANSWER_LINE = "Answer with the letter only"


# --- templates --------------------------------------------------------------------------------

# A segment is (kind, text): "item" = the item's option-logits prompt, "question" = that prompt
# without its answer instruction, "fixed" = scaffold, "suffix" = words that are players.
Segment = tuple[str, str]


@dataclass(frozen=True)
class Template:
    turns: tuple[tuple[str, tuple[Segment, ...]], ...]
    lead: tuple[Segment, ...] = ()

    def suffix_words(self) -> list[str]:
        segs = [s for _, segs in self.turns for s in segs] + list(self.lead)
        return [w for kind, text in segs if kind == "suffix" for w in text.split()]


def question_of(prompt: str) -> str:
    """The option-logits prompt without its last line (the "answer with the letter only" line)."""
    head, _, last = prompt.rpartition("\n")
    return head if head and last.startswith(ANSWER_LINE) else prompt


def format_turns(model: Any, turns: Sequence[tuple[str, str]], chat: bool) -> str:
    """The chat template over ``turns`` with the assistant's generation prompt (or, without a
    template, the turns one per line)."""
    tok = model.tokenizer
    if chat and getattr(tok, "chat_template", None):
        messages = [{"role": role, "content": text} for role, text in turns]
        return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return "\n".join(text for _, text in turns) + "\n"


def render(model: Any, item: Item, template: Template, *, item_mask: str | None = None,
           suffix_mask: str | None = None, removal: str = "delete", mask_token: str = "",
           collapse: bool = False, chat: bool = True) -> str:
    """The text fed to the model (``chat=False`` when encoding it: the template is applied here)."""
    suffix = template.suffix_words()
    keep = suffix_mask if suffix_mask is not None else "1" * len(suffix)
    if len(keep) != len(suffix):
        raise DataError(f"{item.example.id}: suffix mask {keep!r} must have {len(suffix)} characters")
    pos = 0

    def text_of(kind: str, text: str) -> str:
        nonlocal pos
        if kind in ("item", "question"):
            prompt = item.prompt(item_mask, removal, mask_token, collapse)  # type: ignore[arg-type]
            return prompt if kind == "item" else question_of(prompt)
        if kind == "fixed":
            return text
        words = text.split()
        part = keep[pos:pos + len(words)]
        pos += len(words)
        if removal == "delete":
            return " ".join(w for w, k in zip(words, part, strict=True) if k == "1")
        return " ".join(masked_words(words, part, mask_token, collapse))

    turns = [(role, "".join(text_of(k, t) for k, t in segs)) for role, segs in template.turns]
    lead = "".join(text_of(k, t) for k, t in template.lead)
    return format_turns(model, turns, chat) + lead


def first_sentence(text: str) -> str:
    """The first non-empty line of ``text``, cut after its first sentence end (leading space kept)."""
    lines = [ln for ln in text.split("\n") if ln.strip()]
    line = lines[0] if lines else ""
    m = re.search(r"[.!?](\s|$)", line)
    return line[: m.start() + 1] if m else line.rstrip()


def letter_distribution(model: Any, texts: Sequence[str], letters: Sequence[str], batch_size: int = 8) -> np.ndarray:
    """Softmax over the option letters' next-token log-probabilities after each formatted text."""
    lp = choice_logprobs(model, list(texts), list(letters), chat=False, batch_size=batch_size)
    z = np.exp(lp - lp.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


# --- answers ------------------------------------------------------------------------------------


@dataclass
class Answer:
    """The model's answer to an item: the option, its distribution, and (``cot``) the reasoning."""

    label: str
    index: int
    distribution: list[float]
    letter: str
    reasoning: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def target(self) -> dict[str, Any]:
        return {"kind": "option", "index": self.index, "option": self.label, "letter": self.letter}

    @classmethod
    def from_distribution(cls, item: Item, dist: Sequence[float], **kw: Any) -> Answer:
        j = int(np.argmax(dist))
        return cls(item.options[j], j, [float(v) for v in dist], item.letters[j], **kw)  # type: ignore[index]


def _batch(run: Any) -> int:
    # batch_size None: the model layer chooses for generation; these loops batch items themselves.
    return int(run.config.batch_size or 8) if run is not None else 8


class SelfExplanationMethod(ExplanationMethod):
    """Shared loop: items → ``answer`` → ``explain`` → one Prediction per example."""

    method_name = "self-explanation"

    def settings(self) -> ItemSettings:
        fields = getattr(self.config, "fields", None)
        return ItemSettings(fields=tuple(fields) if fields else None, chat=self.config.chat)

    def items(self, examples: Sequence[Example]) -> list[Item]:
        bad = [ex.id for ex in examples if not (isinstance(ex.input, dict) and ex.input.get("options"))]
        if bad:
            raise DataError(f"{self.method_name} explains option items (input with 'options'); {bad[0]} has none")
        renderer = prompt_renderer()
        return [build_item(ex, self.settings(), renderer) for ex in examples]

    def describe(self) -> dict[str, Any]:
        return {"name": self.method_name, **self.config.model_dump(mode="json")}

    # The two steps the tests call; ``items`` may be given to avoid rebuilding them.
    def answer(self, model: Any, examples: Sequence[Example], run: Any = None,
               items: Sequence[Item] | None = None) -> list[Answer]:
        items = list(items) if items is not None else self.items(examples)
        return [Answer.from_distribution(it, p["distribution"]) for it, p in zip(items, predicted(model, items, _batch(run)),
                                                                                 strict=True)]

    def explain(self, model: Any, examples: Sequence[Example], answers: Sequence[Answer], run: Any = None,
                items: Sequence[Item] | None = None) -> list[tuple[str, dict[str, Any]]]:
        """(explanation text, extra fields) per example."""
        raise NotImplementedError

    # For CC-SHAP: the prompt whose continuation is the explanation, and that continuation.
    def explanation_template(self, item: Item, answer: Answer) -> Template:
        raise NotImplementedError

    @staticmethod
    def prediction_template() -> Template:
        return Template(turns=(("user", (("item", ""),)),))

    def predict(self, model: Any, examples: Sequence[Example], run: Any = None) -> list[Prediction]:
        if model is None:
            raise PluriError(f"{self.method_name} explains the model under evaluation; it needs a model")
        started = time.perf_counter()
        items = self.items(examples)
        answers = self.answer(model, examples, run, items)
        explanations = self.explain(model, examples, answers, run, items)
        seconds = (time.perf_counter() - started) / max(1, len(examples))
        out = []
        for item, ans, (text, extra) in zip(items, answers, explanations, strict=True):
            info = {"item": item.settings.to_dict(), "target": ans.target, "options": list(item.options or []),
                    "features": item.features, "method": self.describe(),
                    "answer": {"letter": ans.letter, **ans.extra}, "seconds": round(seconds, 4), **extra}
            if ans.reasoning is not None:
                info["reasoning"] = ans.reasoning
            out.append(Prediction(item.example.id, text=text, label=ans.label, distribution=ans.distribution,
                                  extra=info))
        return out


# --- nle-post-hoc ----------------------------------------------------------------------------------


class NLEPostHoc(SelfExplanationMethod):
    """Predict (option letters after the option-logits prompt), then ask "Why?" and let the model
    continue "Because"; the explanation is the first sentence of that continuation."""

    method_name = "nle-post-hoc"

    def explanation_template(self, item: Item, answer: Answer) -> Template:
        c = self.config
        return Template(turns=(("user", (("item", ""),)), ("assistant", (("suffix", answer.letter),)),
                               ("user", (("suffix", c.question),))),
                        lead=(("suffix", c.lead),))

    def explain(self, model, examples, answers, run=None, items=None):
        items = list(items) if items is not None else self.items(examples)
        prompts = [render(model, it, self.explanation_template(it, a), chat=self.config.chat)
                   for it, a in zip(items, answers, strict=True)]
        texts = generate_texts(model, run, prompts, max_new_tokens=self.config.max_new_tokens, chat=False)
        out = []
        for raw in texts:
            output = first_sentence(raw)
            out.append(((self.config.lead + output).strip(), {"explanation_output": output, "raw": raw}))
        return out


# --- cot -------------------------------------------------------------------------------------------

_CUE = re.compile(r"the (best )?answer is", re.IGNORECASE)


def clean_reasoning(raw: str) -> str:
    """The reasoning before the model states its answer (a stated answer is read again after the
    answer cue, so it is cut here)."""
    m = _CUE.search(raw)
    return (raw[: m.start()] if m else raw).rstrip()


class ChainOfThought(SelfExplanationMethod):
    """Reason, then answer: the model continues "Let's think step by step:" after the question
    and CC-SHAP's CoT instruction; its answer is the option letter read after the reasoning and
    "The best answer is: (". The reasoning is the explanation."""

    method_name = "cot"

    def cot_template(self, bias: str = "") -> Template:
        c = self.config
        return Template(turns=(("user", (("question", ""), ("fixed", "\n"), ("suffix", c.instruction + bias))),),
                        lead=(("suffix", c.lead),))

    def explanation_template(self, item: Item, answer: Answer) -> Template:
        return self.cot_template()

    def reason(self, model: Any, items: Sequence[Item], run: Any = None, bias: Sequence[str] | None = None,
               prefixes: Sequence[str] | None = None) -> list[str]:
        """Reasoning for each item (``prefixes``: continue a given start of the reasoning)."""
        heads = [render(model, it, self.cot_template(bias[i] if bias else ""), chat=self.config.chat)
                 for i, it in enumerate(items)]
        starts = list(prefixes) if prefixes is not None else [""] * len(items)
        texts = generate_texts(model, run, [h + s for h, s in zip(heads, starts, strict=True)],
                               max_new_tokens=self.config.max_new_tokens, chat=False)
        return [clean_reasoning(s + t) for s, t in zip(starts, texts, strict=True)]

    def answer_after(self, model: Any, items: Sequence[Item], reasonings: Sequence[str], run: Any = None,
                     bias: Sequence[str] | None = None) -> list[list[float]]:
        """The option distribution after each (possibly perturbed) reasoning."""
        texts = [render(model, it, self.cot_template(bias[i] if bias else ""), chat=self.config.chat)
                 + r + "\n" + self.config.answer_cue for i, (it, r) in enumerate(zip(items, reasonings, strict=True))]
        out: list[list[float]] = [[] for _ in items]
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, it in enumerate(items):
            groups.setdefault(tuple(it.letters), []).append(i)  # type: ignore[arg-type]
        for letters, idx in groups.items():
            dist = letter_distribution(model, [texts[i] for i in idx], letters, _batch(run))
            for i, row in zip(idx, dist, strict=True):
                out[i] = row.tolist()
        return out

    def answer(self, model, examples, run=None, items=None):
        items = list(items) if items is not None else self.items(examples)
        reasonings = self.reason(model, items, run)
        dists = self.answer_after(model, items, reasonings, run)
        return [Answer.from_distribution(it, d, reasoning=r) for it, d, r in zip(items, dists, reasonings, strict=True)]

    def explain(self, model, examples, answers, run=None, items=None):
        return [((a.reasoning or "").strip(), {"explanation_output": a.reasoning or ""}) for a in answers]


# --- counterfactual-edit ---------------------------------------------------------------------------


def edit_field(item: Item, wanted: str | None) -> str:
    if wanted is not None:
        if wanted not in item.fields:
            raise DataError(f"{item.example.id}: counterfactual field {wanted!r} is not one of the item's fields "
                            f"{item.fields}")
        return wanted
    return "hypothesis" if "hypothesis" in item.fields else item.fields[-1]


def target_option(answer: Answer, how: str) -> int:
    order = np.argsort(-np.asarray(answer.distribution), kind="stable")
    return int(order[1] if how == "second" else order[-1])


def clean_edit(raw: str) -> str:
    line = next((ln.strip() for ln in raw.split("\n") if ln.strip()), "")
    return line.strip().strip("\"'").strip()


class CounterfactualEdit(SelfExplanationMethod):
    """The model rewrites one field of the item as little as possible so that its answer would
    become another option (its second most probable one by default); the rewritten item is
    re-queried, so whether the edit really changes the model's prediction is known
    (``extra.counterfactual.flipped``). Text: the counterfactual stated as an explanation."""

    method_name = "counterfactual-edit"

    def request(self, item: Item, answer: Answer, field_name: str, target: int) -> str:
        return (f"\nYou answered {answer.letter} ({answer.label}). Rewrite the {field_name} with as few changes as "
                f"possible so that the answer would be {item.letters[target]} ({item.options[target]}) instead. "  # type: ignore[index]
                f"Reply with the rewritten {field_name} only.")

    def explanation_template(self, item: Item, answer: Answer) -> Template:
        name = edit_field(item, self.config.field)
        target = target_option(answer, self.config.target)
        return Template(turns=(("user", (("question", ""), ("suffix", self.request(item, answer, name, target)))),),
                        lead=(("suffix", f"Rewritten {name}:"),))

    def explain(self, model, examples, answers, run=None, items=None):
        items = list(items) if items is not None else self.items(examples)
        prompts = [render(model, it, self.explanation_template(it, a), chat=self.config.chat)
                   for it, a in zip(items, answers, strict=True)]
        raws = generate_texts(model, run, prompts, max_new_tokens=self.config.max_new_tokens, chat=False)
        edited_examples, plans = [], []
        for it, a, raw in zip(items, answers, raws, strict=True):
            name = edit_field(it, self.config.field)
            target = target_option(a, self.config.target)
            edit = clean_edit(raw)
            inp = dict(it.example.input)
            inp[name] = edit or inp[name]
            edited_examples.append(Example(it.example.id + "#counterfactual", inp, it.example.target,
                                           it.example.metadata))
            plans.append((it, a, name, target, edit, raw))
        again = SelfExplanationMethod.answer(self, model, edited_examples, run)  # option-logits prediction
        out = []
        for (it, a, name, target, edit, raw), new in zip(plans, again, strict=True):
            original = it.example.input[name]
            info = {"field": name, "original": original, "edited": edit, "target_index": target,
                    "target_label": it.options[target], "requeried_distribution": new.distribution,  # type: ignore[index]
                    "requeried_label": new.label, "flipped": bool(edit) and new.index != a.index}
            text = (f"If the {name} were \"{edit}\", the answer would be {it.options[target]} instead of "  # type: ignore[index]
                    f"{a.label}." if edit else "")
            out.append((text, {"counterfactual": info, "explanation_output": " " + edit if edit else "", "raw": raw}))
        return out


METHODS = {cls.method_name: cls for cls in (NLEPostHoc, ChainOfThought, CounterfactualEdit)}
