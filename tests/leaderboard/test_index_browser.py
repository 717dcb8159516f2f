"""``leaderboards/index.html`` in a real headless Chromium: it links every board and the
comparison across benchmarks, every link leads to a page that loads, and it fetches nothing
from the network. Once on boards built here from test runs, once on the committed pages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cdp import Browser, find_chromium
from click.testing import Result
from lbhelpers import make_board
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = find_chromium()
if CHROMIUM is None and os.environ.get("PLURIEVAL_REQUIRE_CHROMIUM"):
    raise RuntimeError("PLURIEVAL_REQUIRE_CHROMIUM is set but no chromium/google-chrome is on PATH")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")

LINKS = "[...document.querySelectorAll('{sel} a')].map(a => [a.textContent.trim(), a.getAttribute('href')])"


@pytest.fixture
def browser():
    b = Browser(CHROMIUM)
    yield b
    b.close()


def _cli(args: list[str]) -> Result:
    from plurieval.cli import app

    return CliRunner().invoke(app, args)


def test_built_index_links_every_board_and_the_comparison(host, runs, tmp_path, monkeypatch, browser):
    from plurieval.host import use_host

    monkeypatch.chdir(tmp_path)
    make_board(tmp_path)
    make_board(tmp_path, benchmark="toybench-lite", spec_version="1", title="Toy lite (tests)")
    use_host(host)
    try:
        for key in ("strong", "weak", "lite"):
            assert _cli(["leaderboard", "submit", str(runs[key]), "--submitter", key]).exit_code == 0
        result = _cli(["leaderboard", "build"])
    finally:
        use_host(None)
    assert result.exit_code == 0, result.output
    index = tmp_path / "leaderboards" / "index.html"
    browser.open(index.as_uri())
    assert browser.eval("document.title") == "plurieval leaderboards"
    boards = browser.eval(LINKS.format(sel="#boards"))
    assert boards == [["Toy benchmark (tests)", "toybench/index.html"], ["Toy lite (tests)", "toybench-lite/index.html"]]
    # The comparison: the method that is on both boards has a value in both columns.
    heads = browser.eval("[...document.querySelectorAll('#comparison thead th')].map(t => t.textContent)")
    assert heads == ["Method · model", "toybench (toy-balanced)", "toybench-lite (toy-balanced)"]
    row = browser.eval("[...document.querySelectorAll('#comparison tbody tr')].map(r => [...r.cells].map(c => c.textContent))[0]")
    assert row[0] == "toy-skill · toy-model" and all(cell.split()[0][0].isdigit() for cell in row[1:])
    assert ["Full comparison page with plot", "compare.html"] in browser.eval(LINKS.format(sel="#compare ~ p, p"))
    assert all(u.startswith(("file:", "data:")) for u in browser.requested_urls()), browser.requested_urls()

    # Following a link opens the board's own page.
    browser.click("#boards tbody tr:nth-child(2) a")
    browser.wait_event("Page.loadEventFired")
    assert browser.eval("location.pathname").endswith("/leaderboards/toybench-lite/index.html")
    assert browser.eval("document.querySelector('h1').textContent") == "Toy lite (tests)"
    browser.open((tmp_path / "leaderboards" / "compare.html").as_uri())
    assert browser.eval("document.querySelector('img.plot').naturalWidth") > 100


def test_committed_index_links_every_committed_board(browser):
    index = ROOT / "leaderboards" / "index.html"
    boards = sorted(p.parent.name for p in (ROOT / "leaderboards").glob("*/board.yaml"))
    browser.open(index.as_uri())
    links = browser.eval(LINKS.format(sel="#boards"))
    assert sorted(href.split("/")[0] for _, href in links) == boards, "rebuild: plurieval leaderboard build"
    for _, href in links:
        assert (index.parent / href).is_file(), href
    if browser.eval("document.getElementById('comparison') !== null"):
        assert (index.parent / "compare.html").is_file()
    assert all(u.startswith(("file:", "data:")) for u in browser.requested_urls())
