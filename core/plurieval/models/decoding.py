"""The decoding loop behind :meth:`LanguageModel.generate`: KV cache, finished rows dropped.

Why not ``transformers``' ``generate``: it keeps every row of a batch until the longest one
ends (finished rows are fed padding and still cost a full row of compute), and it cannot carry
a different intervention per row. This loop calls the model's own forward (so every
architecture's attention, masks, soft-capping and sliding windows are transformers' own), keeps
a ``DynamicCache`` and, once enough rows have produced EOS, drops them from the batch: cache,
attention mask, positions and the per-row interventions shrink together.

Two things a decoding step does differently from transformers' own, for speed, with the same
bits (tested): the KV cache of full-attention layers is written into a buffer allocated once
for the whole generation (:class:`GrowingLayer`), where ``DynamicCache`` copies the whole cache
to append each token; and the LM head is computed in blocks of output columns
(:func:`column_blocked_head`), which keeps its weight block in the CPU cache while every row
uses it.

Semantics kept from ``generate`` (tested token for token against it): left-padded prompts,
positions from the attention mask (pads at 0, then 0..n-1, n, n+1, ...), logits taken in
float32, greedy = ``argmax`` (first index on ties), sampling = transformers' own temperature and
top-p warpers, then one draw from the softmax. Sampling draws each row from its own
``torch.Generator`` (see :func:`row_generators`), so a row's sample never depends on its batch
neighbours, the batch size or which rows were dropped.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Sampling:
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0

    def warpers(self) -> list[Any]:
        """transformers' own logits warpers, in the order ``generate`` applies them."""
        if not self.do_sample:
            return []
        from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper

        out: list[Any] = []
        if self.temperature != 1.0:
            out.append(TemperatureLogitsWarper(self.temperature))
        if self.top_p < 1.0:
            out.append(TopPLogitsWarper(self.top_p))
        return out


