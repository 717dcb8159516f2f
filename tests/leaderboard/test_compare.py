"""``leaderboard compare`` across boards: one row per method, the model named in each cell when
a method's entries on the boards are on different models (each benchmark embeds its own)."""

from __future__ import annotations

from lbhelpers import make_board

from plurieval.leaderboard.build import load_ranked_board
from plurieval.leaderboard.compare import compare_ranked
from plurieval.leaderboard.render import comparison_markdown
from plurieval.leaderboard.submit import build_entry


def test_a_method_on_two_models_is_one_row_naming_each_model(host, runs, tmp_path):
    board = make_board(tmp_path)
    lite = make_board(tmp_path, benchmark="toybench-lite", spec_version="1")
    build_entry(runs["strong"], host, submitter="a", board_dir=board)
    build_entry(runs["weak"], host, submitter="b", board_dir=board)
    build_entry(runs["lite"], host, submitter="c", board_dir=lite)
    boards = [load_ranked_board(board, host), load_ranked_board(lite, host)]
    same = compare_ranked(boards)
    assert same.labels == ["toy-skill · toy-model"] and not same.models
    assert same.methods_on_every_board() == ["toy-skill · toy-model"]
    # The best-ranked entry of the method stands for it on a board (strong, not weak).
    assert same.cells[("toy-skill · toy-model", "toybench")].value == boards[0].ranked[0].entry.metrics["toy-balanced"].value

    boards[1].ranked[0].entry.model.id = "toy-model-tuned"  # as PolyRefuse runs on default-refusal
    mixed = compare_ranked(boards)
    assert mixed.labels == ["toy-skill"]
    assert mixed.models == {("toy-skill", "toybench"): "toy-model", ("toy-skill", "toybench-lite"): "toy-model-tuned"}
    row = next(line for line in comparison_markdown(mixed).splitlines() if line.startswith("| toy-skill"))
    assert "(#1) · toy-model |" in row and "(#1) · toy-model-tuned |" in row
