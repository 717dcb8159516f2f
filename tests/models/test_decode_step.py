"""What a decoding step does differently from transformers' own, and that it computes the same bits.

Two speed measures of :mod:`plurieval.models.decoding`: the KV cache of full-attention layers is
written into buffers allocated once per generation (``GrowingLayer``) instead of being copied
by ``torch.cat`` at every step, and the LM head is computed in blocks of output columns. Both
must leave every logit bit as it was, so the reference here is exact equality: with
``DynamicCache`` step by step (rows dropped and the buffer outgrown on the way), with the whole
head, and with transformers' ``generate`` token for token on every architecture.
"""

import pytest
import torch
from test_rows import PROMPTS, _hf_generate, _vec, _with_eos_mid_sequence

from plurieval.models import AddVector, decoding
from plurieval.models.decoding import column_blocked_head, new_cache
from plurieval.models.testing import ARCHS, tiny_model


def _steps(lm, cache, steps=9, drop_at=4):
    """Greedy steps on PROMPTS with ``cache``; at ``drop_at`` every other row leaves the batch
    (as ``decode`` drops finished rows). Returns the logits of every step."""
    hf = lm.hf
    ids, mask = lm.pad_left(lm.encode(PROMPTS * 2))
    kw = decoding._cache_kwarg(hf)
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    out: list[torch.Tensor] = []
    tokens = torch.empty(0, dtype=torch.long)
    with torch.inference_mode():
        for step in range(steps):
            if step == drop_at:
                keep = torch.arange(0, ids.shape[0], 2)
                cache.batch_select_indices(keep)
                tokens, mask, pos = tokens[keep], mask[keep], pos[keep]
            if step:
                mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=-1)
                pos = torch.cat([pos, pos[:, -1:] + 1], dim=-1)
                ids, step_pos = tokens[:, None], pos[:, -1:]
            else:
                step_pos = pos
            logits = hf(input_ids=ids, attention_mask=mask, position_ids=step_pos, use_cache=True,
                        logits_to_keep=1, **{kw: cache}).logits[:, -1]
            out.append(logits.clone())
            tokens = logits.argmax(-1)
    return out


@pytest.mark.parametrize("arch", ARCHS)
def test_the_preallocated_cache_gives_the_bits_of_dynamic_cache(arch):
    lm = tiny_model(arch, seed=1)
    reference = _steps(lm, new_cache(lm.hf))
    width = lm.pad_left(lm.encode(PROMPTS * 2))[0].shape[1]
    # room for every step, and room for fewer positions than the prompt (the buffer must grow)
    for capacity in (width + 9, 3):
        cache = new_cache(lm.hf, capacity=capacity)
        grown = [type(layer).__name__ for layer in cache.layers]
        assert "GrowingLayer" in grown, "no layer used the preallocated buffer, so nothing was tested"
        ours = _steps(lm, cache)
        assert all(torch.equal(a, b) for a, b in zip(ours, reference, strict=True)), (arch, capacity)


def test_a_growing_layer_takes_over_keys_set_from_outside():
    """``crop`` (a base-class method) replaces ``keys``; the next write appends after them."""
    layer = decoding._growing_layer_class()(capacity=16)
    k = torch.arange(2 * 1 * 5 * 3, dtype=torch.float32).reshape(2, 1, 5, 3)
    layer.update(k, k + 100)
    layer.crop(-2)
    new = torch.full((2, 1, 1, 3), -1.0)
    keys, values = layer.update(new, new)
    assert keys.shape[-2] == 4 and torch.equal(keys[:, :, :3], k[:, :, :3]) and torch.equal(keys[:, :, 3:], new)
    assert torch.equal(values[:, :, :3], k[:, :, :3] + 100)
    assert layer.get_seq_length() == 4


def test_the_blocked_head_gives_the_bits_of_the_whole_head(monkeypatch):
    monkeypatch.setattr(decoding, "HEAD_BLOCK_COLUMNS", 128)
    g = torch.Generator().manual_seed(0)
    for bias in (False, True):
        head = torch.nn.Linear(96, 1000, bias=bias)  # 1000 = 7 full blocks and a short one
        model = torch.nn.Module()
        model.get_output_embeddings = lambda head=head: head
        x = torch.randn(5, 3, 96, generator=g)
        whole = head(x)
        with torch.no_grad(), column_blocked_head(model):
            assert "forward" in head.__dict__, "the head was not blocked, so nothing was tested"
            blocked = head(x)
        assert "forward" not in head.__dict__, "the head's own forward must come back after the block"
        assert blocked.shape == whole.shape and torch.equal(blocked, whole)


def test_the_head_comes_back_when_decoding_fails(monkeypatch):
    monkeypatch.setattr(decoding, "HEAD_BLOCK_COLUMNS", 64)
    lm = tiny_model("llama", seed=0)
    head = lm.hf.get_output_embeddings()
    with pytest.raises(RuntimeError, match="boom"), column_blocked_head(lm.hf):
        assert "forward" in head.__dict__
        raise RuntimeError("boom")
    assert "forward" not in head.__dict__


@pytest.mark.parametrize("arch", ARCHS)
def test_decoding_with_the_blocked_head_gives_the_tokens_of_transformers_generate(arch, monkeypatch):
    # the tiny models' 384-word heads are blocked only with blocks this small
    monkeypatch.setattr(decoding, "HEAD_BLOCK_COLUMNS", 64)
    lm = _with_eos_mid_sequence(tiny_model(arch, seed=0), PROMPTS)
    head = lm.hf.get_output_embeddings()
    blocked = []
    handle = head.register_forward_pre_hook(lambda m, _a: blocked.append("forward" in m.__dict__))
    try:
        for iv in (None, AddVector(_vec(lm, 1), layers=[1], alpha=2.0)):
            ours = [g.token_ids for g in lm.generate(PROMPTS, max_new_tokens=12, batch_size=4, intervention=iv,
                                                      lanes=1)]
            assert ours == _hf_generate(lm, PROMPTS, iv, 12), arch
    finally:
        handle.remove()
    ours_blocked = [b for b in blocked if b]
    assert ours_blocked, "decoding never used the blocked head"
