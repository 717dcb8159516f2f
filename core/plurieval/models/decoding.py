"""The decoding loop behind :meth:`LanguageModel.generate`: KV cache, finished rows dropped.

Why not ``transformers``' ``generate``: it keeps every row of a batch until the longest one
ends (finished rows are fed padding and still cost a full row of compute), and it cannot carry
a different intervention per row. This loop calls the model's own forward (so every
architecture's attention, masks, soft-capping and sliding windows are transformers' own), keeps
a ``DynamicCache`` and, once enough rows have produced EOS, drops them from the batch: cache,
attention mask, positions and the per-row interventions shrink together.

Semantics kept from ``generate`` (tested token for token against it): left-padded prompts,
positions from the attention mask (pads at 0, then 0..n-1, n, n+1, ...), logits taken in
float32, greedy = ``argmax`` (first index on ties), sampling = transformers' own temperature and
top-p warpers, then one draw from the softmax. Sampling draws each row from its own
``torch.Generator`` (see :func:`row_generators`), so a row's sample never depends on its batch
neighbours, the batch size or which rows were dropped.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Sequence
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


def new_cache(hf: torch.nn.Module) -> Any:
    from transformers import DynamicCache

    return DynamicCache(config=hf.config)


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
        cache = new_cache(hf) if use_cache else None
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


__all__ = ["Sampling", "decode", "row_generators", "row_seed"]
