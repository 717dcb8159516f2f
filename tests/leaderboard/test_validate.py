"""Validation: a valid entry passes; each kind of tampering is rejected with its reason."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from lbhelpers import make_board
from typer.testing import CliRunner

from plurieval.hashing import content_hash, file_hash
from plurieval.leaderboard.submit import build_entry
from plurieval.leaderboard.validate import validate_entry


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def save(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2))


def problems(path: Path, host, **kw) -> list[str]:
    report = validate_entry(path, host, **kw)
    return report.problems


def test_valid_entry_passes_and_numbers_are_recomputed(entry, host, runs):
    report = validate_entry(entry, host)
    assert report.ok, report.problems
    data = load(entry)
    summary = json.loads((runs["strong"] / "summary.json").read_text())
    # The entry carries the run's own summary numbers (recomputed, equal) plus intervals around them.
    for name in ("toy-accuracy", "toy-balanced"):
        m = data["metrics"][name]
        assert m["value"] == pytest.approx(summary["metrics"][name], abs=1e-12)
        assert m["ci_low"] <= m["value"] <= m["ci_high"] and m["ci_low"] < m["ci_high"]
        assert m["n"] == 40
    assert data["per_language"]["de"]["toy-accuracy"] == pytest.approx(summary["per_language"]["de"]["toy-accuracy"])
    assert data["method"] == {"name": "toy-skill", "distribution": "toybench-tests", "version": "0.0.1",
                              "config": {"skill": 0.8, "salt": ""}}
    assert data["results"]["file"] == entry.stem + ".results.jsonl"
    assert data["results"]["sha256"] == file_hash(entry.parent / data["results"]["file"])


def test_inline_results_validate(host, runs, board):
    path = build_entry(runs["weak"], host, submitter="Bo", board_dir=board, inline=True)
    assert validate_entry(path, host).ok
    assert len(load(path)["results"]["rows"]) == 40


def test_edited_metric_is_rejected(entry, host):
    data = load(entry)
    data["metrics"]["toy-balanced"]["value"] += 0.05
    save(entry, data)
    found = problems(entry, host)
    assert any(p.startswith("metrics.toy-balanced.value: entry says") for p in found), found


def test_edited_interval_is_rejected(entry, host):
    data = load(entry)
    data["metrics"]["toy-accuracy"]["ci_high"] = 1.0
    save(entry, data)
    assert any(p.startswith("metrics.toy-accuracy.ci_high") for p in problems(entry, host))


def test_wrong_hash_is_rejected(entry, host):
    results = entry.parent / load(entry)["results"]["file"]
    rows = results.read_text().splitlines()
    row = json.loads(rows[0])
    row["scores"]["toy-accuracy"] = 1.0 - row["scores"]["toy-accuracy"]
    results.write_text("\n".join([json.dumps(row), *rows[1:]]) + "\n")
    found = problems(entry, host)
    assert any(p.startswith("results.sha256: does not match the bytes") for p in found), found


def test_recomputed_hash_does_not_hide_edited_results(entry, host):
    """The hash alone proves nothing: edit results AND fix the hash; recomputation still catches it."""
    data = load(entry)
    results = entry.parent / data["results"]["file"]
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    for row in rows[:5]:
        row["scores"]["toy-accuracy"] = 1.0
        row["scores"]["toy-balanced"]["correct"] = 1
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data["results"]["sha256"] = file_hash(results)
    save(entry, data)
    found = problems(entry, host)
    # Re-scoring the predictions catches the edited rows themselves, naming them.
    flipped = [json.loads(line)["key"] for line in results.read_text().splitlines()[:5]]
    assert any(p.startswith("results row ") and "scores.toy-accuracy is 1.0 but its prediction scores 0.0" in p
               for p in found), found
    assert all(p.split("'")[1] in flipped for p in found if p.startswith("results row "))


def test_edited_rows_summary_and_hash_together_are_still_rejected(entry, host):
    """Edit per-example scores, recompute the summary AND the hash to match: only re-scoring the
    predictions against the references can tell."""
    from plurieval.leaderboard.schema import load_board
    from plurieval.leaderboard.scoring import recompute

    data = load(entry)
    results = entry.parent / data["results"]["file"]
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    for row in rows:
        row["scores"]["toy-accuracy"] = 1.0
        row["scores"]["toy-balanced"]["correct"] = 1
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data["results"]["sha256"] = file_hash(results)
    again = recompute(rows, load_board(entry.parent.parent), host)
    data["metrics"] = {k: v.model_dump() for k, v in again.metrics.items()}
    data["per_language"] = again.per_language
    save(entry, data)
    found = problems(entry, host)
    assert not any(p.startswith("metrics.") for p in found), found  # the summary is consistent now
    assert not any(p.startswith("results.sha256") for p in found), found  # and so is the hash
    assert any(p.startswith("results row ") and "but its prediction scores" in p for p in found), found


def test_inline_rows_edited_are_rejected(host, runs, board):
    path = build_entry(runs["weak"], host, submitter="Bo", board_dir=board, inline=True)
    data = load(path)
    data["results"]["rows"][0]["scores"]["toy-accuracy"] = 7.0
    save(path, data)
    assert problems(path, host) == ["results.sha256: does not match the inline rows (canonical JSON hash)"]
    data["results"]["sha256"] = content_hash(data["results"]["rows"])
    save(path, data)
    assert any(p.startswith("metrics.toy-accuracy.value") for p in problems(path, host))


def test_unknown_benchmark_version_is_rejected(entry, host):
    data = load(entry)
    data["spec_version"] = "3"
    save(entry, data)
    found = problems(entry, host)
    assert any("unknown benchmark version '3'" in p for p in found), found


def test_board_disagreeing_with_installed_benchmark_is_reported(entry, host):
    board_yaml = entry.parent.parent / "board.yaml"
    spec = yaml.safe_load(board_yaml.read_text())
    spec["spec_version"] = "1"
    board_yaml.write_text(yaml.safe_dump(spec))
    found = problems(entry, host)
    assert any("installed 'toybench' benchmark is spec_version '2'" in p for p in found), found


def test_missing_required_metric_is_rejected(entry, host):
    data = load(entry)
    del data["metrics"]["toy-accuracy"]
    save(entry, data)
    assert "metrics: required metric 'toy-accuracy' is missing" in problems(entry, host)


@pytest.mark.parametrize("name", ["../../../etc/passwd", "/etc/passwd", "sub/results.jsonl", "..results.jsonl",
                                  ".hidden.jsonl"])
def test_unsafe_results_file_names_are_rejected(entry, host, name):
    data = load(entry)
    data["results"]["file"] = name
    save(entry, data)
    found = problems(entry, host)
    assert len(found) == 1 and found[0].startswith("schema: results.file:"), found
    assert any(word in found[0] for word in ("absolute path", "path traversal", "not a safe file name")), found


def test_symlinked_results_file_is_rejected(entry, host, tmp_path):
    data = load(entry)
    real = entry.parent / data["results"]["file"]
    outside = tmp_path / "elsewhere.jsonl"
    real.rename(outside)
    os.symlink(outside, real)
    assert any("is a symbolic link" in p for p in problems(entry, host))


def test_oversized_results_file_is_rejected(entry, host):
    board_yaml = entry.parent.parent / "board.yaml"
    spec = yaml.safe_load(board_yaml.read_text())
    spec["limits"] = {"max_results_bytes": 1000}
    board_yaml.write_text(yaml.safe_dump(spec))
    found = problems(entry, host)
    assert any("over the board's limit of 1000" in p and p.startswith("results.file") for p in found), found


def test_oversized_entry_is_rejected(host, runs, board):
    spec = yaml.safe_load((board / "board.yaml").read_text())
    spec["limits"] = {"max_entry_bytes": 4000}
    (board / "board.yaml").write_text(yaml.safe_dump(spec))
    path = build_entry(runs["weak"], host, submitter="Bo", board_dir=board, inline=True)
    assert any("entry file is" in p and "over the board's limit of 4000" in p for p in problems(path, host))


@pytest.mark.parametrize("where", [[], ["submitter"], ["metrics", "toy-accuracy"], ["results"]])
def test_extra_fields_are_rejected(entry, host, where):
    data = load(entry)
    node = data
    for key in where:
        node = node[key]
    node["verified"] = True
    save(entry, data)
    loc = ".".join([*where, "verified"])
    assert f"schema: {loc}: unknown field" in problems(entry, host)


def test_wrong_bootstrap_settings_are_rejected(entry, host):
    data = load(entry)
    data["bootstrap"]["resamples"] = 200
    save(entry, data)
    assert any(p.startswith("bootstrap: entry used") for p in problems(entry, host))


def test_manifest_of_another_benchmark_is_rejected(entry, host):
    data = load(entry)
    data["manifest"]["benchmark"]["name"] = "toybench-lite"
    save(entry, data)
    assert any(p.startswith("manifest.benchmark:") for p in problems(entry, host))


def test_entry_for_unknown_board(host, runs, tmp_path):
    board = make_board(tmp_path / "a")
    path = build_entry(runs["lite"], host, submitter="X", board_dir=None, output=tmp_path / "x" / "lite.json")
    found = problems(path, host, boards_root=board.parent)
    assert found and found[0].startswith("benchmark: no board for 'toybench-lite'")


def test_cli_validate_lists_every_reason(entry, host):
    from plurieval.cli import app
    from plurieval.host import use_host

    data = load(entry)
    data["metrics"]["toy-balanced"]["value"] = 0.0
    data["spec_version"] = "9"
    save(entry, data)
    use_host(host)
    try:
        result = CliRunner().invoke(app, ["leaderboard", "validate", str(entry)])
    finally:
        use_host(None)
    assert result.exit_code == 1
    out = result.output
    assert "invalid" in out and "unknown benchmark version '9'" in out and "metrics.toy-balanced.value" in out
