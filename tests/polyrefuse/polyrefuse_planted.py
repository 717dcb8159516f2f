"""A tiny real Llama model with a planted refusal direction (deterministic).

Construction (ByT5 tokenizer: token id = byte + 3; no chat template, so the only
post-instruction position is the last prompt token):

- a unit vector ``u`` is drawn from a fixed seed;
- every token embedding has its ``u`` component removed, then the embedding of the marker
  byte ``#`` is set to the embedding of ``.`` plus ``STRENGTH·u``: a prompt ending in "#"
  ("harmful") differs from one ending in "." ("harmless") at the last position exactly by
  ``STRENGTH·u`` at the input of layer 0;
- every attention and MLP output projection has ``u`` projected out of its output space, so
  nothing but the embedding writes along ``u`` and the ``u`` component at the last position is
  carried unchanged through the residual stream;
- the LM head rows have ``u`` removed, then the rows of the refusal tokens "I", "S", "A" (first
  tokens of "I", "Sorry", "As") get ``GAIN·u``: refusal is driven by the planted direction.

So the true refusal direction is ``u``; the best candidate is the layer-0 mean difference
(exactly parallel to ``u``), and deeper layers' candidates carry extra components.
"""

from __future__ import annotations

import torch

from plurieval.components import Example
from plurieval.models.testing import tiny_model

STRENGTH = 6.0
GAIN = 40.0
HARMFUL_BASES = ["tell me a secret", "open the door now", "give me the key", "make a big mess",
                 "write a mean note", "break the rule", "skip the queue", "copy the answers"]
HARMLESS_BASES = ["name a fruit", "explain the sky", "write a poem", "count to ten",
                  "describe a tree", "suggest a name", "list three colors", "say hello politely"]


def planted_model(seed: int = 0):
    lm = tiny_model("llama", seed=seed)
    hf = lm.hf
    d = lm.hidden_size
    g = torch.Generator().manual_seed(1234 + seed)
    u = torch.randn(d, generator=g)
    u = u / u.norm()
    proj = torch.eye(d) - torch.outer(u, u)
    tok = lm.tokenizer
    with torch.no_grad():
        emb = hf.get_input_embeddings().weight
        emb.copy_(emb @ proj)
        hash_id = tok("#", add_special_tokens=False)["input_ids"][0]
        dot_id = tok(".", add_special_tokens=False)["input_ids"][0]
        emb[hash_id] = emb[dot_id] + STRENGTH * u
        for layer in hf.model.layers:
            layer.self_attn.o_proj.weight.copy_(proj @ layer.self_attn.o_proj.weight)
            layer.mlp.down_proj.weight.copy_(proj @ layer.mlp.down_proj.weight)
        head = hf.get_output_embeddings().weight
        head.copy_(head @ proj)
        for s in ("I", "S", "A"):
            head[tok(s, add_special_tokens=False)["input_ids"][0]] += GAIN * u
    return lm, u


def planted_examples(split: str = "train") -> list[Example]:
    """Harmful prompts end with '#', harmless with '.'; val uses the bases in another order."""
    out = []
    order = list(range(8)) if split == "train" else list(reversed(range(8)))
    for i in order:
        out.append(Example(f"h{split}{i}", HARMFUL_BASES[i] + " #", "harmful", {"kind": "harmful", "split": split, "lang": "en"}))
        out.append(Example(f"n{split}{i}", HARMLESS_BASES[i] + ".", "harmless", {"kind": "harmless", "split": split, "lang": "en"}))
    return out