def row_seed(seed: int, k: int) -> int:
    """The sampling seed of the ``k``-th row of a setting under the call's ``seed``."""
    digest = hashlib.blake2b(f"plurieval-row:{int(seed)}:{int(k)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def row_generators(ranks: Sequence[int], seed: int | None, device: torch.device) -> list[torch.Generator]:
    """One generator per row: seeded by ``(seed, rank)``, where ``rank`` is the row's index among
    the rows of its own setting in the call. So the k-th prompt of every setting sees the same
    random stream (paired comparisons), and a setting's rows sample the same whether it runs
    alone or in a mixed batch. Without a seed, the seeds come from torch's global RNG (which the
    runner seeds from the run config), so runs stay reproducible."""
    if seed is None:
        base = int(torch.randint(0, 2**62, (1,)).item())
        seeds = [row_seed(base, k) for k in range(len(ranks))]
    else:
        seeds = [row_seed(seed, k) for k in ranks]
    gens = []
    for s in seeds:
        g = torch.Generator(device=device)
        g.manual_seed(s)
        gens.append(g)
    return gens


_CACHE_KWARG: dict[type, str] = {}


def _cache_kwarg(hf: torch.nn.Module) -> str:
    """``cache`` from transformers 5.24 on, ``past_key_values`` before (read off the signature)."""
    kind = type(hf)
    if kind not in _CACHE_KWARG:
        params = inspect.signature(hf.forward).parameters
        _CACHE_KWARG[kind] = "cache" if "cache" in params else "past_key_values"
    return _CACHE_KWARG[kind]


_GROWING_LAYER: type | None = None


def _growing_layer_class() -> type:
    """:class:`GrowingLayer`, defined on first use (``transformers`` is imported lazily)."""
    global _GROWING_LAYER
    if _GROWING_LAYER is None:
        from transformers.cache_utils import DynamicLayer

        class GrowingLayer(DynamicLayer):
            """A full-attention layer's KV cache in one buffer of ``capacity`` positions, filled
            in place; ``keys``/``values`` are views of its first positions. ``DynamicLayer``
            concatenates, copying the whole cache of every layer at every step (5-19 % of a
            decoding step of the default model at ~90 positions in py-spy profiles; with the
            blocked head, the sweep bench's grid decodes 1.27x faster). The views hold the values
            ``DynamicLayer`` would hold, so attention computes the same bits (tested). Grows
            by reallocation past ``capacity``; a ``keys`` replaced from outside (``crop``,
            ``reorder_cache``) is taken over as it is."""

            def __init__(self, capacity: int, **kwargs: Any) -> None:
                super().__init__(**kwargs)
                self.capacity = int(capacity)
                self._buffers: tuple[torch.Tensor, torch.Tensor] | None = None
                self._length = 0

            def _adopt(self) -> None:
                """Take over ``keys``/``values`` that are not views of the buffer (set by a
                method of the base class), so the next write appends after them."""
                keys, values = self.keys, self.values
                if self._buffers is not None and keys is not None and keys.dim() == 4 \
                        and keys.shape[-2] == self._length and keys.data_ptr() == self._buffers[0].data_ptr() \
                        and keys.shape[0] == self._buffers[0].shape[0]:
                    return
                self._length = int(keys.shape[-2]) if keys is not None and keys.dim() == 4 else 0
                self._buffers = (keys, values) if self._length else None

            def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
                       **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
                if not self.is_initialized:
                    self.lazy_initialization(key_states, value_states)
                self._adopt()
                start, end = self._length, self._length + int(key_states.shape[-2])
                held = self._buffers
                if held is None or end > held[0].shape[-2]:
                    size = max(end, self.capacity, 2 * start)
                    keys = key_states.new_empty(*key_states.shape[:2], size, key_states.shape[-1])
                    values = value_states.new_empty(*value_states.shape[:2], size, value_states.shape[-1])
                    if start:
                        keys[:, :, :start] = held[0][:, :, :start]
                        values[:, :, :start] = held[1][:, :, :start]
                    held = self._buffers = (keys, values)
                held[0][:, :, start:end] = key_states
                held[1][:, :, start:end] = value_states
                self._length = end
                self.keys, self.values = held[0][:, :, :end], held[1][:, :, :end]
                return self.keys, self.values

            def batch_select_indices(self, indices: torch.Tensor) -> None:
                self._adopt()
                if self._length:
                    self._buffers = (self._buffers[0][indices], self._buffers[1][indices])
                    self.keys = self._buffers[0][:, :, :self._length]
                    self.values = self._buffers[1][:, :, :self._length]

        _GROWING_LAYER = GrowingLayer
    return _GROWING_LAYER


def new_cache(hf: torch.nn.Module, capacity: int | None = None) -> Any:
    """A ``DynamicCache`` for ``hf``; with ``capacity`` (the positions a row will hold), its
    full-attention layers write into buffers of that size (:class:`GrowingLayer`) instead of
    concatenating at every step. Sliding-window layers stay transformers' own."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    cache = DynamicCache(config=hf.config)
    if capacity is not None and getattr(cache, "layers", None):
        growing = _growing_layer_class()
        cache.layers = [growing(capacity) if type(layer) is DynamicLayer else layer for layer in cache.layers]
    return cache


PREALLOCATED_KV = True
"""Whether :func:`decode` writes full-attention KV caches into preallocated buffers
(:class:`GrowingLayer`); ``False`` restores ``DynamicCache``'s concatenation (``bench/``
compares the two)."""

HEAD_BLOCK_COLUMNS = 256
"""Output columns of the LM head computed per matrix product while decoding (0 = the whole head
at once): a 256 × d weight block stays in the CPU cache while every row of the batch uses it.
On the default model (49,152 words, d = 576, 45 rows, one core) the head runs at 43-47 GFLOP/s
in blocks of 128-1024 columns and at 27 GFLOP/s whole; the logits are the same bits (each is
the same dot product; checked over 308 shapes and tested)."""


@contextlib.contextmanager
def column_blocked_head(hf: torch.nn.Module) -> Iterator[None]:
    """Inside the block, ``hf``'s output embedding computes its logits in blocks of
    :data:`HEAD_BLOCK_COLUMNS` columns. Only a plain float32 ``nn.Linear`` head with more
    columns than a block is changed (quantised or other heads run as they are); the model's
    own forward still applies it (soft-capping and the rest are transformers')."""
    head = hf.get_output_embeddings() if hasattr(hf, "get_output_embeddings") else None
    if HEAD_BLOCK_COLUMNS <= 0 or type(head) is not torch.nn.Linear or head.weight.dtype != torch.float32 \
            or type(head.weight) is not torch.nn.Parameter or head.weight.shape[0] <= 2 * HEAD_BLOCK_COLUMNS \
            or "forward" in head.__dict__:
        yield
        return
    weight, bias = head.weight, head.bias
    blocks = [(weight[i:i + HEAD_BLOCK_COLUMNS], None if bias is None else bias[i:i + HEAD_BLOCK_COLUMNS])
              for i in range(0, weight.shape[0], HEAD_BLOCK_COLUMNS)]

    def forward(x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        out = torch.cat([torch.nn.functional.linear(flat, w, b) for w, b in blocks], dim=-1)
        return out.reshape(*x.shape[:-1], weight.shape[0])

    head.forward = forward
    try:
        yield
    finally:
        del head.forward


def decode(hf: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, *, max_new_tokens: int,
           eos_token_ids: Sequence[int], sampling: Sampling = Sampling(),
           generators: Sequence[torch.Generator] | None = None, use_cache: bool = True,
           rows: Any = None, drop_fraction: float = 0.125, cache: Any = None) -> list[tuple[list[int], str]]:
    """Generate up to ``max_new_tokens`` for each left-padded row; returns ``(new token ids up
    to and including EOS, "eos" | "length")`` per row, in input order.

    ``cache``: a KV cache already holding the first ``mask.shape[1] - ids.shape[1]`` positions
    of every row (a shared prompt prefix, :meth:`LanguageModel.generate`); ``mask`` then covers
    those positions too and ``ids`` is the rest of the prompt.

    ``rows`` (a :class:`~plurieval.models.rows.RowInterventions`, hooks already attached) is
    told which rows remain whenever rows are dropped. Finished rows are dropped once they are at
    least ``drop_fraction`` of the batch (copying the cache costs about as much as a few
    decoding steps of those rows, so dropping one row at a time from a large batch would not pay).
    """
    batch = ids.shape[0]
    results: list[tuple[list[int], str] | None] = [None] * batch
    new_tokens: list[list[int]] = [[] for _ in range(batch)]
    if max_new_tokens <= 0 or batch == 0:
        return [([], "length") for _ in range(batch)]
    eos = torch.tensor(sorted(set(int(e) for e in eos_token_ids)) or [-1], device=ids.device)
    warpers = sampling.warpers()
    if cache is not None and not use_cache:
        raise ValueError("decode: a prefilled cache needs use_cache=True")
    if cache is None:
        cache = new_cache(hf, capacity=mask.shape[1] + max_new_tokens if PREALLOCATED_KV else None) \
            if use_cache else None
    with column_blocked_head(hf):
        return _decode_steps(hf, ids, mask, cache, max_new_tokens=max_new_tokens, eos=eos, sampling=sampling,
                             warpers=warpers, generators=generators, use_cache=use_cache, rows=rows,
                             drop_fraction=drop_fraction, results=results, new_tokens=new_tokens)


def _decode_steps(hf: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, cache: Any, *, max_new_tokens: int,
                  eos: torch.Tensor, sampling: Sampling, warpers: list[Any],
                  generators: Sequence[torch.Generator] | None, use_cache: bool, rows: Any, drop_fraction: float,
                  results: list[tuple[list[int], str] | None],
                  new_tokens: list[list[int]]) -> list[tuple[list[int], str]]:
    batch = ids.shape[0]
    cache_kw = _cache_kwarg(hf)
    alive = torch.arange(batch, device=ids.device)  # batch row -> input row
    done = torch.zeros(batch, dtype=torch.bool, device=ids.device)  # finished, still in the batch
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    seq, attn = ids, mask
    inputs, input_pos = ids, positions[:, positions.shape[1] - ids.shape[1]:]
    for step in range(max_new_tokens):
        kwargs = {cache_kw: cache} if cache is not None else {}
        out = hf(input_ids=inputs, attention_mask=attn, position_ids=input_pos, use_cache=use_cache,
                 logits_to_keep=1, **kwargs)
        logits = out.logits[:, -1].to(dtype=torch.float32)
        del out
        for w in warpers:
            logits = w(None, logits)
        if sampling.do_sample:
            probs = torch.softmax(logits, dim=-1)
            picked = [torch.multinomial(probs[j], 1, generator=generators[int(alive[j])]) if generators is not None
                      else torch.multinomial(probs[j], 1) for j in range(probs.shape[0])]
            tokens = torch.cat(picked)
        else:
            tokens = torch.argmax(logits, dim=-1)
        finished = torch.isin(tokens, eos) & ~done
        rows_now = alive.tolist()
        for j, (t, was_done, ends) in enumerate(zip(tokens.tolist(), done.tolist(), finished.tolist(), strict=True)):
            if not was_done:
                new_tokens[rows_now[j]].append(t)
                if ends:
                    results[rows_now[j]] = (new_tokens[rows_now[j]], "eos")
        done = done | finished
        if bool(done.all()) or step == max_new_tokens - 1:
            break
        n_done = int(done.sum())
        if n_done and n_done >= max(1, int(drop_fraction * done.numel())):
            keep = (~done).nonzero().flatten()
            alive, tokens, attn, positions, seq = alive[keep], tokens[keep], attn[keep], positions[keep], seq[keep]
            done = done[keep]
            if cache is not None:
                cache.batch_select_indices(keep)
            if rows is not None:
                rows.select(keep)
        attn = torch.cat([attn, attn.new_ones(attn.shape[0], 1)], dim=-1)
        next_pos = positions[:, -1:] + 1
        positions = torch.cat([positions, next_pos], dim=-1)
        if cache is not None:
            inputs, input_pos = tokens[:, None], next_pos
        else:
            seq = torch.cat([seq, tokens[:, None]], dim=-1)
            inputs, input_pos = seq, positions
    return [r if r is not None else (new_tokens[i], "length") for i, r in enumerate(results)]


__all__ = ["HEAD_BLOCK_COLUMNS", "Sampling", "column_blocked_head", "decode", "new_cache", "row_generators", "row_seed"]
