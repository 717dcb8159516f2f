"""The shipped labelled validation set and the judges' agreement on its held-out part.

These tests read the real labelled files (plugins/plurieval_resources/data/judge_validation/)
and run the real offline judges on them (e5-small, py3langid, the substring tables)."""

import json
from collections import Counter

import pytest

from plurieval_resources.judges.catalogue import JUDGES, get_judge
from plurieval_resources.judges.collect import split_rows
from plurieval_resources.judges.dataset import DATA_DIR, SPLIT_SEED, load
from plurieval_resources.judges.validate import validate


def test_the_set_is_big_enough_fully_labelled_and_covers_methods_and_languages():
    clas = load("clasbench", "all", labelled=False)
    poly = load("polyrefuse", "all", labelled=False)
    assert len(clas) >= 300 and len(poly) >= 150
    assert all(r.labels is not None for r in clas + poly)
    methods = Counter(r.method for r in clas)
    assert {"diffmean", "prompting", "pca", "unsteered"} <= set(methods)
    assert {r.target for r in clas} >= {"ar", "de", "es", "fr", "hi", "it", "ja", "ru", "zh"}
    assert {r.condition for r in poly} >= {"baseline", "ablation", "harmless", "induce"}
    assert {r.kind for r in poly} == {"harmful", "harmless"}
    # both labels take both values on the held-out part, so kappa is defined
    held = load("clasbench", "heldout")
    assert {r.labels.relevance for r in held} == {0, 1, 2} and {r.labels.fluent for r in held} == {True, False}
    assert {r.labels.refused for r in load("polyrefuse", "heldout")} == {True, False}


def test_the_shipped_split_is_the_documented_seeded_stratified_one():
    for task in ("clasbench", "polyrefuse"):
        rows = load(task, "all", labelled=False)
        again = split_rows(rows, seed=SPLIT_SEED)
        assert {r.id: r.split for r in again} == {r.id: r.split for r in rows}
        held = sum(r.split == "heldout" for r in rows)
        assert abs(held - len(rows) / 2) <= len({(r.method, r.target) if task == "clasbench" else
                                                  (r.condition, r.language) for r in rows})


def test_polyrefuse_prompts_are_referenced_not_copied():
    text = (DATA_DIR / "polyrefuse.jsonl").read_text(encoding="utf-8")
    for line in text.splitlines():
        row = json.loads(line)
        assert set(row["prompt_ref"]) == {"dataset", "file", "index"}
        assert "prompt" not in row and "instruction" not in json.dumps(row)


def test_default_relevance_judge_meets_the_held_out_targets(host):
    # Acceptance (issue 19): mean J within 10 points of the labels' and exact agreement >= 0.7.
    rep = validate(JUDGES["relevance"], host, resamples=200)
    assert abs(rep["bias"]["value"]) <= 10, rep["bias"]
    assert rep["exact_agreement"]["value"] >= 0.7, rep["exact_agreement"]
    old = validate(JUDGES["relevance-proxy-v1"], host, resamples=200, by_group=False)
    assert rep["exact_agreement"]["value"] > old["exact_agreement"]["value"]
    assert abs(rep["bias"]["value"]) < abs(old["bias"]["value"])


def test_fluency_and_refusal_defaults_beat_their_spec_1_versions(host):
    new = validate(JUDGES["language_control"], host, resamples=200, by_group=False)
    old = validate(JUDGES["lid-py3langid"], host, resamples=200, by_group=False)
    assert new["kappa"]["value"] > old["kappa"]["value"]
    assert abs(new["bias"]["value"]) < abs(old["bias"]["value"])
    default = validate(get_judge("refusal_substring"), host, resamples=200)
    for name in ("refusal-substring-v1", "refusal-substring-own-language", "refusal-score"):
        other = validate(get_judge(name), host, resamples=200, by_group=False)
        assert default["exact_agreement"]["value"] >= other["exact_agreement"]["value"], name


def test_recorded_model_judge_verdicts_cover_the_set_and_validate_offline(host):
    folder = DATA_DIR / "verdicts"
    for name in ("relevance-smollm2", "refusal-smollm2"):
        path = folder / f"{name}.jsonl"
        rep = validate(JUDGES[name], host, verdicts=path, resamples=200, by_group=False)
        assert rep["n"] > 0 and rep["verdicts_from"] == str(path)
        lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
        assert all("reply" in x for x in lines)          # the model's raw answer is kept, not only the digit


def test_validate_command_prints_and_emits_json(host):
    from typer.testing import CliRunner

    from plurieval_resources.judges.commands import app
    runner = CliRunner()
    result = runner.invoke(app, ["validate", "refusal-score", "--json", "--resamples", "200"])
    assert result.exit_code == 0, result.output
    rep = json.loads(result.output)
    assert rep["task"] == "refusal" and rep["n"] == len(load("polyrefuse", "heldout"))
    assert set(rep["per_group"]) <= {"en", "de", "fr", "es", "zh", "ja", "it", "ru"}
    result = runner.invoke(app, ["validate", "refusal-score", "--set", "threshold=1.5", "--resamples", "200"])
    assert result.exit_code == 0 and "Cohen's κ" in result.output and "confusion matrix" in result.output
    result = runner.invoke(app, ["validate", "relevnce"])
    assert result.exit_code != 0
    assert "did you mean" in str(result.exception).lower() or "did you mean" in result.output.lower()


@pytest.mark.integration
def test_recorded_smollm2_verdicts_are_what_the_model_says(host):
    # Re-ask the default model on a few rows: the shipped verdicts must be reproducible.
    from plurieval_resources.judges.validate import read_verdicts, run_judge

    rows = load("clasbench", "heldout")[:6]
    judge = JUDGES["relevance-smollm2"]
    now, replies = run_judge(judge, rows, host)
    assert now == read_verdicts(DATA_DIR / "verdicts" / "relevance-smollm2.jsonl", judge, rows)


def test_shipped_defaults_are_what_calibration_chooses(host):
    # The defaults were set from `plurieval judge calibrate` (calibration part only); if the set
    # or the search changes, this says the defaults must follow.
    from plurieval.api import DegenerateConfig
    from plurieval_clasbench.config import RelevanceConfig
    from plurieval_resources.judges.calibrate import calibrate

    result = calibrate(host)
    chosen = result["chosen"]
    defaults = DegenerateConfig()
    assert {k: getattr(defaults, k) for k in chosen["detector"]} == chosen["detector"]
    rel = RelevanceConfig()
    assert (rel.low, rel.high) == (chosen["relevance"]["low"], chosen["relevance"]["high"])
