"""Fixtures: a host with the test-only ``toybench`` plugin, finished runs, and boards."""

from __future__ import annotations

from pathlib import Path

import pytest
import toybench
from lbhelpers import make_board, make_run

from plurieval.host import PluginHost


@pytest.fixture(scope="session")
def host() -> PluginHost:
    h = PluginHost(autoload=False)
    h.add_plugin(toybench, name="toybench", distribution="toybench-tests", version="0.0.1")
    assert not h.errors, h.errors
    return h


@pytest.fixture(scope="session")
def runs(host, tmp_path_factory) -> dict[str, Path]:
    """Finished runs: two strong methods that differ little, one weak, one on the lite benchmark."""
    out = tmp_path_factory.mktemp("runs")
    return {
        "strong": make_run(host, out, 0.8),
        "strong2": make_run(host, out, 0.75, salt="b"),
        "weak": make_run(host, out, 0.3),
        "lite": make_run(host, out, 0.7, benchmark="toybench-lite"),
    }


@pytest.fixture
def board(tmp_path) -> Path:
    return make_board(tmp_path)


@pytest.fixture
def entry(host, runs, board) -> Path:
    """A valid entry (results in a file beside it) on the toybench board."""
    from plurieval.leaderboard.submit import build_entry

    return build_entry(runs["strong"], host, submitter="Ada", board_dir=board, paper="https://example.org/paper")
