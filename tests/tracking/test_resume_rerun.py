"""Resume after SIGKILL and ``plurieval rerun``, through the real CLI in subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from conftest import plurieval_cmd, run_cli

N = 30
ARGS = ["run", "tiny-echo", "--model", "tiny-test", "--batch-size", "2", "--set", f"n={N}",
        "--set", "delay_s=0.15", "--set", "tracking.enabled=false", "--no-cache"]


def _rows(run_dir):
    return [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]


def _only_run_dir(output):
    dirs = [p for p in output.iterdir() if (p / "manifest.json").exists()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def test_sigkill_mid_run_then_resume_equals_uninterrupted_run(cli_env, tmp_path):
    killed_out, clean_out = tmp_path / "killed", tmp_path / "clean"
    proc = subprocess.Popen(plurieval_cmd(*ARGS, "--output", str(killed_out)), env=cli_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        results = None
        while time.time() < deadline:
            found = list(killed_out.glob("*/results.jsonl")) if killed_out.exists() else []
            if found and len(found[0].read_text().splitlines()) >= 6:
                results = found[0]
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        assert results is not None, "the run never got going"
        os.kill(proc.pid, signal.SIGKILL)  # mid-generation: no handler, no cleanup runs
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    run_dir = results.parent
    partial = len(_rows(run_dir))
    assert 6 <= partial < N, partial
    assert not (run_dir / "summary.json").exists()
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "running"

    resumed = run_cli(cli_env, *ARGS, "--output", str(killed_out))
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming run" in resumed.stderr and "(resumed)" in resumed.stderr
    clean = run_cli(cli_env, *ARGS, "--output", str(clean_out))
    assert clean.returncode == 0, clean.stderr

    clean_dir = _only_run_dir(clean_out)
    assert clean_dir.name == run_dir.name  # the run id comes from the config
    rows, clean_rows = _rows(run_dir), _rows(clean_dir)
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)) == N  # nothing duplicated, nothing lost
    assert sorted(keys) == sorted(r["key"] for r in clean_rows)
    by_key = {r["key"]: r for r in clean_rows}
    assert all(r["prediction"] == by_key[r["key"]]["prediction"] and r["scores"] == by_key[r["key"]]["scores"]
               for r in rows)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["metrics"] == json.loads((clean_dir / "summary.json").read_text())["metrics"]
    assert summary["num_results"] == N
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["resumed"] is True
    # duration_s counts both processes: the killed one up to its last result (≥ 6 rows at
    # 0.15 s each), then the one that finished the run
    killed, finished = manifest["attempts"]
    assert killed["status"] == "killed" and killed["seconds"] >= 6 * 0.15
    assert finished["status"] == "complete" and finished["results_at_start"] == partial
    assert summary["duration_s"] == round(killed["seconds"] + finished["seconds"], 3)
    assert summary["duration_s"] > finished["seconds"]


def test_rerun_reports_identical_then_each_differing_metric(cli_env, tmp_path):
    out = tmp_path / "runs"
    first = run_cli(cli_env, "run", "tiny-echo", "--model", "tiny-test", "--set", "n=6", "--set", "alpha=4",
                    "--set", "sweep=[1]", "--set", "tracking.enabled=false", "--output", str(out))
    assert first.returncode == 0, first.stderr
    run_dir = _only_run_dir(out)
    manifest_path = run_dir / "manifest.json"

    same = run_cli(cli_env, "rerun", str(manifest_path), "--output", str(tmp_path / "again"))
    assert same.returncode == 0, same.stdout + same.stderr
    assert same.stdout.strip().splitlines()[-1] == "identical"
    again = _only_run_dir(tmp_path / "again")
    assert json.loads((again / "manifest.json").read_text())["config"]["cache"] is False  # bypassed the cache
    assert "cache:" not in same.stderr

    # a manifest whose recorded numbers no longer match what the config produces
    manifest = json.loads(manifest_path.read_text())
    true_value = manifest["metrics"]["byte-diversity"]
    manifest["metrics"]["byte-diversity"] = true_value + 0.125
    manifest["metrics"]["resid_norm/layer1"] = 99.0
    manifest_path.write_text(json.dumps(manifest))
    diff = run_cli(cli_env, "rerun", str(manifest_path), "--output", str(tmp_path / "third"))
    assert diff.returncode == 1, diff.stdout + diff.stderr
    lines = [line for line in diff.stdout.splitlines() if line.startswith("differs:")]
    assert len(lines) == 2 and "identical" not in diff.stdout
    assert f"differs: byte-diversity: original={true_value + 0.125!r} rerun={true_value!r}" in lines
    assert any(line.startswith("differs: resid_norm/layer1: original=99.0 rerun=") for line in lines)


def test_compare_metrics_rules():
    from plurieval.rerun import compare_metrics

    nan = float("nan")
    assert compare_metrics({"a": 1.0, "b": nan, "c": {"value": 0.5, "ci": [0, 1]}},
                           {"a": 1.0, "b": nan, "c": {"value": 0.5, "ci": [0.1, 1]}}) == []
    assert compare_metrics({"a": 1.0, "b": 2.0}, {"a": 1.0 + 1e-12, "c": 3.0}) == [
        ("a", 1.0, 1.0 + 1e-12), ("b", 2.0, "(absent)"), ("c", "(absent)", 3.0)]
    assert compare_metrics({"a": 1.0}, {"a": 1.0 + 1e-12}, tolerance=1e-9) == []
