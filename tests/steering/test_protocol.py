"""Core's steering loop and its seams, on a tiny real model: row-wise generation and next-token
scoring equal plain per-intervention calls, resume reuses a unit's choice, metrics and data are
swapped through the run config, methods decline with their own reason, observers cannot change
a run, and side effects come with paired intervals."""

from __future__ import annotations

import json

import pytest
import torch

from plurieval.config import apply_overrides, build_run_config
from plurieval.errors import PluriError
from plurieval.hookspecs import hookimpl
from plurieval.host import PluginHost, get_host
from plurieval.models.interventions import AddVector
from plurieval.models.testing import tiny_model
from plurieval.run import ModelWork
from plurieval.runner import execute
from plurieval.steering.prompting import PromptRewrite
from plurieval.steering.protocol import paired_difference


@pytest.fixture(scope="module")
def lm():
    return tiny_model("llama", seed=2)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory, lm):
    folder = tmp_path_factory.mktemp("tiny")
    lm.hf.save_pretrained(folder)
    lm.tokenizer.save_pretrained(folder)
    return folder


def test_generate_rows_equals_one_generate_call_per_intervention(lm):
    add = AddVector(torch.ones(lm.hidden_size), layers=[1], alpha=4.0)
    rewrite = PromptRewrite("{prompt} in {language}", "de")
    prompts = ["ab", "cd", "ab", "ef", "cd"]
    ivs = [add, None, add, rewrite, None]
    work = ModelWork(lm)
    rows = work.generate_rows(prompts, ivs, max_new_tokens=4, chat=False)
    steered = lm.generate(["ab"], intervention=add, max_new_tokens=4, chat=False)
    plain = lm.generate(["cd"], max_new_tokens=4, chat=False)
    rewritten = lm.generate(["ef in German"], max_new_tokens=4, chat=False)
    assert [g.text for g in rows] == [steered[0].text, plain[0].text, steered[0].text, rewritten[0].text, plain[0].text]
    assert rows[0].text != plain[0].text or rows[0].token_ids != lm.generate(["ab"], max_new_tokens=4, chat=False)[0].token_ids


def test_next_token_scores_apply_each_rows_scorer_under_its_intervention(lm):
    add = AddVector(torch.ones(lm.hidden_size), layers=[0], alpha=8.0)
    prompts = ["hello", "world", "hello"]
    ivs = [None, None, add]
    scores = ModelWork(lm).next_token_scores(prompts, ivs, [lambda lp: float(lp[5])] * 3, chat=False)
    base = lm.next_token_logprobs(["hello", "world"], chat=False)
    steered = lm.next_token_logprobs(["hello"], chat=False, intervention=add)
    assert scores == pytest.approx([float(base[0, 5]), float(base[1, 5]), float(steered[0, 5])], abs=1e-5)
    assert scores[0] != pytest.approx(scores[2])


def test_paired_difference_worked_example():
    # steered 3/4 refused, unsteered 1/4: difference 0.5. Pairs that never differ give an
    # interval of exactly [0, 0] (every resample's difference is 0), which an unpaired
    # bootstrap of the two means would not.
    out = paired_difference([1.0, 1.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0], lambda v: sum(v) / len(v))
    assert (out["steered"], out["unsteered"], out["difference"], out["n"]) == (0.75, 0.25, 0.5, 4)
    assert out["ci_low"] <= 0.5 <= out["ci_high"] and out["ci_high"] <= 1.0 and out["ci_low"] >= -0.25
    same = paired_difference([1.0, 0.0, 1.0], [1.0, 0.0, 1.0], lambda v: sum(v) / len(v))
    assert (same["difference"], same["ci_low"], same["ci_high"]) == (0.0, 0.0, 0.0)


def _clas(tiny_folder, out, method="diffmean", extra=()):
    data = {"benchmark": "clasbench", "model": {"name": f"hf:{tiny_folder}", "params": {"tokenizer_class": "ByT5Tokenizer"}},
            "method": method, "limit": 2, "output_dir": str(out), "tracking": {"enabled": False}}
    apply_overrides(data, ["target_languages=de,fr", "layers=[1,2]", "dev_limit=2", "max_new_tokens=3",
                           "plots=false", *(["method.alphas=[2.0,4.0]"] if method != "prompting" else []), *extra])
    return build_run_config(data)


