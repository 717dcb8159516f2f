"""The self-explanation methods end to end on the planted tiny model (loaded as any user's model,
``hf:FOLDER``): each method runs the ``self-explanation`` benchmark with every test, every
model-in-the-loop test records its queries in ``results.jsonl``, and `plurieval score`
recomputes each number from those records with no model anywhere.

The simulator (LAS) and the fluency reference are pointed at the planted model too (they are
pluggable resources; the default, the embedded SmolLM2, is for real runs); the counterfactual
test tags with the real spaCy pipeline."""

from __future__ import annotations

import math

import pytest

from plurieval.api import build_run_config, execute, get_host, read_jsonl
from plurieval.scoring import score_file

RECORDED = ["counterfactual_test", "counterfactual_flip_rate", "cc_shap", "simulatability", "lanham_early_answering",
            "lanham_adding_mistakes", "lanham_paraphrasing", "lanham_filler_tokens", "biasing_feature",
            "counterfactual_validity", "fluency"]
PURE = ["counterfactual_minimality", "chrf"]


@pytest.fixture(scope="module")
def planted_folder(tmp_path_factory, planted):
    model, _ = planted
    folder = tmp_path_factory.mktemp("planted-self")
    model.hf.save_pretrained(folder)
    model.tokenizer.save_pretrained(folder)
    return folder


def metrics(folder):
    lm = {"model": f"hf:{folder}", "chat": False}
    params = {"counterfactual_test": {"positions": 2, "words": 2},
              "counterfactual_flip_rate": {"positions": 2, "words": 2},
              "cc_shap": {"samples": 2, "max_output_tokens": 4},
              "simulatability": {"simulator_params": lm}, "fluency": {"reference_params": lm}}
    return [{"name": n, "params": params.get(n, {})} for n in RECORDED + PURE]


def run(tmp_path, folder, method, limit=2):
    cfg = build_run_config({"benchmark": {"name": "self-explanation", "params": {"source": "sample"}},
                            "model": {"name": f"hf:{folder}", "params": {"dtype": "float32"}},
                            "method": {"name": method, "params": {"max_new_tokens": 6, "chat": False}},
                            "limit": limit, "batch_size": 4, "output_dir": str(tmp_path / "runs"),
                            "tracking": {"enabled": False}, "metrics": metrics(folder)})
    return execute(cfg, get_host())


APPLIES = {  # which recorded tests are defined for which method
    "nle-post-hoc": {"counterfactual_test", "counterfactual_flip_rate", "cc_shap", "simulatability", "fluency"},
    "cot": {"counterfactual_test", "counterfactual_flip_rate", "cc_shap", "simulatability", "fluency",
            "lanham_early_answering", "lanham_adding_mistakes", "lanham_paraphrasing", "lanham_filler_tokens",
            "biasing_feature"},
    "counterfactual-edit": {"counterfactual_test", "counterfactual_flip_rate", "simulatability", "fluency",
                            "counterfactual_validity"},
}


@pytest.mark.parametrize("method", ["nle-post-hoc", "cot", "counterfactual-edit"])
def test_method_runs_records_and_rescores_without_the_model(tmp_path, planted_folder, method):
    out = run(tmp_path, planted_folder, method)
    summary = out.summary
    rows = read_jsonl(out.run_dir / "results.jsonl")
    assert len(rows) == 2
    for row in rows:
        pred = row["prediction"]
        assert pred["label"] in ("entailment", "neutral", "contradiction")
        assert pred["extra"]["features"], "the item's words travel with the prediction"
        recorded = set(pred["queries"])
        assert set(RECORDED) <= recorded
        for name in RECORDED:  # a test that does not apply records why
            rec = pred["queries"][name]
            assert ("not_applicable" in rec) == (name not in APPLIES[method]) or name == "cc_shap", (name, rec)
    if method == "cot":
        assert all(isinstance(r["prediction"]["extra"]["reasoning"], str) for r in rows)
        bias = rows[0]["prediction"]["queries"]["biasing_feature"]
        assert "I think the answer is" in bias["settings"]["template"]
    if method == "counterfactual-edit":
        for row in rows:
            cf = row["prediction"]["extra"]["counterfactual"]
            valid = row["scores"]["counterfactual_validity"]
            # the method's own re-query and the test's re-query agree on whether the edit flips the answer
            assert valid == (1.0 if cf["flipped"] and cf["edited"] != cf["original"] else 0.0)
    # every number comes back from the records alone
    for name in RECORDED + PURE:
        got = score_file(get_host(), name, out.run_dir / "results.jsonl", [f"{k}={v}" for k, v in
                                                                           _flat(metrics(planted_folder), name)])
        assert _same(got["score"], summary["metrics"][name]), (name, got["score"], summary["metrics"][name])
    conv = summary["counterfactual_test_conventions"]
    assert set(conv) == {"atanasova", "cc-shap"}
    assert _same(conv["atanasova"], summary["metrics"]["counterfactual_test"])
    assert "las" in summary["simulatability_parts"]
    assert (out.run_dir / "artifacts" / "self_explanations.html").stat().st_size > 200


