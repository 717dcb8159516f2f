"""Building boards: ranks, intervals, tied groups, pages and plots; comparing across benchmarks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lbhelpers import make_board
from typer.testing import CliRunner

from plurieval.errors import PluriError
from plurieval.leaderboard.build import build_board, load_ranked_board
from plurieval.leaderboard.scoring import paired_difference_ci
from plurieval.leaderboard.submit import build_entry
from plurieval.results import read_jsonl


@pytest.fixture
def full_board(host, runs, board):
    for key, who in (("strong", "Ada"), ("strong2", "Grace"), ("weak", "Bo")):
        build_entry(runs[key], host, submitter=who, board_dir=board, output=board / "entries" / f"{key}.json")
    return board


def test_board_ranks_and_tied_groups(full_board, host):
    board = build_board(full_board, host)
    names = [r.path.stem for r in board.ranked]
    assert names == ["strong", "strong2", "weak"]
    strong, strong2, weak = board.ranked
    # strong and strong2 are scored on the same 40 examples: the paired bootstrap decides.
    assert strong2.tie_test == "paired bootstrap" and strong2.tied and not weak.tied
    assert strong2.diff_ci[0] <= 0 <= strong2.diff_ci[1]
    assert (strong.rank, strong.group) == (1, 1) and (strong2.rank, strong2.group) == (1, 1)
    # The weak method is significantly worse than the leader: its own group, competition rank 3.
    assert weak.diff_ci[0] > 0 and (weak.rank, weak.group) == (3, 2)


def test_paired_difference_of_an_entry_with_itself_is_zero(runs, host, board):
    rows = read_jsonl(runs["strong"] / "results.jsonl")
    from plurieval.leaderboard.schema import load_board

    assert paired_difference_ci(rows, rows, load_board(board), host) == (0.0, 0.0)
    assert paired_difference_ci(rows, rows[:-1], load_board(board), host) is None  # different examples
    # Keys that carry the method's name (CLaS-Bench: "diffmean|de|q7") still pair by example_id.
    renamed = [{**r, "key": f"other-method|{r['key']}", "example_id": r.get("example_id", r["key"])} for r in rows]
    same_ids = [{**r, "example_id": r.get("example_id", r["key"])} for r in rows]
    assert paired_difference_ci(same_ids, renamed, load_board(board), host) == (0.0, 0.0)
    # Without unique example ids the keys decide, and differing keys mean no paired test.
    no_ids = [{k: v for k, v in r.items() if k != "example_id"} for r in renamed]
    assert paired_difference_ci(rows, no_ids, load_board(board), host) is None


def test_ci_overlap_fallback_for_different_examples(host, runs, board, tmp_path):
    from lbhelpers import make_run

    small = make_run(host, tmp_path, 0.8, limit=5)  # 10 examples instead of 40
    build_entry(runs["strong"], host, submitter="Ada", board_dir=board, output=board / "entries" / "a.json")
    build_entry(small, host, submitter="Cy", board_dir=board, output=board / "entries" / "b.json")
    ranked = load_ranked_board(board, host).ranked
    assert [r.tie_test for r in ranked] == [None, "CI overlap"] and ranked[1].tied


def test_pages_show_every_entry(full_board, host):
    build_board(full_board, host)
    readme = (full_board / "README.md").read_text()
    page = (full_board / "index.html").read_text()
    for who in ("Ada", "Grace", "Bo"):
        assert f"| {who} |" in readme and f"<td>{who}</td>" in page
    assert "paired bootstrap" in readme and "300 resamples, seed 0" in readme
    assert "![toy-balanced with 95% CIs](scores.png)" in readme
    assert 'src="data:image/png;base64,' in page and "https://example" not in page
    assert (full_board / "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<script src" not in page and "<link" not in page  # nothing fetched from elsewhere


def test_submit_line_names_the_board_folder_of_a_section(host, board, tmp_path):
    # A section lives below another board's folder (leaderboards/faithfulness/self-explanation):
    # the README's submit command names that folder, not leaderboards/<benchmark>.
    section = tmp_path / "leaderboards" / "parent" / "toy-section"
    section.mkdir(parents=True)
    for item in board.iterdir():
        if item.is_file():
            (section / item.name).write_bytes(item.read_bytes())
    (section / "entries").mkdir()
    build_board(section, host)
    readme = (section / "README.md").read_text()
    assert "--board leaderboards/parent/toy-section --submitter NAME" in readme
    build_board(board, host)
    assert "--board leaderboards/toybench --submitter NAME" in (board / "README.md").read_text()


def test_untrusted_strings_are_escaped_and_only_http_links_are_anchors(host, runs, board):
    build_entry(runs["weak"], host, submitter="<script>alert(1)</script>", board_dir=board,
                paper="javascript:alert(1)", code="https://example.org/code")
    build_board(board, host)
    page = (board / "index.html").read_text()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'href="javascript' not in page and 'href="https://example.org/code"' in page


def test_build_refuses_invalid_entries_unless_skipped(full_board, host):
    path = full_board / "entries" / "weak.json"
    data = json.loads(path.read_text())
    data["metrics"]["toy-accuracy"]["value"] = 0.99
    path.write_text(json.dumps(data))
    with pytest.raises(PluriError, match=r"(?s)1 invalid entry in .*\nweak.json:\n  - metrics.toy-accuracy.value"):
        build_board(full_board, host)
    board = build_board(full_board, host, skip_invalid=True)
    assert [r.path.stem for r in board.ranked] == ["strong", "strong2"]
    assert [r.path.name for r in board.invalid] == ["weak.json"]


def test_cli_submit_build_compare(host, runs, tmp_path, monkeypatch):
    from plurieval.cli import app
    from plurieval.host import use_host

    monkeypatch.chdir(tmp_path)
    make_board(tmp_path)
    make_board(tmp_path, benchmark="toybench-lite", spec_version="1", title=None)
    use_host(host)
    cli = CliRunner()
    try:
        for key in ("strong", "weak", "lite"):
            result = cli.invoke(app, ["leaderboard", "submit", str(runs[key]), "--submitter", key])
            assert result.exit_code == 0, result.output
            assert "the entry validates" in result.output
        result = cli.invoke(app, ["leaderboard", "build"])
        assert result.exit_code == 0, result.output
        assert "built leaderboards/toybench: 2 entries" in result.output
        assert (tmp_path / "leaderboards/toybench-lite/index.html").is_file()
        result = cli.invoke(app, ["leaderboard", "compare", "--plot", "cmp.png", "--html", "cmp.html"])
        assert result.exit_code == 0, result.output
    finally:
        use_host(None)
    lines = [line for line in result.output.splitlines() if line.startswith("|")]
    assert lines[0] == "| Method · model | toybench (toy-balanced) | toybench-lite (toy-balanced) |"
    row = next(line for line in lines if line.startswith("| toy-skill · toy-model"))
    # The best toybench entry (strong, rank 1) and the only lite entry (rank 1).
    assert row.count("(#1)") == 2
    assert (tmp_path / "cmp.png").read_bytes()[:4] == b"\x89PNG" and "<table" in (tmp_path / "cmp.html").read_text()


def test_submit_refuses_summary_that_disagrees_with_the_board(host, runs, tmp_path):
    board = make_board(tmp_path, aggregation={"kind": "macro"})
    # toybench's summary is a plain aggregate over all examples; a macro-over-languages board differs.
    with pytest.raises(PluriError, match="disagrees with the board's aggregation"):
        build_entry(runs["strong"], host, submitter="Ada", board_dir=board)


def test_mlflow_link_only_for_a_server_others_can_open(tmp_path):
    import json as _json

    from plurieval.leaderboard.submit import _mlflow_link

    (tmp_path / "tracking").mkdir()
    state = tmp_path / "tracking" / "state.json"
    state.write_text(_json.dumps({"uri": "sqlite:////home/me/runs/mlflow.db", "mlflow_run_id": "abc"}))
    assert _mlflow_link(tmp_path, {}) is None  # a path on the submitter's machine is no link
    state.write_text(_json.dumps({"uri": "https://mlflow.example.org/", "mlflow_run_id": "abc", "experiment_id": "7"}))
    assert _mlflow_link(tmp_path, {}) == "https://mlflow.example.org/#/experiments/7/runs/abc"


def test_public_manifest_drops_machine_local_paths():
    from plurieval.leaderboard.submit import public_manifest

    m = {"platform": {"executable": "/home/me/proj/.venv/bin/python3", "python": "3.11.7"},
         "tracking": {"backend": "mlflow", "uri": "sqlite:////home/me/runs/mlflow.db"}, "seed": 0}
    out = public_manifest(m)
    assert out["platform"] == {"executable": "python3", "python": "3.11.7"}
    assert out["tracking"] == {"backend": "mlflow"} and out["seed"] == 0
    assert m["platform"]["executable"].startswith("/home/me")  # the run's own manifest is untouched
    import plurieval_clasbench

    sample = Path(plurieval_clasbench.__file__).parent / "data" / "sample"
    ds = public_manifest({"datasets": [{"source": str(sample)}, {"source": "/data/elsewhere"}]})["datasets"]
    assert [d["source"] for d in ds] == ["plurieval_clasbench:data/sample", "/data/elsewhere"]
    from plurieval.datafiles import cache_root

    converted = public_manifest({"model": {"source": str(cache_root() / "models" / "m1")}})["model"]
    assert converted == {"source": "$PLURIEVAL_CACHE_DIR/models/m1"}
    kept = public_manifest({"tracking": {"uri": "https://mlflow.example.org"}})
    assert kept["tracking"]["uri"] == "https://mlflow.example.org"


def test_public_manifest_relativises_the_output_and_data_folders(tmp_path, monkeypatch):
    from plurieval.leaderboard.submit import public_manifest

    data = tmp_path / "shared" / "data"
    (data / "litex").mkdir(parents=True)
    monkeypatch.setenv("PLURIEVAL_DATA_DIR", str(data))
    out = public_manifest({"config": {"output_dir": "/home/me/big-disk/runs", "seed": 0},
                           "datasets": [{"source": str(data / "litex" / "a.jsonl")}, {"source": "/data/elsewhere"},
                                        {"source": "../shared/data/litex/a.jsonl"}]})
    assert out["config"] == {"output_dir": "runs", "seed": 0}
    assert [d["source"] for d in out["datasets"]] == ["$PLURIEVAL_DATA_DIR/litex/a.jsonl", "/data/elsewhere",
                                                      "../shared/data/litex/a.jsonl"]
    assert public_manifest({"config": {"output_dir": "runs"}})["config"]["output_dir"] == "runs"
    ivs = public_manifest({"interventions": [{"path": "/home/me/runs/r1/artifacts/intervention_de"}]})
    assert ivs["interventions"] == [{"path": "artifacts/intervention_de"}]
