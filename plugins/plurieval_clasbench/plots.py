"""CLaS-Bench plots (matplotlib, Agg backend: works headless)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def layerwise_figure(rows: Sequence[Mapping[str, Any]], path: Path) -> Path | None:
    """Dev steering score per layer (best α at each layer, mean over target languages), one
    line per method; layer-free methods (LAPE, prompting) as horizontal lines."""
    dev = [r for r in rows if r.get("split") == "dev"]
    if not dev:
        return None
    plt = _plt()
    best: dict[tuple[str, str, Any], float] = {}
    for r in dev:
        k = (r["method"], r["target"], r["layer"])
        best[k] = max(best.get(k, float("-inf")), r["steering_score"])
    methods = sorted({k[0] for k in best})
    fig, ax = plt.subplots(figsize=(7, 4))
    for m in methods:
        layers = sorted({k[2] for k in best if k[0] == m and k[2] is not None})
        if layers:
            ys = [_mean([v for k, v in best.items() if k[0] == m and k[2] == layer]) for layer in layers]
            ax.plot(layers, ys, marker="o", label=m)
        else:
            ax.axhline(_mean([v for k, v in best.items() if k[0] == m]), linestyle="--", label=f"{m} (no layer)")
    ax.set_xlabel("layer")
    ax.set_ylabel("dev steering score (best α, mean over targets)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    ax.set_title("CLaS-Bench: steering score by layer")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def heatmap_figure(scores: Mapping[str, Mapping[str, float]], path: Path) -> Path | None:
    """Test steering score, target language (rows) × method (columns)."""
    methods = sorted(scores)
    langs = sorted({lang for m in methods for lang in scores[m]})
    if not methods or not langs:
        return None
    plt = _plt()
    import numpy as np

    grid = np.array([[scores[m].get(lang, np.nan) for m in methods] for lang in langs], dtype=float)
    fig, ax = plt.subplots(figsize=(1.2 * len(methods) + 2, 0.45 * len(langs) + 1.5))
    im = ax.imshow(grid, vmin=0, vmax=100, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(methods)), methods, rotation=30, ha="right")
    ax.set_yticks(range(len(langs)), langs)
    for i in range(len(langs)):
        for j in range(len(methods)):
            if not np.isnan(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.0f}", ha="center", va="center", color="w" if grid[i, j] < 60 else "k", fontsize=8)
    fig.colorbar(im, ax=ax, label="steering score")
    ax.set_title("CLaS-Bench: steering score (test)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def cosine_figure(matrix: Any, labels: Sequence[str], layer: int, path: Path) -> Path:
    """Cosine similarity of per-language DiffMean directions (language − mean of the others)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(0.5 * len(labels) + 2.5, 0.5 * len(labels) + 2))
    im = ax.imshow(matrix, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{float(matrix[i][j]):.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="cosine")
    ax.set_title(f"DiffMean directions, layer {layer}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def diffmean_cosines(acts: Any, layer: int) -> tuple[Any, list[str]]:
    """Per-language DiffMean (mean(lang) − mean(all other languages)) and their cosines."""
    import torch

    from plurieval.api import cosine_matrix, diff_mean

    langs = list(acts.languages)
    dirs = torch.stack([diff_mean(acts.group(layer, [lang]), acts.group(layer, [x for x in langs if x != lang]))
                        for lang in langs])
    return cosine_matrix(dirs).numpy(), langs


def layerwise(ctx: Any, rows: Sequence[Mapping[str, Any]]) -> Path | None:
    path = layerwise_figure(rows, ctx.artifact_path("plots/layerwise.png"))
    if path:
        ctx.artifact_written(path, "plot")
    return path


def diffmean_cosine(ctx: Any, acts: Any, layers: Sequence[int]) -> Path:
    layer = sorted(layers)[len(layers) // 2]
    matrix, langs = diffmean_cosines(acts, layer)
    path = cosine_figure(matrix, langs, layer, ctx.artifact_path("plots/diffmean_cosine.png"))
    ctx.artifact_written(path, "plot")
    return path


def _mean(v: Sequence[float]) -> float:
    return sum(v) / len(v) if v else float("nan")
