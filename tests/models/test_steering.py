"""Interventions under batched, left-padded generation with and without the KV cache, and the
traps peer libraries fell into (each test names the one it guards against)."""

import pytest
import torch

from plurieval.models import AddVector, Compose, DirectionalAblation, NeuronIntervention

PROMPTS = ["The quick brown fox", "Hi", "Steering vectors are added to the residual stream."]


def _vector(lm, seed=1, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(lm.hidden_size, generator=g) * scale


def _ids(gens):
    return [g.token_ids for g in gens]


@pytest.mark.parametrize("positions", ["all", "prompt", "generated"])
def test_steered_greedy_is_identical_batched_unbatched_cache_on_off(any_lm, positions):
    iv = AddVector(_vector(any_lm), layers=[1], alpha=2.0, positions=positions)
    kw = dict(max_new_tokens=10, intervention=iv)
    ref = _ids(any_lm.generate(PROMPTS, batch_size=8, **kw))
    assert ref == _ids(any_lm.generate(PROMPTS, batch_size=1, **kw))
    assert ref == _ids(any_lm.generate(PROMPTS, batch_size=8, use_cache=False, **kw))
    assert ref == _ids(any_lm.generate(PROMPTS, batch_size=1, use_cache=False, **kw))
    plain = _ids(any_lm.generate(PROMPTS, max_new_tokens=10))
    assert ref != plain, "the steering vector had no effect, so the test would prove nothing"


def test_prompt_and_generated_positions_are_counted_absolutely(llama):
    """Trap: positions counted per forward chunk. With the cache, decoding chunks are 1 token
    long, so 'position 0 of the chunk' would be steered at every step; here 'prompt' edits only
    the prompt and 'generated' only new tokens, whatever the chunking."""
    v = _vector(llama)
    seen = []

    def spy(x, chunk):
        mask = chunk.position_mask(x.shape[1], "generated", x.device)
        seen.append((chunk.offset, x.shape[1], None if mask is None else mask.tolist()))

    class Spy(AddVector):
        def hook_specs(self, num_layers):
            return [("blocks.0.resid_pre", spy)]

    llama.generate(["abc"], max_new_tokens=3, intervention=Spy(v, layers=[0]))
    assert seen[0] == (0, 3, [False, False, False])  # the prompt chunk
    assert seen[1] == (3, 1, [True]) and seen[2] == (4, 1, [True])
    seen.clear()
    llama.generate(["abc"], max_new_tokens=3, intervention=Spy(v, layers=[0]), use_cache=False)
    assert seen[2] == (0, 5, [False, False, False, True, True])


def test_generated_only_steering_leaves_the_prompt_alone(llama):
    iv = AddVector(_vector(llama), layers=[0], alpha=3.0, positions="generated")
    plain = llama.next_token_logprobs(PROMPTS)
    torch.testing.assert_close(llama.next_token_logprobs(PROMPTS, intervention=iv), plain)
    prompt_iv = AddVector(_vector(llama), layers=[0], alpha=3.0, positions="prompt")
    assert not torch.allclose(llama.next_token_logprobs(PROMPTS, intervention=prompt_iv), plain)


def test_every_row_of_the_batch_is_steered(any_lm):
    """Trap: decoder layers return a bare [B, T, d] tensor in transformers 5; a hook doing
    ``output[0] += v`` then steers only the first prompt. Every row must move by α·v."""
    v = _vector(any_lm)
    iv = AddVector(v, layers=[0], alpha=0.5, point="resid_post")
    p = "blocks.1.resid_pre"
    plain = any_lm.extract(PROMPTS, [p], reduce="all")[p]
    steered = any_lm.extract(PROMPTS, [p], reduce="all", intervention=iv)[p]
    for a, b in zip(plain, steered, strict=True):
        torch.testing.assert_close(b - a, (0.5 * v).expand_as(a), rtol=1e-4, atol=1e-4)


def test_position_ids_keep_advancing_for_left_padded_rows(llama):
    """Trap: explicit position ids that stop advancing while decoding left-padded batches.
    The padded short prompt must see positions 0..len-1 and then len, len+1, ... ."""
    seen = []
    handle = llama.hf.model.register_forward_pre_hook(
        lambda m, a, kw: seen.append(kw.get("position_ids").clone()), with_kwargs=True)
    try:
        llama.generate(["a much longer prompt here", "ab"], max_new_tokens=4)
    finally:
        handle.remove()
    short_len = len(llama.encode(["ab"])[0])
    assert seen[0][1, -short_len:].tolist() == list(range(short_len))
    decode_positions = [int(s[1, -1]) for s in seen[1:]]
    assert decode_positions == [short_len, short_len + 1, short_len + 2]
    # and the scores of a padded row equal its scores alone
    together = llama.next_token_logprobs(["a much longer prompt here", "ab"])
    alone = llama.next_token_logprobs(["ab"])
    torch.testing.assert_close(together[1:], alone, rtol=1e-4, atol=1e-4)


def test_removal_restores_exact_outputs_and_keeps_foreign_hooks(llama):
    """Trap: cleaning up with ``_forward_hooks.clear()`` removes other code's hooks too."""
    foreign_calls = []
    layer = llama._layers[1]
    handle = layer.register_forward_hook(lambda *a: foreign_calls.append(1))
    try:
        before = llama.next_token_logprobs(PROMPTS)
        n_hooks = (len(layer._forward_hooks), len(layer._forward_pre_hooks), len(llama.hf._forward_pre_hooks))
        iv = Compose([AddVector(_vector(llama), layers=[1], alpha=2.0), DirectionalAblation(_vector(llama, 2))])
        with llama.steer(iv):
            during = llama.next_token_logprobs(PROMPTS)
        after = llama.next_token_logprobs(PROMPTS)
        assert not torch.equal(before, during)
        assert torch.equal(before, after)
        assert (len(layer._forward_hooks), len(layer._forward_pre_hooks), len(llama.hf._forward_pre_hooks)) == n_hooks
        foreign_calls.clear()
        llama.next_token_logprobs(["x"])
        assert foreign_calls == [1]
    finally:
        handle.remove()


def test_removal_after_an_exception_inside_steer(llama):
    before = llama.next_token_logprobs(PROMPTS)
    with pytest.raises(RuntimeError), llama.steer(AddVector(_vector(llama), layers=[0], alpha=5.0)):
        raise RuntimeError("boom")
    assert torch.equal(before, llama.next_token_logprobs(PROMPTS))


def test_directional_ablation_zeroes_the_direction_at_every_hooked_point(any_lm):
    r = _vector(any_lm, seed=3)
    r_hat = r / r.norm()
    iv = DirectionalAblation(r)
    n = any_lm.num_layers
    points = [f"blocks.{i}.{s}" for i in range(n) for s in ("resid_pre", "attn_out", "mlp_out", "resid_post")]
    plain = any_lm.extract(PROMPTS, points, reduce="all")
    ablated = any_lm.extract(PROMPTS, points, reduce="all", intervention=iv)
    for p in points:
        for b in ablated[p]:
            assert (b @ r_hat).abs().max() < 1e-4 * max(1.0, float(b.norm(dim=-1).max())), p
    assert any((t @ r_hat).abs().max() > 1e-2 for p in points for t in plain[p])


def test_ablating_an_existing_component_is_a_no_op_when_orthogonal(llama):
    """An ablation along a direction the model never uses changes nothing: sanity that the
    hook computes x - (x·r̂)r̂ and not something larger."""
    iv = DirectionalAblation(_vector(llama, seed=3))
    plain = llama.extract(["ab"], ["blocks.0.resid_pre"], reduce="last")["blocks.0.resid_pre"][0]
    r = _vector(llama, seed=3)
    expected = plain - (plain @ (r / r.norm())) * (r / r.norm())
    got = llama.extract(["ab"], ["blocks.0.resid_pre"], reduce="last", intervention=iv)["blocks.0.resid_pre"][0]
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_neuron_intervention_sets_and_scales_mlp_activations(any_lm):
    idx = torch.tensor([0, 5, 17])
    p = "blocks.1.mlp_act"
    plain = any_lm.extract(PROMPTS, [p], reduce="all")[p]
    set_iv = NeuronIntervention({1: idx}, values={1: torch.tensor([1.0, -2.0, 3.0])})
    got = any_lm.extract(PROMPTS, [p], reduce="all", intervention=set_iv)[p]
    for a, b in zip(plain, got, strict=True):
        assert torch.allclose(b[:, idx], torch.tensor([1.0, -2.0, 3.0]).expand(a.shape[0], 3))
        keep = torch.ones(a.shape[1], dtype=torch.bool)
        keep[idx] = False
        torch.testing.assert_close(b[:, keep], a[:, keep])
    scaled = any_lm.extract(PROMPTS, [p], reduce="all", intervention=NeuronIntervention({1: idx}, scale=3.0))[p]
    zeroed = any_lm.extract(PROMPTS, [p], reduce="all", intervention=NeuronIntervention({1: idx}))[p]
    for a, s, z in zip(plain, scaled, zeroed, strict=True):
        torch.testing.assert_close(s[:, idx], 3.0 * a[:, idx])
        assert torch.count_nonzero(z[:, idx]) == 0
    # it changes what the model predicts, and batched == unbatched greedy
    iv = NeuronIntervention({0: torch.arange(40), 1: torch.arange(40)}, values=5.0)
    steered = _ids(any_lm.generate(PROMPTS, max_new_tokens=6, intervention=iv))
    assert steered == _ids(any_lm.generate(PROMPTS, max_new_tokens=6, intervention=iv, batch_size=1))
    assert steered != _ids(any_lm.generate(PROMPTS, max_new_tokens=6))


def test_compose_applies_both_parts(llama):
    a, b = _vector(llama, 1), _vector(llama, 2)
    both = Compose([AddVector(a, layers=[1], alpha=0.5), AddVector(b, layers=[1], alpha=0.25)])
    summed = AddVector(0.5 * a + 0.25 * b, layers=[1])
    torch.testing.assert_close(llama.next_token_logprobs(PROMPTS, intervention=both),
                               llama.next_token_logprobs(PROMPTS, intervention=summed), rtol=1e-4, atol=1e-4)


def test_per_layer_vectors(llama):
    vs = torch.stack([_vector(llama, 1), _vector(llama, 2)])
    iv = AddVector(vs, layers=[0, 2], alpha=1.0)
    split = Compose([AddVector(vs[0], layers=[0]), AddVector(vs[1], layers=[2])])
    torch.testing.assert_close(llama.next_token_logprobs(PROMPTS, intervention=iv),
                               llama.next_token_logprobs(PROMPTS, intervention=split))


def test_sampling_is_reproducible_with_a_seed(llama):
    kw = dict(max_new_tokens=12, do_sample=True, temperature=1.5)
    a = _ids(llama.generate(PROMPTS, seed=7, **kw))
    assert a == _ids(llama.generate(PROMPTS, seed=7, **kw))
    assert a != _ids(llama.generate(PROMPTS, seed=8, **kw))
    state = torch.random.get_rng_state()
    llama.generate(PROMPTS, seed=7, **kw)
    assert torch.equal(state, torch.random.get_rng_state()), "seeded sampling must not touch the global RNG"


def test_continuation_logprobs_match_next_token_logprobs(llama):
    nxt = llama.next_token_logprobs(PROMPTS)
    conts = ["a", "b", "z"]
    ids = [llama._encode_one(c, special=False)[0] for c in conts]
    got = llama.continuation_logprobs(PROMPTS, conts)
    for i in range(3):
        assert got[i] == pytest.approx(float(nxt[i, ids[i]]), abs=1e-4)
    two = llama.continuation_logprobs(PROMPTS, ["ab", "ab", "ab"], batch_size=1)
    assert all(t < o for t, o in zip(two, llama.continuation_logprobs(PROMPTS, ["a", "a", "a"]), strict=True))


def test_generation_fields(llama):
    g = llama.generate(["hello"], max_new_tokens=5, system="be brief")[0]
    assert g.prompt == "hello" and g.formatted_prompt == "be brief\n\nhello"
    assert 1 <= len(g.token_ids) <= 5
    assert g.text == llama.tokenizer.decode(g.token_ids, skip_special_tokens=True)
    assert g.finish_reason in ("eos", "length")
