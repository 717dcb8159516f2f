"""Model factories (imported lazily by the registry; this is where torch gets imported)."""

from __future__ import annotations

from plurieval.api import LanguageModel, load_default, load_gemma3, load_hf

from .config import HFModelConfig, ModelOptions


def default_model(config: ModelOptions) -> LanguageModel:
    return load_default(dtype=config.dtype, device=config.device, quantization=config.quantization)


def gemma3_model(config: ModelOptions) -> LanguageModel:
    return load_gemma3(dtype=config.dtype, device=config.device, quantization=config.quantization)


def hf_model(config: HFModelConfig) -> LanguageModel:
    return load_hf(config.path, dtype=config.dtype, device=config.device, quantization=config.quantization,
                   revision=config.revision, trust_remote_code=config.trust_remote_code,
                   tokenizer_class=config.tokenizer_class)
