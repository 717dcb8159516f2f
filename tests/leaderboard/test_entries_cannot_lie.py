"""Entries that cannot lie: each probe that used to put a forged entry on a board, refused.

A forgery here is made *consistent*: whatever is changed, every per-example score is re-scored
honestly with the registered metrics, every aggregate and interval recomputed, and the hash
fixed, so only checking against the source of truth (the board's pinned data, the manifest)
can tell."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml
from lbhelpers import make_board, make_run

from plurieval.hashing import file_hash
from plurieval.leaderboard.build import build_board
from plurieval.leaderboard.pins import write_digests
from plurieval.leaderboard.schema import load_board
from plurieval.leaderboard.scoring import build_metric, recompute
from plurieval.leaderboard.submit import build_entry
from plurieval.leaderboard.validate import validate_entry


def _rows(entry):
    data = json.loads(entry.read_text())
    return data, entry.parent / data["results"]["file"], [json.loads(line) for line in
                                                          (entry.parent / data["results"]["file"]).read_text().splitlines()]


def forge(entry, host, change_rows=None, change_entry=None):
    """Apply the changes, then make everything else agree with them (scores, summary, hash)."""
    data, results, rows = _rows(entry)
    board = load_board(entry.parent.parent)
    if change_rows:
        rows = change_rows(rows)
    for name in board.metric_names:
        _, metric = build_metric(host, board, name)
        again = metric.score_examples([r["prediction"] for r in rows], [r["reference"] for r in rows])
        for row, value in zip(rows, again, strict=True):
            row["scores"][name] = value
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data["results"]["sha256"] = file_hash(results)
    data["results"]["num_rows"] = len(rows)
    recomputed = recompute(rows, board, host)
    data["metrics"] = {k: v.model_dump() for k, v in recomputed.metrics.items()}
    data["per_language"] = recomputed.per_language
    if change_entry:
        change_entry(data)
    entry.write_text(json.dumps(data, indent=2))
    return data


def test_references_rewritten_to_match_predictions_are_refused(entry, host):
    """The probe: every reference set to its prediction, re-scored honestly, hash fixed: perfect
    scores that used to validate and rank first."""
    def cheat(rows):
        for r in rows:
            r["reference"] = r["prediction"]
        return rows

    data = forge(entry, host, cheat)
    assert data["metrics"]["toy-accuracy"]["value"] == 1.0  # what the forgery claims
    found = validate_entry(entry, host).problems
    assert any("reference differs from the board's data" in p for p in found), found
    assert not any(p.startswith(("metrics.", "results.sha256")) for p in found)  # internally consistent


def test_entry_identity_must_be_its_manifests(entry, host):
    """The probe: another method's name and a made-up model over a real run's manifest."""
    def claim(data):
        data["method"]["name"] = "famous-method"
        data["method"]["config"] = {"skill": 0.99}
        data["model"] = {"id": "gpt-9", "revision": "main", "weights_hash": None}

    forge(entry, host, change_entry=claim)
    found = validate_entry(entry, host).problems
    assert any(p.startswith("method: the entry says 'famous-method' but its manifest ran 'toy-skill'") for p in found)
    assert any(p.startswith("model.id: the entry says 'gpt-9'") for p in found), found


def test_an_edited_manifest_config_is_refused(entry, host):
    def edit(data):
        data["manifest"]["config"]["limit"] = 7

    forge(entry, host, change_entry=edit)
    found = validate_entry(entry, host).problems
    assert any(p.startswith("manifest.config_hash: does not match") for p in found), found


@pytest.mark.parametrize("number", ["Infinity", "-Infinity", "NaN", "1e999"])
def test_non_finite_numbers_are_refused_in_the_entry_and_in_its_rows(entry, host, number):
    text = entry.read_text()
    data = json.loads(text)
    value = json.dumps(data["metrics"]["toy-balanced"]["value"])
    entry.write_text(text.replace(f'"value": {value}', f'"value": {number}', 1))
    found = validate_entry(entry, host).problems
    assert found and all("non-finite" in p or "not a finite" in p or "not a number" in p for p in found), found

    entry.write_text(text)
    _, results, rows = _rows(entry)
    lines = results.read_text().splitlines()
    lines[3] = lines[3].replace('"toy-accuracy": ', f'"toy-accuracy": {number}, "x": ', 1)
    results.write_text("\n".join(lines) + "\n")
    data["results"]["sha256"] = file_hash(results)
    entry.write_text(json.dumps(data))
    found = validate_entry(entry, host).problems
    assert any(":4:" in p and "non-finite numbers are refused" in p for p in found), found


def test_a_run_on_other_data_is_refused_naming_the_data_it_should_have_used(host, runs, board, tmp_path):
    """The probe's shape: a run on a sample (here: other labels for the same example ids) whose
    manifest even names the right split. Submitting it is refused before anything is written;
    an entry made anyway (by hand, or for another board) is refused by validation."""
    from plurieval.errors import PluriError

    run_dir = make_run(host, tmp_path / "other", 0.8, params={"shift": 1})
    before = sorted(p.name for p in (board / "entries").iterdir())
    with pytest.raises(PluriError) as exc:
        build_entry(run_dir, host, submitter="Sam", board_dir=board)
    assert "data: the run read 'toy-words'" in str(exc.value)
    assert sorted(p.name for p in (board / "entries").iterdir()) == before

    other_board = make_board(tmp_path / "elsewhere", data=None)
    path = build_entry(run_dir, host, submitter="Sam", board_dir=other_board)
    shutil.copy(board / "board.yaml", other_board / "board.yaml")  # the board's real spec
    found = validate_entry(path, host).problems
    data_problem = [p for p in found if p.startswith("data: the run read 'toy-words'")]
    assert data_problem, found
    assert "not the board's data: toy-words split 'test' at 1 (40 examples" in data_problem[0]
    assert "run the toybench benchmark with its default size" in data_problem[0]  # the board's `obtain`
    assert any("reference differs from the board's data" in p for p in found)


def test_fewer_rows_than_the_board_requires_and_cherry_picked_rows_are_refused(host, runs, board, tmp_path):
    from plurieval.errors import PluriError

    with pytest.raises(PluriError, match="fewer than the 4 the board requires"):
        build_entry(make_run(host, tmp_path / "small", 0.8, limit=1), host, submitter="S", board_dir=board)

    entry = build_entry(runs["weak"], host, submitter="W", board_dir=board)
    forge(entry, host, lambda rows: [r for r in rows if r["scores"]["toy-accuracy"] == 1.0])  # keep the good ones
    found = validate_entry(entry, host).problems
    assert any("not the first" in p and "not a selection" in p for p in found), found


def test_duplicated_rows_are_refused(entry, host):
    def duplicate(rows):
        rows[1] = dict(rows[0], key=rows[0]["key"] + "-again")
        return rows

    forge(entry, host, duplicate)
    assert any("appears twice" in p for p in validate_entry(entry, host).problems)


def test_a_regrouped_row_is_refused(entry, host):
    """Aggregation groups by metadata.language; a row moved to the other group is caught."""
    def regroup(rows):
        rows[0]["metadata"]["language"] = "de" if rows[0]["metadata"]["language"] == "en" else "en"
        return rows

    forge(entry, host, regroup)
    assert any("metadata.language is" in p for p in validate_entry(entry, host).problems)


def test_digests_check_rows_where_the_data_cannot_be_read(host, runs, tmp_path):
    """Data that cannot be redistributed: the board publishes a digest per expected row; a
    genuine entry validates against them, a forged reference does not."""
    board = make_board(tmp_path, data={**yaml.safe_load((make_board(tmp_path / "src") / "board.yaml").read_text())["data"],
                                       "reference_digests": "reference-digests.json"})
    write_digests(load_board(board), board, host)  # where the data is available, once
    spec = yaml.safe_load((board / "board.yaml").read_text())
    spec["data"]["dataset"] = "toy-words-offline"  # and where validation runs, it is not
    (board / "board.yaml").write_text(yaml.safe_dump(spec))
    entry = build_entry(runs["strong"], host, submitter="Ada", board_dir=board)
    assert validate_entry(entry, host).ok, validate_entry(entry, host).problems

    def cheat(rows):
        rows[2]["reference"] = rows[2]["prediction"]
        return rows

    forge(entry, host, cheat)
    found = validate_entry(entry, host).problems
    assert any("do not match the digest the board publishes" in p for p in found), found

    (board / "reference-digests.json").unlink()
    found = validate_entry(entry, host).problems
    assert any(p.startswith("data: cannot read the board's data here") for p in found), found


def test_a_board_without_data_pins_accepts_no_entry(host, runs, tmp_path):
    board = make_board(tmp_path, data=None)
    entry = build_entry(runs["strong"], host, submitter="Ada", board_dir=board)
    found = validate_entry(entry, host).problems
    assert any("declares no data" in p for p in found), found


def test_a_board_grouping_by_an_unpinned_field_is_refused(tmp_path):
    from plurieval.errors import ConfigError

    board = make_board(tmp_path, aggregation={"kind": "metric", "group_by": "source"})
    with pytest.raises(ConfigError, match="group_by 'source' must be derived from the data"):
        load_board(board)


def test_forged_entries_are_left_off_the_built_board(host, runs, board, entry):
    honest = build_entry(runs["strong2"], host, submitter="Bo", board_dir=board)

    def cheat(rows):
        for r in rows:
            r["reference"] = r["prediction"]
        return rows

    forge(entry, host, cheat)
    built = build_board(board, host, skip_invalid=True)
    assert [r.path for r in built.ranked] == [honest] and [r.path for r in built.invalid] == [entry]
    shutil.rmtree(board / "entries")


def test_submit_refuses_non_finite_rows_and_writes_nothing(host, runs, board, tmp_path):
    from plurieval.errors import PluriError

    run_dir = tmp_path / "run"
    shutil.copytree(runs["weak"], run_dir)
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    row = json.loads(lines[2])
    row["scores"]["toy-accuracy"] = float("nan")
    edited = json.dumps(row)
    (run_dir / "results.jsonl").write_text("\n".join([*lines[:2], edited, *lines[3:]]) + "\n")
    with pytest.raises(PluriError, match="row 3 .* was changed after the run"):
        build_entry(run_dir, host, submitter="Nan", board_dir=board)
    row.pop("checksum")
    lines[2] = json.dumps(row)  # json writes NaN; a results file can hold it, an entry cannot
    (run_dir / "results.jsonl").write_text("\n".join(lines) + "\n")
    before = sorted(p.name for p in (board / "entries").iterdir())
    with pytest.raises(PluriError, match="row 3 .* non-finite number at scores.toy-accuracy"):
        build_entry(run_dir, host, submitter="Nan", board_dir=board)
    assert sorted(p.name for p in (board / "entries").iterdir()) == before  # no partial write
