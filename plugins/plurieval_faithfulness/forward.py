"""Forward passes over many variants of one prompt, sharing what they have in common.

Attribution and the faithfulness metrics run the model on many versions of the same prompt (IG's
interpolation steps, occlusion's ablations, the metrics' word masks). They all start with the
same tokens (the chat template's system turn, the instruction up to the premise; for a word mask,
everything before the first removed word), and only the last position's logits are needed. So:

- a batch's **common token prefix** is run once (batch 1, ``use_cache``) and its key/value cache
  is shared by every row of the batch (``DynamicCache`` filled with the prefix, expanded);
- the rest is **right-padded** (a causal model's real tokens never see the pads after them, so no
  attention mask is needed) with position ids continuing the prefix, and the logits are taken at
  each row's own last position (``logits_to_keep`` with the indices);
- queries are **sorted by their token ids** before batching, so rows sharing long prefixes (one
  item's masks) land in the same batch and padding is small.

The values are those of one plain forward pass per prompt (the tests check them against
``next_token_logprobs`` of the model); only float rounding differs (~1e-6).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def common_prefix(seqs: Sequence[Sequence[int]]) -> int:
    """Length of the longest token prefix shared by every sequence."""
    if not seqs:
        return 0
    first, n = seqs[0], min(len(s) for s in seqs)
    for i in range(n):
        t = first[i]
        if any(s[i] != t for s in seqs):
            return i
    return n


class PrefixCache:
    """The key/value cache of ``prefix`` (computed once without gradients), handed out expanded to
    a batch as a fresh ``DynamicCache`` for each forward pass (the model appends to it)."""

    def __init__(self, model: Any, prefix: Sequence[int]) -> None:
        import torch

        self.model, self.length = model, len(prefix)
        self.layers: list[tuple[Any, Any]] = []
        if not prefix:
            return
        ids = torch.tensor([list(prefix)], dtype=torch.long, device=model.device)
        with torch.no_grad():
            out = model.hf(input_ids=ids, use_cache=True, logits_to_keep=1)
        cache = getattr(out, "cache", None) or out.past_key_values
        self.layers = [(layer.keys.detach(), layer.values.detach()) for layer in cache.layers]

    def expand(self, rows: int) -> Any:
        if not self.layers:
            return None
        from transformers import DynamicCache

        data = [(k.expand(rows, *k.shape[1:]), v.expand(rows, *v.shape[1:])) for k, v in self.layers]
        return DynamicCache(ddp_cache_data=data, config=self.model.hf.config)


def _cache_argument(model: Any) -> str:
    """The KV cache travels as ``past_key_values`` up to transformers 5.23 and as ``cache`` from 5.24."""
    import inspect

    params = inspect.signature(model.hf.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def last_logits(model: Any, cache: PrefixCache, lengths: Sequence[int], *, input_ids: Any = None,
                inputs_embeds: Any = None) -> Any:
    """``[rows, vocab]`` logits at each row's last real token. ``input_ids`` ``[rows, W]`` or
    ``inputs_embeds`` ``[rows, W, d]`` hold what follows the prefix, right-padded; ``lengths``
    are the rows' real lengths after the prefix."""
    import torch

    x = input_ids if input_ids is not None else inputs_embeds
    rows, width = x.shape[0], x.shape[1]
    positions = torch.arange(cache.length, cache.length + width, device=x.device).unsqueeze(0).expand(rows, width)
    last = torch.tensor([n - 1 for n in lengths], dtype=torch.long, device=x.device)
    keep = torch.unique(last)
    past = {_cache_argument(model): cache.expand(rows)} if cache.length else {}
    out = model.hf(input_ids=input_ids, inputs_embeds=inputs_embeds, position_ids=positions,
                   use_cache=bool(past), logits_to_keep=keep, **past)
    column = torch.searchsorted(keep, last)
    return out.logits[torch.arange(rows, device=x.device), column]


def right_pad(model: Any, seqs: Sequence[Sequence[int]], start: int) -> tuple[Any, list[int]]:
    """``[n, W]`` ids of ``seq[start:]`` padded on the right, and each one's length."""
    import torch

    tails = [list(s[start:]) for s in seqs]
    width = max(len(t) for t in tails)
    ids = torch.full((len(tails), width), model.pad_token_id, dtype=torch.long)
    for i, t in enumerate(tails):
        ids[i, : len(t)] = torch.tensor(t, dtype=torch.long)
    return ids.to(model.device), [len(t) for t in tails]


def next_token_logprobs(model: Any, seqs: Sequence[Sequence[int]], batch_size: int,
                        groups: Sequence[Sequence[Sequence[int]]]) -> list[list[float]]:
    """For each token sequence, the log-probability (float64) of the next token being in each of
    its ``groups`` of token ids (log-sum-exp over a group). Same values as
    ``model.next_token_logprobs`` on the decoded prompts, computed with shared prefixes."""
    import torch

    if any(len(s) == 0 for s in seqs):
        from plurieval.api import PluriError

        raise PluriError("empty prompt: every prompt needs at least one token")
    order = sorted(range(len(seqs)), key=lambda i: seqs[i])
    out: list[list[float]] = [[] for _ in seqs]
    step = max(1, batch_size)
    with torch.inference_mode():
        for b in range(0, len(order), step):
            idx = order[b:b + step]
            batch = [seqs[i] for i in idx]
            start = min(common_prefix(batch), min(len(s) for s in batch) - 1)
            cache = PrefixCache(model, batch[0][:start])
            ids, lengths = right_pad(model, batch, start)
            lp = torch.log_softmax(last_logits(model, cache, lengths, input_ids=ids).float(), dim=-1).double().cpu()
            for row, i in enumerate(idx):
                out[i] = [float(torch.logsumexp(lp[row, list(g)], dim=0)) for g in groups[i]]
    return out
