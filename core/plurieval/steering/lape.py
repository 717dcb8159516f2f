"""Language-specific neurons by LAPE (Language Activation Probability Entropy).

Tang et al. (2024), "Language-Specific Neurons: The Key to Multilingual Capabilities in Large
Language Models" (ACL 2024, https://arxiv.org/abs/2402.16438). For every MLP neuron and
language, the activation probability p(l, n, k) is the share of the language's tokens on which
the neuron is active (> 0). Normalising p over languages gives a distribution whose entropy is
low for neurons that fire for few languages. Following the reference implementation
(``identify.py``): neurons whose probability is below the ``filter_rate`` quantile of all
probabilities in *every* language are dismissed; of the rest, the ``top_rate`` share with the
lowest entropy is kept, and a kept neuron belongs to language k when p(k) exceeds the
``activation_bar_ratio`` quantile. Defaults are the paper's (1 %, 0.95, 0.95).

Deviation worth knowing: the reference code hooks the output of the activation function of a
gated MLP; plurieval's hook point ``blocks.i.mlp_act`` is the input of the down projection
(act(gate)·up for gated MLPs), so "active" means that product is > 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class LapeStats:
    """Streaming per-language counts, so token-level MLP activations never have to be held for
    the whole corpus: call ``update`` batch by batch with ``[tokens, layers, neurons]``."""

    num_layers: int
    num_neurons: int
    tokens: dict[str, int] = field(default_factory=dict)
    active: dict[str, torch.Tensor] = field(default_factory=dict)      # [layers, neurons] counts
    active_sum: dict[str, torch.Tensor] = field(default_factory=dict)  # sum of values where active

    def update(self, language: str, acts: torch.Tensor) -> None:
        if acts.ndim != 3 or acts.shape[1:] != (self.num_layers, self.num_neurons):
            raise ValueError(f"LapeStats.update expects [tokens, {self.num_layers}, {self.num_neurons}], got {tuple(acts.shape)}")
        on = acts > 0
        if language not in self.tokens:
            self.tokens[language] = 0
            self.active[language] = torch.zeros(self.num_layers, self.num_neurons, dtype=torch.float64)
            self.active_sum[language] = torch.zeros(self.num_layers, self.num_neurons, dtype=torch.float64)
        self.tokens[language] += acts.shape[0]
        self.active[language] += on.sum(0).double()
        self.active_sum[language] += torch.where(on, acts, torch.zeros((), dtype=acts.dtype)).sum(0).double()

    @property
    def languages(self) -> list[str]:
        return sorted(self.tokens)

    def probabilities(self) -> torch.Tensor:
        """``[layers, neurons, languages]`` activation probabilities (languages sorted)."""
        return torch.stack([self.active[k] / max(self.tokens[k], 1) for k in self.languages], dim=-1)

    def mean_active_value(self) -> torch.Tensor:
        """``[layers, neurons, languages]`` mean activation value on the tokens where the neuron
        fires (0 where it never fires): the value LAPE steering sets a neuron to."""
        return torch.stack([self.active_sum[k] / self.active[k].clamp_min(1) for k in self.languages], dim=-1)

    def to_tensors(self) -> dict[str, torch.Tensor]:
        langs = self.languages
        return {"probabilities": self.probabilities().float(), "mean_active_value": self.mean_active_value().float(),
                "tokens": torch.tensor([self.tokens[k] for k in langs])}


def lape_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of each neuron's activation probabilities normalised over languages;
    ``probs`` is ``[..., languages]``. A neuron that never fires gets +inf (never selected)."""
    total = probs.sum(-1, keepdim=True)
    p = torch.where(total > 0, probs / total.clamp_min(1e-30), torch.zeros_like(probs))
    logp = torch.where(p > 0, p.clamp_min(1e-30).log(), torch.zeros_like(p))
    ent = -(p * logp).sum(-1)
    return torch.where(total.squeeze(-1) > 0, ent, torch.full_like(ent, float("inf")))


def _quantile_value(values: torch.Tensor, rate: float) -> float:
    flat = values.flatten().double()
    k = min(max(round(len(flat) * rate), 1), len(flat))
    return float(flat.kthvalue(k).values)


def select_language_neurons(
    probs: torch.Tensor,
    languages: list[str],
    *,
    top_rate: float = 0.01,
    filter_rate: float = 0.95,
    activation_bar_ratio: float = 0.95,
) -> dict[str, dict[int, torch.Tensor]]:
    """LAPE neuron selection. ``probs``: ``[layers, neurons, languages]``. Returns
    ``{language: {layer: neuron indices}}`` (layers without neurons omitted)."""
    if probs.ndim != 3 or probs.shape[-1] != len(languages):
        raise ValueError(f"probs must be [layers, neurons, {len(languages)}], got {tuple(probs.shape)}")
    probs = probs.double()
    entropy = lape_entropy(probs)
    top_prob = _quantile_value(probs, filter_rate)
    # Dismiss neurons that are not strongly active in any language.
    entropy = torch.where((probs > top_prob).any(-1), entropy, torch.full_like(entropy, float("inf")))
    num_layers, num_neurons = entropy.shape
    k = max(round(entropy.numel() * top_rate), 1)
    flat = entropy.flatten()
    k = min(k, int(torch.isfinite(flat).sum()))
    index = flat.topk(k, largest=False).indices
    rows, cols = index // num_neurons, index % num_neurons
    bar = _quantile_value(probs, activation_bar_ratio)
    selected = probs[rows, cols]  # [k, languages]
    out: dict[str, dict[int, torch.Tensor]] = {}
    for j, lang in enumerate(languages):
        mask = selected[:, j] > bar
        per_layer: dict[int, list[int]] = {}
        for r, c in zip(rows[mask].tolist(), cols[mask].tolist(), strict=True):
            per_layer.setdefault(r, []).append(c)
        out[lang] = {r: torch.tensor(sorted(c), dtype=torch.long) for r, c in sorted(per_layer.items())}
    return out


__all__ = ["LapeStats", "lape_entropy", "select_language_neurons"]
