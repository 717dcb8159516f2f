"""Two runs of one config at once: the second stops with a clear message instead of colliding on
fixed temp names or reporting the first one's half-written results as resumed. Files written
by several processes use unique temp names; a local MLflow store survives being created by two
uploads at once."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest
from conftest import plurieval_cmd, run_cli, tiny_config

from plurieval.datafiles import atomic_write
from plurieval.locking import RunDirectoryBusy, hold_run_directory, run_lock_path
from plurieval.runner import execute, run_id_for


def test_a_held_run_directory_refuses_a_second_run_naming_the_holder(host, tmp_path):
    config = tiny_config(tmp_path / "runs", n=2)
    run_dir = tmp_path / "runs" / run_id_for(config)
    with hold_run_directory(run_dir):
        with pytest.raises(RunDirectoryBusy) as exc:
            execute(config, host)
        msg = str(exc.value)
        assert str(run_dir) in msg and "already running" in msg and "--output" in msg and "plurieval process" in msg
        assert not (run_dir / "results.jsonl").exists()  # it touched nothing
    outcome = execute(config, host)  # free again: runs
    assert outcome.summary["num_results"] == 2 and run_lock_path(run_dir).parent == run_dir
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [run_dir.name]  # the output folder holds runs only


def test_waiting_for_the_holder_then_reusing_its_results(host, tmp_path, monkeypatch):
    config = tiny_config(tmp_path / "runs", n=2)
    run_dir = tmp_path / "runs" / run_id_for(config)
    released = threading.Event()

    def hold_briefly():
        with hold_run_directory(run_dir):
            execute_started.set()
            time.sleep(1.0)
        released.set()

    execute_started = threading.Event()
    # The holder is this process itself in a thread: flock locks belong to open files, so a
    # second open file of the same process conflicts just as another process would.
    first = execute(config, host)
    holder = threading.Thread(target=hold_briefly)
    holder.start()
    execute_started.wait(10)
    monkeypatch.setenv("PLURIEVAL_RUN_LOCK_WAIT", "30")
    second = execute(config, host)
    holder.join()
    assert released.is_set() and second.reused and second.summary == first.summary


def test_two_identical_cli_runs_at_once(cli_env, tmp_path):
    args = ["run", "tiny-echo", "--model", "tiny-test", "--batch-size", "2", "--set", "n=6", "--set", "delay_s=0.3",
            "--set", "tracking.enabled=false", "--no-cache", "--output", str(tmp_path / "runs")]
    first = subprocess.Popen(plurieval_cmd(*args), env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        deadline = time.time() + 120
        while not list((tmp_path / "runs").glob("*/results.jsonl")):
            assert first.poll() is None and time.time() < deadline, first.communicate()
            time.sleep(0.05)
        second = run_cli(cli_env, *args)
        out, err = first.communicate(timeout=240)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err
    assert second.returncode == 2, second.stderr
    assert "already running" in second.stderr and f"plurieval process {first.pid}" in second.stderr
    assert "Traceback" not in second.stderr and "(resumed)" not in second.stderr
    (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    rows = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and json.loads((run_dir / "manifest.json").read_text())["resumed"] is False


def test_atomic_writes_of_one_file_from_many_threads_never_collide(tmp_path):
    path = tmp_path / "manifest.json"
    errors = []

    def writer(n):
        try:
            for i in range(150):
                atomic_write(path, json.dumps({"writer": n, "i": i}))
        except Exception as err:  # a fixed temp name made os.replace fail here
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert json.loads(path.read_text())["i"] == 149
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]  # no temp file left behind


_UPLOAD_TOGETHER = """
import sys, time
from pathlib import Path
import mlflow.tracking  # imported before the barrier, so both uploads begin together
from plurieval_mlflow.upload import upload_run
run_dir, uri, barrier = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
(barrier / run_dir.name).touch()
while len(list(barrier.iterdir())) < 2:
    time.sleep(0.005)
print(upload_run(run_dir, uri=uri)["experiment_id"])
"""


def test_a_local_mlflow_store_created_by_two_uploads_at_once(tmp_path):
    """Two runs finishing at once into a fresh ``sqlite:///.../mlflow.db`` (the default store):
    without a guard MLflow's schema migrations race, and one or both uploads fail (2 of 3
    trials when this was written)."""
    uri = f"sqlite:///{tmp_path}/store/mlflow.db"
    run_dirs = []
    for name in ("run-a", "run-b"):
        run_dir = tmp_path / name
        run_dir.mkdir()
        (run_dir / "manifest.json").write_text(json.dumps({"run_id": name, "benchmark": {"name": "race"},
                                                           "status": "complete"}))
        (run_dir / "summary.json").write_text(json.dumps({"metrics": {"score": 0.5}}))
        run_dirs.append(run_dir)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", _UPLOAD_TOGETHER, str(d), uri, str(barrier)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for d in run_dirs]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-1500:] for o in outs]
    assert outs[0][0].split()[-1] == outs[1][0].split()[-1]  # one experiment, found by the second
    states = [json.loads((d / "tracking" / "state.json").read_text()) for d in run_dirs]
    assert [s["status"] for s in states] == ["synced", "synced"]
