"""Named hook points on Hugging Face decoder models, independent of the architecture.

Methods address activations by name (``blocks.3.resid_pre``) and never by module path, so the
same steering method runs on Llama, Qwen2, Gemma2 and GPT-2. Every point is one PyTorch hook on
one module, attached through :func:`attach`, which also hides the differences in what modules
return: in transformers 5 a decoder layer returns a *bare tensor* (not a tuple), attention
modules return ``(output, weights)``, and layers may receive the hidden states as a keyword.
Treating a bare ``[B, T, d]`` tensor as a tuple (``output[0] += v``) silently steers only the
first prompt of a batch, the trap this module exists to avoid.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from plurieval.errors import PluriError

SUB_POINTS = ("resid_pre", "attn_out", "mlp_act", "mlp_out", "resid_post")
# Order in which the points of one layer are computed in a forward pass (used to stop early).
_POINT_ORDER = {name: i for i, name in enumerate(SUB_POINTS)}
_POINT_RE = re.compile(r"^blocks\.(\d+)\.(" + "|".join(SUB_POINTS) + r")$")

HookFn = Callable[[torch.Tensor], "torch.Tensor | None"]


def parse_point(point: str, num_layers: int) -> tuple[int, str]:
    """``"blocks.3.resid_pre"`` → ``(3, "resid_pre")``, with a clear error for bad names."""
    m = _POINT_RE.match(point)
    if not m:
        raise PluriError(
            f"unknown hook point {point!r}: use 'blocks.<layer>.<point>' with point one of "
            f"{', '.join(SUB_POINTS)} (e.g. 'blocks.0.resid_pre')"
        )
    layer = int(m.group(1))
    if layer >= num_layers:
        raise PluriError(f"hook point {point!r}: the model has {num_layers} layers (0..{num_layers - 1})")
    return layer, m.group(2)


def point_order(layer: int, sub: str) -> tuple[int, int]:
    return layer, _POINT_ORDER[sub]


@dataclass(frozen=True)
class ArchLayout:
    """Where the named points live, relative to one decoder layer.

    ``attn`` / ``mlp`` are the modules whose output is *added to the residual stream* (for
    Gemma2/3 that is the post-norm after attention / MLP, not the raw attention output), so that
    ablating a direction there removes it from what the sub-layer writes.
    """

    family: str
    layers: str
    attn: str
    mlp: str
    down: str
    final_norm: str


def _get(root: nn.Module, path: str) -> Any:
    obj: Any = root
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _has(root: nn.Module, path: str) -> bool:
    try:
        _get(root, path)
        return True
    except AttributeError:
        return False


_LAYER_LISTS = ("model.layers", "transformer.h", "model.language_model.layers", "gpt_neox.layers")
_FINAL_NORMS = ("model.norm", "transformer.ln_f", "model.language_model.norm", "gpt_neox.final_layer_norm")


def detect_layout(model: nn.Module) -> ArchLayout:
    """Find the decoder layers and sub-modules by structure (works for any Llama-like,
    Gemma-like or GPT-2-like model, not only the four families that are tested)."""
    layers_path = next((p for p in _LAYER_LISTS if _has(model, p)), None)
    if layers_path is None:
        raise PluriError(
            f"{type(model).__name__}: cannot find the decoder layers (looked for {', '.join(_LAYER_LISTS)}); "
            "plurieval supports Llama-, Qwen2-, Gemma- and GPT-2-style causal LMs"
        )
    layer0 = _get(model, layers_path)[0]
    final_norm = next((p for p in _FINAL_NORMS if _has(model, p)), "")
    if _has(layer0, "post_feedforward_layernorm") and _has(layer0, "mlp.down_proj"):
        return ArchLayout("gemma", layers_path, "post_attention_layernorm", "post_feedforward_layernorm",
                          "mlp.down_proj", final_norm)
    if _has(layer0, "self_attn") and _has(layer0, "mlp.down_proj"):
        return ArchLayout("llama", layers_path, "self_attn", "mlp", "mlp.down_proj", final_norm)
    if _has(layer0, "attn") and _has(layer0, "mlp.c_proj"):
        return ArchLayout("gpt2", layers_path, "attn", "mlp", "mlp.c_proj", final_norm)
    raise PluriError(f"{type(model).__name__}: unrecognised decoder layer layout ({type(layer0).__name__})")


def layer_modules(model: nn.Module, layout: ArchLayout) -> list[nn.Module]:
    return list(_get(model, layout.layers))


def point_module(layer: nn.Module, layout: ArchLayout, sub: str) -> tuple[nn.Module, str]:
    """The module a point hooks and whether it reads the module's input ("pre") or output."""
    if sub == "resid_pre":
        return layer, "pre"
    if sub == "resid_post":
        return layer, "post"
    if sub == "attn_out":
        return _get(layer, layout.attn), "post"
    if sub == "mlp_out":
        return _get(layer, layout.mlp), "post"
    if sub == "mlp_act":
        return _get(layer, layout.down), "pre"
    raise PluriError(f"unknown sub-point {sub!r}")


def attach(module: nn.Module, mode: str, fn: HookFn) -> torch.utils.hooks.RemovableHandle:
    """Hook ``fn(hidden) -> new hidden | None`` on a module's input ("pre") or output ("post").

    Handles bare tensors, tuples whose first entry is the hidden state, and hidden states passed
    as the ``hidden_states`` keyword. Returns the handle: callers remove exactly their own hooks.
    """
    if mode == "pre":

        def pre_hook(_mod: nn.Module, args: tuple, kwargs: dict) -> Any:
            if args:
                new = fn(args[0])
                if new is not None:
                    return (new, *args[1:]), kwargs
            elif "hidden_states" in kwargs:
                new = fn(kwargs["hidden_states"])
                if new is not None:
                    return args, {**kwargs, "hidden_states": new}
            return None

        return module.register_forward_pre_hook(pre_hook, with_kwargs=True)

    def post_hook(_mod: nn.Module, _args: tuple, output: Any) -> Any:
        if isinstance(output, torch.Tensor):
            return fn(output)  # bare tensor: the whole batch, not output[0]
        if isinstance(output, tuple) and output and isinstance(output[0], torch.Tensor):
            new = fn(output[0])
            return None if new is None else (new, *output[1:])
        raise PluriError(f"{type(_mod).__name__} returned {type(output).__name__}; cannot hook it")

    return module.register_forward_hook(post_hook)
