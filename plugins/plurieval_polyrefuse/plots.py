"""PolyRefuse plots (matplotlib, Agg backend: works headless): the transfer heatmap, the cosine
matrix of the chosen directions, and the selection score of every candidate layer."""

from __future__ import annotations

from typing import Any


def draw(ctx: Any, langs: list[str], dir_langs: list[str], before: dict, transfer: dict, cosine: dict,
         tables: dict, num_layers: int) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    written = []

    def heatmap(mat: np.ndarray, rows: list[str], cols: list[str], title: str, name: str, vmin: float, vmax: float,
                xlabel: str, ylabel: str) -> None:
        fig, ax = plt.subplots(figsize=(max(4.8, 1.4 + 0.55 * len(cols)), max(3.6, 1.4 + 0.5 * len(rows))))
        im = ax.imshow(mat, vmin=vmin, vmax=vmax, cmap="viridis")
        ax.set_xticks(range(len(cols)), cols)
        ax.set_yticks(range(len(rows)), rows)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=9)
        for i in range(len(rows)):
            for j in range(len(cols)):
                ax.text(j, i, f"{mat[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if mat[i, j] < (vmin + vmax) / 2 else "black")
        fig.colorbar(im, ax=ax, shrink=0.8)
        fig.tight_layout()
        path = ctx.artifact_path(f"plots/{name}.png")
        fig.savefig(path, dpi=120)
        plt.close(fig)
        ctx.artifact_written(path, "plot")
        written.append(str(path.relative_to(ctx.run_dir)))

    after = np.array([[transfer[a][b]["compliance_rate"] for b in langs] for a in dir_langs])
    base = np.array([[before[b]["compliance_rate"] for b in langs]])
    heatmap(np.vstack([base, after]), ["none"] + dir_langs, langs,
            "compliance on harmful test prompts\n(row 'none' = no intervention)", "transfer_compliance",
            0.0, 1.0, "prompt language", "direction language")
    cos = np.array([[cosine[a][c] for c in dir_langs] for a in dir_langs])
    heatmap(cos, dir_langs, dir_langs, "cosine similarity of the chosen directions", "cosine_similarity",
            -1.0, 1.0, "language", "language")

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for a in dir_langs:
        per_layer: dict[int, float] = {}
        rows = tables.get(a, [])
        key = "screen_refusal" if rows and all("screen_refusal" in r for r in rows) else "refusal"
        for row in rows:
            if row.get("layer") is not None and row.get(key) is not None:
                per_layer[row["layer"]] = min(per_layer.get(row["layer"], float("inf")), row[key])
        if per_layer:
            xs = sorted(per_layer)
            ax.plot(xs, [per_layer[x] for x in xs], marker=".", label=a)
    ax.axhline(0.0, color="grey", lw=0.5)
    ax.set_xlim(-0.5, num_layers - 0.5)
    ax.set_xlabel("layer of the candidate direction")
    ax.set_ylabel("refusal score after ablation\n(val harmful, best position;\nscreen prompts when screened)")
    ax.legend(fontsize=7, ncol=4)
    fig.tight_layout()
    path = ctx.artifact_path("plots/refusal_score_per_layer.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    ctx.artifact_written(path, "plot")
    written.append(str(path.relative_to(ctx.run_dir)))
    return written
