"""The exported JSON Schema is current and as strict as the pydantic model; board specs check themselves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from plurieval.leaderboard.schema import BoardSpec, ResultsRef, check_safe_name, render_entry_schema

REPO = Path(__file__).resolve().parents[2]


def test_exported_schema_is_up_to_date():
    path = REPO / "leaderboards" / "entry.schema.json"
    assert path.read_text(encoding="utf-8") == render_entry_schema(), (
        "leaderboards/entry.schema.json is stale: run `plurieval leaderboard schema --write`")


def test_schema_forbids_unknown_fields_everywhere():
    schema = json.loads(render_entry_schema())
    assert schema["additionalProperties"] is False
    for name, definition in schema["$defs"].items():
        assert definition.get("additionalProperties") is False, name
    assert set(schema["required"]) >= {"benchmark", "spec_version", "submitter", "method", "model", "manifest",
                                       "bootstrap", "metrics", "results"}


def test_board_spec_checks_its_ranking_metric():
    with pytest.raises(ValidationError, match="ranking_metric 'f1' is not one of the metrics"):
        BoardSpec(benchmark="b", spec_version="1", metrics=["acc"], ranking_metric="f1")
    assert BoardSpec.model_validate({"benchmark": "b", "spec_version": 1, "metrics": ["acc"],
                                     "ranking_metric": "acc"}).spec_version == "1"


@pytest.mark.parametrize("name", ["a.jsonl", "entry_1.results.jsonl", "X-9.json"])
def test_safe_names_pass(name):
    check_safe_name(name)


def test_results_need_exactly_one_source():
    digest = "sha256:" + "0" * 64
    with pytest.raises(ValidationError, match="exactly one of"):
        ResultsRef(sha256=digest, num_rows=0)
    with pytest.raises(ValidationError, match="exactly one of"):
        ResultsRef(file="a.jsonl", rows=[], sha256=digest, num_rows=0)
    with pytest.raises(ValidationError, match="64 lower-case hex"):
        ResultsRef(file="a.jsonl", sha256="md5:abc", num_rows=0)
