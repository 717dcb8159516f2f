"""Steering directions computed from activations of two groups (e.g. target vs source language,
harmful vs harmless). Inputs are ``[n, d]`` float tensors of one hook point.

Every function returns a direction that points from the negative group towards the positive
group (projection of mean(positive) > projection of mean(negative)), so adding it with α > 0
always pushes towards the positive group whatever the estimator. Everything is computed in
float64 so results do not depend on batch order or dtype of the stored activations.
"""

from __future__ import annotations

import torch


def _check(positive: torch.Tensor, negative: torch.Tensor, name: str) -> None:
    if positive.ndim != 2 or negative.ndim != 2 or positive.shape[1] != negative.shape[1]:
        raise ValueError(f"{name}: expected [n, d] activations of equal width, got {tuple(positive.shape)} and {tuple(negative.shape)}")
    if len(positive) == 0 or len(negative) == 0:
        raise ValueError(f"{name} needs at least one example in each group")


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm().clamp_min(1e-12)


def _orient(direction: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """Flip the sign so the direction points from the negative towards the positive group."""
    gap = (positive.double().mean(0) - negative.double().mean(0)) @ direction.double()
    return -direction if gap < 0 else direction


def diff_mean(positive: torch.Tensor, negative: torch.Tensor, normalize: bool = False) -> torch.Tensor:
    """mean(positive) − mean(negative), optionally unit-normalised. Computed in float64 so
    the result does not depend on the batch order of the activations."""
    _check(positive, negative, "diff_mean")
    direction = positive.double().mean(0) - negative.double().mean(0)
    if normalize:
        direction = _unit(direction)
    return direction.to(positive.dtype)


def pca_direction(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """First principal component of the pooled, centred activations of both groups, oriented
    towards ``positive``; unit norm. When the group difference dominates the variance (the
    usual case for language identity in the residual stream) it recovers the separating axis
    without using the labels for anything but the sign."""
    _check(positive, negative, "pca_direction")
    x = torch.cat([positive, negative]).double()
    x = x - x.mean(0)
    # Top right-singular vector of the centred data = top eigenvector of the covariance.
    _, _, vh = torch.linalg.svd(x, full_matrices=False)
    return _orient(_unit(vh[0]), positive, negative).to(positive.dtype)


def lda_direction(positive: torch.Tensor, negative: torch.Tensor, shrinkage: float | str = "auto") -> torch.Tensor:
    """Fisher LDA direction Σ_w⁻¹ (μ₊ − μ₋) with a shrunk within-class covariance, unit norm,
    oriented towards ``positive``. Shrinkage is needed because activations have more
    dimensions than examples; ``"auto"`` uses the Ledoit–Wolf estimate (scikit-learn's
    ``LinearDiscriminantAnalysis(solver="lsqr")``), a float in [0, 1] fixes it."""
    _check(positive, negative, "lda_direction")
    import numpy as np
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    x = torch.cat([positive, negative]).double().numpy()
    y = np.r_[np.ones(len(positive)), np.zeros(len(negative))]
    lda = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=shrinkage).fit(x, y)
    w = torch.from_numpy(lda.coef_[0].copy())
    return _orient(_unit(w), positive, negative).to(positive.dtype)


def probe_direction(positive: torch.Tensor, negative: torch.Tensor, C: float = 1.0, max_iter: int = 2000,
                    seed: int = 0) -> torch.Tensor:
    """Weight vector of an L2-regularised logistic-regression probe (scikit-learn) separating
    the groups, mapped back to activation space and unit-normalised, oriented towards
    ``positive``. Activations are divided by one global scale (their RMS) before fitting so
    that ``C`` means the same at every layer; a single scalar does not change the direction."""
    _check(positive, negative, "probe_direction")
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = torch.cat([positive, negative]).double()
    scale = float(x.pow(2).mean().sqrt().clamp_min(1e-12))
    y = np.r_[np.ones(len(positive)), np.zeros(len(negative))]
    clf = LogisticRegression(C=C, max_iter=max_iter, random_state=seed).fit((x / scale).numpy(), y)
    w = torch.from_numpy(clf.coef_[0].copy())
    return _orient(_unit(w), positive, negative).to(positive.dtype)


def direction_for(method: str, positive: torch.Tensor, negative: torch.Tensor, **kw: object) -> torch.Tensor:
    """Unit direction by estimator name: ``diffmean``, ``pca``, ``lda`` or ``probe``."""
    if method == "diffmean":
        return diff_mean(positive, negative, normalize=True)
    if method == "pca":
        return pca_direction(positive, negative)
    if method == "lda":
        return lda_direction(positive, negative, **kw)  # type: ignore[arg-type]
    if method == "probe":
        return probe_direction(positive, negative, **kw)  # type: ignore[arg-type]
    raise ValueError(f"unknown direction estimator {method!r}; choose diffmean, pca, lda or probe")


def cosine_matrix(directions: torch.Tensor) -> torch.Tensor:
    """Pairwise cosine similarity of ``[k, d]`` directions (e.g. one DiffMean per language)."""
    unit = directions.double() / directions.double().norm(dim=1, keepdim=True).clamp_min(1e-12)
    return unit @ unit.T


__all__ = ["cosine_matrix", "diff_mean", "direction_for", "lda_direction", "pca_direction", "probe_direction"]
