"""A minimal sparse autoencoder (SAE) trainer and target-selective feature picking.

Why not sae-lens: it pulls in a large dependency tree (and its training loop expects a
TransformerLens model and a streaming token dataset); steering only needs a small ReLU SAE on
one layer's cached activations, which trains in seconds on CPU. The architecture is the
standard one (Bricken et al. 2023, "Towards Monosemanticity"): f = ReLU(W_enc (x − b_dec) +
b_enc), x̂ = W_dec f + b_dec, loss = ‖x − x̂‖² + λ‖f‖₁ with decoder rows kept at unit norm, so
the L1 penalty cannot be dodged by shrinking features and growing decoder rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class SparseAutoencoder:
    w_enc: torch.Tensor  # [d, m]
    b_enc: torch.Tensor  # [m]
    w_dec: torch.Tensor  # [m, d], unit-norm rows
    b_dec: torch.Tensor  # [d]
    scale: float = 1.0   # inputs are divided by this (their RMS norm) before encoding

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float() / self.scale
        return torch.relu((x - self.b_dec) @ self.w_enc + self.b_enc)

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return (f @ self.w_dec + self.b_dec) * self.scale

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"w_enc": self.w_enc, "b_enc": self.b_enc, "w_dec": self.w_dec, "b_dec": self.b_dec,
                "scale": torch.tensor(self.scale)}


def train_sae(
    x: torch.Tensor,
    num_features: int,
    *,
    l1: float = 1e-3,
    steps: int = 1000,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
) -> SparseAutoencoder:
    """Train a ReLU SAE on ``[n, d]`` activations (deterministic for a given seed)."""
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"train_sae expects [n >= 2, d] activations, got {tuple(x.shape)}")
    gen = torch.Generator().manual_seed(seed)
    x = x.float()
    scale = float(x.norm(dim=1).mean().clamp_min(1e-6))
    x = x / scale
    n, d = x.shape
    w_dec = torch.randn(num_features, d, generator=gen)
    w_dec = w_dec / w_dec.norm(dim=1, keepdim=True)
    params = {
        "w_enc": w_dec.T.clone().requires_grad_(True),  # tied initialisation (Conerly et al. 2024)
        "b_enc": torch.zeros(num_features, requires_grad=True),
        "w_dec": w_dec.clone().requires_grad_(True),
        "b_dec": x.mean(0).clone().requires_grad_(True),
    }
    opt = torch.optim.Adam(params.values(), lr=lr)
    for _ in range(steps):
        idx = torch.randint(0, n, (min(batch_size, n),), generator=gen)
        xb = x[idx]
        f = torch.relu((xb - params["b_dec"]) @ params["w_enc"] + params["b_enc"])
        xh = f @ params["w_dec"] + params["b_dec"]
        loss = (xh - xb).pow(2).sum(1).mean() + l1 * f.sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            params["w_dec"] /= params["w_dec"].norm(dim=1, keepdim=True).clamp_min(1e-8)
    p = {k: v.detach() for k, v in params.items()}
    return SparseAutoencoder(p["w_enc"], p["b_enc"], p["w_dec"], p["b_dec"], scale=scale)


def select_features(sae: SparseAutoencoder, positive: torch.Tensor, negative: torch.Tensor, k: int = 4) -> torch.Tensor:
    """Indices of the ``k`` features most selective for ``positive``: the largest gap in mean
    activation, mean_f(positive) − mean_f(negative). Sorted by selectivity, best first."""
    gap = sae.encode(positive).mean(0) - sae.encode(negative).mean(0)
    return gap.topk(min(k, len(gap))).indices


def feature_direction(sae: SparseAutoencoder, features: torch.Tensor, positive: torch.Tensor | None = None) -> torch.Tensor:
    """Unit steering direction: the decoder rows of ``features``, weighted by their mean
    activation on ``positive`` when given (equal weights otherwise)."""
    rows = sae.w_dec[features]
    weights = sae.encode(positive)[:, features].mean(0) if positive is not None else torch.ones(len(features))
    if float(weights.sum()) <= 0:
        weights = torch.ones(len(features))
    v = (weights[:, None] * rows).sum(0)
    return v / v.norm().clamp_min(1e-12)


__all__ = ["SparseAutoencoder", "feature_direction", "select_features", "train_sae"]