def test_resume_reuses_each_units_choice_and_records(tiny_folder, tmp_path, monkeypatch):
    first = execute(_clas(tiny_folder, tmp_path), get_host())
    results = first.run_dir / "results.jsonl"
    rows = results.read_text().splitlines()
    (first.run_dir / "summary.json").unlink()
    results.write_text("\n".join(rows[:3]) + "\n")  # killed after three rows

    from plurieval_clasbench.benchmark import ClasBench

    def no_selection(*args, **kwargs):
        raise AssertionError("a saved choice must not be selected again")

    monkeypatch.setattr(ClasBench, "select", no_selection)
    again = execute(_clas(tiny_folder, tmp_path), get_host())
    assert again.resumed and again.run_dir == first.run_dir
    assert results.read_text().splitlines() == rows  # the same rows, in the same order
    for key in ("metrics", "per_language"):
        assert again.summary[key] == first.summary[key]


def test_metrics_are_replaced_or_extended_through_the_run_config(tiny_folder, tmp_path):
    s = execute(_clas(tiny_folder, tmp_path, extra=["metrics=[language_control]"]), get_host()).summary
    assert set(s["metrics"]) == {"language_control"} and set(s["metrics_ci"]) == {"language_control"}
    assert s["per_language"]["de"]["layer"] in (1, 2)  # the selection rule is the benchmark's, unchanged
    run_dir = next(tmp_path.glob("clasbench_diffmean_*"))
    assert all(set(json.loads(r)["scores"]) == {"language_control"} for r in (run_dir / "results.jsonl").open())


def test_methods_decline_with_their_own_reason(tiny_folder, tmp_path):
    base = {"model": {"name": f"hf:{tiny_folder}", "params": {"tokenizer_class": "ByT5Tokenizer"}},
            "output_dir": str(tmp_path), "tracking": {"enabled": False}}
    for bench, method, reason in (("polyrefuse", "lape", "needs a contrast between languages"),
                                  ("polyrefuse", "prompting", "asks for an answer in the target language"),
                                  ("clasbench", "refusal_direction", "without a chat template")):
        data = {**base, "benchmark": bench, "method": method}
        apply_overrides(data, ["source=sample", "languages=en,de"] if bench == "polyrefuse" else ["target_languages=de"])
        with pytest.raises(PluriError, match=f"method {method!r} does not run on {bench}: .*{reason}"):
            execute(build_run_config(data), get_host())


def test_polyrefuse_reads_the_run_configs_dataset(tiny_folder, tmp_path):
    # The benchmark's own source would be fetched from GitHub (unreachable here); the run's
    # dataset, the shipped sample, is what is read.
    data = {"benchmark": "polyrefuse", "model": {"name": f"hf:{tiny_folder}", "params": {"tokenizer_class": "ByT5Tokenizer"}},
            "method": "diffmean", "limit": 1, "output_dir": str(tmp_path), "tracking": {"enabled": False},
            "dataset": {"name": "polyrefuse", "params": {"source": "sample", "languages": ["en", "de"]}}}
    apply_overrides(data, ["source=github", "languages=en,de", "fit_prompts=4", "max_new_tokens=2",
                           "selection.prompts=2", "induce=false"])
    outcome = execute(build_run_config(data), get_host())
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    assert {d["source"] for d in manifest["datasets"]} == {"sample"}
    assert set(outcome.summary["transfer"]) == {"en", "de"}


class MeddlingObserver:
    """An observer that tries to change what it is shown."""

    def __init__(self):
        self.tried = []

    @hookimpl
    def run_started(self, run):
        run.config.seed = 99
        run.annotate("tracking", {"backend": "test"})
        try:
            run.manifest["status"] = "hacked"
        except TypeError:
            self.tried.append("manifest")

    @hookimpl
    def example_scored(self, run, key, record):
        try:
            record["prediction"] = "changed"
        except TypeError:
            self.tried.append("record")


def test_observers_see_read_only_views(tiny_folder, tmp_path):
    host = PluginHost()
    observer = MeddlingObserver()
    host.add_plugin(observer, name="meddler")
    outcome = execute(_clas(tiny_folder, tmp_path, method="prompting", extra=["target_languages=de"]), host)
    rows = [json.loads(r) for r in (outcome.run_dir / "results.jsonl").open()]
    assert rows and all(r["prediction"] != "changed" for r in rows)
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    assert manifest["config"]["seed"] == 0 and manifest["status"] == "complete"
    assert manifest["tracking"] == {"backend": "test"}  # the one sanctioned write
    assert "manifest" in observer.tried and "record" in observer.tried


