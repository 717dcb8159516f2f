"""Fuzzed leaderboard entries: random bytes, one field of a valid entry changed, or a row's
reference, example_id or grouping field changed and everything else re-forged to agree (scores
re-scored honestly, summary recomputed, hash fixed). Validation must never raise, and must
never accept a forgery: a change to anything the board's numbers rest on is refused."""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
from pathlib import Path

import pytest
from fuzzstats import count
from hypothesis import given
from hypothesis import strategies as st

from plurieval.hashing import file_hash

SCALARS = (st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=10))
VALUES = st.recursive(SCALARS, lambda k: st.lists(k, max_size=2) | st.dictionaries(st.text(max_size=5), k, max_size=2),
                      max_leaves=5)

# What the board's numbers rest on: a change here that validates is an accepted forgery.
PROTECTED_PREFIXES = ("schema_version", "benchmark", "spec_version", "method", "model", "bootstrap", "metrics",
                      "per_language", "results", "manifest.config", "manifest.config_hash", "manifest.status",
                      "manifest.benchmark.name", "manifest.benchmark.spec_version", "manifest.model.id",
                      "manifest.model.revision", "manifest.model.weights_hash", "manifest.components.method.name",
                      "manifest.components.method.package", "manifest.components.method.config",
                      "manifest.components.benchmark.name", "manifest.components.model.name")
PROTECTED_DATASET_FIELDS = ("id", "split", "revision", "content_hash", "num_examples")


def _protected(path: tuple) -> bool:
    dotted = ".".join(str(p) for p in path)
    if len(path) >= 3 and path[:2] == ("manifest", "config") and path[2] in ("output_dir", "tracking", "cache"):
        return False  # where and how a run was reported, never what it computed (not in config_hash)
    if len(path) >= 3 and path[:2] == ("manifest", "datasets"):
        return len(path) == 3 or path[3] in PROTECTED_DATASET_FIELDS
    return any(dotted == p or dotted.startswith(p + ".") for p in PROTECTED_PREFIXES)


def _leaves(node, prefix=()):
    if isinstance(node, dict) and node:
        for k, v in node.items():
            yield from _leaves(v, (*prefix, k))
    elif isinstance(node, list) and node:
        for i, v in enumerate(node):
            yield from _leaves(v, (*prefix, i))
    yield prefix


@pytest.fixture(scope="module")
def fuzz_board(tmp_path_factory):
    import toybench
    from lbhelpers import make_board, make_run

    from plurieval.host import PluginHost
    from plurieval.leaderboard.submit import build_entry
    from plurieval.leaderboard.validate import validate_entry

    host = PluginHost(autoload=False)
    host.add_plugin(toybench, name="toybench", distribution="toybench-tests", version="0.0.1")
    root = tmp_path_factory.mktemp("fuzzboard")
    run_dir = make_run(host, root / "runs", 0.7, limit=6)
    board = make_board(root)
    entry = build_entry(run_dir, host, submitter="Ada", board_dir=board)
    assert validate_entry(entry, host).ok
    data = json.loads(entry.read_text())
    rows = [json.loads(line) for line in (entry.parent / data["results"]["file"]).read_text().splitlines()]
    return host, board, data, rows, sorted(set(_leaves(data)), key=str)


