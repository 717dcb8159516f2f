"""Several methods side by side across benchmarks.

Each benchmark contributes its board's ranking metric (or ``--metric`` where the board has it);
rows are methods. A benchmark is usually run on the model it embeds (CLaS-Bench on the default
model, PolyRefuse on the refusal-tuned ``default-refusal``), so a method's row spans models: its
label is ``method · model`` when every cell has the same model, else the method alone and each
cell names its model. Only validated entries are used (every board is validated exactly as
``build`` does), and where one method has several entries on a board its best-ranked one is
shown. Scales differ between benchmarks, so the plot has one panel per benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plurieval.errors import PluriError
from plurieval.leaderboard.build import Board, load_ranked_board
from plurieval.leaderboard.schema import MetricValue


@dataclass
class Comparison:
    benchmarks: list[str]
    labels: list[str]
    metric_of: dict[str, str]
    cells: dict[tuple[str, str], MetricValue] = field(default_factory=dict)
    ranks: dict[tuple[str, str], int | None] = field(default_factory=dict)
    models: dict[tuple[str, str], str] = field(default_factory=dict)  # set where the label has no model
    boards: dict[str, Path] = field(default_factory=dict)

    def methods_on_every_board(self) -> list[str]:
        return [lb for lb in self.labels if all((lb, b) in self.cells for b in self.benchmarks)]


def compare_boards(board_dirs: list[Path], host: Any, *, methods: list[str] | None = None,
                   metric: str | None = None) -> Comparison:
    """Validate and rank each board (as ``build`` does), then compare them."""
    if not board_dirs:
        raise PluriError("no boards to compare (give board folders, or run from a checkout with leaderboards/)")
    return compare_ranked([load_ranked_board(d, host) for d in board_dirs], methods=methods, metric=metric)


def compare_ranked(boards: list[Board], *, methods: list[str] | None = None, metric: str | None = None) -> Comparison:
    """Methods side by side across already validated and ranked boards."""
    benches: list[str] = []
    metric_of: dict[str, str] = {}
    best: dict[tuple[str, str], Any] = {}  # (method, benchmark) -> its best-ranked entry on the board
    order: list[str] = []
    dirs: dict[str, Path] = {}
    for board in boards:
        if not board.ranked:  # a board without valid entries has nothing to compare
            continue
        board_dir = board.directory
        bench = board.spec.benchmark
        name = metric if metric in board.spec.metric_names else board.spec.ranking_metric
        benches.append(bench)
        metric_of[bench] = name
        dirs[bench] = Path(board_dir)
        for r in board.ranked:  # best first, so the first entry of a method is its best one
            method = r.entry.method.name or "(none)"
            if methods and method not in methods:
                continue
            if (method, bench) not in best:
                best[(method, bench)] = (r, r.entry.metrics[name])
            if method not in order:
                order.append(method)
    comparison = Comparison(benches, [], metric_of, boards=dirs)
    for method in order:
        found = {b: best[(method, b)] for b in benches if (method, b) in best}
        models = {r.entry.model.id for r, _ in found.values()}
        label = f"{method} · {next(iter(models))}" if len(models) == 1 else method
        comparison.labels.append(label)
        for bench, (r, value) in found.items():
            comparison.cells[(label, bench)] = value
            comparison.ranks[(label, bench)] = r.rank
            if len(models) > 1:
                comparison.models[(label, bench)] = r.entry.model.id
    if not comparison.labels:
        wanted = f" for methods {', '.join(methods)}" if methods else ""
        raise PluriError(f"no valid entries{wanted} on the boards {', '.join(str(b.directory) for b in boards)}")
    return comparison
