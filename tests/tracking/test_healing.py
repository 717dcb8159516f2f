"""State that heals: a torn or edited record in results.jsonl costs that record only; a
corrupted cache entry (or cache file) is dropped and recomputed with a warning; names stored in
the cache are checked before any file is written."""

from __future__ import annotations

import json
import logging
import sqlite3

import pytest
import torch
from conftest import tiny_config

from plurieval.cache import Cache, encode_tensors
from plurieval.results import ResultsFile, record_checksum
from plurieval.runner import execute


def _write_records(path, n=6):
    results = ResultsFile(path)
    for i in range(n):
        results.record(f"k{i}", {"prediction": f"answer {i}", "scores": {"m": i / 10}})
    results.close()
    return path.read_text().splitlines(keepends=True)


def test_every_record_carries_a_checksum_of_its_content(tmp_path):
    lines = _write_records(tmp_path / "results.jsonl", 2)
    row = json.loads(lines[0])
    assert row["checksum"] == record_checksum(row) and row["checksum"].startswith("sha256:")
    reopened = ResultsFile(tmp_path / "results.jsonl")
    assert reopened.get("k0") == {"key": "k0", "prediction": "answer 0", "scores": {"m": 0.0}}  # field stays out
    reopened.close()


@pytest.mark.parametrize("damage", ["torn-middle", "edited", "garbage", "duplicate"])
def test_a_damaged_record_in_the_middle_costs_only_itself(tmp_path, caplog, damage):
    path = tmp_path / "results.jsonl"
    lines = _write_records(path)
    if damage == "torn-middle":  # a torn write followed by later appends (e.g. a copy made mid-write)
        lines[2] = lines[2][: len(lines[2]) // 2] + "\n"
    elif damage == "edited":  # a score changed by hand, checksum left alone
        lines[2] = lines[2].replace('"m": 0.2', '"m": 0.9')
    elif damage == "garbage":
        lines[2] = "\x00\x00\x00 not json\n"
    else:
        lines[4] = lines[1]
    path.write_text("".join(lines))
    with caplog.at_level(logging.WARNING, logger="plurieval"):
        reopened = ResultsFile(path)
    kept = [k for k in (f"k{i}" for i in range(6)) if reopened.done(k)]
    if damage == "duplicate":
        assert kept == ["k0", "k1", "k2", "k3", "k5"]  # k4 is lost only because its line was overwritten
    else:
        assert kept == ["k0", "k1", "k3", "k4", "k5"]  # every sound record around the damaged one
    assert "dropped 1 damaged record" in caplog.text
    assert f"line {5 if damage == 'duplicate' else 3}:" in caplog.text
    # the file is rewritten without the damage, so new appends follow sound lines
    reopened.record("k2-again", {"prediction": "x"})
    reopened.close()
    again = ResultsFile(path)
    assert len(again) == len(kept) + 1 and not again.dropped
    again.close()


def test_a_torn_last_line_is_dropped_quietly(tmp_path, caplog):
    path = tmp_path / "results.jsonl"
    lines = _write_records(path, 3)
    path.write_text("".join(lines) + lines[0][:20])  # SIGKILL mid-append
    with caplog.at_level(logging.WARNING, logger="plurieval"):
        reopened = ResultsFile(path)
    assert len(reopened) == 3 and "damaged" not in caplog.text
    reopened.close()
    assert path.read_text() == "".join(lines)


def test_resume_recomputes_only_the_damaged_records(host, tmp_path, caplog, monkeypatch):
    import tinybench.impl

    config = tiny_config(tmp_path / "runs", n=8)
    clean = execute(config, host)
    results = clean.run_dir / "results.jsonl"
    original = [json.loads(line) for line in results.read_text().splitlines()]
    lines = results.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace(original[1]["prediction"], "EDITED")  # checksum now wrong
    lines[5] = lines[5][:30] + "\n"  # torn
    results.write_text("".join(lines))
    (clean.run_dir / "summary.json").unlink()  # as if the run had been interrupted

    prompts_generated: list[str] = []
    real_make_model = tinybench.impl.make_model

    def counting_model(cfg):
        model = real_make_model(cfg)
        real_generate = model.generate

        def generate(prompts, **kw):
            prompts_generated.extend(prompts)
            return real_generate(prompts, **kw)

        model.generate = generate
        return model

    monkeypatch.setattr(tinybench.impl, "make_model", counting_model)
    with caplog.at_level(logging.WARNING, logger="plurieval"):
        resumed = execute(config.model_copy(update={"cache": False}), host)
    assert resumed.resumed and "dropped 2 damaged record" in caplog.text
    assert sorted(prompts_generated) == ["Prompt 001 bravo", "Prompt 005 bravo"]  # only those two
    healed = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["key"] for r in healed] == [r["key"] for r in original]
    assert [r["prediction"] for r in healed] == [r["prediction"] for r in original]  # recomputed, not EDITED


# --- the cache ------------------------------------------------------------------------------


def _cache_with_entry(tmp_path, value=None):
    cache = Cache(tmp_path / "cache")
    cache.put("direction", "key-1", value if value is not None else {"v": [1, 2, 3]})
    return cache


