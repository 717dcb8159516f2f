"""The validation-set machinery: rows, the seeded stratified split, label merging."""

import json

import pytest

from plurieval.api import DataError
from plurieval_resources.judges.dataset import ClasRow, assign_splits, read_rows, write_rows
from plurieval_resources.judges.labelling import apply_labels


def _row(i, method="diffmean", target="de", split="calibration"):
    return ClasRow(id=f"clas-{i:04d}", split=split, output=f"output {i}", method=method, target=target,
                   source_language="en", question=f"question {i}?")


def test_split_is_seeded_stratified_and_depends_only_on_the_keys():
    keys = [f"k{i}" for i in range(40)]
    strata = ["a"] * 10 + ["b"] * 21 + ["c"] * 9
    one = assign_splits(keys, strata, seed=19)
    assert one == assign_splits(list(reversed(keys)), list(reversed(strata)), seed=19)   # order does not matter
    assert one != assign_splits(keys, strata, seed=20)
    for s, n in (("a", 10), ("b", 21), ("c", 9)):
        held = sum(one[k] == "heldout" for k, t in zip(keys, strata, strict=True) if t == s)
        assert held == int(0.5 * n + 0.5)                                                 # half of every stratum


def test_bad_rows_are_errors_that_name_the_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    write_rows(path, [_row(1), _row(2)])
    assert [r.id for r in read_rows(path, "clasbench")] == ["clas-0001", "clas-0002"]
    lines = path.read_text().splitlines()
    bad = json.loads(lines[1])
    bad["labels"] = {"relevance": 3, "fluent": True}
    path.write_text(lines[0] + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(DataError, match=r"rows.jsonl:2: field 'labels.relevance'"):
        read_rows(path, "clasbench")
    path.write_text(lines[0] + "\n" + lines[0] + "\n")
    with pytest.raises(DataError, match="2: duplicate id 'clas-0001'"):
        read_rows(path, "clasbench")
    path.write_text("{not json\n")
    with pytest.raises(DataError, match="1: not JSON"):
        read_rows(path, "clasbench")


def test_labels_merge_from_a_tsv_and_bad_labels_write_nothing(tmp_path):
    path = tmp_path / "rows.jsonl"
    write_rows(path, [_row(1), _row(2)])
    tsv = tmp_path / "labels.tsv"
    tsv.write_text("# id relevance fluent\nclas-0001\t2\ty\nclas-0002\t0\tn\n")
    assert apply_labels(path, "clasbench", tsv) == 2
    rows = read_rows(path, "clasbench")
    assert [(r.labels.relevance, r.labels.fluent) for r in rows] == [(2, True), (0, False)]
    before = path.read_text()
    tsv.write_text("clas-0001\t1\ty\nclas-9999\t0\tn\n")
    with pytest.raises(DataError, match="labels.tsv:2: no row with id 'clas-9999'"):
        apply_labels(path, "clasbench", tsv)
    tsv.write_text("clas-0001\t5\ty\n")
    with pytest.raises(DataError, match="labels.tsv:1: expected 'relevance"):
        apply_labels(path, "clasbench", tsv)
    assert path.read_text() == before


def test_collect_keeps_what_a_labeller_may_see_and_no_judge_score(host, tmp_path):
    from pathlib import Path

    from plurieval_resources.judges.collect import collect_clasbench, split_rows

    entry = next((Path(__file__).resolve().parents[2] / "leaderboards/clasbench/entries").glob("diffmean_*.json"))
    rows = split_rows(collect_clasbench([entry], host), seed=19)
    assert len(rows) == 90 and {r.method for r in rows} == {"diffmean"}
    dumped = json.dumps([r.model_dump() for r in rows])
    for leak in ("similarity", "detected", "language_control", "steering_score", '"scores"'):
        assert leak not in dumped
    assert all(r.labels is None and r.question.endswith("?") for r in rows)
    # the same rows collected again get the same ids and the same split
    assert [(r.id, r.split) for r in split_rows(collect_clasbench([entry], host), seed=19)] == \
           [(r.id, r.split) for r in rows]
    # The shipped labelled set was collected the same way from the earlier diffmean entry (since
    # replaced on the board by the core loop's run, whose outputs are not labelled): its ids and
    # splits follow from the rows' origins alone.
    from plurieval_resources.judges.collect import _stable_id

    shipped = [r for r in read_rows(Path(__file__).resolve().parents[2] /
                                    "plugins/plurieval_resources/data/judge_validation/clasbench.jsonl", "clasbench")
               if r.method == "diffmean" and r.origin["run"].startswith("clasbench_diffmean_")]
    assert len(shipped) >= 30
    assert all(r.id == _stable_id("clas", r.origin["run"], r.origin["example_id"]) for r in shipped)
    again = split_rows([r.model_copy(update={"split": "calibration", "labels": None}) for r in shipped], seed=19)
    assert [(r.id, r.split) for r in again] == sorted((r.id, r.split) for r in shipped)


def test_judge_list_command(host):
    from typer.testing import CliRunner

    from plurieval_resources.judges.commands import app
    result = CliRunner().invoke(app, ["list", "--json"])
    assert result.exit_code == 0, result.output
    judges = {j["name"]: j for j in json.loads(result.output)}
    assert judges["relevance"]["default"] and judges["refusal_substring"]["default"]
    assert judges["relevance-gemma3"]["opt_in"] and judges["relevance-smollm2"]["needs_model"]