def test_side_effects_measure_each_chosen_intervention_on_another_benchmarks_prompts(tiny_folder, tmp_path):
    config = _clas(tiny_folder, tmp_path, extra=[
        "side_effects=[{name: polyrefuse, params: {source: sample, languages: [en, de]}}]"])
    outcome = execute(config, get_host())
    side = outcome.summary["side_effects"]["polyrefuse"]
    assert side["examples"] == 4 and set(side["units"]) == {"de", "fr"}
    steered = [json.loads(r) for r in (outcome.run_dir / "conditions" / "side-polyrefuse.jsonl").open()]
    base = {json.loads(r)["example_id"]: json.loads(r)
            for r in (outcome.run_dir / "conditions" / "side-polyrefuse-baseline.jsonl").open()}
    for unit, report in side["units"].items():
        rows = [r for r in steered if r["metadata"]["unit"] == unit]
        score = report["refusal_score"]
        mean_steered = sum(r["scores"]["refusal_score"] for r in rows) / len(rows)
        mean_base = sum(base[r["example_id"]]["scores"]["refusal_score"] for r in rows) / len(rows)
        assert score["steered"] == pytest.approx(mean_steered) and score["unsteered"] == pytest.approx(mean_base)
        assert score["difference"] == pytest.approx(mean_steered - mean_base)
        assert score["ci_low"] <= score["difference"] <= score["ci_high"]


def test_resume_regenerates_rows_recorded_without_a_score_the_run_now_computes(tiny_folder, tmp_path, caplog):
    # A run recorded by an older version, before a metric joined the benchmark (PolyRefuse's
    # degenerate_rate did): its rows lack that score. Resuming generates and scores them again
    # instead of failing the summary on the missing key.
    from plurieval.results import encode_record

    first = execute(_clas(tiny_folder, tmp_path), get_host())
    (first.run_dir / "summary.json").unlink()
    touched = 0
    for path in [first.run_dir / "results.jsonl", *sorted((first.run_dir / "conditions").glob("*.jsonl"))]:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        for row in rows:
            row.pop("checksum", None)
            touched += row["scores"].pop("relevance", None) is not None
        path.write_text("".join(encode_record(r) for r in rows))  # sound records, checksums and all
    assert touched > 0
    with caplog.at_level("WARNING", logger="plurieval"):
        again = execute(_clas(tiny_folder, tmp_path), get_host())
    assert again.resumed and "lack the score(s) relevance" in caplog.text
    for key in ("metrics", "per_language"):
        assert again.summary[key] == first.summary[key]
    assert all("relevance" in json.loads(line)["scores"] for line in (first.run_dir / "results.jsonl").open())


def test_a_run_stopped_during_the_test_call_resumes_without_selecting_again(tiny_folder, tmp_path, monkeypatch):
    """Every unit's choice is recorded when it is made, before the one test call of all units."""
    from plurieval.steering.protocol import SteeringLoop
    from plurieval_clasbench.benchmark import ClasBench

    clean = execute(_clas(tiny_folder, tmp_path / "clean"), get_host())

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("stopped during the tests")

    with monkeypatch.context() as m:
        m.setattr(SteeringLoop, "test_groups", killed)
        with pytest.raises(KeyboardInterrupt):
            execute(_clas(tiny_folder, tmp_path / "stopped"), get_host())
    run_dir = tmp_path / "stopped" / clean.run_dir.name
    assert sorted(p.name for p in (run_dir / "units").glob("*.json")) == ["de.json", "fr.json"]
    assert not (run_dir / "results.jsonl").exists() or not (run_dir / "results.jsonl").read_text().strip()

    def no_selection(*args, **kwargs):
        raise AssertionError("a saved choice must not be selected again")

    monkeypatch.setattr(ClasBench, "select", no_selection)
    again = execute(_clas(tiny_folder, tmp_path / "stopped"), get_host())
    assert again.resumed and again.run_dir == run_dir
    for key in ("metrics", "per_language"):
        assert again.summary[key] == clean.summary[key]