def _validate_copy(host, board, data, rows):
    """Validate ``data`` as an entry of a fresh copy of the board, its rows in the results file
    the entry names (when that is a file name one can write)."""
    from plurieval.leaderboard.schema import check_safe_name
    from plurieval.leaderboard.validate import validate_entry

    with tempfile.TemporaryDirectory() as tmp:
        copy_board = Path(tmp) / "toybench"
        (copy_board / "entries").mkdir(parents=True)
        shutil.copy(board / "board.yaml", copy_board / "board.yaml")
        name = data.get("results", {}).get("file") if isinstance(data, dict) and isinstance(data.get("results"),
                                                                                              dict) else None
        try:
            check_safe_name(name)
            (copy_board / "entries" / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
        except (ValueError, TypeError, AttributeError, OSError):
            pass  # an unwritable name: the validator must refuse the entry by itself
        entry = copy_board / "entries" / "e.json"
        entry.write_text(data if isinstance(data, str) else json.dumps(data))
        return validate_entry(entry, host)


def _normalized(data):
    from plurieval.config import RunConfig
    from plurieval.leaderboard.schema import Entry

    dumped = Entry.model_validate(data).model_dump(mode="json")
    dumped["manifest"]["config"] = RunConfig.model_validate(dumped["manifest"]["config"]).model_dump(mode="json")
    return json.dumps(dumped, sort_keys=True)


def _set(node, path, value):
    for p in path[:-1]:
        node = node[p]
    if value is _DELETE:
        if isinstance(node, dict):
            del node[path[-1]]
        else:
            node.pop(path[-1])
    else:
        node[path[-1]] = value


_DELETE = object()


@given(data=st.data())
def test_one_changed_field_is_refused_or_harmless(fuzz_board, data):
    host, board, entry, rows, leaves = fuzz_board
    path = data.draw(st.sampled_from([p for p in leaves if p]))
    value = data.draw(VALUES | st.just(_DELETE))
    mutated = copy.deepcopy(entry)
    try:
        before = mutated
        for p in path:
            before = before[p]
    except (KeyError, IndexError, TypeError):
        return
    if value is not _DELETE and json.dumps(value, sort_keys=True) == json.dumps(before, sort_keys=True):
        return
    _set(mutated, path, value)
    report = _validate_copy(host, board, mutated, rows)  # must not raise
    # Accepted and protected is a forgery, unless the change is no change once read (a deleted
    # field that defaults to the same value, 40 written as 40.0).
    forged = report.ok and _protected(path) and _normalized(mutated) != _normalized(entry)
    count("leaderboard entries: one field changed", forgeries_accepted=int(forged), refused=int(not report.ok))
    assert not forged, (path, value)


@given(data=st.data())
def test_a_reforged_row_is_refused(fuzz_board, data):
    from plurieval.leaderboard.schema import load_board
    from plurieval.leaderboard.scoring import build_metric, recompute

    host, board, entry, rows, _ = fuzz_board
    rows = copy.deepcopy(rows)
    i = data.draw(st.integers(0, len(rows) - 1))
    field = data.draw(st.sampled_from(["reference", "example_id", "language"]))
    if field == "reference":
        new = data.draw(st.sampled_from(["noun", "verb", "adjective"]) | VALUES)
        old, rows[i]["reference"] = rows[i]["reference"], new
    elif field == "example_id":
        new = data.draw(st.sampled_from([r["example_id"] for r in rows] + ["en-999", "de-1", "x"]) | st.text(max_size=6))
        old, rows[i]["example_id"] = rows[i]["example_id"], new
    else:
        new = data.draw(st.sampled_from(["en", "de", "fr"]) | SCALARS)
        old, rows[i]["metadata"]["language"] = rows[i]["metadata"]["language"], new
    if json.dumps(old, sort_keys=True) == json.dumps(new, sort_keys=True):
        return
    spec = load_board(board)
    try:  # re-forge: honest scores for the changed row, recomputed summary, fixed hash
        for name in spec.metric_names:
            _, metric = build_metric(host, spec, name)
            rows[i]["scores"][name] = metric.score_examples([rows[i]["prediction"]], [rows[i]["reference"]])[0]
        again = recompute(rows, spec, host)
    except Exception:  # the forger's own tools choke on the value: nothing consistent to submit
        count("leaderboard entries: re-forged row", unforgeable=1)
        return
    forged_entry = copy.deepcopy(entry)
    forged_entry["metrics"] = {k: v.model_dump() for k, v in again.metrics.items()}
    forged_entry["per_language"] = again.per_language
    with tempfile.TemporaryDirectory() as tmp:
        tmp_results = Path(tmp) / "r.jsonl"
        tmp_results.write_text("".join(json.dumps(r) + "\n" for r in rows))
        forged_entry["results"]["sha256"] = file_hash(tmp_results)
    report = _validate_copy(host, board, forged_entry, rows)
    count("leaderboard entries: re-forged row", forgeries_accepted=int(report.ok), refused=int(not report.ok))
    assert not report.ok, (field, old, new)


@given(blob=st.binary(max_size=300) | st.text(max_size=300).map(lambda t: t.encode()))
def test_random_bytes_as_an_entry(fuzz_board, blob):
    host, board, entry, rows, _ = fuzz_board
    report = _validate_copy(host, board, blob.decode("latin-1"), rows)
    count("leaderboard entries: random bytes", forgeries_accepted=int(report.ok))
    assert not report.ok and report.problems
