"""Steering directions computed from activations of two groups (e.g. target vs source language,
harmful vs harmless). Inputs are ``[n, d]`` float tensors of one hook point."""

from __future__ import annotations

import torch


def diff_mean(positive: torch.Tensor, negative: torch.Tensor, normalize: bool = False) -> torch.Tensor:
    """mean(positive) − mean(negative), optionally unit-normalised. Computed in float64 so
    the result does not depend on the batch order of the activations."""
    if positive.ndim != 2 or negative.ndim != 2 or positive.shape[1] != negative.shape[1]:
        raise ValueError(f"expected [n, d] activations of equal width, got {tuple(positive.shape)} and {tuple(negative.shape)}")
    if len(positive) == 0 or len(negative) == 0:
        raise ValueError("diff_mean needs at least one example in each group")
    direction = positive.double().mean(0) - negative.double().mean(0)
    if normalize:
        direction = direction / direction.norm().clamp_min(1e-12)
    return direction.to(positive.dtype)
