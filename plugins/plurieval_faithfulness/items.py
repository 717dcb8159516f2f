"""Items under explanation: what the model sees, which words are explained, what it predicts.

Every method of this plugin (attributions now, self-explanations later) and every faithfulness
metric goes through one :class:`Item`, so that a metric re-queries the model with *exactly* the
prompt the method explained, minus the words it removes.

- **Prompt.** An option item (``input["options"]``: NLI and any other multiple-choice item) is
  rendered by the registered ``option-logits`` method (the HLV plugin), so the prediction is the
  option-logit prediction that method computes: the next-token log-probabilities of the option
  letters after the same prompt (``choice_logprobs``). An item with ``input["prompt"]`` and no
  options is explained for the model's first generated answer token (greedy).
- **Features** are the whitespace words of the explained fields (default: premise, then
  hypothesis; e-SNLI highlight indices count the same words), in that order. A feature mask is a
  string of ``0``/``1`` per feature (``1`` = kept).
- **Removal** rebuilds the prompt from the kept words: ``delete`` drops the removed words (the
  remaining words joined by single spaces), ``mask`` puts the tokenizer's mask token (else its
  unknown token, else its pad token) in their place. The full mask gives the original text.
- **Outputs**: for an option item, the distribution over the options (the letters' probabilities
  renormalised over the options, as ``option-logits`` does with a softmax); for a prompt item, a
  one-element list holding the probability of the target token under the whole vocabulary.
"""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from plurieval.api import DataError, Example, PluriError, choice_logprobs, get_host

Removal = Literal["delete", "mask"]
_WORD = re.compile(r"\S+")


def prompt_renderer() -> Any:
    """The ``option-logits`` method (HLV plugin): its ``prompt(example)`` renders option items."""
    try:
        spec = get_host().get("method", "option-logits")
    except PluriError as err:
        raise PluriError(f"faithfulness items are rendered by the 'option-logits' method ({err}); "
                         "install the plurieval hlv plugin") from None
    return spec.create({})


@dataclass(frozen=True)
class ItemSettings:
    """How an example becomes an item (recorded in every prediction, so metrics rebuild it)."""

    fields: tuple[str, ...] | None = None  # None: premise+hypothesis, else every text field
    chat: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"fields": list(self.fields) if self.fields is not None else None, "chat": self.chat}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ItemSettings:
        data = data or {}
        fields = data.get("fields")
        return cls(fields=tuple(fields) if fields is not None else None, chat=bool(data.get("chat", True)))


@dataclass
class Item:
    example: Example
    settings: ItemSettings
    fields: list[str]
    words: dict[str, list[str]]
    options: list[str] | None
    renderer: Any = None
    features: list[dict[str, Any]] = field(default_factory=list)

    @property
    def num_features(self) -> int:
        return len(self.features)

    def full_mask(self) -> str:
        return "1" * self.num_features

    def texts(self, mask: str, removal: Removal = "delete", mask_token: str = "",
              collapse: bool = False) -> dict[str, str]:
        """Field texts with the features of ``mask`` kept (the original texts for the full mask).
        ``collapse``: one mask token per run of removed words (shap's Text masker), not per word."""
        if len(mask) != self.num_features or set(mask) - {"0", "1"}:
            raise DataError(f"{self.example.id}: mask {mask!r} must be {self.num_features} characters 0/1")
        out, pos = {}, 0
        for name in self.fields:
            words = self.words[name]
            keep = mask[pos:pos + len(words)]
            pos += len(words)
            if keep == "1" * len(words):
                out[name] = self.example.input[name]
            elif removal == "delete":
                out[name] = " ".join(w for w, k in zip(words, keep, strict=True) if k == "1")
            else:
                out[name] = " ".join(masked_words(words, keep, mask_token, collapse))
        return out

    def prompt(self, mask: str | None = None, removal: Removal = "delete", mask_token: str = "",
               collapse: bool = False) -> str:
        """The user prompt (before the chat template) with ``mask``'s features kept."""
        inp = dict(self.example.input)
        inp.update(self.texts(mask or self.full_mask(), removal, mask_token, collapse))
        if self.options is None:
            return str(inp["prompt"])
        text, _ = self.renderer.prompt(Example(self.example.id, inp, self.example.target, self.example.metadata))
        return text

    @property
    def letters(self) -> list[str] | None:
        if self.options is None:
            return None
        return [chr(ord("A") + i) for i in range(len(self.options))]


def masked_words(words: Sequence[str], keep: str, mask_token: str, collapse: bool = False) -> list[str]:
    """``words`` with each removed one (``keep`` character ``0``) replaced by ``mask_token``; with
    ``collapse`` a run of removed words becomes one mask token."""
    out: list[str | None] = []  # None: a removed word
    for w, k in zip(words, keep, strict=True):
        if k == "1":
            out.append(w)
        elif not (collapse and out and out[-1] is None):
            out.append(None)
    return [mask_token if w is None else w for w in out]


