"""The steering loop's row seams on the heterogeneous batch: one model call carries many
settings, the results equal the per-intervention path token for token (float32), and every
stage of a run reports rows through the run's progress."""

from __future__ import annotations

import json

import pytest
import torch

import plurieval.run as run_module
from plurieval.config import apply_overrides, build_run_config
from plurieval.host import get_host
from plurieval.models.interventions import AddVector, DirectionalAblation
from plurieval.models.lm import LanguageModel
from plurieval.models.testing import tiny_model
from plurieval.progress import RunProgress
from plurieval.run import ModelWork
from plurieval.runner import execute
from plurieval.steering.prompting import PromptRewrite


@pytest.fixture(scope="module")
def lm():
    return tiny_model("llama", seed=3)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory, lm):
    folder = tmp_path_factory.mktemp("tiny-rows")
    lm.hf.save_pretrained(folder)
    lm.tokenizer.save_pretrained(folder)
    return folder


def _spy(monkeypatch, name):
    calls = []
    original = getattr(LanguageModel, name)

    def spy(self, prompts, *args, **kw):
        calls.append({"rows": len(prompts), "per_row": kw.get("interventions") is not None,
                      "settings": len({id(iv) for iv in kw["interventions"]}) if kw.get("interventions") else 1})
        return original(self, prompts, *args, **kw)

    monkeypatch.setattr(LanguageModel, name, spy)
    return calls


def test_generate_rows_is_one_call_and_equals_the_per_intervention_path(lm, monkeypatch):
    add1 = AddVector(torch.ones(lm.hidden_size), layers=[1], alpha=4.0)
    add2 = AddVector(-torch.ones(lm.hidden_size), layers=[2], alpha=2.0, positions="prompt")
    abl = DirectionalAblation(torch.linspace(-1, 1, lm.hidden_size))
    rewrite = PromptRewrite("{prompt} in {language}", "de")
    prompts = ["ab", "cd", "ab", "ef", "cd", "ghij", "ab"]
    ivs = [add1, None, add1, rewrite, add2, abl, add2]
    work = ModelWork(lm)
    calls = _spy(monkeypatch, "generate")
    batched = work.generate_rows(prompts, ivs, max_new_tokens=5, chat=False)
    assert len(calls) == 1 and calls[0]["per_row"] and calls[0]["rows"] == 6  # "ab"+add1 once
    monkeypatch.setattr(run_module, "ROW_BATCHING", False)
    grouped = work.generate_rows(prompts, ivs, max_new_tokens=5, chat=False)
    assert len(calls) == 1 + 4  # add1, plain (with the rewritten prompt), add2, abl
    assert [g.token_ids for g in batched] == [g.token_ids for g in grouped]
    assert len({tuple(g.token_ids) for g in batched}) > 2  # the settings do differ


def test_next_token_scores_one_call_equals_per_intervention(lm, monkeypatch):
    abls = [DirectionalAblation(torch.randn(lm.hidden_size, generator=torch.Generator().manual_seed(i)))
            for i in range(4)]
    prompts = ["hello", "world", "a longer prompt"] * 5
    ivs = [None] * 3 + [a for a in abls for _ in range(3)]
    scorers = [lambda lp, k=k: float(lp[k]) for k in range(len(prompts))]
    work = ModelWork(lm)
    calls = _spy(monkeypatch, "next_token_logprobs")
    batched = work.next_token_scores(prompts, ivs, scorers, chat=False)
    assert len(calls) == 1 and calls[0]["settings"] == 5
    monkeypatch.setattr(run_module, "ROW_BATCHING", False)
    grouped = work.next_token_scores(prompts, ivs, scorers, chat=False)
    assert batched == pytest.approx(grouped, abs=1e-5) and len(set(batched)) > 3


def _clas(tiny_folder, out):
    data = {"benchmark": "clasbench", "model": {"name": f"hf:{tiny_folder}", "params": {"tokenizer_class": "ByT5Tokenizer"}},
            "method": "diffmean", "limit": 2, "output_dir": str(out), "tracking": {"enabled": False}, "cache": False}
    apply_overrides(data, ["target_languages=de,fr", "layers=[1,2]", "dev_limit=3", "max_new_tokens=6", "plots=false",
                           "method.alphas=[2.0,6.0]"])
    return build_run_config(data)


def _rows(run_dir):
    files = [run_dir / "results.jsonl", *sorted((run_dir / "conditions").glob("*.jsonl"))]
    return {f.name: sorted((r["example_id"], r["prediction"], json.dumps(r["scores"], sort_keys=True))
                           for r in map(json.loads, f.read_text().splitlines()) if "prediction" in r)
            for f in files}


def test_a_clasbench_run_is_one_batch_per_grid_and_equals_the_per_intervention_path(tiny_folder, tmp_path,
                                                                                   monkeypatch, capsys):
    monkeypatch.delenv("PLURIEVAL_NO_PROGRESS", raising=False)
    calls = _spy(monkeypatch, "generate")
    plans = []
    plan = RunProgress.plan
    monkeypatch.setattr(RunProgress, "plan", lambda self, stages: (plans.append(dict(stages)), plan(self, stages))[1])
    batched = execute(_clas(tiny_folder, tmp_path / "rows"), get_host())
    log = capsys.readouterr().err
    # each target's whole selection grid (2 layers × 2 strengths × 3 dev questions) is one call
    grids = [c for c in calls if c["settings"] == 4]
    assert len(grids) == 2 and all(c["rows"] == 12 for c in grids), calls
    # the baselines and every target's test rows are one call after the selections:
    # 2 baseline generations (scored under 2 baseline conditions: 4 rows) + 2 test rows per target
    tests = [c for c in calls if c["rows"] != 12]
    assert len(tests) == 1 and tests[0]["rows"] == 2 + 2 * 2, calls
    # every stage of the run reports its rows (not a terminal: one line per stage), in order
    lines = ("load: ", "extraction: ", "de: selection: 12 rows in", "fr: selection: 12 rows in",
             "test: 6 rows in", "test: scoring: 8 rows in")
    for line in lines:
        assert line in log, (line, log)
    assert [log.index(line) for line in lines] == sorted(log.index(line) for line in lines)
    assert "(run: about" in log
    # the plan made after the first unit (the run's ETA) expected exactly that: 6 rows generated
    # (the 2 baselines once, not once per condition) and 8 scored
    assert plans == [{"fr: selection": 12, "test": 6, "test: scoring": 8}]

    monkeypatch.setattr(run_module, "ROW_BATCHING", False)
    calls.clear()
    grouped = execute(_clas(tiny_folder, tmp_path / "grouped"), get_host())
    assert max(c["settings"] for c in calls) == 1 and len(calls) > 4
    assert _rows(batched.run_dir) == _rows(grouped.run_dir)
    assert batched.summary["metrics"] == grouped.summary["metrics"]
    assert batched.summary["per_language"] == grouped.summary["per_language"]
