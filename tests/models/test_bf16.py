"""bfloat16 on the CPU: matrix products of bfloat16 operands accumulated in float32 (plurieval.models.bf16).

What is fixed by the format: a product of two bfloat16 numbers is exact in float32 (8 + 8
significand bits ≤ 24), so ``bfloat16(float32(x) @ float32(W)ᵀ)`` and torch's own bfloat16 kernel
(float32 accumulation, one rounding) differ only where the float32 sums, taken in another order,
round to different bfloat16 neighbours. The tests pin the arithmetic exactly, bound the
difference from torch's kernel, and check what must survive: hooks, gradients, weight updates,
the manifest and the cache key.
"""

import pytest
import torch

from plurieval.cache import model_identity
from plurieval.models import AddVector, LanguageModel, bf16, load_hf
from plurieval.models.bf16 import MATMUL, NATIVE, accumulate_in_float32, matmul_of
from plurieval.models.testing import tiny_hf_model, tiny_model, tiny_tokenizer

PROMPTS = ["The quick brown fox", "Steering vectors are added to the residual stream."]


def _bf16(arch="llama", seed=3):
    hf = tiny_hf_model(arch, seed=seed).to(torch.bfloat16).eval()
    native = tiny_hf_model(arch, seed=seed).to(torch.bfloat16).eval()
    assert accumulate_in_float32(hf) > 0
    return hf, native


def test_a_linear_computes_the_float32_sum_of_exact_products_rounded_once():
    hf, _ = _bf16()
    layer = hf.model.layers[0].mlp.up_proj
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, layer.in_features, generator=g).to(torch.bfloat16)
    with torch.no_grad():
        ours = layer(x)
        # by hand: upcast both operands (exact), multiply-accumulate in float32, round to bfloat16
        by_hand = (x.float() @ layer.weight.float().t()).to(torch.bfloat16)
        native = torch.nn.functional.linear(x, layer.weight)
    assert ours.dtype == torch.bfloat16 and torch.equal(ours, by_hand)
    # torch's bfloat16 kernel sums in another order: at most one bfloat16 step apart, rarely
    step = torch.finfo(torch.bfloat16).eps * native.float().abs().clamp(min=2 ** -126)
    assert ((ours.float() - native.float()).abs() <= step + 1e-30).all()


@pytest.mark.parametrize("arch", ["llama", "gpt2"])  # gpt2: transformers' Conv1D projections
def test_the_model_gives_torchs_bfloat16_answers(arch):
    hf, native = _bf16(arch)
    if arch == "gpt2":
        assert "forward" in hf.transformer.h[0].attn.c_attn.__dict__, "Conv1D was not changed"
    ids = torch.tensor([[5, 17, 42, 9, 3, 77, 120, 8]])
    with torch.no_grad():
        ours, theirs = hf(input_ids=ids).logits.float(), native(input_ids=ids).logits.float()
    assert torch.equal(ours.argmax(-1), theirs.argmax(-1))
    assert (ours - theirs).abs().max() < 0.1 * theirs.abs().max()


def test_a_changed_weight_is_copied_again():
    hf, _ = _bf16()
    layer = hf.model.layers[0].mlp.down_proj
    x = torch.randn(2, layer.in_features).to(torch.bfloat16)
    with torch.no_grad():
        before = layer(x)
        layer.weight.mul_(2)  # in place: the parameter's version counter moves
        after = layer(x)
    assert torch.equal(after, (x.float() @ layer.weight.float().t()).to(torch.bfloat16))
    assert not torch.equal(before, after)


def test_gradients_reach_inputs_and_while_training_the_weights():
    hf, _ = _bf16()
    layer = hf.model.layers[0].mlp.up_proj
    with torch.inference_mode():  # the float32 copy made here must still serve a pass with gradients
        layer(torch.ones(1, layer.in_features, dtype=torch.bfloat16))
    x = torch.randn(3, layer.in_features).to(torch.bfloat16).requires_grad_(True)
    layer(x).float().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad.float()).all() and x.grad.abs().sum() > 0
    assert layer.weight.grad is None  # eval mode: the weights are constants (attribution)
    layer.train()
    layer(x.detach()).float().sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


def test_loading_in_bfloat16_on_the_cpu_uses_it_and_records_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PLURIEVAL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(bf16, "native_bf16_matmul", lambda: False)  # as on this project's AVX2 CI machines
    folder = tmp_path / "tiny"
    tiny_hf_model("llama", seed=4).save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    lm = load_hf(str(folder), dtype="bfloat16")
    assert lm.describe()["matmul"] == MATMUL == matmul_of(lm.hf)
    assert "forward" in lm.hf.model.layers[1].self_attn.q_proj.__dict__
    # the way products are summed can change outputs: it is part of every cache key
    plain = LanguageModel(tiny_hf_model("llama", seed=4).to(torch.bfloat16), tiny_tokenizer(), name=lm.name,
                          revision=lm.revision, weights_hash=lm.weights_hash)
    assert "matmul" not in plain.describe()
    assert model_identity(lm.describe()) != model_identity(plain.describe())
    # float32 models are untouched, and their identity has no new field (old cache keys stand)
    f32 = load_hf(str(folder), dtype="float32")
    assert "matmul" not in f32.describe() and "matmul" not in model_identity(f32.describe())
    assert "forward" not in f32.hf.model.layers[1].self_attn.q_proj.__dict__
    # hooks on the changed modules still steer; decoding lanes share the float32 copies
    iv = AddVector(torch.ones(lm.hidden_size), layers=[1], alpha=4.0)
    one = [g.token_ids for g in lm.generate(PROMPTS * 2, max_new_tokens=5, intervention=iv, lanes=1)]
    two = [g.token_ids for g in lm.generate(PROMPTS * 2, max_new_tokens=5, intervention=iv, lanes=2)]
    assert one == two and one != [g.token_ids for g in lm.generate(PROMPTS * 2, max_new_tokens=5, lanes=1)]


def test_float32_models_are_never_changed():
    lm = tiny_model("llama")
    assert accumulate_in_float32(lm.hf) == 0 and matmul_of(lm.hf) is None


def test_where_torchs_bfloat16_kernels_are_fast_they_are_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("PLURIEVAL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(bf16, "native_bf16_matmul", lambda: True)  # a CPU where oneDNN runs bfloat16
    folder = tmp_path / "tiny"
    tiny_hf_model("llama", seed=4).save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    lm = load_hf(str(folder), dtype="bfloat16")
    assert lm.describe()["matmul"] == NATIVE
    assert not any("forward" in m.__dict__ for m in lm.hf.modules())
