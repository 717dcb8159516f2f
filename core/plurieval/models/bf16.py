"""bfloat16 on a CPU: the matrix products from float32 copies of the weights, accumulated in float32.

A bfloat16 model keeps bfloat16 weights and bfloat16 activations between operations. What a
matrix product of two bfloat16 operands computes is fixed by the format (each product is exact
in float32: 8 + 8 significand bits fit in 24) up to the order and width of the accumulation;
native bfloat16 units (AVX-512 BF16, AMX, tensor cores) accumulate in float32 and round the
result to bfloat16 once. On a CPU without them, torch's fallback kernel does the same
arithmetic at 8-9 GFLOP/s against 55-65 for float32 (one core of the 2-core AVX2 machine, the
shapes of the default model), which made a bfloat16 run of the self-explanation benchmark
(``nle-post-hoc``, one item) take 644 s of CPU against 115 s for float32 on this project's 2-core
AVX2 machine; with the products below it took 124 s.

So on a CPU without them, every ``nn.Linear`` (and transformers' ``Conv1D``) of a bfloat16 model computes
``bfloat16(float32(x) @ W32ᵀ + b32)`` where ``W32`` is a float32 copy of its bfloat16 weight, made
once (and again if the weight changes): the same products, float32 accumulation, one rounding to
bfloat16 — the arithmetic of a native bfloat16 kernel, at about float32 speed (0.89x in generated
tokens per second on the default model). Only the order of the float32 sums differs from torch's
own bfloat16 kernel (about 1 in 10^4 outputs one bfloat16 step apart, enough to change a greedy
path after some tokens). The cost is the float32 copies' memory (4 bytes per weight). Where torch
runs bfloat16 products through oneDNN (a CPU with AVX-512; with AVX-512 BF16, bfloat16 generation
was measured 2.1-5.6x faster than float32: docs/speed.md), its kernels are kept.
``LanguageModel.describe()`` records which (``matmul``), so it is part of the manifest and of
every cache key. Training (a module in ``train()`` mode with
gradients on) takes the differentiable path (the weight upcast on every call), so weights still
receive gradients.
"""

from __future__ import annotations

from typing import Any

import torch

MATMUL = "bfloat16 operands, float32 accumulation (float32 weight copies)"
"""What ``LanguageModel.describe()["matmul"]`` says of a model prepared by :func:`accumulate_in_float32`."""
NATIVE = "torch bfloat16 kernels (oneDNN)"
"""... and of a bfloat16 model left to torch's kernels because the CPU runs them fast."""
_MARK = "_plurieval_matmul"


def native_bf16_matmul() -> bool:
    """Whether torch computes bfloat16 products on this CPU with oneDNN (it needs AVX-512; with
    AVX-512 BF16 or AMX units it beats float32) rather than with its slow fallback kernel."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def prepare_cpu_bf16(hf: torch.nn.Module) -> str:
    """For a bfloat16 model on the CPU: torch's kernels where they are fast, else
    :func:`accumulate_in_float32`; marks the model with which (``describe()["matmul"]``)."""
    if native_bf16_matmul():
        setattr(hf, _MARK, NATIVE)
    else:
        accumulate_in_float32(hf)
    return matmul_of(hf) or NATIVE


class _Float32Copy:
    """A float32 copy of a parameter, remade when the parameter changes (its version counter)."""

    def __init__(self) -> None:
        self.value: torch.Tensor | None = None
        self.key: tuple[int, int] | None = None

    def of(self, param: torch.Tensor | None) -> torch.Tensor | None:
        if param is None:
            return None
        key = (param.data_ptr(), param._version)
        if self.key != key:
            # a normal tensor even under inference_mode, so a later pass with gradients may save it
            with torch.inference_mode(False), torch.no_grad():
                self.value = param.detach().float()
            self.key = key
        return self.value


def _linear_forward(module: torch.nn.Linear) -> Any:
    weight, bias = _Float32Copy(), _Float32Copy()

    def forward(x: torch.Tensor) -> torch.Tensor:
        if module.training and torch.is_grad_enabled():
            b = None if module.bias is None else module.bias.float()
            return torch.nn.functional.linear(x.float(), module.weight.float(), b).to(module.weight.dtype)
        return torch.nn.functional.linear(x.float(), weight.of(module.weight), bias.of(module.bias)).to(module.weight.dtype)

    return forward


def _conv1d_forward(module: Any) -> Any:
    """transformers' ``Conv1D``: ``x @ W + b`` with ``W`` stored ``[in, out]``."""
    weight, bias = _Float32Copy(), _Float32Copy()

    def forward(x: torch.Tensor) -> torch.Tensor:
        train = module.training and torch.is_grad_enabled()
        w = module.weight.float() if train else weight.of(module.weight)
        b = module.bias.float() if train else bias.of(module.bias)
        flat = x.reshape(-1, x.shape[-1]).float()
        out = torch.addmm(b, flat, w) if b is not None else flat @ w
        return out.reshape(*x.shape[:-1], w.shape[-1]).to(module.weight.dtype)

    return forward


def accumulate_in_float32(hf: torch.nn.Module) -> int:
    """Give every bfloat16 ``Linear``/``Conv1D`` of ``hf`` the float32-accumulating forward (an
    attribute of the module instance: parameters, state dict and hooks stay as they are);
    returns how many were changed and marks the model (:data:`MATMUL`)."""
    try:
        from transformers.pytorch_utils import Conv1D
    except ImportError:  # a transformers without Conv1D has none to change
        Conv1D = ()  # noqa: N806
    changed = 0
    for module in hf.modules():
        if "forward" in module.__dict__ or getattr(module, "weight", None) is None \
                or module.weight.dtype != torch.bfloat16:
            continue
        if type(module) is torch.nn.Linear:
            module.forward = _linear_forward(module)
        elif Conv1D and isinstance(module, Conv1D):
            module.forward = _conv1d_forward(module)
        else:
            continue
        changed += 1
    if changed:
        setattr(hf, _MARK, MATMUL)
    return changed


def matmul_of(hf: torch.nn.Module) -> str | None:
    """How a bfloat16 model's products are computed (:data:`MATMUL` or :data:`NATIVE`, as
    :func:`prepare_cpu_bf16` chose), ``None`` for a model it did not prepare (float32, GPU)."""
    return getattr(hf, _MARK, None)


__all__ = ["MATMUL", "NATIVE", "accumulate_in_float32", "matmul_of", "native_bf16_matmul", "prepare_cpu_bf16"]
