"""Tiny randomly initialised models for tests: real transformers architectures, real hooks.

Each is built from a config in ~0.1 s, with a ``ByT5Tokenizer`` (bytes as tokens, needs no
files). Weights are random but deterministic in ``seed``; generations are gibberish bytes, which
is all a test of hooks, padding, caching and steering needs.
"""

from __future__ import annotations

from typing import Literal

import torch

from plurieval.errors import PluriError
from plurieval.models.lm import LanguageModel

ARCHS = ("llama", "qwen2", "gemma2", "gpt2")
VOCAB = 384  # ByT5: 3 special tokens + 256 bytes + 125 extra ids


def tiny_config(arch: str):
    """A small config of the given family (3 layers, d=64, MLP 128, grouped-query attention)."""
    import transformers as tf

    common = dict(vocab_size=VOCAB, pad_token_id=0, eos_token_id=1, bos_token_id=None, tie_word_embeddings=False)
    if arch == "llama":
        return tf.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
                              num_key_value_heads=2, max_position_embeddings=512, **common)
    if arch == "qwen2":
        return tf.Qwen2Config(hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
                              num_key_value_heads=2, max_position_embeddings=512, use_sliding_window=False, **common)
    if arch == "gemma2":
        return tf.Gemma2Config(hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
                               num_key_value_heads=2, head_dim=16, max_position_embeddings=512, sliding_window=256,
                               query_pre_attn_scalar=16, attn_implementation="eager", **common)
    if arch == "gpt2":
        return tf.GPT2Config(n_embd=64, n_inner=128, n_layer=3, n_head=4, n_positions=512, **common)
    raise PluriError(f"tiny_model: unknown arch {arch!r}; choose one of {', '.join(ARCHS)}")


def tiny_hf_model(arch: str = "llama", seed: int = 0) -> torch.nn.Module:
    from transformers import AutoModelForCausalLM

    config = tiny_config(arch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config)
        # Random init with std 0.02 gives near-uniform logits: scale the LM head up so greedy
        # decoding has clear winners and does not flip on float rounding between batch shapes.
        with torch.no_grad():
            model.get_output_embeddings().weight.mul_(8.0)
    return model.eval()


def tiny_tokenizer():
    from transformers import ByT5Tokenizer

    return ByT5Tokenizer()


def tiny_model(arch: Literal["llama", "qwen2", "gemma2", "gpt2"] = "llama", seed: int = 0) -> LanguageModel:
    """A random tiny :class:`LanguageModel` of the given family (deterministic in ``seed``)."""
    return LanguageModel(tiny_hf_model(arch, seed), tiny_tokenizer(), name=f"tiny-{arch}-seed{seed}",
                         revision=f"random-init-seed{seed}")


__all__ = ["ARCHS", "tiny_config", "tiny_hf_model", "tiny_model", "tiny_tokenizer"]
