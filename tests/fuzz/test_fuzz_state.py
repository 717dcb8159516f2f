"""Fault injection into the state a run keeps: results.jsonl and the cache. Faults are torn
writes, flipped bytes, garbage lines, duplicated and deleted lines; after any mix of them,
reopening must not raise, must keep every record whose line survived intact (records lost: 0)
and must never serve a damaged value."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from fuzzstats import count
from hypothesis import given
from hypothesis import strategies as st

from plurieval.results import ResultsFile

N_RECORDS = 12

FAULTS = st.lists(st.one_of(
    st.tuples(st.just("truncate"), st.integers(0, 10_000)),
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(1, 255)),
    st.tuples(st.just("garbage"), st.integers(0, N_RECORDS), st.binary(min_size=1, max_size=40)),
    st.tuples(st.just("duplicate"), st.integers(0, N_RECORDS - 1)),
    st.tuples(st.just("delete"), st.integers(0, N_RECORDS - 1)),
), min_size=1, max_size=4)


def _records():
    return [(f"k{i:02d}", {"prediction": f"answer {i} ü", "scores": {"m": i / 7, "ok": i % 2 == 0},
                          "metadata": {"language": "de" if i % 2 else "en"}}) for i in range(N_RECORDS)]


def _inject(data: bytes, faults) -> bytes:
    for fault in faults:
        kind = fault[0]
        lines = data.split(b"\n")
        if kind == "truncate":
            data = data[: fault[1] % (len(data) + 1)]
        elif kind == "flip" and data:
            i = fault[1] % len(data)
            data = data[:i] + bytes([data[i] ^ fault[2]]) + data[i + 1:]
        elif kind == "garbage":
            lines.insert(min(fault[1], len(lines)), fault[2].replace(b"\n", b" "))
            data = b"\n".join(lines)
        elif kind == "duplicate" and fault[1] < len(lines) - 1:
            lines.insert(fault[1], lines[fault[1]])
            data = b"\n".join(lines)
        elif kind == "delete" and fault[1] < len(lines) - 1:
            del lines[fault[1]]
            data = b"\n".join(lines)
    return data


@given(faults=FAULTS)
def test_results_file_keeps_every_intact_record_after_any_faults(faults):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "results.jsonl"
        results = ResultsFile(path)
        written = {key: results.record(key, row) for key, row in _records()}
        results.close()
        original = path.read_bytes()
        lines = {line.split(b'"key": "')[1][:3].decode(): line for line in original.split(b"\n") if line}
        damaged = _inject(original, faults)
        path.write_bytes(damaged)
        segments = damaged.split(b"\n")
        complete = segments[:-1]  # the part after the last newline is an unterminated (torn) line
        intact = {key for key, line in lines.items() if line in complete}

        reopened = ResultsFile(path)  # must not raise
        lost = [key for key in intact if reopened.get(key) != written[key]]
        wrong = [key for key in written if reopened.done(key) and reopened.get(key) != written[key]]
        assert not lost, (lost, faults)
        assert not wrong, (wrong, faults)  # a damaged record is never read back as if sound
        reopened.record("after", {"prediction": "appended after healing"})
        reopened.close()
        again = ResultsFile(path)
        assert not again.dropped and again.done("after")  # the file was healed, appends are sound
        again.close()
        count("results.jsonl faults", faults=len(faults), records_lost=len(lost), damaged_records_served=len(wrong),
              records_dropped=N_RECORDS - len(intact))


@given(faults=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 10_000), st.integers(1, 255)), min_size=1,
                       max_size=4),
       truncate=st.one_of(st.none(), st.integers(0, 5)))
def test_cache_never_serves_a_damaged_value(faults, truncate):
    import torch

    from plurieval.cache import Cache

    values = [{"text": "hello", "n": 1}, torch.arange(6, dtype=torch.float32), {"a": torch.ones(2), "b": torch.zeros(3)},
              [1, 2, 3], "plain", {"nested": {"x": [0.5]}}]
    with tempfile.TemporaryDirectory() as tmp:
        cache = Cache(Path(tmp))
        for i, value in enumerate(values):
            cache.put("direction", f"key{i}", value)
        blobs = dict(cache.db.execute("SELECT key, value FROM entries").fetchall())
        for row, offset, xor in faults:
            blob = bytearray(cache.db.execute("SELECT value FROM entries WHERE key = ?", (f"key{row}",)).fetchone()[0])
            blob[offset % len(blob)] ^= xor
            cache.db.execute("UPDATE entries SET value = ? WHERE key = ?", (bytes(blob), f"key{row}"))
        if truncate is not None:
            blob = cache.db.execute("SELECT value FROM entries WHERE key = ?", (f"key{truncate}",)).fetchone()[0]
            cache.db.execute("UPDATE entries SET value = ? WHERE key = ?", (blob[: len(blob) // 2], f"key{truncate}"))
        now = dict(cache.db.execute("SELECT key, value FROM entries").fetchall())
        damaged = {k for k in blobs if bytes(now[k]) != bytes(blobs[k])}  # two flips of one byte undo each other
        wrong = 0
        for i, value in enumerate(values):
            got = cache.get("direction", f"key{i}")
            if f"key{i}" in damaged:
                wrong += got is not None
                assert got is None  # dropped and recomputed, never the damaged bytes
            else:
                assert _same(got, value)
        report = cache.verify()
        assert report["corrupt"] == 0  # what was damaged is gone already
        cache.close()
        count("cache faults", faults=len(damaged), damaged_values_served=wrong)


def _same(a, b) -> bool:
    import torch

    if isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and torch.equal(a, b)
    if isinstance(b, dict) and b and all(isinstance(v, torch.Tensor) for v in b.values()):
        return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in b)
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
