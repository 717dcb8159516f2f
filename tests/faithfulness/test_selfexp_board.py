"""The faithfulness board's second section (``leaderboards/faithfulness/self-explanation``): it
pins its data, and every committed entry still validates with the code as it is now (every
recorded test re-scored from its records, every reference re-derived — from the shared data when
it is there, else from the published per-row digests)."""

from __future__ import annotations

from pathlib import Path

from plurieval.api import get_host
from plurieval.leaderboard.schema import load_board
from plurieval.leaderboard.validate import collect_entries, validate_entry

BOARD = Path(__file__).resolve().parents[2] / "leaderboards" / "faithfulness" / "self-explanation"


def test_the_section_pins_its_data():
    spec = load_board(BOARD)
    assert spec.benchmark == "self-explanation" and spec.data is not None
    assert spec.data.dataset == "esnli-explanations" and (BOARD / spec.data.reference_digests).is_file()


def test_every_committed_entry_validates():
    entries = collect_entries(BOARD)
    for path in entries:
        report = validate_entry(path, get_host(), board_dir=BOARD)
        assert report.ok, (path.name, report.problems)
