"""Building a board: validate every entry, rank, find statistically tied groups, render.

Ties (documented in docs/leaderboards.md): entries are sorted by the ranking metric. The best
entry opens group 1; each following entry joins the current group when it is not significantly
worse than the group's *leader*, else it opens the next group. "Not significantly worse" is a
**paired bootstrap**: the same resampled examples are scored for both entries and the
confidence interval of the difference in the ranking metric (board's seed, resamples and
confidence) contains 0. Pairing needs the same examples; when two entries were scored on
different example keys (e.g. different ``--limit``) the fallback is **overlapping confidence
intervals**, which is more conservative (it calls more pairs tied). Each tie records which test
decided it. Entries in one group share its rank (competition ranking: 1, 1, 3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plurieval.errors import PluriError
from plurieval.leaderboard.schema import BoardSpec, Entry, load_board
from plurieval.leaderboard.scoring import build_metric, paired_difference_ci
from plurieval.leaderboard.validate import EntryReport, collect_entries, validate_entry


@dataclass
class Ranked:
    entry: Entry
    path: Path
    rows: list[dict[str, Any]]
    rank: int | None = None
    group: int | None = None
    # The test against the leader of the group above ("paired bootstrap" / "CI overlap") and,
    # for the paired test, the interval of leader − this entry; ``tied``: it joined that group.
    tie_test: str | None = None
    diff_ci: tuple[float, float] | None = None
    tied: bool = False


@dataclass
class Board:
    directory: Path
    spec: BoardSpec
    ranked: list[Ranked]
    higher_is_better: bool
    invalid: list[EntryReport] = field(default_factory=list)

    @property
    def title(self) -> str:
        return self.spec.title or f"{self.spec.benchmark} leaderboard"


def _value(r: Ranked, metric: str) -> float | None:
    return r.entry.metrics[metric].value


def _ci_overlap(a: Ranked, b: Ranked, metric: str) -> bool:
    ma, mb = a.entry.metrics[metric], b.entry.metrics[metric]
    if None in (ma.ci_low, ma.ci_high, mb.ci_low, mb.ci_high):
        return True  # without intervals nothing can be told apart
    return ma.ci_low <= mb.ci_high and mb.ci_low <= ma.ci_high  # type: ignore[operator]


def rank_entries(items: list[Ranked], spec: BoardSpec, host: Any, higher_is_better: bool) -> list[Ranked]:
    metric = spec.ranking_metric
    scored = [r for r in items if _value(r, metric) is not None]
    unscored = [r for r in items if _value(r, metric) is None]
    scored.sort(key=lambda r: (-_value(r, metric) if higher_is_better else _value(r, metric), r.entry.label))  # type: ignore[operator]
    leader: Ranked | None = None
    group = 0
    for position, item in enumerate(scored, 1):
        tied = False
        if leader is not None:
            diff = paired_difference_ci(leader.rows, item.rows, spec, host)
            if diff is not None and all(v == v for v in diff):  # NaN-free
                tied = diff[0] <= 0.0 <= diff[1]
                item.tie_test, item.diff_ci = "paired bootstrap", diff
            else:
                tied = _ci_overlap(leader, item, metric)
                item.tie_test = "CI overlap"
        if tied:
            item.rank, item.group, item.tied = leader.rank, leader.group, True  # type: ignore[union-attr]
        else:
            group += 1
            leader = item
            item.rank, item.group = position, group
    return scored + unscored


def load_ranked_board(board_dir: str | Path, host: Any, *, skip_invalid: bool = False) -> Board:
    board_dir = Path(board_dir)
    spec = load_board(board_dir)
    reports = [validate_entry(p, host, board_dir=board_dir) for p in collect_entries(board_dir)]
    invalid = [r for r in reports if not r.ok]
    if invalid and not skip_invalid:
        lines = [f"{r.path.name}:\n" + "\n".join(f"  - {p}" for p in r.problems) for r in invalid]
        raise PluriError(f"{len(invalid)} invalid entr{'y' if len(invalid) == 1 else 'ies'} in {board_dir}:\n"
                         + "\n".join(lines) + "\n(fix or remove them, or build with --skip-invalid)")
    ranking_spec, _ = build_metric(host, spec, spec.ranking_metric)
    hib = spec.higher_is_better if spec.higher_is_better is not None else bool(ranking_spec.higher_is_better)
    items = [Ranked(r.entry, r.path, r.rows or []) for r in reports if r.ok and r.entry is not None]
    return Board(board_dir, spec, rank_entries(items, spec, host, hib), hib, invalid)


def build_board(board_dir: str | Path, host: Any, *, skip_invalid: bool = False) -> Board:
    """Validate, rank and write README.md, index.html and scores.png into the board folder."""
    from plurieval.leaderboard.render import write_board

    board = load_ranked_board(board_dir, host, skip_invalid=skip_invalid)
    write_board(board)
    return board


def find_boards(root: str | Path = "leaderboards") -> list[Path]:
    return sorted(p.parent for p in Path(root).glob("*/board.yaml"))


def write_boards_index(root: str | Path, boards: list[Board]) -> dict[str, Path]:
    """``root/index.html`` linking every board, plus ``compare.html``/``compare.png`` comparing
    methods across them (when any board has entries)."""
    from plurieval.leaderboard.compare import compare_ranked
    from plurieval.leaderboard.render import write_index

    root = Path(root)
    comparison = compare_ranked([b for b in boards if b.ranked]) if any(b.ranked for b in boards) else None
    return write_index(root, boards, comparison)
