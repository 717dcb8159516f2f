"""Activations of labelled prompt groups, collected in one forward pass per prompt and shared by
every steering method of a run.

Why one structure: DiffMean, PCA, LDA and the probe need one vector per prompt at each
candidate layer (the mean residual over its tokens, or the residual at its last token), the
SAE needs token-level residuals at the same layers, the refusal direction reads several
post-instruction positions, and LAPE needs per-neuron activation probabilities of every MLP.
All of them come out of the *same* forward pass over the fit prompts, so
``collect_activations`` runs each prompt once, captures every requested hook point at once,
and reduces on the fly (token-level MLP activations of all layers would not fit in memory for
a large corpus). What is collected is only what the method asked for (``ActivationRequest``).
The result is stored as safetensors + a JSON card so separate runs reuse it.
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
``reduce="all"`` and the reading's ``chat`` bound)."""

FORMAT = 3  # bump when what is stored (or how it is computed) changes: old stores then miss


@dataclass
class ActivationSet:
    """Activations per group label (a language, or ``"en/harmful"``).

    ``means[layer][label]``: ``[n_prompts, d]``, one vector per prompt as the task reads it
    (``position``: "mean" over its tokens, or its "last" token); ``at[layer][label]``:
    ``[n_prompts, len(positions), d]`` residuals at ``positions`` from the end of each prompt;
    ``tokens[layer][label]``: ``[≤ max_tokens, d]`` token residuals (a seeded subsample);
    ``norms[layer]``: median token-residual norm (the unit for α: the median, because a few
    "massive activation" tokens, e.g. the first one, have norms 10× the rest); ``lape``: MLP
    statistics."""

    layers: list[int]
    labels: list[str]
    position: str = "mean"
    positions: tuple[int, ...] = ()
    means: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)
    at: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)
    tokens: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)
    norms: dict[int, float] = field(default_factory=dict)
    lape: LapeStats | None = None
    forward_passes: int = 0  # prompts run through the model to build this set

    @property
    def languages(self) -> list[str]:
        """The group labels (for language contrasts each label is a language)."""
        return self.labels

    def group(self, layer: int, labels: Iterable[str], kind: str = "means") -> torch.Tensor:
        table = {"means": self.means, "tokens": self.tokens}[kind]
        if layer not in table:
            raise KeyError(f"no {kind} at layer {layer} were extracted (have layers {sorted(table)})")
        return torch.cat([table[layer][label] for label in labels])

    def group_at(self, layer: int, labels: Iterable[str], position: int) -> torch.Tensor:
        """``[n, d]`` residuals of the groups at one of ``positions``."""
        j = self.positions.index(position)
        return torch.cat([self.at[layer][label][:, j] for label in labels])

    # --- storage (safetensors + card; never pickle) ----------------------------------------------

    def save(self, path: str | Path, card: Mapping[str, Any] | None = None) -> Path:
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors: dict[str, torch.Tensor] = {}
        for name, table in (("means", self.means), ("at", self.at), ("tokens", self.tokens)):
            for layer, by_label in table.items():
                for i, label in enumerate(self.labels):
                    tensors[f"{name}.{layer}.{i}"] = by_label[label].contiguous()
        meta: dict[str, Any] = {"format": FORMAT, "layers": self.layers, "labels": self.labels,
                                "position": self.position, "positions": list(self.positions),
                                "tables": {name: sorted(table) for name, table in
                                           (("means", self.means), ("at", self.at), ("tokens", self.tokens))},
                                "norms": {str(k): v for k, v in self.norms.items()},
                                "forward_passes": self.forward_passes, "card": dict(card or {})}
        if self.lape is not None:
            meta["lape"] = {"num_layers": self.lape.num_layers, "num_neurons": self.lape.num_neurons,
                            "tokens": self.lape.tokens}
            for i, label in enumerate(self.lape.languages):
                tensors[f"lape.active.{i}"] = self.lape.active[label].contiguous()
                tensors[f"lape.active_sum.{i}"] = self.lape.active_sum[label].contiguous()
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
        atomic_write(path.with_suffix(".json"), json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> ActivationSet:
        from safetensors.torch import load_file

        path = Path(path)
        meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: activation set format {meta.get('format')!r}, expected {FORMAT}")
        t = load_file(str(path))
        out = cls(layers=list(meta["layers"]), labels=list(meta["labels"]), position=meta["position"],
                  positions=tuple(meta["positions"]), norms={int(k): float(v) for k, v in meta["norms"].items()},
                  forward_passes=meta["forward_passes"])
        for name in ("means", "at", "tokens"):
            table = getattr(out, name)
            for layer in meta["tables"][name]:
                table[int(layer)] = {label: t[f"{name}.{layer}.{i}"] for i, label in enumerate(out.labels)}
        if "lape" in meta:
            m = meta["lape"]
            stats = LapeStats(m["num_layers"], m["num_neurons"])
            for i, label in enumerate(sorted(m["tokens"])):
                stats.tokens[label] = int(m["tokens"][label])
                stats.active[label] = t[f"lape.active.{i}"]
                stats.active_sum[label] = t[f"lape.active_sum.{i}"]
            out.lape = stats
        return out


def covers(acts: ActivationSet, request: Any, layers: Sequence[int]) -> bool:
    """Whether ``acts`` holds everything ``request`` asks for at ``layers`` (an earlier, larger
    extraction of the same prompts serves a smaller request)."""
    wanted = [int(x) for x in layers]
    if request.features and not all(x in acts.means for x in wanted):
        return False
    if request.tokens and not all(x in acts.tokens for x in wanted):
        return False
    if request.positions and (not set(request.positions) <= set(acts.positions)
                              or not all(x in acts.at for x in wanted)):
        return False
    return not (request.lape and acts.lape is None)


def collect_activations(
    extract: ExtractFn,
    groups: Mapping[str, Sequence[str]],
    layers: Sequence[int],
    *,
    features: bool = True,
    position: str = "mean",
    positions: Sequence[int] = (),
    tokens: bool = False,
    lape: bool = False,
    num_model_layers: int | None = None,
    max_tokens_per_group: int = 4000,
    chunk_size: int = 16,
    seed: int = 0,
    progress: Callable[[Iterable[Any], int, str], Iterable[Any]] | None = None,
) -> ActivationSet:
    """Run every prompt of every group once, capturing ``blocks.{l}.resid_pre`` for ``layers``
    (when ``features``, ``positions`` or ``tokens`` need it) and, with ``lape``,
    ``blocks.{l}.mlp_act`` for all ``num_model_layers``.

    ``groups``: ``{label: [prompt, ...]}``. Chunks of ``chunk_size`` prompts are reduced right
    away, so memory stays bounded by one chunk's token activations."""
    if position not in ("mean", "last"):
        raise ValueError(f"position must be 'mean' or 'last' (got {position!r})")
    labels = sorted(groups)
    wants_resid = features or tokens or bool(positions)
    layers = sorted(set(int(x) for x in layers)) if wants_resid else []
    if lape and not num_model_layers:
        raise ValueError("lape needs num_model_layers")
    points = [f"blocks.{i}.resid_pre" for i in layers]
    mlp_points = [f"blocks.{i}.mlp_act" for i in range(num_model_layers or 0)] if lape else []
    out = ActivationSet(layers=layers, labels=labels, position=position, positions=tuple(positions))
    gen = torch.Generator().manual_seed(seed)
    means: dict[int, dict[str, list[torch.Tensor]]] = {i: {g: [] for g in labels} for i in layers}
    at: dict[int, dict[str, list[torch.Tensor]]] = {i: {g: [] for g in labels} for i in layers}
    toks: dict[int, dict[str, list[torch.Tensor]]] = {i: {g: [] for g in labels} for i in layers}
    token_norms: dict[int, list[torch.Tensor]] = {i: [] for i in layers}
    jobs = [(g, start) for g in labels for start in range(0, len(groups[g]), chunk_size)]
    it: Iterable[Any] = progress(jobs, len(jobs), "extracting activations") if progress else jobs
    for label, start in it:
        chunk = list(groups[label][start:start + chunk_size])
        acts = extract(chunk, points + mlp_points)
        out.forward_passes += len(chunk)
        for i, p in zip(layers, points, strict=True):
            for a in acts[p]:
                a = a.float()
                if features:
                    means[i][label].append(a.mean(0) if position == "mean" else a[-1])
                if positions:
                    if len(a) < max(-q for q in positions):
                        raise ValueError(f"a prompt of group {label!r} has {len(a)} tokens, fewer than the "
                                         f"positions {list(positions)} need")
                    at[i][label].append(a[list(positions)])
                token_norms[i].append(a.norm(dim=-1))
                if tokens:
                    toks[i][label].append(a)
        if lape:
            if out.lape is None:
                out.lape = LapeStats(num_model_layers, acts[mlp_points[0]][0].shape[-1])  # type: ignore[arg-type]
            for j in range(len(chunk)):
                out.lape.update(label, torch.stack([acts[p][j] for p in mlp_points], dim=1))
    for i in layers:
        if features:
            out.means[i] = {g: torch.stack(means[i][g]) for g in labels}
        if positions:
            out.at[i] = {g: torch.stack(at[i][g]) for g in labels}
        out.norms[i] = float(torch.cat(token_norms[i]).median()) if token_norms[i] else 1.0
        if tokens:
            out.tokens[i] = {}
            for g in labels:
                t = torch.cat(toks[i][g])
                if len(t) > max_tokens_per_group:
                    t = t[torch.randperm(len(t), generator=gen)[:max_tokens_per_group]]
                out.tokens[i][g] = t
    return out


__all__ = ["FORMAT", "ActivationSet", "collect_activations", "covers"]
