"""Executors on a real local Ray cluster (``ray.init(num_cpus=2)``, one for the module, no mocks)
and a real local process pool: the same sweep gives byte-identical metrics and per-example
results under ``local`` and ``ray`` with a worker killed by its PID mid-run (nothing lost,
nothing twice); a steering run split into its units merges into the unsplit run's files and
metrics on a pool and on Ray workers that send their files back and use their own cache; a
pool resumes the run of a worker killed the same way."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from plurieval.sweep import build_sweep_config, run_sweep
from plurieval.sweep.executors import RayExecutor, Resources
from plurieval.sweep.spec import sweep_data

pytestmark = pytest.mark.slow

# Two grid points of the tiny benchmark: an unsteered run and one steered by a fitted direction
# (activations extracted, direction cached, generation under an intervention, per-layer sweep).
SETTINGS = ["n=6", "max_new_tokens=4", "sweep=[0]"]


def _config(output: Path, **executor):
    return build_sweep_config(sweep_data(benchmark="tiny-echo", model="tiny-test", grid=["alpha=[0,4]"],
                                         set_=SETTINGS, output=output, batch_size=2,
                                         tracking={"enabled": False}, executor=executor))


def _fingerprint(outcome):
    """Per run: the exact bytes of summary.json's metrics and of results.jsonl."""
    out = {}
    for record in outcome.records:
        summary = json.loads((record.run_dir / "summary.json").read_text())
        out[record.run_id] = (json.dumps(summary["metrics"], sort_keys=True), (record.run_dir / "results.jsonl").read_bytes())
    return out


