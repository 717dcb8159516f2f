"""Attribution methods over the input words of the model under evaluation (captum underneath).

Each method explains the model's own prediction on an :class:`~plurieval_faithfulness.items.Item`
(the predicted option, or the first generated answer token) and returns one score per feature
(whitespace word of the explained fields); higher = more evidence *for* the prediction.

- The explained quantity (``target``): ``log_prob`` (default) = log p(predicted option), the
  option distribution being the softmax over the options' letter log-probabilities (the
  classifier's own log-probability, invariant to the shared constant of letter logits);
  ``prob`` = that probability; ``score`` = the letter's raw next-token log-probability. A
  prompt item explains log p(target token) (``prob``: p).
- Gradient methods (``integrated-gradients``, ``input-x-gradient``, ``gradient``) work at the
  embedding level: the attributed input is the embeddings of the tokens of the explained
  words; every other token (chat template, instruction, options) stays fixed. A token's score
  is the sum over embedding dimensions (``gradient``: of |∂f/∂x|, the L1 norm); a word's score
  aggregates its tokens (``word_aggregation``: sum by default). The examples of a batch are run
  together: captum sees one input holding every example's explained tokens, and the forward
  function returns the sum of the examples' targets (independent, so each example's gradient
  is its own).
- Perturbation methods (``occlusion``, ``shapley-sampling``) treat each word as one feature
  (a captum ``feature_mask``) and replace an absent word's token embeddings by the ``baseline``
  embedding. ``occlusion`` is leave-one-out: captum ``FeatureAblation`` with one feature per
  word, score = f(x) − f(x with the word replaced). ``shapley-sampling`` is captum's
  ``ShapleyValueSampling`` (``samples`` random permutations of the words).
- ``random-attribution`` draws one uniform [0, 1) score per word from a generator seeded by the
  run seed and the example id: a floor every real method should beat.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from plurieval.api import DataError, Example, ExplanationMethod, PluriError, Prediction
from plurieval_faithfulness.items import Item, ItemSettings, build_item, predicted, prompt_renderer

# --- aligning tokens with words ---------------------------------------------------------------


def _offsets(model: Any, formatted: str, ids: list[int], templated: bool) -> list[tuple[int, int]]:
    tok = model.tokenizer
    if getattr(tok, "is_fast", False):
        enc = tok(formatted, add_special_tokens=not templated, return_offsets_mapping=True)
        if list(enc["input_ids"]) == list(ids):
            return [tuple(o) for o in enc["offset_mapping"]]
    # A slow tokenizer (or one that disagrees with the model's encoding): decode prefixes.
    spans, prev = [], 0
    for i in range(len(ids)):
        end = len(tok.decode(ids[: i + 1], skip_special_tokens=False))
        spans.append((prev, end))
        prev = end
    if tok.decode(ids, skip_special_tokens=False) != formatted:
        raise PluriError("cannot align tokens with words: the tokenizer has no offset mapping and its decoding "
                         "differs from the prompt text")
    return spans


def align(model: Any, item: Item) -> tuple[list[int], list[int]]:
    """(token ids of the formatted full prompt, feature index of each token or -1)."""
    prompt = item.prompt()
    chat = item.settings.chat
    formatted = model.format_prompt(prompt, chat=chat)
    templated = chat and bool(getattr(model.tokenizer, "chat_template", None))
    ids = model.encode([prompt], chat=chat)[0]
    spans = _offsets(model, formatted, ids, templated)
    feature_spans: list[tuple[int, int]] = []
    cursor = 0
    for name in item.fields:
        text = item.example.input[name]
        start = formatted.find(text, cursor)
        if start < 0:
            raise PluriError(f"{item.example.id}: field {name!r} not found in the rendered prompt")
        feature_spans += [(start + m.start(), start + m.end()) for m in re.finditer(r"\S+", text)]
        cursor = start + len(text)
    word_of = []
    for a, b in spans:
        best, best_overlap = -1, 0
        for j, (s, e) in enumerate(feature_spans):
            overlap = min(b, e) - max(a, s)
            if overlap > best_overlap:
                best, best_overlap = j, overlap
        word_of.append(best)
    return list(ids), word_of


# --- captum forward over a batch of items ------------------------------------------------------


def _variants(tokenizer: Any, letter: str) -> list[int]:
    ids = {tuple(tokenizer.encode(v, add_special_tokens=False)) for v in (letter, " " + letter)}
    single = sorted(i[0] for i in ids if len(i) == 1)
    if not single:
        raise PluriError(f"option letter {letter!r} is not a single token of this tokenizer")
    return single


@contextlib.contextmanager
def _frozen(model: Any) -> Iterator[None]:
    """No parameter gradients (only the inputs' are needed): a cheaper backward pass."""
    params = list(model.hf.parameters())
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in zip(params, flags, strict=True):
            p.requires_grad_(f)


class JointForward:
    """``f(x) -> [S]``: x is ``[S, N, d]``, the embeddings of the explained tokens of every item
    of the batch side by side; the value is the sum over items of each item's target.

    The items' common token prefix (the chat template's system turn and the instruction up to
    the first explained token) does not depend on x: it is run once and its key/value cache is
    shared by every row and step (``forward.PrefixCache``); the rest is right-padded and only each
    item's last position is projected to logits."""

    def __init__(self, model: Any, items: Sequence[Item], targets: Sequence[dict[str, Any]], target_fn: str) -> None:
        import torch

        from plurieval_faithfulness.forward import PrefixCache, common_prefix, right_pad

        self.model, self.target_fn = model, target_fn
        aligned = [align(model, it) for it in items]
        self.word_of = [w for _, w in aligned]
        seqs = [ids for ids, _ in aligned]
        first = min(next(t for t, w in enumerate(wo) if w >= 0) for wo in self.word_of)
        start = min(common_prefix(seqs), first)
        self.prefix = PrefixCache(model, seqs[0][:start])
        ids, self.lengths = right_pad(model, seqs, start)
        self.slots: list[tuple[torch.Tensor, int, int]] = []
        offset = 0
        for word_of in self.word_of:
            pos = torch.tensor([t - start for t, w in enumerate(word_of) if w >= 0], dtype=torch.long)
            self.slots.append((pos, offset, len(pos)))
            offset += len(pos)
        with torch.no_grad():
            self.base = model.hf.get_input_embeddings()(ids).detach()
        self.token_ids = [[seq[t] for t, w in enumerate(wo) if w >= 0] for seq, wo in zip(seqs, self.word_of, strict=True)]
        self.token_word = [[w for w in wo if w >= 0] for wo in self.word_of]
        self.targets = []
        for it, tgt in zip(items, targets, strict=True):
            if tgt["kind"] == "option":
                self.targets.append(("option", [_variants(model.tokenizer, c) for c in it.letters], tgt["index"]))
            else:
                self.targets.append(("token", None, tgt["token_id"]))

    @property
    def num_tokens(self) -> int:
        return sum(n for _, _, n in self.slots)

    def inputs(self) -> Any:
        import torch

        parts = [self.base[e, pos] for e, (pos, _, _) in enumerate(self.slots)]
        return torch.cat(parts, dim=0).unsqueeze(0)

    def baseline(self, kind: str) -> Any:
        import torch

        x = self.inputs()
        if kind == "zero":
            return torch.zeros_like(x)
        tok = self.model.tokenizer
        ids = {"mask": tok.mask_token_id, "unk": tok.unk_token_id, "pad": self.model.pad_token_id}
        if kind == "auto":
            kind = next((k for k in ("mask", "unk", "pad") if ids[k] is not None), "zero")
            if kind == "zero":
                return torch.zeros_like(x)
        tid = ids.get(kind)
        if tid is None:
            raise PluriError(f"baseline {kind!r}: this tokenizer has no {kind} token (use baseline=zero)")
        with torch.no_grad():
            vec = self.model.hf.get_input_embeddings()(torch.tensor([tid], device=x.device))[0]
        return vec.expand_as(x).clone()

    def __call__(self, x: Any) -> Any:
        import torch

        from plurieval_faithfulness.forward import last_logits

        s, e = x.shape[0], len(self.slots)
        emb = self.base.unsqueeze(0).repeat(s, 1, 1, 1)
        for i, (pos, off, n) in enumerate(self.slots):
            emb[:, i, pos] = x[:, off:off + n].to(emb.dtype)
        width, dim = emb.shape[2], emb.shape[3]
        logits = last_logits(self.model, self.prefix, self.lengths * s, inputs_embeds=emb.reshape(s * e, width, dim))
        lp = torch.log_softmax(logits.float(), dim=-1).view(s, e, -1)
        values = []
        for i, (kind, variants, index) in enumerate(self.targets):
            if kind == "option":
                scores = torch.stack([torch.logsumexp(lp[:, i, v], dim=-1) for v in variants], dim=-1)
                if self.target_fn == "score":
                    values.append(scores[:, index])
                    continue
                value = scores[:, index] - torch.logsumexp(scores, dim=-1)
            else:
                value = lp[:, i, index]
            values.append(value.exp() if self.target_fn == "prob" else value)
        return torch.stack(values, dim=-1).sum(-1)

    def split(self, token_scores: Any) -> list[np.ndarray]:
        flat = token_scores.detach().double().cpu().numpy().reshape(-1)
        return [flat[off:off + n] for _, off, n in self.slots]

    def feature_mask(self) -> Any:
        import torch

        words = torch.tensor([w for tw in self.token_word for w in tw], dtype=torch.long, device=self.base.device)
        return words.view(1, -1, 1).expand(1, -1, self.base.shape[-1]).contiguous()


def to_words(token_scores: np.ndarray, token_word: Sequence[int], num_features: int, how: str) -> list[float]:
    out = []
    for j in range(num_features):
        vals = [float(s) for s, w in zip(token_scores, token_word, strict=True) if w == j]
        if not vals:
            out.append(0.0)
        elif how == "sum":
            out.append(sum(vals))
        elif how == "mean":
            out.append(sum(vals) / len(vals))
        else:  # max: the token with the largest magnitude, sign kept
            out.append(max(vals, key=abs))
    return out


# --- methods -----------------------------------------------------------------------------------


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:100] or "example"


