"""A resumed run's time: the attempts read back from an unfinished run's manifest, which is
read as untrusted (a damaged or hostile entry is left out, never counted)."""

import json
import logging
import os
import time

from plurieval.runner import earlier_attempts

STAMP = "%Y-%m-%dT%H:%M:%S%z"


def _at(seconds_ago: float) -> str:
    return time.strftime(STAMP, time.localtime(time.time() - seconds_ago))


def _write(run_dir, manifest, results_age: float | None = None):
    run_dir.mkdir(exist_ok=True)
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    os.utime(run_dir / "manifest.json", (time.time() - 500, time.time() - 500))
    if results_age is not None:
        (run_dir / "results.jsonl").write_text("{}\n")
        os.utime(run_dir / "results.jsonl", (time.time() - results_age, time.time() - results_age))


def test_a_killed_attempt_counts_up_to_its_last_result(tmp_path):
    # started 600 s ago, last result written 100 s ago, killed: it worked for ~500 s
    _write(tmp_path, {"created_at": _at(900), "attempts": [
        {"started_at": _at(900), "seconds": 120.0, "status": "interrupted", "results_at_start": 0},
        {"started_at": _at(600), "seconds": 3.0, "status": "running", "results_at_start": 7}]}, results_age=100)
    attempts, created = earlier_attempts(tmp_path)
    assert created is not None
    assert [a["status"] for a in attempts] == ["interrupted", "killed"]
    assert attempts[0]["seconds"] == 120.0
    assert abs(attempts[1]["seconds"] - 500) <= 2 and attempts[1]["results_at_start"] == 7


def test_a_manifest_from_before_attempts_counts_as_one(tmp_path):
    # created 300 s ago, status running, manifest last written 500 s ago... and results 60 s
    # ago: the last write is the results file → 240 s
    _write(tmp_path, {"created_at": _at(300), "status": "running"}, results_age=60)
    attempts, _ = earlier_attempts(tmp_path)
    assert len(attempts) == 1 and attempts[0]["status"] == "killed"
    assert abs(attempts[0]["seconds"] - 240) <= 2


def test_hostile_attempts_are_left_out_with_a_warning(tmp_path, caplog):
    _write(tmp_path, {"created_at": "yesterday", "attempts": [
        {"started_at": _at(100), "seconds": float("nan"), "status": "failed"},   # not finite
        {"started_at": _at(100), "seconds": 1e12, "status": "failed"},           # longer than possible
        {"started_at": _at(100), "seconds": -5, "status": "failed"},             # negative
        {"started_at": "not a time", "seconds": 1.0, "status": "failed"},        # no valid start
        "an attempt",                                                            # not an object
        {"started_at": _at(100), "seconds": 40.5, "status": "failed", "results_at_start": -3},
        {"started_at": _at(50), "seconds": True, "status": "complete"},          # a bool is not seconds
    ]}, results_age=10)
    with caplog.at_level(logging.WARNING, logger="plurieval"):
        attempts, created = earlier_attempts(tmp_path)
    assert created is None  # "yesterday" is no timestamp
    assert attempts[0] == {"started_at": attempts[0]["started_at"], "seconds": 40.5, "status": "failed",
                           "results_at_start": 0}
    # the bool was no number: the attempt is counted up to the last write (≈ 40 s), not as 1 s
    assert len(attempts) == 2 and abs(attempts[1]["seconds"] - 40) <= 2
    assert len([r for r in caplog.records if "attempts[" in r.getMessage()]) == 5


def test_an_unreadable_manifest_counts_nothing(tmp_path, caplog):
    tmp_path.joinpath("manifest.json").write_text("{broken")
    with caplog.at_level(logging.WARNING, logger="plurieval"):
        assert earlier_attempts(tmp_path) == ([], None)
    assert "cannot be read" in caplog.text and "duration_s" in caplog.text
