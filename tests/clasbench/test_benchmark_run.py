"""CLaS-Bench end to end through the runner on a tiny random model (real HF model, real hooks),
every method, activations shared; and an integration run on the default model."""

import json

import pytest

from plurieval.config import apply_overrides, build_run_config
from plurieval.host import get_host
from plurieval.models.testing import tiny_model
from plurieval.runner import execute
from plurieval_clasbench.commands import ALL_METHODS, run_all


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    lm = tiny_model("llama", seed=1)
    lm.hf.save_pretrained(folder)
    lm.tokenizer.save_pretrained(folder)
    return folder


FAST = ["target_languages=de,ru", "layers=[1,2]", "dev_limit=2", "max_new_tokens=4", "plots=true",
        "method.alphas=[1.0,2.0]", "method.steps=30"]


def _model(tiny_folder):
    return {"name": f"hf:{tiny_folder}", "params": {"tokenizer_class": "ByT5Tokenizer"}}


def _config(tiny_folder, out, method="diffmean", extra=()):
    data = {"benchmark": "clasbench", "model": _model(tiny_folder), "method": method, "limit": 3,
            "output_dir": str(out), "tracking": {"enabled": False}}
    overrides = [o for o in FAST if not (method in ("prompting",) and o.startswith("method."))]
    if method not in ("sae",):
        overrides = [o for o in overrides if o != "method.steps=30"]
    if method == "lape":
        overrides = [o.replace("method.alphas=[1.0,2.0]", "method.top_rate=0.05") for o in overrides]
    apply_overrides(data, overrides + list(extra))
    return build_run_config(data)


def test_diffmean_run_summary_results_and_artifacts(tiny_folder, tmp_path):
    outcome = execute(_config(tiny_folder, tmp_path), get_host())
    s = outcome.summary
    assert s["benchmark"] == "clasbench" and s["method"] == "diffmean" and s["spec_version"] == "1"
    for key in ("language_control", "relevance", "steering_score", "macro_steering_score"):
        assert key in s["metrics"]
    assert set(s["per_language"]) == {"de", "ru"}
    de = s["per_language"]["de"]
    assert de["layer"] in (1, 2) and de["alpha"] in (1.0, 2.0) and "baseline" in de
    assert s["baseline"]["metrics"]["n"] == 3 * 2
    assert s["relevance_judge"]["label"] == "relevance_proxy"
    fp = s["forward_passes"]
    # Activations: one forward pass per training question per language, nothing more, and only
    # what DiffMean reads (no MLP statistics, no token residuals).
    assert fp["extraction"]["this_run"] == fp["extraction"]["minimum"] > 0
    assert fp["extraction"]["requested"] == ["features"]
    rows = [json.loads(x) for x in (outcome.run_dir / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 3 * 2
    r = rows[0]
    assert set(r["scores"]) == {"language_control", "relevance", "steering_score"}
    assert r["scores"]["steering_score"] == {"f": int(r["scores"]["language_control"]), "j": r["scores"]["relevance"]}
    assert r["reference"]["language"] in ("de", "ru") and r["metadata"]["layer"] in (1, 2)
    # The steering score in the summary is recomputable from the per-example values.
    from plurieval_clasbench.metrics import steering_aggregate

    assert steering_aggregate([r["scores"]["steering_score"] for r in rows]) == pytest.approx(
        s["metrics"]["steering_score"]["value"])
    sweep = json.loads((outcome.run_dir / "sweep.json").read_text())
    assert len([x for x in sweep if x["split"] == "dev"]) == 2 * 2 * 2  # targets × layers × alphas
    assert (outcome.run_dir / "plots" / "layerwise.png").stat().st_size > 1000
    assert (outcome.run_dir / "plots" / "diffmean_cosine.png").stat().st_size > 1000
    # The setting chosen on dev is saved per target (safetensors + card) and hashed in the manifest.
    from plurieval.models import load_intervention

    iv = load_intervention(outcome.run_dir / "artifacts" / "intervention_de")
    assert iv.layers == [de["layer"]] and iv.card["alpha"] == de["alpha"] and iv.card["method"] == "diffmean"
    assert iv.card["model_weights_hash"] and iv.card["data_hash"].startswith("sha256:")
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    assert sorted(e["name"] for e in manifest["interventions"]) == ["de", "ru"]
    assert all(e["hash"].startswith("sha256:") for e in manifest["interventions"])
    # A second run of another direction method reuses the stored activations: 0 passes.
    s2 = execute(_config(tiny_folder, tmp_path, method="pca"), get_host()).summary
    assert s2["forward_passes"]["extraction"]["this_run"] == 0
    assert s2["forward_passes"]["extraction"]["reused"] in ("memory", "store")


def test_all_methods_leaderboard(tiny_folder, tmp_path):
    from plurieval.steering import protocol

    protocol._ACTIVATION_MEMO.clear()  # the sets an earlier test of this process extracted
    data = {"model": _model(tiny_folder), "tracking": {"enabled": False}}
    board = None
    overrides = ["target_languages=de", "layers=[1]", "dev_limit=2", "max_new_tokens=3", "plots=false"]
    rows = []
    for m in ALL_METHODS:
        extra = {"sae": ["method.steps=20", "method.alphas=[1.0]"], "lape": ["method.top_rate=0.05", "method.alphas=[1.0]"],
                 "prompting": []}.get(m, ["method.alphas=[1.0]"])
        board = run_all([m], model=f"hf:{tiny_folder}", limit=2, output=tmp_path, assignments=overrides + extra,
                        config=data)
        rows += board["methods"]
    assert [r["method"] for r in rows] == ALL_METHODS
    for r in rows:
        assert 0 <= r["S"] <= 100 and 0 <= r["F"] <= 100 and 0 <= r["J"] <= 100
    # Each method extracts only what it asked for, once: the direction estimators share the
    # per-question features DiffMean extracted; LAPE (MLP statistics) and the SAE (token
    # residuals) need more, and extract it; prompting needs nothing.
    passes = {r["method"]: r["extraction_passes"] for r in rows}
    assert passes["prompting"] == 0 and passes["diffmean"] > 0
    assert all(passes[m] == 0 for m in ("pca", "lda", "probe"))
    assert passes["lape"] == passes["sae"] == passes["diffmean"]
    assert (tmp_path / "clasbench_leaderboard.json").exists()


def test_prompting_rewrites_prompts_without_hooks(tiny_folder, tmp_path):
    s = execute(_config(tiny_folder, tmp_path, method="prompting"), get_host()).summary
    assert s["per_language"]["de"]["layer"] is None
    assert s["forward_passes"]["extraction"]["this_run"] == 0


def test_unknown_target_language_is_rejected(tiny_folder, tmp_path):
    from plurieval.errors import PluriError

    with pytest.raises(PluriError, match="not in the dataset"):
        execute(_config(tiny_folder, tmp_path, extra=["target_languages=xx"]), get_host())


@pytest.mark.integration
def test_default_model_diffmean_forces_german(tmp_path):
    data = {"benchmark": "clasbench", "model": "default", "method": "diffmean", "limit": 4,
            "output_dir": str(tmp_path), "tracking": {"enabled": False}}
    apply_overrides(data, ["target_languages=de", "layers=[6]", "dev_limit=3", "max_new_tokens=24",
                           "method.alphas=[5.0,8.0]", "plots=false"])
    s = execute(build_run_config(data), get_host()).summary
    base_f = s["baseline"]["per_language"]["de"]["language_control"]
    assert s["per_language"]["de"]["language_control"] >= base_f + 50
