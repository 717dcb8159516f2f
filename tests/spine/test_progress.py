"""Run progress: stages counted in rows with ETA, one line per stage in logs, a live display on
a terminal, and the lines a run ends with (plots, MLflow)."""

import io
import json

from plurieval.progress import RunProgress, eta_seconds, mlflow_ui_command, run_end_lines


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _log_progress(**kw):
    clock = Clock()
    out = io.StringIO()
    return RunProgress(stream=out, enabled=True, interactive=False, clock=clock, **kw), out, clock


def test_eta_is_the_remaining_rows_at_the_average_rate():
    # 30 of 120 rows in 60 s → 2 s per row → 90 rows left ≈ 180 s
    assert eta_seconds(30, 120, 60.0) == 180.0
    assert eta_seconds(0, 120, 5.0) is None and eta_seconds(3, None, 5.0) is None


def test_a_log_gets_one_line_per_stage_with_counts_and_time():
    progress, out, clock = _log_progress(every=30)
    with progress.stage("load"):
        clock.now += 2.5
    progress.stage("sweep", total_rows=120)
    for _ in range(4):
        clock.now += 10
        progress.advance(30)
    progress.stage("test", total_rows=9)  # starting a stage ends the previous one
    clock.now += 3
    progress.advance(9)
    progress.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "plurieval: load: 2.5 s"
    # a heartbeat after 30 s: 90 rows at 3 rows/s, 30 left ≈ 10 s
    assert lines[1] == "plurieval: sweep: 90/120 rows, 3.0 rows/s, 30 s, about 10 s left"
    assert lines[2] == "plurieval: sweep: 120 rows in 40 s, 3.0 rows/s"
    assert lines[3] == "plurieval: test: 9 rows in 3.0 s, 3.0 rows/s"
    assert len(lines) == 4
    assert [s["rows"] for s in progress.summary()] == [0, 120, 9]


def test_a_plan_gives_the_whole_run_an_eta():
    progress, out, clock = _log_progress(every=0)
    progress.plan({"baseline": 10, "sweep": 90})
    with progress.stage("baseline"):
        clock.now += 10
        progress.advance(10)  # 10 of 100 planned rows in 10 s → 90 s left for the run
    assert "(run: about 1 min 30 s left)" in out.getvalue().splitlines()[0]


def test_loops_inside_a_stage_and_silence():
    progress, out, clock = _log_progress(every=0)
    assert list(progress(range(3), total=3, desc="targets")) == [0, 1, 2]
    assert out.getvalue().splitlines()[0] == "plurieval: targets: 1/3 (0.0 s)"
    quiet = RunProgress(stream=io.StringIO(), enabled=False)
    with quiet.stage("sweep", 5):
        quiet.advance(5)
    assert list(quiet(range(2))) == [0, 1] and quiet.stream.getvalue() == ""


def test_a_terminal_gets_a_live_display_and_the_stage_lines():
    out = io.StringIO()
    progress = RunProgress(stream=out, enabled=True, interactive=True)
    progress.plan({"sweep": 4})
    with progress.stage("sweep"):
        for _ in progress(range(2), desc="target de"):
            progress.advance(2)
    progress.close()
    text = out.getvalue()
    assert "sweep: 4 rows in" in text
    assert progress._live is None  # stopped


def test_a_run_ends_with_its_plots_and_the_mlflow_command(tmp_path):
    (tmp_path / "plots").mkdir()
    for name in ("layerwise.png", "diffmean_cosine.png"):
        (tmp_path / "plots" / name).write_bytes(b"png")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    (tmp_path / "manifest.json").write_text(json.dumps({"tracking": {"backend": "mlflow", "uri": uri,
                                                                     "experiment": "plurieval-clasbench"}}))
    lines = run_end_lines(tmp_path)
    assert lines[0] == f"plots: {tmp_path / 'plots'}/ (diffmean_cosine.png, layerwise.png)"
    assert lines[1].startswith(f"MLflow: mlflow ui --backend-store-uri {uri}")
    assert mlflow_ui_command({"backend": "mlflow", "uri": "http://127.0.0.1:5000"}) == "MLflow: open http://127.0.0.1:5000"
    assert mlflow_ui_command(None) is None
    assert run_end_lines(tmp_path / "missing") == []


def test_the_run_eta_prices_each_kind_of_stage_at_its_own_rate():
    # A PolyRefuse-like run: selection rows are one forward pass (0.1 s), test rows generate
    # (2 s), scoring rows are cheap. After "load" (10 s, no rows), "en: selection" (100 rows in
    # 10 s) and half of "test" (20 of 40 rows in 40 s), with "de: selection" (100 rows) not run:
    #   de: selection  100 × 0.1 s (selection's rate)           = 10 s
    #   test           20 left × 2 s (its own rate so far)      = 40 s
    #   test: scoring  40 × run average (60 s / 120 rows = 0.5) = 20 s   (no scoring seen yet)
    #   → 70 s. One average over all rows would say 160 rows left × 0.5 s = 80 s; before the
    #   test began it said 180 rows × 0.1 s = 18 s for what takes ~110 s.
    progress, out, clock = _log_progress(every=0)
    progress.plan({"en: selection": 100, "de: selection": 100, "test": 40, "test: scoring": 40})
    with progress.stage("load"):
        clock.now += 10
    with progress.stage("en: selection"):
        clock.now += 10
        progress.advance(100)
    progress.stage("test")
    clock.now += 40
    progress.advance(20)
    assert progress.run_eta() == 70.0
    assert out.getvalue().splitlines()[-1].endswith("(run: about 1 min 10 s left)")
    # a scoring stage, once seen, is priced at its own rate: 4 s for 40 rows → 0.1 s per row;
    # left: de: selection 100 × 0.1 s + side effects: scoring 10 × 0.1 s = 11 s
    progress.plan({"side effects: scoring": 10})
    progress.advance(20)
    progress.stage("test: scoring")
    clock.now += 4
    progress.advance(40)
    assert abs(progress.run_eta() - 11.0) < 1e-9


def test_a_plan_made_while_the_display_is_up_adds_the_run_bar():
    out = io.StringIO()
    clock = Clock()
    progress = RunProgress(stream=out, enabled=True, interactive=True, clock=clock)
    progress.stage("en: selection", total_rows=10)
    assert progress._run_task is None  # nothing planned yet: no run bar
    clock.now += 5
    progress.advance(10)
    progress.plan({"de: selection": 10})  # what the steering loop does after its first unit
    task = progress._live.tasks[progress._run_task]
    assert (task.total, task.completed, task.fields["eta"]) == (20, 10, 5.0)
    progress.close()
