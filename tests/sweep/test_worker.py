"""What a worker decides for itself (which folder and cache it can use) and what the driver
refuses from it (files outside the run directory, plugins in another version)."""

from __future__ import annotations

import pytest

from plurieval.errors import PluriError
from plurieval.sweep import worker


def test_a_worker_shares_only_what_it_can_see_on_a_local_file_system(tmp_path, monkeypatch):
    probe = worker.write_probe(tmp_path / "cache")
    assert worker.write_probe(tmp_path / "cache") == probe  # a second driver reuses the token
    assert worker.choose_cache("auto", probe)[:2] == ("shared", probe["path"])
    # another machine's folder of the same name holds another token (or nothing)
    elsewhere = {**probe, "token": "0" * 32}
    assert worker.choose_cache("auto", elsewhere)[:2] == ("private", None)
    assert worker.choose_cache("auto", {"path": str(tmp_path / "missing"), "token": "x"})[:2] == ("private", None)
    assert worker.choose_cache("private", probe)[:2] == ("private", None)
    with pytest.raises(PluriError, match="cannot see the shared cache"):
        worker.choose_cache("shared", elsewhere)
    # visible, but over NFS: SQLite's locks are not to be trusted there
    monkeypatch.setattr(worker, "filesystem_type", lambda path: "nfs4")
    mode, folder, why = worker.choose_cache("auto", probe)
    assert (mode, folder) == ("private", None) and "nfs4" in why


def test_filesystem_type_reads_the_mount_table(tmp_path):
    assert worker.filesystem_type(tmp_path) not in (None, "")
    assert worker.filesystem_type("/proc") == "proc"


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd", "a/../../b", "..", "sub\\..\\x"])
def test_files_sent_back_cannot_leave_the_run_directory(tmp_path, name):
    run_dir = tmp_path / "runs" / "r1"
    with pytest.raises(PluriError, match="refused"):
        worker.write_files(run_dir, {"summary.json": b"{}", name: b"x"})
    assert not (tmp_path / "escape.txt").exists() and not (run_dir / "summary.json").exists()


def test_files_sent_back_are_written_whole_with_the_summary_last(tmp_path, monkeypatch):
    order = []
    real_replace = worker.os.replace
    monkeypatch.setattr(worker.os, "replace", lambda a, b: (order.append(str(b)), real_replace(a, b)))
    run_dir = tmp_path / "r"
    worker.write_files(run_dir, {"summary.json": b"{}", "results.jsonl": b"{}\n", "plots/a.png": b"png",
                                 "manifest.json": b"{}"})
    assert [p.rsplit("/", 1)[-1] for p in order[-2:]] == ["results.jsonl", "summary.json"]
    assert (run_dir / "plots" / "a.png").read_bytes() == b"png"
    assert not list(run_dir.rglob("*.part"))


def test_a_worker_loads_the_drivers_plugins_and_refuses_other_versions(tiny_host, monkeypatch):
    recipe = worker.host_recipe(tiny_host)
    assert recipe == [{"name": "tinybench", "ref": "tinybench.plugin", "distribution": "plurieval-tinybench",
                       "version": "0.1.0"}]
    rebuilt = worker.host_from_recipe(recipe)
    assert rebuilt.get("benchmark", "tiny-echo").package == tiny_host.get("benchmark", "tiny-echo").package
    assert {n: (p.distribution, p.version) for n, p in rebuilt.plugins.items()} == \
        {n: (p.distribution, p.version) for n, p in tiny_host.plugins.items()}
    monkeypatch.setattr(worker.metadata, "version", lambda dist: "9.9.9")
    with pytest.raises(PluriError, match="plurieval-tinybench 9.9.9 is installed .* the driver has 0.1.0"):
        worker.host_from_recipe([{**recipe[0], "name": "tinybench-again"}])
    with pytest.raises(PluriError, match="cannot import 'no_such_plugin_module'"):
        worker.host_from_recipe([{"name": "x", "ref": "no_such_plugin_module", "distribution": None,
                                  "version": None}])


def _records(tmp_path, name, rows):
    from plurieval.results import ResultsFile

    f = ResultsFile(tmp_path / name / "results.jsonl")
    for key, value in rows:
        f.record(key, {"prediction": value})
    f.close()
    return (tmp_path / name / "results.jsonl").read_bytes()


def test_the_merge_of_a_split_run_takes_each_parts_rows_once_in_part_order(tmp_path):
    from plurieval.results import ResultsFile
    from plurieval.sweep.split import record_files, seed_run

    first = _records(tmp_path, "a", [("base|1", "x"), ("base|2", "y")])
    second = _records(tmp_path, "b", [("de|1", "z")])
    damaged = _records(tmp_path, "c", [("fr|1", "w"), ("fr|2", "v")]).replace(b'"w"', b'"W"')  # checksum now wrong
    run_dir = tmp_path / "run"
    seeds = [{"results.jsonl": first, "units/de.json": b'{"index": 1}'}, {"results.jsonl": second},
             {"results.jsonl": damaged, "units/fr.json": b'{"ind'}]  # a torn choice is left out
    assert seed_run(run_dir, seeds) == 4
    merged = ResultsFile(run_dir / "results.jsonl")
    assert [r["key"] for r in merged.rows()] == ["base|1", "base|2", "de|1", "fr|2"]  # fr|1 is recomputed
    merged.close()
    assert sorted(record_files(run_dir)) == ["results.jsonl", "units/de.json"]
    assert seed_run(run_dir, seeds) == 0  # a second start adds nothing twice
    (run_dir / "summary.json").write_text("{}")
    assert seed_run(run_dir, [{"results.jsonl": _records(tmp_path, "d", [("new", "n")])}]) == 0  # finished: untouched
    with pytest.raises(PluriError, match="not a record file; refused"):
        seed_run(tmp_path / "other", [{"plots/../../escape.jsonl": first}])
