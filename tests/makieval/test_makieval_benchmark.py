"""The makieval benchmark end to end: a tiny random model for the plumbing (rows, scores, cells,
plots, resume, steering through the SteeringMethod contract), and the embedded default model
for one real run whose answers name real dishes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from plurieval.config import build_run_config
from plurieval.errors import PluriError
from plurieval.runner import execute
from plurieval_makieval.kb import SAMPLE_DIR

METRICS = ["granularity", "entity_diversity", "entity_diversity_normalized", "cultural_specificity",
           "cross_lingual_consensus"]


def config(tmp_path: Path, model: str = "tiny", method: str | None = None, **params):
    bench = {"languages": ["en", "de"], "countries": ["JP", "DE"], "topics": ["food", "festivals"], "max_new_tokens": 4,
             "knowledge_base_params": {"data_dir": str(SAMPLE_DIR)}, **params}
    data = {"benchmark": {"name": "makieval", "params": bench}, "model": model, "limit": 1,
            "output_dir": str(tmp_path / "runs"), "tracking": {"enabled": False}}
    if method:
        data["method"] = method
    return build_run_config(data)


def rows_of(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "results.jsonl").read_text(encoding="utf-8").splitlines()]


def test_unsteered_run_records_links_scores_cells_and_plots(host, tmp_path, monkeypatch):
    monkeypatch.setenv("PLURIEVAL_CACHE_DIR", str(tmp_path / "cache"))
    out = execute(config(tmp_path), host)
    s = out.summary
    assert s["benchmark"] == "makieval" and s["spec_version"] == "1" and s["method"] is None
    assert set(s["metrics"]) == set(METRICS)
    assert s["protocol"]["answers"] == 8 and s["protocol"]["cells"] == 8  # 2 languages × 2 countries × 2 topics × limit 1
    assert s["knowledge_base"]["name"] == "culture-kb" and s["knowledge_base"]["records"]["food"] == 32
    rows = rows_of(out.run_dir)
    assert len(rows) == 8
    for row in rows:
        assert set(row["scores"]) == set(METRICS)
        assert isinstance(row["prediction"]["text"], str) and isinstance(row["prediction"]["links"], list)
        assert row["prediction"]["linking"]["kb_hash"] == s["knowledge_base"]["content_hash"]
        assert row["reference"]["country_qid"] in ("Q17", "Q183")
    # every summary number is the metric's aggregate of the recorded per-example values
    from plurieval.host import PluginHost  # noqa: F401  (the host fixture is a PluginHost)

    for name in METRICS:
        metric = host.get("metric", name).create({})
        again = metric.aggregate([r["scores"][name] for r in rows])
        got = s["metrics"][name]["value"]
        assert (got is None and math.isnan(again)) or got == pytest.approx(again)
    cells = json.loads((out.run_dir / "cells.json").read_text())
    assert {(c["language"], c["country"], c["topic"]) for c in cells} == {
        (lang, c, t) for lang in ("en", "de") for c in ("JP", "DE") for t in ("food", "festivals")}
    consensus = json.loads((out.run_dir / "consensus.json").read_text())["cross_lingual_consensus"]
    assert consensus["by_topic"]["food"]["languages"] == ["en", "de"]
    assert (out.run_dir / "plots" / "heatmap_entity_diversity.png").stat().st_size > 1000
    assert any(p.endswith("cross_lingual_consensus_matrix.png") for p in s["plots"]) or \
        all(v is None for row in consensus["by_topic"]["food"]["matrix"] for v in row if v != 1.0)

    # killed after the answers were recorded: the repeat generates nothing and scores the same
    (out.run_dir / "summary.json").unlink()
    again = execute(config(tmp_path), host)
    assert again.resumed and again.summary["protocol"]["generated_this_run"] == 0
    assert again.summary["metrics"] == s["metrics"]


def test_steering_fits_on_the_clasbench_contrast_and_generates_under_it(host, tmp_path, monkeypatch):
    monkeypatch.setenv("PLURIEVAL_CACHE_DIR", str(tmp_path / "cache"))
    cfg = config(tmp_path, method="diffmean", topics=["food"], steering={"target": "de"})
    out = execute(cfg, host)
    steering = out.summary["steering"]
    assert steering["method"] == "diffmean" and steering["target"] == "de" and steering["sources"] == ["en"]
    assert steering["contrast"] == "clasbench-sample" and steering["card"]["target"] == "de"
    manifest = json.loads((out.run_dir / "manifest.json").read_text())
    assert [iv["name"] for iv in manifest["interventions"]] == ["steer_de"]
    assert {d["id"] for d in manifest["datasets"]} == {"makieval-prompts", "culture-kb", "clasbench-sample"}
    assert (out.run_dir / "artifacts" / "intervention_de").is_dir()
    # the unsteered answers differ from the steered ones (same prompts, same greedy decoding)
    plain = execute(config(tmp_path, topics=["food"]), host)
    assert [r["prediction"]["text"] for r in rows_of(plain.run_dir)] != [r["prediction"]["text"] for r in rows_of(out.run_dir)]


def test_prompting_baseline_rewrites_the_prompts(host, tmp_path, monkeypatch):
    monkeypatch.setenv("PLURIEVAL_CACHE_DIR", str(tmp_path / "cache"))
    out = execute(config(tmp_path, method="prompting", topics=["food"], countries=["JP"], steering={"target": "de"}), host)
    assert all(r["prompt"].endswith("Answer in German.") for r in rows_of(out.run_dir))


def test_llm_extraction_step_is_recorded_and_linked(host, tmp_path, monkeypatch):
    monkeypatch.setenv("PLURIEVAL_CACHE_DIR", str(tmp_path / "cache"))
    out = execute(config(tmp_path, topics=["food"], countries=["JP"], extraction={"mode": "model", "max_new_tokens": 4}),
                  host)
    rows = rows_of(out.run_dir)
    for row in rows:
        ext = row["prediction"]["extraction"]
        assert ext["by"] == "model under evaluation" and ext["query"].startswith("List every dish, food or type of dish")
        assert row["prediction"]["text"] in ext["query"] and isinstance(ext["reply"], str)
        assert all("phrase" in link for link in row["prediction"]["links"])  # links come from the reply's lines
    assert out.summary["protocol"]["extraction_queries"] == len(rows) == 2


@pytest.mark.parametrize(("params", "method", "message"), [
    ({"topics": ["music"]}, None, "has no music .* --set knowledge_base=wikidata"),
    ({}, "diffmean", r"needs a language to steer towards: --set steering.target=de"),
    ({"steering": {"target": "ko"}}, "diffmean", r"steering contrast for .ko. vs en: .*ko.txt"),
])
def test_bad_settings_fail_before_any_generation(host, tmp_path, params, method, message):
    with pytest.raises(PluriError, match=message):
        execute(config(tmp_path, method=method, **params), host)


@pytest.mark.integration
def test_default_model_steered_to_german_asked_about_german_food(tmp_path, shared_data, monkeypatch):
    """The issue's one command, small: `plurieval run makieval --model default --method diffmean
    --set languages=en,de --set countries=JP,DE --set topics=food --set steering.target=de --limit 1`,
    against the real culture-kb."""
    from plurieval.host import PluginHost

    host = PluginHost()
    data = {"benchmark": {"name": "makieval", "params": {"languages": ["en", "de"], "countries": ["JP", "DE"],
                                                          "topics": ["food"], "max_new_tokens": 64,
                                                          "steering": {"target": "de"}}},
            "model": "default", "method": "diffmean", "limit": 1, "output_dir": str(tmp_path / "runs"),
            "tracking": {"enabled": False}}
    out = execute(build_run_config(data), host)
    s = out.summary
    assert s["knowledge_base"]["records"]["food"] == 2414 and not s["knowledge_base"]["sample"]
    assert s["links"]["total"] > 0, "the default model names no dish in four answers about Japanese and German food"
    assert s["metrics"]["entity_diversity"]["value"] > 0
    rows = rows_of(out.run_dir)
    assert all(r["prediction"]["linking"]["kb"] == "culture-kb" for r in rows)
    assert (out.run_dir / "plots" / "heatmap_entity_diversity.png").is_file()


def test_a_run_goes_on_the_board_and_an_edited_link_is_refused(host, tmp_path, monkeypatch):
    """The repository's board spec, pointed at the sample KB this run was linked against: the
    entry validates (every row re-linked from its text); a link added to one answer afterwards
    (scores recomputed, hash fixed) is refused by the re-linking."""
    import yaml

    from plurieval.hashing import file_hash
    from plurieval.leaderboard.submit import build_entry
    from plurieval.leaderboard.validate import validate_entry

    monkeypatch.setenv("PLURIEVAL_CACHE_DIR", str(tmp_path / "cache"))
    run_dir = execute(config(tmp_path, topics=["food"]), host).run_dir
    board = tmp_path / "leaderboards" / "makieval"
    board.mkdir(parents=True)
    spec = yaml.safe_load((Path(__file__).parents[2] / "leaderboards" / "makieval" / "board.yaml").read_text())
    for metric in spec["metrics"]:
        assert metric["params"]["relink"] is True
        metric["params"]["knowledge_base_params"] = {"data_dir": str(SAMPLE_DIR)}
    (board / "board.yaml").write_text(yaml.safe_dump(spec))
    entry = build_entry(run_dir, host, submitter="test", board_dir=board)
    report = validate_entry(entry, host)
    assert report.ok, report.problems

    data = json.loads(entry.read_text())
    results = entry.parent / data["results"]["file"]
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    rows[0]["prediction"]["links"].append({"surface": "sushi", "start": 0, "end": 5, "kind": "entity",
                                           "id": "enwiki:Sushi", "origin": ["Q17"], "origin_source": "worldcuisines"})
    rows[0]["scores"]["granularity"] = {"specific": 1, "category": 0}
    results.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    data["results"]["sha256"] = file_hash(results)
    entry.write_text(json.dumps(data))
    problems = validate_entry(entry, host).problems
    assert any("scores.granularity is {'specific': 1, 'category': 0} but its prediction scores" in p for p in problems), problems