def build_item(example: Example, settings: ItemSettings, renderer: Any = None) -> Item:
    inp = example.input
    if not isinstance(inp, dict):
        raise DataError(f"{example.id}: a faithfulness item needs a dict input (premise/hypothesis/options or prompt)")
    options = inp.get("options")
    if options is None and not isinstance(inp.get("prompt"), str):
        raise DataError(f"{example.id}: input needs 'options' (a multiple-choice item) or a 'prompt' string")
    if settings.fields is not None:
        fields = list(settings.fields)
    elif options is not None and "premise" in inp and "hypothesis" in inp:
        fields = ["premise", "hypothesis"]
    elif options is not None:
        fields = [k for k, v in inp.items() if k != "options" and isinstance(v, str)]
    else:
        fields = ["prompt"]
    bad = [f for f in fields if not isinstance(inp.get(f), str)]
    if bad:
        raise DataError(f"{example.id}: explained field(s) {', '.join(bad)} missing or not text "
                        f"(fields present: {', '.join(k for k in inp if k != 'options')})")
    words = {f: inp[f].split() for f in fields}
    features = [{"field": f, "index": i, "word": w} for f in fields for i, w in enumerate(words[f])]
    if not features:
        raise DataError(f"{example.id}: the explained fields {fields} hold no words")
    if options is not None and renderer is None:
        renderer = prompt_renderer()
    return Item(example, settings, fields, words, list(options) if options is not None else None, renderer, features)


def mask_token_of(tokenizer: Any) -> str:
    for name in ("mask_token", "unk_token", "pad_token"):
        tok = getattr(tokenizer, name, None)
        if tok:
            return str(tok)
    raise PluriError("removal='mask' needs a mask, unknown or pad token; this tokenizer has none (use removal=delete)")


# --- model outputs ------------------------------------------------------------------------------