def _flat(specs, name):
    params = next(s["params"] for s in specs if s["name"] == name)
    out = []
    for k, v in params.items():
        if isinstance(v, dict):
            out += [(f"{k}.{kk}", vv) for kk, vv in v.items()]
        else:
            out.append((k, v))
    return out


def _same(a, b):
    """Equal numbers, or both undefined (None or NaN)."""
    undefined = [v is None or (isinstance(v, float) and math.isnan(v)) for v in (a, b)]
    return all(undefined) or (not any(undefined) and a == pytest.approx(b))


def test_entry_is_validated_against_the_pinned_data(tmp_path, planted_folder):
    """A run becomes a board entry (the second section's format, pinned to the shipped sample here)
    that validates; editing a row's human explanations — the reference NLE similarity is scored
    against — is caught, because the validator re-derives every reference with the loader."""
    import json

    import yaml

    from plurieval.hashing import file_hash
    from plurieval.leaderboard.pins import compute_pins
    from plurieval.leaderboard.schema import BoardSpec
    from plurieval.leaderboard.submit import build_entry
    from plurieval.leaderboard.validate import validate_entry
    from plurieval_faithfulness.data import SAMPLE

    out = run(tmp_path, planted_folder, "nle-post-hoc")
    board = tmp_path / "leaderboards" / "self-explanation"
    (board / "entries").mkdir(parents=True)
    spec = {"benchmark": "self-explanation", "spec_version": "1",
            "metrics": [{"name": "cc_shap", "params": {"samples": 2, "max_output_tokens": 4}},
                        {"name": "counterfactual_test", "params": {"positions": 2, "words": 2}},
                        "chrf", "counterfactual_minimality"],
            "ranking_metric": "cc_shap", "aggregation": {"kind": "metric", "group_by": "label"},
            "bootstrap": {"seed": 0, "resamples": 200},
            "data": {"dataset": "esnli-explanations", "params": {"data_dir": str(SAMPLE)}, "split": None,
                     "id": "x", "content_hash": "sha256:" + "0" * 64, "num_examples": 1, "min_examples": 2,
                     "rows": {"example_id": "{example.id}", "reference": "{example.target}",
                              "metadata": {"label": "{example.metadata.label}",
                                           "source": "{example.metadata.source}"}}}}
    found = compute_pins(BoardSpec.model_validate(spec), get_host())
    spec["data"].update(id=found["id"], revision=found["revision"], content_hash=found["content_hash"],
                        num_examples=found["num_examples"])
    (board / "board.yaml").write_text(yaml.safe_dump(spec))
    entry = build_entry(out.run_dir, get_host(), submitter="test", board_dir=board)
    report = validate_entry(entry, get_host(), board_dir=board)
    assert report.ok, report.problems
    data = json.loads(entry.read_text())
    results = entry.parent / data["results"]["file"]
    rows = read_jsonl(results)
    rows[0]["reference"]["references"] = [rows[0]["prediction"]["text"]]  # "the human said what I said"
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data["results"]["sha256"] = file_hash(results)
    entry.write_text(json.dumps(data))
    problems = validate_entry(entry, get_host(), board_dir=board).problems
    assert any("reference" in p for p in problems), problems