@pytest.fixture(scope="module")
def local_reference(tiny_host, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    with pytest.MonkeyPatch.context() as mp:  # module-scoped: the per-test private cache is not set yet
        mp.setenv("PLURIEVAL_CACHE_DIR", str(out / "cache"))
        outcome = run_sweep(_config(out / "runs"), tiny_host, quiet=True)
    assert [r.status for r in outcome.records] == ["complete", "complete"]
    return _fingerprint(outcome)


def test_ray_matches_local_byte_for_byte_with_a_worker_killed_mid_run(ray_cluster, tiny_host, local_reference,
                                                                      tmp_path, private_cache):
    # shared: workers see the output folder and the driver's cache (one machine); one worker is
    # SIGKILLed by its pid while its run has recorded some of its rows
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(outcome=run_sweep(
        _slow_config(tmp_path / "runs", kind="ray"), tiny_host, quiet=True,
        executor=RayExecutor(resources=Resources(cpus=1), max_retries=2))))
    thread.start()
    victim = _kill_a_running_worker(tmp_path / "runs")
    thread.join(timeout=240)
    assert not thread.is_alive()
    shared = result["outcome"]
    assert {r.worker["files"] for r in shared.records} == {"shared"}
    assert {r.worker["cache"] for r in shared.records} == {"shared"}
    assert {r.worker["pid"] for r in shared.records}.isdisjoint({os.getpid()})
    _check_resumed(shared, victim, local_reference)
    # the shared cache was written by the workers, one of them killed mid-write, and is intact
    with sqlite3.connect(private_cache / "cache.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        kinds = dict(db.execute("SELECT kind, COUNT(*) FROM entries GROUP BY kind").fetchall())
    assert kinds["generation"] == 12 and kinds["direction"] == 1


def _kill_a_running_worker(output: Path, timeout: float = 120) -> dict:
    """Wait until sweep.json shows a run that has recorded some (not all) results, SIGKILL the
    process running it (by the pid the worker reported), and return that sweep.json row."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.1)
        index_path = next(iter((output / "sweeps").glob("*/sweep.json")), None) if (output / "sweeps").is_dir() else None
        if index_path is None:
            continue
        for row in json.loads(index_path.read_text())["runs"]:
            results = output / row["run_id"] / "results.jsonl"
            pid = row["worker"].get("pid")
            if row["status"] == "running" and pid and pid != os.getpid() and results.is_file() \
                    and 0 < len(results.read_bytes().splitlines()) < 6:
                os.kill(pid, signal.SIGKILL)
                return row
    raise AssertionError("no run got under way")


def _check_resumed(outcome, victim: dict, local_reference: dict) -> None:
    assert all(r.status == "complete" for r in outcome.records)
    killed = next(r for r in outcome.records if r.run_id == victim["run_id"])
    assert killed.attempts == 2 and killed.resumed and killed.worker["pid"] != victim["worker"]["pid"]
    rows = (killed.run_dir / "results.jsonl").read_text().splitlines()
    assert len(rows) == len({json.loads(line)["key"] for line in rows}) == 6  # nothing lost, nothing twice
    manifest = json.loads((killed.run_dir / "manifest.json").read_text())
    assert manifest["resumed"] is True and manifest["status"] == "complete"
    # delay_s (which slows each batch so the kill lands mid-run) is part of the config, so the
    # run ids differ from the reference's; nothing computed does (runs in grid order: alpha 0, 4)
    reference = list(local_reference.values())
    assert list(_fingerprint(outcome).values()) == reference[-len(outcome.records):]


def _slow_config(output: Path, alphas: str = "[0,4]", **executor):
    return build_sweep_config(sweep_data(benchmark="tiny-echo", model="tiny-test", grid=[f"alpha={alphas}"],
                                         set_=[*SETTINGS, "delay_s=0.5"], output=output, batch_size=2,
                                         tracking={"enabled": False}, executor=executor))


def test_gpu_requests_on_a_cluster_without_gpus_stop_before_anything_runs(ray_cluster):
    from plurieval.errors import PluriError

    with pytest.raises(PluriError, match=r"each run asks for 1(\.0)? GPU but the Ray cluster has none"):
        RayExecutor(resources=Resources(cpus=1, gpus=1))
    assert RayExecutor(resources=Resources(cpus=1)).slots == 2  # 2 CPUs, 1 per run


# --- a steering run split into its units -------------------------------------------------------
# CLaS-Bench through core's steering loop on a tiny random model: a baseline and two units
# (target languages de, fr), each selecting among 4 candidates (2 layers × 2 strengths) on its dev
# prompts. byte-diversity (the test plugin's metric) varies with the generated text, so the
# merged metrics below are not trivially equal.

def _steer_config(output: Path, model: Path, **executor):
    return build_sweep_config(sweep_data(
        benchmark="clasbench", methods="diffmean", limit=2, output=output, tracking={"enabled": False},
        set_=[f"model.name=hf:{model}", 'model.params={"tokenizer_class":"ByT5Tokenizer"}',
              "target_languages=de,fr", "layers=[1,2]", "dev_limit=2", "max_new_tokens=3", "plots=false",
              "method.alphas=[2.0,4.0]", "extra_metrics=[byte-diversity]"],
        executor=executor))


@pytest.fixture(scope="module")
def steer_host(tiny_host):
    import tinybench.plugin

    from plurieval.host import PluginHost

    h = PluginHost()  # every installed plugin: CLaS-Bench, the steering methods, its metrics
    h.add_plugin(tinybench.plugin, name="tinybench", distribution="plurieval-tinybench", version="0.1.0")
    return h


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    from plurieval.models.testing import tiny_model

    folder = tmp_path_factory.mktemp("tiny-model")
    lm = tiny_model("llama", seed=2)
    lm.hf.save_pretrained(folder)
    lm.tokenizer.save_pretrained(folder)
    return folder


def _run_files(run_dir: Path) -> dict[str, bytes]:
    """What a merged run must reproduce: its records, unit choices and saved interventions."""
    keep = ("results.jsonl", "conditions/", "units/", "artifacts/")
    return {p.relative_to(run_dir).as_posix(): p.read_bytes() for p in sorted(run_dir.rglob("*"))
            if p.is_file() and p.relative_to(run_dir).as_posix().startswith(keep)}


@pytest.fixture(scope="module")
def whole_steering_run(steer_host, tiny_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PLURIEVAL_CACHE_DIR", str(out / "cache"))
        outcome = run_sweep(_steer_config(out / "runs", tiny_folder), steer_host, quiet=True)  # 1 slot: not split
    (record,) = outcome.records
    assert record.status == "complete" and record.parts is None, record.error
    summary = json.loads((record.run_dir / "summary.json").read_text())
    assert 0 < summary["metrics"]["byte-diversity"] < 1 and set(summary["per_language"]) == {"de", "fr"}
    return json.dumps(summary["metrics"]), _run_files(record.run_dir)


def _check_merged(outcome, whole) -> None:
    (record,) = outcome.records
    assert record.status == "complete", record.error
    assert record.parts == {"baseline": "complete", "de": "complete", "fr": "complete"}
    summary = json.loads((record.run_dir / "summary.json").read_text())
    assert json.dumps(summary["metrics"]) == whole[0]  # byte for byte
    files = _run_files(record.run_dir)
    assert sorted(files) == sorted(whole[1])
    assert files == whole[1]  # the same rows in the same order, the same choices and interventions
    assert not (record.run_dir.parent / ".plurieval-parts").exists()  # the parts are merged and gone
    row = json.loads((outcome.directory / "sweep.json").read_text())["runs"][0]
    assert row["parts"] == record.parts and row["worker"]["pid"] != os.getpid()


@pytest.fixture(scope="module")
def pool(steer_host):
    """A local pool of 2 processes, shared by the module's pool tests (they find it warm)."""
    from plurieval.sweep.executors import LocalExecutor

    executor = LocalExecutor(workers=2, host=steer_host, max_retries=2)
    yield executor
    executor.close()


def test_a_steering_run_split_into_units_on_a_local_pool_merges_into_the_same_run(
        pool, steer_host, tiny_folder, whole_steering_run, tmp_path):
    outcome = run_sweep(_steer_config(tmp_path / "runs", tiny_folder, workers=2), steer_host, quiet=True,
                        executor=pool)
    _check_merged(outcome, whole_steering_run)


def test_ray_workers_that_share_nothing_split_a_steering_run_into_the_same_run(
        ray_cluster, steer_host, tiny_folder, whole_steering_run, tmp_path, worker_own_cache):
    # files: copy + cache: private, as on nodes that share nothing with the driver: every part's
    # files and then the merged run's travel back to the driver, each worker uses its own cache
    outcome = run_sweep(_steer_config(tmp_path / "runs", tiny_folder, kind="ray", files="copy", cache="private"),
                        steer_host, quiet=True, executor=RayExecutor(resources=Resources(cpus=1)))
    _check_merged(outcome, whole_steering_run)  # records, choices and interventions brought back whole
    (record,) = outcome.records
    assert (record.worker["files"], record.worker["cache"]) == ("copy", "private")
    manifest = json.loads((record.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["run_id"] == record.run_id
    with sqlite3.connect(worker_own_cache / "cache.sqlite") as db:  # the workers' own cache, intact
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT COUNT(*) FROM entries WHERE kind = 'generation'").fetchone()[0] > 0


def test_a_local_pool_starts_again_the_tasks_of_a_killed_worker(pool, tmp_path):
    """Killing a pool process (by its pid, while its task runs) breaks the pool: the tasks that
    were under way run again in a fresh pool and each result comes back once. (That a run
    started again resumes from its results file, nothing lost and nothing twice, is the Ray
    kill test above: the same worker code, ``run_task``.)"""
    from plurieval.sweep.executors import Task

    tasks = [Task(f"t{i}", {"marker": str(tmp_path / f"t{i}"), "value": i, "victim": i == 0},
                  fn="poolhelpers:wait_to_be_killed") for i in range(2)]
    killed: list[int] = []

    def on_event(key, event):
        if key == "t0" and event["attempt"] == 1 and not killed:
            killed.append(event["pid"])
            os.kill(event["pid"], signal.SIGKILL)

    outcomes = {o.key: o for o in pool.run(tasks, on_event)}
    assert killed and all(o.ok for o in outcomes.values()), outcomes
    assert [outcomes[k].value["value"] for k in ("t0", "t1")] == [0, 2]  # each result, once
    victim = outcomes["t0"]
    assert victim.attempts == 2 and victim.value["pid"] != killed[0]
    assert (tmp_path / "t0").read_text().split()[0] == str(killed[0])
