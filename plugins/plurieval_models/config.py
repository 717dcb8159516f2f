"""Configs of the model plugin (torch-free: `plurieval list` must not import torch)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ModelOptions(BaseModel):
    """Options every model takes. ``quantization="int8"`` applies torch dynamic int8
    quantisation to every Linear layer (CPU only), to compare methods on full-precision vs
    quantised weights."""

    model_config = ConfigDict(extra="forbid")

    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        "float32", description="weight dtype; float32, the default on every machine, is fast on every CPU, while "
                               "bfloat16 is faster only where the CPU has native bf16 matmuls (AVX-512 BF16, AMX) "
                               "and several times slower elsewhere (docs/speed.md)")
    device: str = Field("cpu", description="'cpu', 'cuda', 'cuda:1' or 'auto'")
    quantization: Literal["none", "int8", "int4"] = Field(
        "none", description="'int8': dynamic int8 quantisation (CPU); 'int4': 4-bit weight-only (torchao, extra "
                            "'int4'; groups of 32)")


class HFModelConfig(ModelOptions):
    """Any Hugging Face causal LM: ``--model hf:<hub id or local folder>``."""

    path: str = Field(..., description="hub id (org/name) or local model folder")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="'auto' keeps the checkpoint's dtype")
    revision: str | None = Field(None, description="hub branch, tag or commit (pin it for reproducible runs)")
    trust_remote_code: bool = Field(False, description="allow the repository's own modelling code (runs its code)")
    tokenizer_class: str | None = Field(
        None, description="transformers tokenizer class to use instead of AutoTokenizer (e.g. ByT5Tokenizer)")
