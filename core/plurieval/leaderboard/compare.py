"""Several methods side by side across benchmarks.

Each benchmark contributes its board's ranking metric (or ``--metric`` where the board has it);
rows are ``method · model``. Only validated entries are used (every board is validated exactly
as ``build`` does), and where one method has several entries on a board its best-ranked one is
shown. Scales differ between benchmarks, so the plot has one panel per benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plurieval.errors import PluriError
from plurieval.leaderboard.build import load_ranked_board
from plurieval.leaderboard.schema import MetricValue


@dataclass
class Comparison:
    benchmarks: list[str]
    labels: list[str]
    metric_of: dict[str, str]
    cells: dict[tuple[str, str], MetricValue] = field(default_factory=dict)
    ranks: dict[tuple[str, str], int | None] = field(default_factory=dict)


def compare_boards(board_dirs: list[Path], host: Any, *, methods: list[str] | None = None,
                   metric: str | None = None) -> Comparison:
    if not board_dirs:
        raise PluriError("no boards to compare (give board folders, or run from a checkout with leaderboards/)")
    comparison = Comparison([], [], {})
    for board_dir in board_dirs:
        board = load_ranked_board(board_dir, host)
        bench = board.spec.benchmark
        name = metric if metric in board.spec.metric_names else board.spec.ranking_metric
        comparison.benchmarks.append(bench)
        comparison.metric_of[bench] = name
        for r in board.ranked:  # best first, so the first entry of a label is its best one
            if methods and (r.entry.method.name or "(none)") not in methods:
                continue
            key = (r.entry.label, bench)
            if key in comparison.cells:
                continue
            comparison.cells[key] = r.entry.metrics[name]
            comparison.ranks[key] = r.rank
            if r.entry.label not in comparison.labels:
                comparison.labels.append(r.entry.label)
    if not comparison.labels:
        wanted = f" for methods {', '.join(methods)}" if methods else ""
        raise PluriError(f"no valid entries{wanted} on the boards {', '.join(str(b) for b in board_dirs)}")
    return comparison