def test_an_edited_cache_blob_is_dropped_and_recomputed_with_a_warning(tmp_path, caplog):
    cache = _cache_with_entry(tmp_path)
    cache.db.execute("UPDATE entries SET value = ? WHERE key = ?", (b'{"v":[9,9,9]}', "key-1"))
    with caplog.at_level(logging.WARNING, logger="plurieval"):
        assert cache.get("direction", "key-1") is None  # never the edited value
    assert "corrupt" in caplog.text and "key-1"[:5] in caplog.text
    assert cache.db.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == 0  # dropped
    cache.put("direction", "key-1", {"v": [1, 2, 3]})
    assert cache.get("direction", "key-1") == {"v": [1, 2, 3]}


def test_a_crafted_intervention_entry_cannot_write_outside_its_temp_folder(tmp_path, caplog):
    """The probe: stored safetensors names were joined to a temp dir unchecked, so a crafted
    entry wrote files anywhere. The names are checked first; the entry is refused."""
    target = tmp_path / "written-by-the-cache.txt"
    for name in (str(target), "../../../../../../../../" + str(target).lstrip("/"), "a/../../x", "..", "card.json\\x"):
        blob = encode_tensors({name: torch.frombuffer(bytearray(b"pwned"), dtype=torch.uint8),
                               "card.json": torch.frombuffer(bytearray(b"{}"), dtype=torch.uint8)})
        cache = Cache(tmp_path / "cache")
        cache.put_many([("crafted", "direction", "intervention", blob)])  # checksum is right: only the names lie
        with caplog.at_level(logging.WARNING, logger="plurieval"):
            assert cache.get("direction", "crafted") is None
        assert not target.exists(), name
        assert "not a plain file name" in caplog.text
        cache.close()


def test_a_real_intervention_still_round_trips(tmp_path):
    from plurieval.models import AddVector

    cache = Cache(tmp_path / "cache")
    iv = AddVector(torch.ones(4), layers=[1], alpha=2.0)
    cache.put("direction", "iv", iv)
    back = cache.get("direction", "iv")
    assert type(back) is AddVector and back.params() == iv.params()
    assert all(torch.equal(back.tensors()[k], v) for k, v in iv.tensors().items())


def test_a_corrupt_cache_file_is_moved_aside_and_the_run_goes_on(tmp_path, caplog):
    cache = _cache_with_entry(tmp_path)
    cache.close()
    path = tmp_path / "cache" / "cache.sqlite"
    path.write_bytes(b"\x00garbage header" * 64)
    for suffix in ("-wal", "-shm"):
        (tmp_path / "cache" / f"cache.sqlite{suffix}").unlink(missing_ok=True)
    again = Cache(tmp_path / "cache")
    with caplog.at_level(logging.WARNING, logger="plurieval"):
        assert again.get("direction", "key-1") is None
    assert "plurieval cache clear" in caplog.text and "corrupt" in caplog.text
    moved = list((tmp_path / "cache").glob("cache.sqlite.corrupt-*"))
    assert moved and moved[0].read_bytes().startswith(b"\x00garbage")
    again.put("direction", "key-1", {"v": 1})
    assert again.get("direction", "key-1") == {"v": 1}


def test_a_cache_written_before_checksums_still_reads(tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir()
    db = sqlite3.connect(folder / "cache.sqlite")
    db.execute("CREATE TABLE entries (key TEXT PRIMARY KEY, kind TEXT NOT NULL, encoding TEXT NOT NULL, "
               "value BLOB NOT NULL, size INTEGER NOT NULL, created REAL NOT NULL)")
    db.execute("INSERT INTO entries VALUES ('old', 'direction', 'json', ?, 5, 0)", (b'{"a":1}',))
    db.execute("INSERT INTO entries VALUES ('bad', 'direction', 'json', ?, 5, 0)", (b'{"a":',))
    db.commit()
    db.close()
    cache = Cache(folder)
    assert cache.get("direction", "old") == {"a": 1}
    assert cache.get("direction", "bad") is None  # undecodable without a checksum: dropped too


def test_cache_verify_reports_and_repairs(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from plurieval.cli import app

    cache = _cache_with_entry(tmp_path)
    cache.put("generation", "g1", {"text": "hello"})
    cache.db.execute("UPDATE entries SET value = ? WHERE key = ?", (b"tampered", "g1"))
    cache.close()
    monkeypatch.setenv("PLURIEVAL_CACHE_DIR", str(tmp_path / "cache"))
    runner = CliRunner()
    report = runner.invoke(app, ["cache", "verify"])
    assert report.exit_code == 1, report.output
    assert "1 corrupt" in report.output and "1 ok" in report.output and "--repair" in report.output
    repaired = runner.invoke(app, ["cache", "verify", "--repair"])
    assert repaired.exit_code == 0 and "dropped 1" in repaired.output, repaired.output
    clean = runner.invoke(app, ["cache", "verify"])
    assert clean.exit_code == 0 and "0 corrupt" in clean.output
