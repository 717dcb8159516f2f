"""MAKIEval plots (matplotlib, Agg backend): a language × country heatmap per metric (one panel
per topic) and the language × language consensus matrix (one panel per topic)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _panels(plt: Any, n: int, width: float, height: float) -> tuple[Any, list[Any]]:
    fig, axes = plt.subplots(1, n, figsize=(width * n + 1.5, height), squeeze=False)
    return fig, list(axes[0])


def _annotate(ax: Any, grid: Any, fmt: str, vmax: float, ci: Sequence[Sequence[Any]] | None = None) -> None:
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            v = grid[i, j]
            if math.isnan(v):
                ax.text(j, i, "–", ha="center", va="center", fontsize=8, color="grey")
                continue
            text = format(v, fmt)
            if ci is not None and ci[i][j] is not None and None not in ci[i][j]:
                text += f"\n[{format(ci[i][j][0], fmt)}, {format(ci[i][j][1], fmt)}]"
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="w" if vmax and v < 0.6 * vmax else "k")


def metric_heatmap(cells: Sequence[Mapping[str, Any]], metric: str, languages: Sequence[str],
                   countries: Sequence[str], topics: Sequence[str], path: Path) -> Path | None:
    """Rows: prompt languages; columns: countries; one panel per topic; value and 95% CI."""
    import numpy as np

    by_key = {(c["language"], c["country"], c["topic"]): c["metrics"].get(metric) for c in cells}
    values = [v["value"] for v in by_key.values() if v and v.get("value") is not None]
    if not values:
        return None
    plt = _plt()
    vmax = max(1.0, max(values)) if metric.startswith("entity_diversity") else 1.0
    fig, axes = _panels(plt, len(topics), 0.9 * len(countries) + 1.6, 0.7 * len(languages) + 1.6)
    im = None
    for ax, topic in zip(axes, topics, strict=True):
        grid = np.full((len(languages), len(countries)), np.nan)
        ci: list[list[Any]] = [[None] * len(countries) for _ in languages]
        for i, lang in enumerate(languages):
            for j, country in enumerate(countries):
                v = by_key.get((lang, country, topic))
                if v and v.get("value") is not None:
                    grid[i, j] = v["value"]
                    ci[i][j] = (v.get("ci_low"), v.get("ci_high"))
        im = ax.imshow(grid, vmin=0, vmax=vmax, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(countries)), countries)
        ax.set_yticks(range(len(languages)), languages)
        ax.set_xlabel("country")
        ax.set_ylabel("prompt language")
        ax.set_title(topic, fontsize=10)
        _annotate(ax, grid, ".2f" if vmax <= 1 else ".1f", vmax, ci)
    fig.colorbar(im, ax=axes, label=metric, shrink=0.8)
    fig.suptitle(f"MAKIEval: {metric} (95% bootstrap CI)", fontsize=11)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def consensus_figure(matrices: Mapping[str, Mapping[str, Any]], path: Path) -> Path | None:
    """``matrices[topic] = {"languages": [...], "matrix": [[...]]}`` (mean Jaccard over countries)."""
    import numpy as np

    topics = [t for t, m in matrices.items() if len(m.get("languages") or []) > 1]
    if not topics:
        return None
    plt = _plt()
    n = max(len(matrices[t]["languages"]) for t in topics)
    fig, axes = _panels(plt, len(topics), 0.7 * n + 1.6, 0.7 * n + 1.4)
    im = None
    for ax, topic in zip(axes, topics, strict=True):
        langs = matrices[topic]["languages"]
        grid = np.array([[np.nan if v is None else v for v in row] for row in matrices[topic]["matrix"]], dtype=float)
        im = ax.imshow(grid, vmin=0, vmax=1, cmap="magma", aspect="equal")
        ax.set_xticks(range(len(langs)), langs)
        ax.set_yticks(range(len(langs)), langs)
        ax.set_title(topic, fontsize=10)
        _annotate(ax, grid, ".2f", 1.0)
    fig.colorbar(im, ax=axes, label="Jaccard of entity sets", shrink=0.8)
    fig.suptitle("MAKIEval: cross-lingual consensus (mean over countries)", fontsize=11)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
