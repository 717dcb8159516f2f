"""The ``faithfulness`` benchmark end to end: runner, recorded queries, artifacts, `plurieval
score`, leaderboard submit/validate (re-scoring from the records), on the planted tiny model
loaded as any user's model would be (``hf:FOLDER``); and once on the embedded default model."""

from __future__ import annotations

import json

import pytest
import yaml

from plurieval.api import build_run_config, execute, get_host, read_jsonl
from plurieval.hashing import file_hash
from plurieval.leaderboard.submit import build_entry
from plurieval.leaderboard.validate import validate_entry
from plurieval.scoring import score_file
from plurieval_faithfulness.data import SAMPLE

METRICS = ["comprehensiveness", "sufficiency", "aopc_comprehensiveness", "aopc_sufficiency", "tau_loo",
           "token_f1", "token_iou", "auprc"]


@pytest.fixture(scope="module")
def planted_folder(tmp_path_factory, planted):
    model, _ = planted
    folder = tmp_path_factory.mktemp("planted")
    model.hf.save_pretrained(folder)
    model.tokenizer.save_pretrained(folder)
    return folder


def run(tmp_path, folder, method, **params):
    cfg = build_run_config({"benchmark": {"name": "faithfulness", "params": {"source": "sample", **params}},
                            "model": {"name": f"hf:{folder}", "params": {"dtype": "float32"}}, "method": method,
                            "limit": 5, "batch_size": 4, "output_dir": str(tmp_path / "runs"),
                            "tracking": {"enabled": False}})
    return execute(cfg, get_host())


def test_run_records_every_query_and_scores_come_back_without_the_model(tmp_path, planted_folder):
    out = run(tmp_path, planted_folder, "occlusion")
    summary = out.summary
    assert set(METRICS) <= set(summary["metrics"])
    assert summary["model_predictions"]["predicted"]
    rows = read_jsonl(out.run_dir / "results.jsonl")
    assert len(rows) == 5
    for row in rows:
        queries = row["prediction"]["queries"]
        assert {q["settings"]["metric"] for q in queries.values()} == {
            "Comprehensiveness", "Sufficiency", "AOPCComprehensiveness", "AOPCSufficiency", "TauLOO"}
        n = len(row["prediction"]["extra"]["features"])
        assert all(len(m) == n for q in queries.values() for m in q["masks"])
        assert len(queries["tau_loo"]["masks"]) == n  # one leave-one-out query per word
    # artifacts: one safetensors file per item, and the page
    assert len(list((out.run_dir / "artifacts" / "attributions").glob("*.safetensors"))) == 5
    assert "<span" in (out.run_dir / "artifacts" / "attributions.html").read_text()
    assert (out.run_dir / "plots" / "aopc.png").stat().st_size > 1000
    curve = summary["aopc_curves"]["aopc_comprehensiveness"]
    # the mean over bins of the per-bin means is the AOPC itself
    assert sum(curve["mean_difference"]) / 5 == pytest.approx(summary["metrics"]["aopc_comprehensiveness"])
    # `plurieval score` on the results file gives the run's numbers, with no model anywhere
    for name in ("comprehensiveness", "tau_loo", "token_f1"):
        got = score_file(get_host(), name, out.run_dir / "results.jsonl", [])
        assert got["score"] == pytest.approx(summary["metrics"][name], nan_ok=True), name


def test_a_resumed_run_keeps_the_recorded_queries(tmp_path, planted_folder):
    first = run(tmp_path, planted_folder, "gradient")
    rows = (first.run_dir / "results.jsonl").read_text().splitlines()
    (first.run_dir / "summary.json").unlink()
    (first.run_dir / "results.jsonl").write_text("\n".join(rows[:2]) + "\n")  # killed after 2 items
    again = run(tmp_path, planted_folder, "gradient")
    assert again.resumed
    assert again.summary["metrics"] == pytest.approx(first.summary["metrics"], nan_ok=True)


