"""The content-addressed cache: keys separate models and interventions, partial batches compute
only what is missing, cached values equal fresh ones, and --no-cache really bypasses it."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import tiny_config

from plurieval.cache import Cache, cache_key, describe_value
from plurieval.runner import execute


def _generations(run_dir):
    return {r["key"]: r["prediction"] for r in map(json.loads, (run_dir / "results.jsonl").read_text().splitlines())}


def test_cache_key_separates_two_models_on_the_same_prompts(host, tmp_path, private_cache):
    a = execute(tiny_config(tmp_path / "a", n=6), host)
    b = execute(tiny_config(tmp_path / "b", n=6, model={"name": "tiny-test", "params": {"seed": 1}}), host)
    # same prompts, another model: every generation is a miss, never the first model's text
    assert a.summary["cache"]["by_kind"]["generation"] == {"hits": 0, "misses": 6}
    assert b.summary["cache"]["by_kind"]["generation"] == {"hits": 0, "misses": 6}
    assert _generations(a.run_dir) != _generations(b.run_dir)
    ma = json.loads((a.run_dir / "manifest.json").read_text())["model"]
    mb = json.loads((b.run_dir / "manifest.json").read_text())["model"]
    assert ma["weights_hash"] != mb["weights_hash"] and ma["weights_hash"].startswith("sha256:")
    # the first model again, elsewhere: all hits, same outputs
    again = execute(tiny_config(tmp_path / "c", n=6), host)
    assert again.summary["cache"]["by_kind"]["generation"] == {"hits": 6, "misses": 0}
    assert _generations(again.run_dir) == _generations(a.run_dir)
    assert again.summary["metrics"] == a.summary["metrics"]


def test_same_name_different_weights_do_not_share_entries():
    from plurieval.cache import model_identity, state_dict_digest
    from plurieval.models.testing import tiny_model

    m0, m1 = tiny_model("llama", seed=0), tiny_model("llama", seed=0)
    with torch.no_grad():
        m1.hf.model.norm.weight.add_(1e-3)  # same name and revision, weights differ slightly
    d0 = {**m0.describe(), "weights_hash": state_dict_digest(m0.hf)}
    d1 = {**m1.describe(), "weights_hash": state_dict_digest(m1.hf)}
    assert d0["id"] == d1["id"]
    assert cache_key("generation", model=model_identity(d0), prompt="p") != cache_key(
        "generation", model=model_identity(d1), prompt="p")


def test_cache_key_separates_two_interventions_on_the_same_prompts(host, tmp_path):
    one = execute(tiny_config(tmp_path / "a", n=6, alpha=8.0), host)
    two = execute(tiny_config(tmp_path / "b", n=6, alpha=-8.0), host)
    assert one.summary["cache"]["by_kind"]["generation"] == {"hits": 0, "misses": 6}
    assert two.summary["cache"]["by_kind"]["generation"] == {"hits": 0, "misses": 6}
    # the fitted direction is shared (same model, data, method): only the generations differ
    assert two.summary["cache"]["by_kind"]["direction"] == {"hits": 1, "misses": 0}
    assert _generations(one.run_dir) != _generations(two.run_dir)
    ivs = json.loads((one.run_dir / "manifest.json").read_text())["interventions"]
    assert ivs[0]["name"] == "steer" and set(ivs[0]["files"]) == {"card.json", "tensors.safetensors"}


def test_intervention_key_depends_on_tensors_and_params_not_card():
    from plurieval.models import AddVector, DirectionalAblation

    v = torch.arange(8, dtype=torch.float32)
    base = describe_value(AddVector(v, layers=[1], alpha=2.0))
    assert base == describe_value(AddVector(v.clone(), layers=[1], alpha=2.0, card={"note": "provenance only"}))
    assert base != describe_value(AddVector(v, layers=[1], alpha=3.0))
    assert base != describe_value(AddVector(v + 1e-6, layers=[1], alpha=2.0))
    assert base != describe_value(AddVector(v, layers=[2], alpha=2.0))
    assert describe_value(DirectionalAblation(v)) != describe_value(DirectionalAblation(-v))


def test_partly_cached_batch_computes_only_missing_prompts(host, tmp_path):
    execute(tiny_config(tmp_path / "a", n=3), host)
    bigger = execute(tiny_config(tmp_path / "b", n=7), host)
    assert bigger.summary["cache"]["by_kind"]["generation"] == {"hits": 3, "misses": 4}
    fresh = execute(tiny_config(tmp_path / "c", n=7).model_copy(update={"cache": False}), host)
    assert "cache" not in fresh.summary
    assert _generations(bigger.run_dir) == _generations(fresh.run_dir)


def test_cached_activations_and_directions_equal_fresh_ones(host, tmp_path):
    cold = execute(tiny_config(tmp_path / "a", n=6, alpha=4.0, sweep=[0, 2]), host)
    warm = execute(tiny_config(tmp_path / "b", n=6, alpha=4.0, sweep=[0, 2]), host)
    assert cold.summary["cache"]["by_kind"]["activation"]["misses"] == 6 + 12
    assert warm.summary["cache"]["misses"] == 0
    assert warm.summary["cache"]["by_kind"]["activation"]["hits"] == 12  # the direction itself is a hit
    assert warm.summary["metrics"] == cold.summary["metrics"]
    t_cold = (cold.run_dir / "artifacts/intervention/tensors.safetensors").read_bytes()
    t_warm = (warm.run_dir / "artifacts/intervention/tensors.safetensors").read_bytes()
    assert t_cold == t_warm
    manifest = json.loads((warm.run_dir / "manifest.json").read_text())
    assert manifest["cache"]["hits"] == warm.summary["cache"]["hits"]


def test_no_cache_neither_reads_nor_writes(host, tmp_path, private_cache):
    out = execute(tiny_config(tmp_path / "a", n=3).model_copy(update={"cache": False}), host)
    assert Cache().info()["entries"] == 0
    assert json.loads((out.run_dir / "manifest.json").read_text())["cache"] == {"enabled": False}


def test_store_roundtrip_info_and_clear(private_cache):
    cache = Cache()
    t = torch.randn(3, 4, dtype=torch.bfloat16)
    cache.put("direction", "k1", t)
    cache.put("direction", "k2", {"a": torch.ones(2), "b": torch.zeros(1, dtype=torch.int64)})
    cache.put("generation", "k3", {"text": "hello", "n": [1, 2]})
    assert torch.equal(cache.get("direction", "k1"), t)
    assert cache.get("direction", "k2")["b"].dtype == torch.int64
    assert cache.get("generation", "k3") == {"n": [1, 2], "text": "hello"}
    assert cache.get("generation", "missing") is None
    assert cache.stats.to_dict()["by_kind"]["generation"] == {"hits": 1, "misses": 1}
    info = cache.info()
    assert info["by_kind"]["direction"]["entries"] == 2 and info["entries"] == 3
    assert cache.clear("direction") == 2
    assert cache.info()["entries"] == 1
    assert str(private_cache) in info["path"]


def test_store_keeps_interventions_as_safetensors_not_pickle(private_cache):
    from plurieval.models import AddVector

    iv = AddVector(torch.randn(8), layers=[0, 2], alpha=1.5)
    cache = Cache()
    cache.put("direction", "iv", iv)
    back = cache.get("direction", "iv")
    assert type(back) is AddVector and back.params() == iv.params()
    assert torch.equal(back.tensors()["vector"], iv.tensors()["vector"])
    raw = cache.db.execute("SELECT encoding, value FROM entries WHERE key='iv'").fetchone()
    assert raw[0] == "intervention" and b"tensors.safetensors" in raw[1] and b"\x80\x04" not in raw[1][:2]


def test_describe_value_refuses_opaque_objects():
    class Opaque:
        __slots__ = ()

    with pytest.raises(TypeError, match="digest"):
        describe_value(Opaque())


def test_cache_info_and_clear_commands(host, tmp_path, private_cache):
    """`plurieval cache info|clear` on a cache a real run filled (the CLI users script against)."""
    import subprocess
    import sys

    execute(tiny_config(tmp_path / "a", n=3), host)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "plurieval.cli", "cache", *args], capture_output=True, text=True,
                              timeout=120)

    info = cli("info", "--json")
    assert info.returncode == 0, info.stderr
    data = json.loads(info.stdout)
    assert data["path"].startswith(str(private_cache)) and data["by_kind"]["generation"]["entries"] == 3
    assert "generation" in cli("info").stdout
    bad = cli("clear", "--kind", "generations")
    assert bad.returncode == 2 and "--kind must be one of" in bad.stderr
    cleared = cli("clear", "--kind", "generation")
    assert cleared.returncode == 0 and "removed 3 generation entries" in cleared.stdout
    assert json.loads(cli("info", "--json").stdout)["by_kind"].get("generation", {"entries": 0})["entries"] == 0
