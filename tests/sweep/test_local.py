"""Sweeps on the local executor and the ``sweep`` command: sweep.json indexes every run
directory, the comparison is the one ``leaderboard compare`` shows for the same runs, a second
start reuses everything, a failed run is recorded without stopping the others (exit 1), and
observers see the sweep in order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from plurieval.hookspecs import hookimpl
from plurieval.sweep import build_sweep_config, run_sweep
from plurieval.sweep.spec import sweep_data

BOARD = {"spec_version": "{v}", "metrics": ["toy-balanced", "toy-accuracy"], "ranking_metric": "toy-balanced",
         "bootstrap": {"seed": 0, "resamples": 200}}


def _boards(root: Path) -> Path:
    from lbhelpers import toy_data_pin  # boards pin their data (docs/leaderboards.md)

    for bench, version in (("toybench", "2"), ("toybench-lite", "1")):
        folder = root / bench
        (folder / "entries").mkdir(parents=True)
        spec = {**BOARD, "benchmark": bench, "spec_version": version, "data": toy_data_pin()}
        (folder / "board.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    return root


class Observer:
    def __init__(self):
        self.calls = []

    @hookimpl
    def sweep_started(self, sweep):
        self.calls.append(("started", len(sweep.runs)))
        sweep.data["observer"] = {"token": "shared with every run"}

    @hookimpl
    def run_started(self, run):
        self.calls.append(("run", run.sweep["data"]["observer"]["token"] if run.sweep else None))

    @hookimpl
    def sweep_run_finished(self, sweep, record):
        self.calls.append(("run_finished", record.status, record.run_dir.is_dir()))

    @hookimpl
    def sweep_finished(self, sweep, index, error):
        self.calls.append(("finished", index["status"], error))


def test_local_sweep_indexes_runs_and_compares_them_like_the_leaderboard(toy_host, tmp_path):
    from plurieval.leaderboard.compare import compare_boards
    from plurieval.leaderboard.render import comparison_markdown
    from plurieval.leaderboard.submit import build_entry

    boards = _boards(tmp_path / "leaderboards")
    observer = Observer()
    toy_host.add_plugin(observer, name="sweep-observer")
    try:
        config = build_sweep_config(sweep_data(benchmark="toybench,toybench-lite", model="toy-model",
                                               methods="toy-skill", grid=["method.skill=[0.3,0.8]"],
                                               output=tmp_path / "runs", tracking={"enabled": False}))
        outcome = run_sweep(config, toy_host, boards_root=boards, quiet=True)
    finally:
        toy_host.pm.unregister(name="sweep-observer")
        del toy_host.plugins["sweep-observer"]
    assert observer.calls[0] == ("started", 4)
    assert observer.calls[1:9] == [("run", "shared with every run"), ("run_finished", "complete", True)] * 4
    assert observer.calls[-1] == ("finished", "complete", None)

    index = json.loads((outcome.directory / "sweep.json").read_text())
    assert index["status"] == "complete" and index["counts"] == {"complete": 4}
    for row in index["runs"]:  # every run directory, relative to sweep.json, with its grid point
        run_dir = (outcome.directory / row["run_dir"]).resolve()
        assert run_dir == (tmp_path / "runs" / row["run_id"]).resolve()
        summary = json.loads((run_dir / "summary.json").read_text())
        assert row["metrics"] == summary["metrics"] and row["worker"]["files"] == "shared"
    assert [r["point"]["method.skill"] for r in index["runs"]] == [0.3, 0.8, 0.3, 0.8]

    # The same runs submitted to the same boards and compared by `leaderboard compare`:
    for record in outcome.records:
        build_entry(record.run_dir, toy_host, submitter="sweep", board_dir=boards / record.point["benchmark"])
    board_table = comparison_markdown(compare_boards([boards / "toybench", boards / "toybench-lite"], toy_host))
    sweep_table = (outcome.directory / "comparison.md").read_text()
    # rows carry the grid value, as labels the board cannot know; otherwise the tables agree
    assert sweep_table.replace(" · method.skill=0.8", "").replace(" · method.skill=0.3", "") != sweep_table
    board_rows = board_table.splitlines()
    sweep_rows = sweep_table.splitlines()
    assert sweep_rows[:2] == board_rows[:2]
    best = [line for line in sweep_rows if "method.skill=0.8" in line]
    assert [line.replace(" · method.skill=0.8", "") for line in best] == board_rows[2:3]
    assert len(sweep_rows) == 4  # header, rule, one row per grid point
    assert (outcome.directory / "comparison.png").stat().st_size > 1000
    assert "<table" in (outcome.directory / "comparison.html").read_text()

    # Started again: nothing is executed, every run is reused, the table is the same
    again = run_sweep(config, toy_host, boards_root=boards, quiet=True)
    assert again.directory == outcome.directory
    assert all(r.reused and r.status == "complete" for r in again.records)
    assert (again.directory / "comparison.md").read_text() == sweep_table


def _cli(host, *args):
    """The real ``plurieval`` app in this process (no new interpreter), with ``host``."""
    from typer.testing import CliRunner

    from plurieval.cli import app
    from plurieval.host import get_host, use_host

    previous = get_host()
    use_host(host)
    try:
        return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})
    finally:
        use_host(previous)


def test_cli_dry_run_lists_the_runs_and_bad_options_fail_clearly(host, tmp_path):
    result = _cli(host, "sweep", "polyrefuse", "--methods", "refusal_directon", "--output", str(tmp_path), "--dry-run")
    assert "method.name: unknown method 'refusal_directon'. Did you mean: refusal_direction" in str(result.exception)
    result = _cli(host, "sweep", "clasbench", "--model", "default", "--methods", "diffmean,pca",
                  "--grid", "method.alpha=[4,8]", "--limit", "2", "--output", str(tmp_path), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "4 runs" in result.stdout and result.stdout.count("new") == 4
    assert "method=pca" in result.stdout and "method.alpha=8" in result.stdout  # (the table may wrap)
    assert not (tmp_path / "sweeps").exists()  # a dry run writes nothing


def test_address_without_the_ray_executor_is_explained():
    from plurieval.errors import PluriError
    from plurieval.sweep.executors import make_executor
    from plurieval.sweep.spec import ExecutorConfig

    with pytest.raises(PluriError, match="--address is for the ray executor"):
        make_executor(ExecutorConfig(kind="local", address="auto"), None)


def test_cli_sweep_prints_the_comparison_and_exits_1_when_a_run_failed(tiny_host, tmp_path):
    out = tmp_path / "runs"
    result = _cli(tiny_host, "sweep", "tiny-echo", "--model", "tiny-test", "--grid", "layer=[1,9]", "--set", "n=4",
                  "--set", "alpha=2", "--set", "max_new_tokens=2", "--set", "tracking.enabled=false",
                  "--output", str(out))
    assert result.exit_code == 1, result.output
    # the comparison (stdout) has the run that worked; stderr names the one that failed and how to retry
    assert result.stdout.startswith("| Method · model | tiny-echo (byte-diversity) |")
    assert "(no method) · tiny-llama-seed0 · layer=1" in result.stdout and "layer=9" not in result.stdout
    assert "failed: tiny-echo_none_tiny-test_" in result.stderr and "blocks.9" in result.stderr
    assert "run the same command again to retry them" in result.stderr
    (index_path,) = (out / "sweeps").glob("*/sweep.json")
    index = json.loads(index_path.read_text())
    assert index["status"] == "failed" and index["counts"] == {"complete": 1, "failed": 1}
    ok, bad = index["runs"]
    assert ok["status"] == "complete" and (index_path.parent / ok["run_dir"] / "summary.json").is_file()
    assert bad["status"] == "failed" and bad["failure"] == "task" and "blocks.9" in bad["error"]
    assert json.loads((index_path.parent / bad["run_dir"] / "manifest.json").read_text())["status"] == "failed"


class StopAfterFirstRun:
    """Interrupts the driver (as Ctrl-C would) once the first run is in."""

    @hookimpl
    def sweep_run_finished(self, sweep, record):
        raise KeyboardInterrupt


def test_an_interrupted_sweep_says_so_and_the_same_sweep_continues_it(toy_host, tmp_path):
    config = build_sweep_config(sweep_data(benchmark="toybench", model="toy-model", methods="toy-skill",
                                           grid=["method.skill=[0.2,0.5,0.9]"], output=tmp_path / "runs",
                                           tracking={"enabled": False}))
    toy_host.add_plugin(StopAfterFirstRun(), name="stopper")
    try:
        with pytest.raises(KeyboardInterrupt):
            run_sweep(config, toy_host, boards_root=tmp_path, quiet=True)
    finally:
        toy_host.pm.unregister(name="stopper")
        del toy_host.plugins["stopper"]
    (index_path,) = (tmp_path / "runs" / "sweeps").glob("*/sweep.json")
    index = json.loads(index_path.read_text())
    assert index["status"] == "interrupted" and index["counts"] == {"complete": 1, "pending": 2}
    outcome = run_sweep(config, toy_host, boards_root=tmp_path, quiet=True)
    assert [(r.status, r.reused) for r in outcome.records] == [("complete", True), ("complete", False),
                                                               ("complete", False)]
    assert json.loads(index_path.read_text())["status"] == "complete"