class AttributionMethod(ExplanationMethod):
    """Shared loop: build items, predict on the full input, attribute, save artifacts."""

    method_name = "attribution"
    needs_model_gradients = True

    def settings(self) -> ItemSettings:
        fields = getattr(self.config, "fields", None)
        return ItemSettings(fields=tuple(fields) if fields else None, chat=self.config.chat)

    def predict(self, model: Any, examples: Sequence[Example], run: Any = None) -> list[Prediction]:
        if model is None:
            raise PluriError(f"{self.method_name} explains the model under evaluation; it needs a model")
        renderer = prompt_renderer() if any(isinstance(ex.input, dict) and "options" in ex.input for ex in examples) else None
        items = [build_item(ex, self.settings(), renderer) for ex in examples]
        batch = (run.config.batch_size if run is not None else None) or 8
        started = time.perf_counter()
        preds = predicted(model, items, batch)
        scores, details = self.attribute(model, items, preds, run, batch)
        # wall time of prediction + attribution, shared equally by the batch (for speed reports)
        seconds = (time.perf_counter() - started) / max(1, len(items))
        out = []
        for item, pred, word_scores, detail in zip(items, preds, scores, details, strict=True):
            if len(word_scores) != item.num_features or not all(np.isfinite(word_scores)):
                raise DataError(f"{self.method_name}: non-finite or mis-sized attribution for {item.example.id}")
            extra = {"item": item.settings.to_dict(), "target": pred["target"], "features": item.features,
                     "attribution": [float(v) for v in word_scores], "method": self.describe(),
                     "seconds": round(seconds, 4), **detail}
            out.append(Prediction(item.example.id, label=pred["label"], distribution=pred["distribution"], extra=extra))
            if run is not None:
                self.save_artifact(run, item, extra)
        return out

    def describe(self) -> dict[str, Any]:
        return {"name": self.method_name, **self.config.model_dump(mode="json")}

    def attribute(self, model: Any, items: Sequence[Item], preds: Sequence[dict[str, Any]], run: Any,
                  batch: int) -> tuple[list[list[float]], list[dict[str, Any]]]:
        raise NotImplementedError

    def save_artifact(self, run: Any, item: Item, extra: dict[str, Any]) -> None:
        """``artifacts/attributions/<id>.safetensors``: word (and token) attributions + metadata."""
        from safetensors.numpy import save_file

        path = run.artifact_path(f"artifacts/attributions/{_safe(item.example.id)}.safetensors")
        tensors = {"word_attribution": np.asarray(extra["attribution"], dtype=np.float32)}
        if "token_attribution" in extra:
            tensors["token_attribution"] = np.asarray(extra["token_attribution"], dtype=np.float32)
            tensors["token_ids"] = np.asarray(extra["token_ids"], dtype=np.int64)
        meta = {"example_id": item.example.id, "method": json.dumps(extra["method"]),
                "words": json.dumps([f["word"] for f in item.features], ensure_ascii=False),
                "target": json.dumps(extra["target"])}
        save_file(tensors, str(path), metadata=meta)
        run.artifact_written(path, "attribution")


