"""The comparison table of a sweep: the one ``plurieval leaderboard compare`` shows, made from
the sweep's own run directories instead of a board's entries.

Each run becomes the entry ``leaderboard submit`` would make of it (numbers and intervals
recomputed from its results under the benchmark's board spec: ``leaderboards/<benchmark>`` when
there is one, else the default board ``submit`` uses), entries are ranked with the board's tie
rules, and the table and plot are rendered by the leaderboard's own renderers. Rows are
``method · model``, plus the grid values where the sweep has a grid, so every grid point keeps
its own row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plurieval.errors import PluriError
from plurieval.leaderboard.compare import Comparison


@dataclass
class SweepComparison:
    comparison: Comparison | None
    files: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def compare_runs(records: list[Any], host: Any, *, boards_root: Path = Path("leaderboards"),
                 grid_keys: list[str] | None = None) -> tuple[Comparison | None, list[str]]:
    """``records``: complete sweep records (``run_dir``, ``point``). Returns the comparison (None
    when no run could make an entry) and one line per run left out, saying why."""
    from plurieval.leaderboard.build import Ranked, rank_entries
    from plurieval.leaderboard.schema import load_board
    from plurieval.leaderboard.scoring import build_metric
    from plurieval.leaderboard.submit import _read_json, default_board, entry_from_run
    from plurieval.results import read_jsonl

    skipped: list[str] = []
    comparison = Comparison([], [], {})
    by_bench: dict[str, list[Any]] = {}
    for record in records:
        by_bench.setdefault(record.point["benchmark"], []).append(record)
    for bench, group in by_bench.items():
        board_dir = boards_root / bench
        try:
            if (board_dir / "board.yaml").is_file():
                board = load_board(board_dir)
            else:
                first = group[0].run_dir
                board = default_board(_read_json(first / "summary.json"), read_jsonl(first / "results.jsonl"), host)
        except PluriError as err:
            skipped.extend(f"{r.run_id}: {err}" for r in group)
            continue
        items, labels = [], {}
        for record in group:
            try:
                entry, rows = entry_from_run(record.run_dir, host, submitter="sweep", board=board)
            except PluriError as err:
                skipped.append(f"{record.run_id}: {err}")
                continue
            suffix = ", ".join(f"{k}={record.point[k]}" for k in grid_keys or [] if k in record.point)
            labels[id(entry)] = entry.label + (f" · {suffix}" if suffix else "")
            items.append(Ranked(entry, record.run_dir, rows))
        if not items:
            continue
        spec, _ = build_metric(host, board, board.ranking_metric)
        hib = board.higher_is_better if board.higher_is_better is not None else bool(spec.higher_is_better)
        comparison.benchmarks.append(bench)
        comparison.metric_of[bench] = board.ranking_metric
        for r in rank_entries(items, board, host, hib):
            label = labels[id(r.entry)]
            comparison.cells[(label, bench)] = r.entry.metrics[board.ranking_metric]
            comparison.ranks[(label, bench)] = r.rank
            if label not in comparison.labels:
                comparison.labels.append(label)
    return (comparison if comparison.labels else None), skipped


def write_comparison(records: list[Any], host: Any, folder: Path, *, grid_keys: list[str] | None = None,
                     boards_root: Path = Path("leaderboards")) -> SweepComparison:
    """``comparison.md``, ``comparison.png`` and ``comparison.html`` in ``folder``."""
    from plurieval.leaderboard.render import comparison_html, comparison_markdown, plot_comparison

    comparison, skipped = compare_runs(records, host, boards_root=boards_root, grid_keys=grid_keys)
    out = SweepComparison(comparison, skipped=skipped)
    if comparison is None:
        return out
    markdown = folder / "comparison.md"
    markdown.write_text(comparison_markdown(comparison), encoding="utf-8")
    png = plot_comparison(comparison, folder / "comparison.png")
    page = folder / "comparison.html"
    page.write_text(comparison_html(comparison, png), encoding="utf-8")
    out.files = {"markdown": markdown.name, "plot": png.name, "html": page.name}
    return out