def _softmax(rows: np.ndarray) -> np.ndarray:
    z = np.exp(rows - rows.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def target_token(model: Any, item: Item, batch_size: int = 8) -> int:
    """A prompt item's target: the greedy first answer token after the full prompt."""
    lp = model.next_token_logprobs([item.prompt()], chat=item.settings.chat, batch_size=batch_size)
    return int(lp[0].argmax())


def _letter_groups(tokenizer: Any, letters: Sequence[str]) -> list[list[int]] | None:
    """Each letter's single-token spellings (``A``, `` A``), as ``choice_logprobs`` reads them;
    None when a letter has no single-token spelling (then the continuation path is used)."""
    groups = []
    for c in letters:
        ids = {tuple(tokenizer.encode(v, add_special_tokens=False)) for v in (c, " " + c)}
        single = sorted(i[0] for i in ids if len(i) == 1)
        if not single:
            return None
        groups.append(single)
    return groups


# Outputs already computed, by model *content* (every parameter and buffer byte, the config and
# the tokenizer; see ``_content_key``) and then by (prompt, letters, chat, target token). The
# metrics of one run ask for some of the same masks (AOPC's top-1 removal is a leave-one-out
# query), and every method's run on the same items asks the same leave-one-out queries: runs in
# one process (``plurieval sweep --workers 1``) share them. A model trained, converted or edited
# in place has other content, hence another memo.
_MEMO: dict[str, dict[tuple[Any, ...], list[float]]] = {}
_MEMO_MODELS = 2  # contents kept (oldest dropped first)
_KEYS: weakref.WeakKeyDictionary[Any, tuple[Any, str]] = weakref.WeakKeyDictionary()


def _content_key(model: Any) -> str | None:
    """sha256 over the model's parameters and buffers (names, dtypes, shapes, bytes), its config
    and its tokenizer; recomputed only when a tensor's storage or version counter moved."""
    import hashlib

    from plurieval.api import tensor_digest

    hf = getattr(model, "hf", None)
    if hf is None:
        return None
    tensors = list(hf.named_parameters()) + list(hf.named_buffers())
    state = tuple((name, t.data_ptr(), t._version, t.dtype) for name, t in tensors)
    try:
        held = _KEYS.get(model)
    except TypeError:  # a model object that cannot be weakly referenced: no memo
        return None
    if held is not None and held[0] == state:
        return held[1]
    h = hashlib.sha256()
    for name, t in tensors:
        h.update(f"{name}|{tensor_digest(t)}|".encode())
    tok = model.tokenizer
    h.update(hf.config.to_json_string().encode())
    h.update(f"{type(tok).__name__}|{len(tok)}|{getattr(tok, 'chat_template', None)}".encode())
    h.update(json.dumps(tok.get_vocab(), sort_keys=True).encode())
    key = h.hexdigest()
    _KEYS[model] = (state, key)
    return key


def _memo(model: Any) -> dict[tuple[Any, ...], list[float]]:
    key = _content_key(model)
    if key is None:
        return {}
    if key not in _MEMO:
        while len(_MEMO) >= _MEMO_MODELS:
            _MEMO.pop(next(iter(_MEMO)))
        _MEMO[key] = {}
    return _MEMO[key]


def outputs(model: Any, queries: Sequence[tuple[Item, str]], *, removal: Removal = "delete",
            batch_size: int = 8, target_tokens: dict[str, int] | None = None) -> list[list[float]]:
    """Model outputs (see the module docstring) for each (item, mask); identical prompts are
    run once (also across calls on the same model). ``target_tokens`` gives a prompt item's
    target token id (by example id). Prompts sharing a token prefix share its forward pass
    (``forward.next_token_logprobs``)."""
    from plurieval_faithfulness.forward import next_token_logprobs

    mask_token = mask_token_of(model.tokenizer) if removal == "mask" else ""
    memo = _memo(model)
    keys: list[tuple[Any, ...]] = []
    for item, mask in queries:
        letters = tuple(item.letters) if item.letters else None
        tok = None
        if letters is None:
            tok = (target_tokens or {}).get(item.example.id)
            if tok is None:
                raise PluriError(f"{item.example.id}: no target token for a prompt item")
        keys.append((item.prompt(mask, removal, mask_token), letters, item.settings.chat, tok))
    todo = [k for k in dict.fromkeys(keys) if k not in memo]
    by_form: dict[tuple[Any, bool], list[tuple[Any, ...]]] = {}
    for key in todo:
        by_form.setdefault((key[1], key[2]), []).append(key)
    for (letters, chat), group in by_form.items():
        prompts = [k[0] for k in group]
        if letters is not None:
            letter_ids = _letter_groups(model.tokenizer, letters)
            if letter_ids is None:  # multi-token options: scored as continuations by core
                rows = choice_logprobs(model, prompts, list(letters), chat=chat, batch_size=batch_size)
            else:
                rows = np.asarray(next_token_logprobs(model, model.encode(prompts, chat=chat), batch_size,
                                                      [letter_ids] * len(prompts)))
            for key, row in zip(group, _softmax(rows), strict=True):
                memo[key] = row.tolist()
        else:
            rows = next_token_logprobs(model, model.encode(prompts, chat=chat), batch_size, [[[k[3]]] for k in group])
            for key, row in zip(group, rows, strict=True):
                memo[key] = [float(np.exp(row[0]))]
    return [list(memo[k]) for k in keys]


def predicted(model: Any, items: Sequence[Item], batch_size: int = 8) -> list[dict[str, Any]]:
    """The model's prediction on each full item: ``label``, ``distribution`` (option items) or
    target token (prompt items), and ``target`` (what is explained)."""
    targets = {it.example.id: target_token(model, it, batch_size) for it in items if it.options is None}
    probs = outputs(model, [(it, it.full_mask()) for it in items], batch_size=batch_size, target_tokens=targets)
    out = []
    for it, p in zip(items, probs, strict=True):
        if it.options is not None:
            j = int(np.argmax(p))
            out.append({"label": it.options[j], "distribution": p,
                        "target": {"kind": "option", "index": j, "option": it.options[j], "letter": it.letters[j]}})
        else:
            tok = targets[it.example.id]
            out.append({"label": model.tokenizer.decode([tok]), "distribution": p,
                        "target": {"kind": "token", "index": 0, "token_id": tok}})
    return out


def record_item(prediction: dict[str, Any]) -> ItemSettings:
    """The item settings a prediction was made with (``extra.item``)."""
    return ItemSettings.from_dict(((prediction or {}).get("extra") or {}).get("item"))


def target_of(prediction: dict[str, Any], where: str = "prediction") -> tuple[int, dict[str, Any]]:
    """(index into the output vector, target record) of a prediction; checks it is the argmax."""
    extra = (prediction or {}).get("extra") or {}
    target = extra.get("target")
    dist = prediction.get("distribution") if isinstance(prediction, dict) else None
    if not isinstance(target, dict) or not isinstance(dist, list) or not dist:
        raise DataError(f"{where}: needs 'distribution' and 'extra.target' (made by a faithfulness method)")
    index = target.get("index")
    if not isinstance(index, int) or not 0 <= index < len(dist):
        raise DataError(f"{where}: extra.target.index {index!r} is not an index into the distribution")
    if target.get("kind") == "option" and int(np.argmax(dist)) != index:
        raise DataError(f"{where}: the explained option {index} is not the model's prediction "
                        f"(argmax of the distribution is {int(np.argmax(dist))})")
    return index, target