def _chunks(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), max(1, size)):
        yield list(items[i:i + max(1, size)])


class GradientMethod(AttributionMethod):
    """IG, input × gradient, gradient: one captum call per group of ``examples_per_call`` items."""

    def captum_call(self, fwd: JointForward, x: Any, rows: int) -> tuple[Any, dict[str, Any]]:
        raise NotImplementedError

    def attribute(self, model, items, preds, run, batch):
        import torch

        scores: list[list[float] | None] = [None] * len(items)
        details: list[dict[str, Any] | None] = [None] * len(items)
        group = max(1, int(getattr(self.config, "examples_per_call", 0) or self.default_group(batch)))
        # Items of similar length share a call (less right-padding); results go back in order.
        lengths = [len(model.encode([it.prompt()], chat=it.settings.chat)[0]) for it in items] if group > 1 else []
        order = sorted(range(len(items)), key=lambda i: lengths[i]) if group > 1 else list(range(len(items)))
        with _frozen(model), torch.enable_grad():
            for chunk in _chunks(order, group):
                its, ps = [items[i] for i in chunk], [preds[i] for i in chunk]
                fwd = JointForward(model, its, [p["target"] for p in ps], self.config.target)
                attr, info = self.captum_call(fwd, fwd.inputs(), max(1, batch // len(its)))
                per_token = fwd.split(attr)
                for k, (it, tok) in enumerate(zip(its, per_token, strict=True)):
                    detail = {"token_attribution": [float(v) for v in tok], "token_ids": fwd.token_ids[k],
                              "token_word": fwd.token_word[k],
                              "tokens": model.tokenizer.convert_ids_to_tokens(fwd.token_ids[k])}
                    detail.update({key: (val[k] if isinstance(val, list) else val) for key, val in info.items()})
                    scores[chunk[k]] = to_words(tok, fwd.token_word[k], it.num_features, self.config.word_aggregation)
                    details[chunk[k]] = detail
        return scores, details

    def default_group(self, batch: int) -> int:
        """Examples per captum call when ``examples_per_call`` is not set: the batch size."""
        return batch


class IntegratedGradients(GradientMethod):
    method_name = "integrated-gradients"

    def captum_call(self, fwd, x, rows):
        from captum.attr import IntegratedGradients as IG

        base = fwd.baseline(self.config.baseline)
        attr, delta = IG(fwd).attribute(x, baselines=base, n_steps=self.config.steps, method=self.config.integration,
                                        internal_batch_size=max(1, rows), return_convergence_delta=True)
        # captum's delta is for the summed target: attribution total − (f(x) − f(baseline)); with
        # one item per call (the default) that is the item's own.
        key = "convergence_delta" if len(fwd.slots) == 1 else "convergence_delta_total"
        return attr.sum(-1), {key: float(delta.reshape(-1)[0])}

    def default_group(self, batch: int) -> int:
        # One item per call, its interpolation steps batched (``internal_batch_size`` = the batch
        # size): the rows of a forward pass are the same prompt, so none is padded.
        return 1


class InputXGradient(GradientMethod):
    method_name = "input-x-gradient"

    def captum_call(self, fwd, x, rows):
        from captum.attr import InputXGradient as IXG

        return IXG(fwd).attribute(x.clone().requires_grad_(True)).sum(-1), {}


class Gradient(GradientMethod):
    method_name = "gradient"

    def captum_call(self, fwd, x, rows):
        from captum.attr import Saliency

        grads = Saliency(fwd).attribute(x.clone().requires_grad_(True), abs=self.config.absolute)
        return grads.sum(-1), {}


class PerturbationMethod(AttributionMethod):
    """Occlusion and Shapley sampling: one captum call per item, perturbations batched."""

    def captum_call(self, fwd: JointForward, x: Any, base: Any, mask: Any, rows: int) -> Any:
        raise NotImplementedError

    def attribute(self, model, items, preds, run, batch):
        import torch

        scores, details = [], []
        with torch.no_grad():
            for it, p in zip(items, preds, strict=True):
                fwd = JointForward(model, [it], [p["target"]], self.config.target)
                x = fwd.inputs()
                attr = self.captum_call(fwd, x, fwd.baseline(self.config.baseline), fwd.feature_mask(), batch)
                flat = attr[0, :, 0].double().cpu().numpy()  # every token of a word carries the word's value
                words = [0.0] * it.num_features
                for v, w in zip(flat, fwd.token_word[0], strict=True):
                    words[w] = float(v)
                scores.append(words)
                details.append({"token_ids": fwd.token_ids[0], "token_word": fwd.token_word[0]})
        return scores, details


class Occlusion(PerturbationMethod):
    method_name = "occlusion"

    def captum_call(self, fwd, x, base, mask, rows):
        from captum.attr import FeatureAblation

        return FeatureAblation(fwd).attribute(x, baselines=base, feature_mask=mask, perturbations_per_eval=rows)


class ShapleySampling(PerturbationMethod):
    method_name = "shapley-sampling"

    def captum_call(self, fwd, x, base, mask, rows):
        import torch
        from captum.attr import ShapleyValueSampling

        with torch.random.fork_rng(devices=[]):  # reproducible permutations, global RNG untouched
            torch.manual_seed(self._seed)
            return ShapleyValueSampling(fwd).attribute(x, baselines=base, feature_mask=mask,
                                                       n_samples=self.config.samples, perturbations_per_eval=rows)

    def attribute(self, model, items, preds, run, batch):
        self._seed = int(run.config.seed) if run is not None else 0
        return super().attribute(model, items, preds, run, batch)


class RandomAttribution(AttributionMethod):
    method_name = "random-attribution"

    def attribute(self, model, items, preds, run, batch):
        seed = int(run.config.seed) if run is not None else 0
        scores = []
        for it in items:
            digest = int(hashlib.sha256(it.example.id.encode()).hexdigest()[:12], 16)
            rng = np.random.default_rng([self.config.seed if self.config.seed is not None else seed, digest])
            scores.append(rng.random(it.num_features).tolist())
        return scores, [{} for _ in items]


METHODS = {cls.method_name: cls for cls in (IntegratedGradients, InputXGradient, Gradient, Occlusion,
                                             ShapleySampling, RandomAttribution)}
