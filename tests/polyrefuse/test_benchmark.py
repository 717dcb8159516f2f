"""The polyrefuse benchmark end to end through the runner, on a tiny random model saved to disk
and the shipped sample (structure, matrices, plots, gaps, resumption)."""

import json

import pytest

from plurieval.config import apply_overrides, build_run_config
from plurieval.host import get_host
from plurieval.models.testing import tiny_model
from plurieval.runner import execute


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    lm = tiny_model("llama", seed=3)
    lm.hf.save_pretrained(folder)
    lm.tokenizer.save_pretrained(folder)
    return folder


def _config(tiny_folder, out, langs="en,de,zh"):
    data = {"benchmark": "polyrefuse", "model": {"name": f"hf:{tiny_folder}", "params": {"tokenizer_class": "ByT5Tokenizer"}},
            "method": "refusal_direction", "limit": 2, "output_dir": str(out), "tracking": {"enabled": False}}
    apply_overrides(data, [f"languages={langs}", "source=sample", "fit_prompts=4", "max_new_tokens=3",
                           "selection.prompts=2", "method.positions=1"])
    return build_run_config(data)


def test_polyrefuse_run(tiny_folder, tmp_path):
    host = get_host()
    cfg = _config(tiny_folder, tmp_path)
    assert cfg.benchmark.params["languages"] == "en,de,zh" or cfg.benchmark.params["languages"] == ["en", "de", "zh"]
    outcome = execute(cfg, host)
    s = outcome.summary
    langs = ["en", "de", "zh"]
    assert s["method"] == "refusal_direction"
    assert set(s["transfer"]) == set(langs) and all(set(s["transfer"][a]) == set(langs) for a in langs)
    for a in langs:
        for b in langs:
            pair = s["transfer"][a][b]
            for side in ("before", "after"):
                assert 0.0 <= pair[side]["compliance_rate"] <= 1.0
                assert pair[side]["compliance_rate"] == pytest.approx(1 - pair[side]["refusal_rate"])
                assert pair[side]["n"] == 2
    cos = s["cosine_similarity"]
    assert all(cos[a][a] == pytest.approx(1.0) for a in langs)
    assert all(cos[a][b] == pytest.approx(cos[b][a]) for a in langs for b in langs)
    assert s["coverage"]["missing"] == ["zh/test/harmless"]
    assert s["coverage"]["induce_skipped_no_harmless_test"] == ["zh"] and set(s["induce"]) == {"en", "de"}
    assert len(s["compliance_matrix"]["after"]) == 3 and len(s["compliance_matrix"]["after"][0]) == 3
    for plot in ("plots/transfer_compliance.png", "plots/cosine_similarity.png", "plots/refusal_score_per_layer.png"):
        assert (outcome.run_dir / plot).stat().st_size > 1000
    card = json.loads((outcome.run_dir / "artifacts/direction_de/card.json").read_text())
    assert card["type"] == "directional_ablation" and card["card"]["direction_language"] == "de"
    def read(name):
        return [json.loads(line) for line in (outcome.run_dir / name).read_text().splitlines()]

    # results.jsonl: the headline, 9 (direction, prompt language) pairs × 2 harmful prompts under
    # ablation; the unsteered and induce conditions beside it.
    rows = read("results.jsonl")
    assert len(rows) == 9 * 2 and {r["metadata"]["condition"] for r in rows} == {"ablation"}
    assert {"refusal_score", "refusal_substring", "compliance_substring"} <= set(rows[0]["scores"])
    assert len(read("conditions/baseline.jsonl")) == 3 * 2
    assert len(read("conditions/harmless.jsonl")) == len(read("conditions/induce.jsonl")) == 2 * 2
    # the headline metrics are what a leaderboard recomputes from results.jsonl
    compliance = [r["scores"]["compliance_substring"] for r in rows]
    assert s["metrics"]["compliance_substring"] == pytest.approx(sum(compliance) / len(compliance))
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    assert any(d["id"] == "polyrefuse" and "CC BY-NC" in d["license"] for d in manifest["datasets"])
    assert card["card"]["data_hash"].startswith("sha256:") and card["card"]["method"] == "refusal_direction"
    entries = {e["name"]: e for e in manifest["interventions"]}
    assert sorted(entries) == ["direction_de", "direction_en", "direction_zh"]
    assert entries["direction_de"]["files"]["tensors.safetensors"] == card["tensors_sha256"]


def test_unknown_language_is_rejected(tiny_folder, tmp_path):
    from plurieval.errors import PluriError

    with pytest.raises(PluriError, match="unknown languages"):
        execute(_config(tiny_folder, tmp_path, langs="en,xx"), get_host())
