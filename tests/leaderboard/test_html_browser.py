"""The built HTML page in a real headless Chromium: it loads offline, shows the entries, and
clicking a column header sorts the table (both directions, numbers as numbers)."""

from __future__ import annotations

import os

import pytest
from cdp import Browser, find_chromium

from plurieval.leaderboard.build import build_board
from plurieval.leaderboard.submit import build_entry

CHROMIUM = find_chromium()
if CHROMIUM is None and os.environ.get("PLURIEVAL_REQUIRE_CHROMIUM"):
    raise RuntimeError("PLURIEVAL_REQUIRE_CHROMIUM is set but no chromium/google-chrome is on PATH")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium not installed (Debian: apt-get update && apt-get install -y chromium chromium-driver)",
)

ROWS = "[...document.querySelectorAll('#board tbody tr')].map(r => r.cells[{col}].textContent.trim())"


def header(name: str) -> str:
    return f"#board thead th:nth-child({name})"


@pytest.fixture
def browser():
    b = Browser(CHROMIUM)
    yield b
    b.close()


def test_page_loads_shows_entries_and_sorts(host, runs, board, browser):
    for key, who in (("strong", "Ada"), ("weak", "Bo"), ("strong2", "Cyd")):
        build_entry(runs[key], host, submitter=who, board_dir=board, output=board / "entries" / f"{key}.json")
    build_board(board, host)
    browser.open((board / "index.html").resolve().as_uri())

    assert browser.eval("document.title") == "Toy benchmark (tests)"
    heads = browser.eval("[...document.querySelectorAll('#board thead th')].map(t => t.textContent)")
    submitter_col, metric_col = heads.index("Submitter"), heads.index("toy-accuracy")
    # Ranked order as built: best first.
    assert browser.eval(ROWS.format(col=submitter_col)) == ["Ada", "Cyd", "Bo"]
    # The embedded plot rendered (a data URI image with a real size).
    assert browser.eval("document.querySelector('img.plot').naturalWidth") > 100

    browser.click(header(submitter_col + 1))
    assert browser.eval(ROWS.format(col=submitter_col)) == ["Ada", "Bo", "Cyd"]
    assert browser.eval(f"document.querySelectorAll('#board th')[{submitter_col}].getAttribute('aria-sort')") == "ascending"
    browser.click(header(submitter_col + 1))
    assert browser.eval(ROWS.format(col=submitter_col)) == ["Cyd", "Bo", "Ada"]

    browser.click(header(metric_col + 1))  # numeric ascending: weak (0.325) < strong2 < strong
    values = [float(v.split()[0]) for v in browser.eval(ROWS.format(col=metric_col))]
    assert values == sorted(values) and values[0] < 0.5 < values[-1]
    assert browser.eval(ROWS.format(col=submitter_col)) == ["Bo", "Cyd", "Ada"]

    # Offline: the page fetched nothing but itself and its embedded data.
    assert all(u.startswith(("file:", "data:")) for u in browser.requested_urls()), browser.requested_urls()
