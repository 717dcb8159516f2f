"""Per-language activations, collected in one forward pass per prompt and shared by every
steering method of a sweep.

Why one structure: DiffMean, PCA, LDA and the probe need per-prompt mean residuals at each
candidate layer, the SAE needs token-level residuals at the same layers, and LAPE needs
per-neuron activation probabilities of every MLP. All of them come out of the *same* forward
pass over the training questions, so ``collect_language_activations`` runs each prompt once,
captures every hook point at once, and reduces on the fly (token-level MLP activations of all
layers would not fit in memory for a large corpus). The result is stored as safetensors + a
JSON card so separate runs (one method each) reuse it instead of recomputing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from plurieval.steering.lape import LapeStats

ExtractFn = Callable[[list[str], list[str]], dict[str, Any]]
"""``extract(prompts, points) -> {point: list of [t_i, d]}`` (``LanguageModel.extract`` with
``reduce="all"`` bound)."""


@dataclass
class ActivationSet:
    """``means[layer][lang]``: ``[n_prompts, d]`` mean residual (``resid_pre``) per prompt;
    ``tokens[layer][lang]``: ``[≤ max_tokens, d]`` token residuals (a seeded subsample);
    ``norms[layer]``: median token-residual norm (the unit for α: the median, because a few
    "massive activation" tokens, e.g. the first one, have norms 10× the rest); ``lape``: MLP
    statistics."""

    layers: list[int]
    languages: list[str]
    means: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)
    tokens: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)
    norms: dict[int, float] = field(default_factory=dict)
    lape: LapeStats | None = None
    forward_passes: int = 0  # prompts run through the model to build this set

    def group(self, layer: int, languages: Iterable[str], kind: str = "means") -> torch.Tensor:
        table = self.means if kind == "means" else self.tokens
        return torch.cat([table[layer][lang] for lang in languages])

    # --- storage (safetensors + card; never pickle) ----------------------------------------------

    def save(self, path: str | Path, card: Mapping[str, Any] | None = None) -> Path:
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors: dict[str, torch.Tensor] = {}
        for layer in self.layers:
            for lang in self.languages:
                tensors[f"means.{layer}.{lang}"] = self.means[layer][lang].contiguous()
                if layer in self.tokens:
                    tensors[f"tokens.{layer}.{lang}"] = self.tokens[layer][lang].contiguous()
        meta: dict[str, Any] = {"layers": self.layers, "languages": self.languages,
                                "norms": {str(k): v for k, v in self.norms.items()},
                                "forward_passes": self.forward_passes, "card": dict(card or {})}
        if self.lape is not None:
            meta["lape"] = {"num_layers": self.lape.num_layers, "num_neurons": self.lape.num_neurons,
                            "tokens": self.lape.tokens}
            for lang in self.lape.languages:
                tensors[f"lape.active.{lang}"] = self.lape.active[lang].contiguous()
                tensors[f"lape.active_sum.{lang}"] = self.lape.active_sum[lang].contiguous()
        import tempfile

        from plurieval.datafiles import atomic_write

        path.parent.mkdir(parents=True, exist_ok=True)
        # A unique temp name: two runs sharing an activation store may save the same set at once.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            save_file(tensors, tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        atomic_write(path.with_suffix(".json"), json.dumps(meta, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> ActivationSet:
        from safetensors.torch import load_file

        path = Path(path)
        meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        t = load_file(str(path))
        out = cls(layers=list(meta["layers"]), languages=list(meta["languages"]),
                  norms={int(k): float(v) for k, v in meta["norms"].items()}, forward_passes=meta["forward_passes"])
        for layer in out.layers:
            out.means[layer] = {lang: t[f"means.{layer}.{lang}"] for lang in out.languages}
            if f"tokens.{layer}.{out.languages[0]}" in t:
                out.tokens[layer] = {lang: t[f"tokens.{layer}.{lang}"] for lang in out.languages}
        if "lape" in meta:
            m = meta["lape"]
            stats = LapeStats(m["num_layers"], m["num_neurons"])
            for lang, n in m["tokens"].items():
                stats.tokens[lang] = int(n)
                stats.active[lang] = t[f"lape.active.{lang}"]
                stats.active_sum[lang] = t[f"lape.active_sum.{lang}"]
            out.lape = stats
        return out


def collect_language_activations(
    extract: ExtractFn,
    prompts: Mapping[str, Sequence[str]],
    layers: Sequence[int],
    *,
    num_model_layers: int | None = None,
    with_tokens: bool = True,
    with_lape: bool = False,
    max_tokens_per_language: int = 4000,
    chunk_size: int = 16,
    seed: int = 0,
    progress: Callable[[Iterable[Any], int, str], Iterable[Any]] | None = None,
) -> ActivationSet:
    """Run every prompt of every language once, capturing ``blocks.{l}.resid_pre`` for
    ``layers`` and, with ``with_lape``, ``blocks.{l}.mlp_act`` for all ``num_model_layers``.

    ``prompts``: ``{language: [question, ...]}``. Chunks of ``chunk_size`` prompts are reduced
    right away, so memory stays bounded by one chunk's token activations."""
    layers = sorted(set(int(x) for x in layers))
    languages = sorted(prompts)
    if with_lape and not num_model_layers:
        raise ValueError("with_lape needs num_model_layers")
    points = [f"blocks.{i}.resid_pre" for i in layers]
    mlp_points = [f"blocks.{i}.mlp_act" for i in range(num_model_layers or 0)] if with_lape else []
    out = ActivationSet(layers=layers, languages=languages)
    gen = torch.Generator().manual_seed(seed)
    means: dict[int, dict[str, list[torch.Tensor]]] = {i: {lang: [] for lang in languages} for i in layers}
    toks: dict[int, dict[str, list[torch.Tensor]]] = {i: {lang: [] for lang in languages} for i in layers}
    token_norms: dict[int, list[torch.Tensor]] = {i: [] for i in layers}
    jobs = [(lang, start) for lang in languages for start in range(0, len(prompts[lang]), chunk_size)]
    it: Iterable[Any] = progress(jobs, len(jobs), "extracting activations") if progress else jobs
    for lang, start in it:
        chunk = list(prompts[lang][start:start + chunk_size])
        acts = extract(chunk, points + mlp_points)
        out.forward_passes += len(chunk)
        for i, p in zip(layers, points, strict=True):
            for a in acts[p]:
                a = a.float()
                means[i][lang].append(a.mean(0))
                token_norms[i].append(a.norm(dim=-1))
                if with_tokens:
                    toks[i][lang].append(a)
        if with_lape:
            if out.lape is None:
                out.lape = LapeStats(num_model_layers, acts[mlp_points[0]][0].shape[-1])  # type: ignore[arg-type]
            for j in range(len(chunk)):
                out.lape.update(lang, torch.stack([acts[p][j] for p in mlp_points], dim=1))
    for i in layers:
        out.means[i] = {lang: torch.stack(means[i][lang]) for lang in languages}
        out.norms[i] = float(torch.cat(token_norms[i]).median()) if token_norms[i] else 1.0
        if with_tokens:
            out.tokens[i] = {}
            for lang in languages:
                t = torch.cat(toks[i][lang])
                if len(t) > max_tokens_per_language:
                    t = t[torch.randperm(len(t), generator=gen)[:max_tokens_per_language]]
                out.tokens[i][lang] = t
    return out


__all__ = ["ActivationSet", "collect_language_activations"]