def test_leaderboard_entry_is_revalidated_from_the_records(tmp_path, planted_folder):
    out = run(tmp_path, planted_folder, "integrated-gradients", report=False)
    board = tmp_path / "leaderboards" / "faithfulness"
    (board / "entries").mkdir(parents=True)
    # The board pins the shipped sample as the real board pins the e-SNLI data: same loader, in the
    # benchmark's order, so the validator re-derives every row's reference itself.
    params = {"data_dir": str(SAMPLE), "order": "spread"}
    dataset = get_host().get("dataset", "esnli-highlights").create(params)
    info = dataset.info(dataset.load(None), None)
    (board / "board.yaml").write_text(yaml.safe_dump({
        "benchmark": "faithfulness", "spec_version": "1", "metrics": METRICS, "ranking_metric": "comprehensiveness",
        "aggregation": {"kind": "metric", "group_by": "label"}, "bootstrap": {"seed": 0, "resamples": 200},
        "data": {"dataset": "esnli-highlights", "params": params, "split": None, "id": info.id,
                 "revision": info.revision, "content_hash": info.content_hash, "num_examples": info.num_examples,
                 "min_examples": 5, "rows": {"example_id": "{example.id}", "reference": "{example.target}",
                                             "metadata": {"label": "{example.metadata.label}"}}}}))
    entry = build_entry(out.run_dir, get_host(), submitter="test", board_dir=board)
    assert validate_entry(entry, get_host(), board_dir=board).ok
    # A submitter edits a recorded model output (and fixes the file hash): the record no longer
    # gives the stored score, and validation says which row and metric.
    data = json.loads(entry.read_text())
    results = entry.parent / data["results"]["file"]
    rows = read_jsonl(results)
    rows[0]["prediction"]["queries"]["comprehensiveness"]["outputs"][0] = [0.0, 0.5, 0.5]
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data["results"]["sha256"] = file_hash(results)
    entry.write_text(json.dumps(data))
    problems = validate_entry(entry, get_host(), board_dir=board).problems
    assert any("scores.comprehensiveness" in p and rows[0]["key"] in p for p in problems), problems


@pytest.mark.integration
def test_default_model_one_item(tmp_path):
    cfg = build_run_config({"benchmark": {"name": "faithfulness", "params": {"source": "sample", "report": False}},
                            "model": "default", "method": "gradient", "limit": 1, "output_dir": str(tmp_path),
                            "tracking": {"enabled": False}})
    out = execute(cfg, get_host())
    row = read_jsonl(out.run_dir / "results.jsonl")[0]
    assert row["prediction"]["label"] in ("entailment", "neutral", "contradiction")
    assert set(METRICS) <= set(row["scores"])
    assert len(row["prediction"]["extra"]["token_ids"]) >= len(row["prediction"]["extra"]["features"])


def test_both_conventions_in_one_run(tmp_path, planted_folder):
    cfg = build_run_config({"benchmark": {"name": "faithfulness", "params": {"source": "sample", "report": False}},
                            "model": {"name": f"hf:{planted_folder}", "params": {"dtype": "float32"}},
                            "method": "random-attribution", "limit": 3, "output_dir": str(tmp_path),
                            "tracking": {"enabled": False},
                            "metrics": [{"name": "aopc_comprehensiveness"},
                                        {"name": "aopc_comprehensiveness", "params": {"convention": "ferret"}}]})
    out = execute(cfg, get_host())
    assert set(out.summary["metrics"]) == {"aopc_comprehensiveness", "aopc_comprehensiveness#2"}
    row = read_jsonl(out.run_dir / "results.jsonl")[0]
    eraser, ferret = row["prediction"]["queries"]["aopc_comprehensiveness"], row["prediction"]["queries"]["aopc_comprehensiveness#2"]
    assert len(eraser["masks"]) == 5 and eraser["settings"]["convention"] == "eraser"
    assert ferret["settings"]["convention"] == "ferret"
    got = score_file(get_host(), "aopc_comprehensiveness", out.run_dir / "results.jsonl", ["convention=ferret"])
    assert got["score"] == pytest.approx(out.summary["metrics"]["aopc_comprehensiveness#2"])
