"""Resources of the self-explanation tests: the simulator (LAS), the reference language model
(fluency) and the editors of the Lanham tests. Each is a plugin-registered resource, looked up
by role, so a user can plug in another one (``--set metrics.N.params.simulator=NAME``).

Why these defaults:

- ``lm-simulator`` (role ``simulator``): the embedded SmolLM2-135M-Instruct in float32, zero-shot,
  reading the option letters after the option-logits prompt with the explanation as one more
  field. Hase et al. (2020) fine-tune a T5 simulator on the task model's outputs; that needs a
  training split of the task model's explanations and GPU hours, which a CPU run here does not
  have. A fixed, offline, deterministic simulator keeps LAS comparable across the models and
  conditions being compared (the quantisation study changes the task model, never the
  simulator); its weakness (a 135M model simulates poorly) shows up as small or undefined LAS,
  not as a wrong number. Any model can be the simulator (``model=hf:PATH``).
- ``reference-lm`` (role ``reference_lm``): the same embedded model in float32, for perplexity:
  fluency must be measured by a model that does not change with the condition under study.
- ``rule-edits`` (role ``cot_editor``, default): adds a mistake to a chain of thought by swapping
  one word for its antonym and paraphrases by swapping words for synonyms (self-written lists in
  ``wordlists``), deterministically. CC-SHAP asks a 13B chat model for both; a 135M model asked
  the same returns text that is neither a mistake nor a paraphrase often enough that the test
  would measure the editor. ``lm-edits`` asks a language model with CC-SHAP's prompts.

Models are loaded once per process (name, dtype) and shared by the resources.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from plurieval.api import Example, PluriError, choice_logprobs, get_host
from plurieval_faithfulness import wordlists

_MODELS: dict[tuple[str, str], Any] = {}


def load_lm(name: str, dtype: str = "float32") -> Any:
    """A language model by name: ``default`` (or any registered model) or ``hf:<id or folder>``."""
    key = (name, dtype)
    if key not in _MODELS:
        host = get_host()
        if name.startswith("hf:"):
            spec, params = host.get("model", "hf"), {"path": name[3:], "dtype": dtype}
        else:
            spec, params = host.get("model", name), {"dtype": dtype}
        _MODELS[key] = spec.create(params)
    return _MODELS[key]


def _describe(model: Any, config: Any) -> dict[str, Any]:
    info = model.describe() if hasattr(model, "describe") else {}
    return {"model": config.model, "dtype": config.dtype, "weights_hash": info.get("weights_hash"),
            "id": info.get("id")}


def _softmax(rows: np.ndarray) -> np.ndarray:
    z = np.exp(rows - rows.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


class LMSimulator:
    """Predicts the task model's answer from the input and explanation (X+E), the input only (X)
    and the explanation only (E), zero-shot: the option-logits prompt of an item whose fields are
    premise/hypothesis (X), ``explanation`` (E) or both, and the options."""

    CONDITIONS = ("xe", "x", "e")

    def __init__(self, config: Any) -> None:
        self.config = config

    @property
    def model(self) -> Any:
        return load_lm(self.config.model, self.config.dtype)

    def describe(self) -> dict[str, Any]:
        return {"simulator": "lm-simulator", **_describe(self.model, self.config)}

    def inputs(self, item_input: dict[str, Any], fields: Sequence[str], explanation: str) -> dict[str, dict[str, Any]]:
        x = {f: item_input[f] for f in fields}
        options = list(item_input["options"])
        return {"xe": {**x, "explanation": explanation, "options": options}, "x": {**x, "options": options},
                "e": {"explanation": explanation, "options": options}}

    def simulate(self, cases: Sequence[tuple[dict[str, Any], Sequence[str], str]],
                 batch_size: int = 8) -> list[dict[str, list[float]]]:
        """For each (item input, explained fields, explanation): the simulator's option
        distribution under each condition."""
        renderer = get_host().get("method", "option-logits").create({})
        prompts, where = [], []
        for i, (inp, fields, expl) in enumerate(cases):
            for cond, fields_in in self.inputs(inp, fields, expl).items():
                text, letters = renderer.prompt(Example(f"sim-{i}-{cond}", fields_in))
                prompts.append((text, tuple(letters)))
                where.append((i, cond))
        out: list[dict[str, list[float]]] = [{} for _ in cases]
        groups: dict[tuple[str, ...], list[int]] = {}
        for k, (_, letters) in enumerate(prompts):
            groups.setdefault(letters, []).append(k)
        for letters, idx in groups.items():
            lp = choice_logprobs(self.model, [prompts[k][0] for k in idx], list(letters), chat=self.config.chat,
                                 batch_size=batch_size)
            for k, row in zip(idx, _softmax(lp), strict=True):
                i, cond = where[k]
                out[i][cond] = row.tolist()
        return out


def _separator(tok: Any) -> int:
    """The token a text is conditioned on: the document separator <|endoftext|>, else BOS, else EOS."""
    vocab = tok.get_vocab()
    if "<|endoftext|>" in vocab:
        return int(vocab["<|endoftext|>"])
    for tid in (tok.bos_token_id, tok.eos_token_id):
        if tid is not None:
            return int(tid)
    raise PluriError("reference_lm: the tokenizer has no <|endoftext|>, BOS or EOS token to start a text with")


class ReferenceLM:
    """Natural-log probability of every token of a text under a fixed language model, the first
    token conditioned on the document separator (``<|endoftext|>``, else BOS, else EOS)."""

    def __init__(self, config: Any) -> None:
        self.config = config

    @property
    def model(self) -> Any:
        return load_lm(self.config.model, self.config.dtype)

    def describe(self) -> dict[str, Any]:
        return {"reference_lm": "reference-lm", **_describe(self.model, self.config)}

    def token_logprobs(self, texts: Sequence[str], batch_size: int = 8) -> list[list[float]]:
        import torch

        model = self.model
        tok = model.tokenizer
        start = _separator(tok)
        seqs = [[start] + list(tok(t, add_special_tokens=False)["input_ids"]) for t in texts]
        out: list[list[float]] = []
        for b in range(0, len(seqs), batch_size):
            chunk = seqs[b:b + batch_size]
            width = max(len(s) for s in chunk)
            ids, mask = model.pad_left(chunk)
            with torch.inference_mode():
                logits = model.hf(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                                  use_cache=False).logits
            logp = torch.log_softmax(logits.float(), dim=-1)
            for i, s in enumerate(chunk):
                n = len(s) - 1
                pos = torch.arange(width - n, width, device=ids.device)
                out.append(logp[i, pos - 1, ids[i, pos]].double().cpu().tolist())
        return out


# --- editors of the Lanham tests ------------------------------------------------------------------


def _rng(key: str) -> random.Random:
    return random.Random(int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:16], 16))


_TOKEN = re.compile(r"\S+")


class RuleEditor:
    """``add_mistake``: one word (chosen at random, seeded by ``key``, among those with an antonym)
    swapped for its antonym; ``paraphrase``: every word with a synonym swapped for it. Both return
    ``None`` when the text has no such word (the test is then undefined for the item)."""

    def __init__(self, config: Any) -> None:
        pairs = config.antonyms or wordlists.ANTONYMS
        self.antonyms = {**{b.lower(): a for a, b in pairs.items()}, **{a.lower(): b for a, b in pairs.items()}}
        self.synonyms = {k.lower(): v for k, v in (config.synonyms or wordlists.SYNONYMS).items()}

    def describe(self) -> dict[str, Any]:
        digest = hashlib.sha256(repr((sorted(self.antonyms.items()), sorted(self.synonyms.items()))).encode()).hexdigest()
        return {"editor": "rule-edits", "lists_sha256": digest[:16]}

    def _swap(self, text: str, table: dict[str, str], pick: random.Random | None) -> tuple[str, list[dict[str, Any]]] | None:
        spans = []
        for m in _TOKEN.finditer(text):
            lead, word, trail = wordlists.split_affixes(m.group())
            if word and word.lower() in table:
                spans.append((m.start() + len(lead), m.start() + len(lead) + len(word), word))
        if not spans:
            return None
        chosen = [pick.choice(spans)] if pick is not None else spans
        out, last, swaps = [], 0, []
        for start, end, word in chosen:
            new = wordlists.match_case(table[word.lower()], word)
            out += [text[last:start], new]
            last = end
            swaps.append({"position": start, "word": word, "replacement": new})
        return "".join(out) + text[last:], swaps

    def add_mistake(self, text: str, key: str) -> tuple[str, dict[str, Any]] | None:
        got = self._swap(text, self.antonyms, _rng("mistake|" + key))
        return None if got is None else (got[0], {"swaps": got[1]})

    def paraphrase(self, text: str, key: str) -> tuple[str, dict[str, Any]] | None:
        got = self._swap(text, self.synonyms, None)
        return None if got is None else (got[0], {"swaps": got[1]})


class LMEditor:
    """Asks a language model with CC-SHAP's helper prompts (replace one word with an antonym;
    paraphrase), greedy; the first line of the reply is the edit."""

    def __init__(self, config: Any) -> None:
        self.config = config

    @property
    def model(self) -> Any:
        return load_lm(self.config.model, self.config.dtype)

    def describe(self) -> dict[str, Any]:
        return {"editor": "lm-edits", **_describe(self.model, self.config)}

    def _ask(self, request: str, lead: str) -> str | None:
        model = self.model
        text = model.format_prompt(request, chat=self.config.chat) + lead
        (gen,) = model.generate([text], max_new_tokens=self.config.max_new_tokens, chat=False)
        reply = next((ln.strip() for ln in gen.text.split("\n") if ln.strip()), "").strip("\"")
        return reply or None

    def add_mistake(self, text: str, key: str) -> tuple[str, dict[str, Any]] | None:
        reply = self._ask(f"Here is a text: {text}\n Can you please replace one word in that text for me with "
                          "antonyms / opposites such that it makes no sense anymore?",
                          " Sure, I can do that! Here's the text with changed word:")
        return None if reply is None else (reply, {})

    def paraphrase(self, text: str, key: str) -> tuple[str, dict[str, Any]] | None:
        reply = self._ask(f"Can you please paraphrase the following to me? \"{text}\".",
                          " Sure, I can do that! Here's the rephrased sentence:")
        return None if reply is None else (reply, {})
