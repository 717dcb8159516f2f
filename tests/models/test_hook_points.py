"""Hook points on four architectures, checked against transformers' own hidden states."""

import pytest
import torch

from plurieval.errors import PluriError

PROMPTS = ["The quick brown fox", "Hi", "Steering vectors are added to the residual stream."]


def _hidden_states(lm, prompts):
    ids, mask = lm.pad_left(lm.encode(prompts))
    with torch.inference_mode():
        out = lm.hf(input_ids=ids, attention_mask=mask, position_ids=lm._position_ids(mask), output_hidden_states=True)
    return out.hidden_states, mask


def test_every_point_has_the_documented_shape(any_lm):
    out = any_lm.extract(PROMPTS, any_lm.points(), reduce="last")
    for point, value in out.items():
        width = any_lm.d_mlp if point.endswith("mlp_act") else any_lm.hidden_size
        assert value.shape == (len(PROMPTS), width), point
        assert torch.isfinite(value).all()


def test_residual_points_match_hidden_states_and_last_entry_is_after_final_norm(any_lm):
    """hidden_states[i] is the input of layer i; the *last* entry is after the final norm, so it
    differs from resid_post of the last layer (a hook there gives the pre-norm stream)."""
    hs, mask = _hidden_states(any_lm, PROMPTS)
    n = any_lm.num_layers
    points = [f"blocks.{i}.resid_pre" for i in range(n)] + [f"blocks.{i}.resid_post" for i in range(n)]
    got = any_lm.extract(PROMPTS, points, reduce="last")
    for i in range(n):
        torch.testing.assert_close(got[f"blocks.{i}.resid_pre"], hs[i][:, -1].float())
    for i in range(n - 1):
        torch.testing.assert_close(got[f"blocks.{i}.resid_post"], hs[i + 1][:, -1].float())
    last = got[f"blocks.{n - 1}.resid_post"]
    assert not torch.allclose(last, hs[-1][:, -1].float(), atol=1e-3)
    final_norm = dict(any_lm.hf.named_modules())[any_lm.layout.final_norm]
    with torch.inference_mode():
        torch.testing.assert_close(final_norm(last), hs[-1][:, -1].float(), rtol=1e-4, atol=1e-4)


def test_sublayer_outputs_sum_to_the_residual_update(any_lm):
    """attn_out and mlp_out are what each sub-layer adds to the stream (for Gemma2 after its
    post-norms): resid_post == resid_pre + attn_out + mlp_out at every layer and token."""
    n = any_lm.num_layers
    points = [f"blocks.{i}.{s}" for i in range(n) for s in ("resid_pre", "attn_out", "mlp_out", "resid_post")]
    got = any_lm.extract(PROMPTS, points, reduce="all")
    for i in range(n):
        for row in range(len(PROMPTS)):
            pre, attn, mlp, post = (got[f"blocks.{i}.{s}"][row] for s in ("resid_pre", "attn_out", "mlp_out", "resid_post"))
            torch.testing.assert_close(pre + attn + mlp, post, rtol=1e-4, atol=1e-4)


def test_reductions_agree_with_all_tokens(llama):
    lengths = [len(x) for x in llama.encode(PROMPTS)]
    p = "blocks.1.resid_post"
    full = llama.extract(PROMPTS, [p], reduce="all")[p]
    assert [t.shape[0] for t in full] == lengths
    torch.testing.assert_close(llama.extract(PROMPTS, [p], reduce="mean")[p], torch.stack([t.mean(0) for t in full]))
    torch.testing.assert_close(llama.extract(PROMPTS, [p], reduce="last")[p], torch.stack([t[-1] for t in full]))
    pos = llama.extract(PROMPTS, [p], reduce="positions", positions=[-1, -2, 0])[p]
    assert pos.shape == (3, 3, llama.hidden_size)
    torch.testing.assert_close(pos, torch.stack([t[[-1, -2, 0]] for t in full]))


def test_batched_extraction_equals_one_by_one(any_lm):
    p = "blocks.1.resid_pre"
    batched = any_lm.extract(PROMPTS, [p], reduce="mean", batch_size=8)[p]
    single = any_lm.extract(PROMPTS, [p], reduce="mean", batch_size=1)[p]
    torch.testing.assert_close(batched, single, rtol=1e-4, atol=1e-4)


def test_extraction_stops_after_the_deepest_point(llama):
    """Layers after the deepest requested point never run (a counting hook on the last layer)."""
    calls = []
    handle = llama._layers[-1].register_forward_hook(lambda *a: calls.append(1))
    try:
        shallow = llama.extract(PROMPTS, ["blocks.0.resid_post", "blocks.1.attn_out"])
        assert calls == []
        deep = llama.extract(PROMPTS, ["blocks.0.resid_post", f"blocks.{llama.num_layers - 1}.resid_post"])
        assert calls == [1]
    finally:
        handle.remove()
    torch.testing.assert_close(shallow["blocks.0.resid_post"], deep["blocks.0.resid_post"])


@pytest.mark.parametrize("bad", ["blocks.99.resid_pre", "layers.0.resid_pre", "blocks.0.resid"])
def test_bad_point_names_are_clear_errors(llama, bad):
    with pytest.raises(PluriError, match="hook point|unknown"):
        llama.extract(["x"], [bad])


def test_mlp_act_is_the_neuron_activation_computed_by_hand(any_lm):
    """``mlp_act`` = the input of the down projection: act(gate(x)) · up(x) for gated MLPs
    (Llama, Qwen2, Gemma2), act(c_fc(x)) for GPT-2, with x the MLP's input captured by a hook."""
    layer = any_lm._layers[1]
    mlp = layer.mlp
    seen = {}
    handle = mlp.register_forward_pre_hook(lambda _m, args: seen.__setitem__("x", args[0].detach().clone()))
    try:
        got = any_lm.extract(PROMPTS, ["blocks.1.mlp_act"], reduce="last")["blocks.1.mlp_act"]
    finally:
        handle.remove()
    x = seen["x"][:, -1]
    with torch.inference_mode():
        if hasattr(mlp, "gate_proj"):
            want = mlp.act_fn(mlp.gate_proj(x)) * mlp.up_proj(x)
        else:
            want = mlp.act(mlp.c_fc(x))
    assert got.shape[1] == any_lm.d_mlp != any_lm.hidden_size
    torch.testing.assert_close(got, want.float(), rtol=1e-4, atol=1e-5)
