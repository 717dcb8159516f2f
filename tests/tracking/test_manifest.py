"""The run manifest: complete, validated by the pydantic schema, and updated as the run goes."""

from __future__ import annotations

import json

import pytest
from conftest import tiny_config
from pydantic import ValidationError

from plurieval.errors import PluriError
from plurieval.manifest import Manifest, load_manifest, validate_manifest
from plurieval.runner import execute


def test_manifest_records_everything_needed_to_repeat_a_run(host, tmp_path):
    out = execute(tiny_config(tmp_path, n=4, alpha=2.0, model={"name": "tiny-test", "params": {"seed": 3}}), host)
    data = json.loads((out.run_dir / "manifest.json").read_text())
    m = load_manifest(out.run_dir)  # validates
    assert m.status == "complete" and m.run_id == out.run_dir.name
    assert m.model.weights_hash.startswith("sha256:") and m.model.dtype == "float32" and m.model.batch_size is None
    assert m.model.id == "tiny-llama-seed3" and m.model.num_parameters > 0
    assert [(d.id, d.split, d.num_examples) for d in m.datasets] == [("tiny-echo-prompts", "test", 4)]
    assert m.datasets[0].content_hash.startswith("sha256:")
    (iv,) = m.interventions
    assert iv.name == "steer" and iv.hash.startswith("sha256:") and "tensors.safetensors" in iv.files
    assert m.seeds.seed == 0 and m.seeds.components == {"model.seed": 3}
    assert m.components["benchmark"].config["alpha"] == 2.0 and m.components["model"].config == {"arch": "llama", "seed": 3}
    assert m.benchmark.spec_version == "1" and m.benchmark.spec_hash.startswith("sha256:")
    assert m.plugins["tinybench"].distribution == "plurieval-tinybench"
    assert {"python", "torch", "transformers"} <= set(m.platform)
    assert m.metrics == out.summary["metrics"]
    assert data["cache"]["misses"] > 0
    if m.plurieval.git is not None:
        assert len(m.plurieval.git.revision) == 40 and isinstance(m.plurieval.git.dirty, bool)


def test_model_is_recorded_as_soon_as_it_loads(host, tmp_path):
    from plurieval.run import RunContext

    cfg = tiny_config(tmp_path, n=2)
    from plurieval.config import validate_components

    ctx = RunContext(host=host, config=cfg, run_id="r", run_dir=tmp_path / "r", components=validate_components(cfg, host))
    seen = []
    ctx.on_model_loaded(lambda model: seen.append(model.name))
    assert seen == [] and not ctx.model_loaded
    ctx.model  # noqa: B018 - loading is the point
    assert seen == ["tiny-llama-seed0"]
    ctx.on_model_loaded(lambda model: seen.append("late"))  # registered after loading: called at once
    assert seen == ["tiny-llama-seed0", "late"]
    with ctx.child_run("layer=1"):
        with ctx.child_run("alpha=2"):
            assert ctx.scope == ["layer=1", "alpha=2"]
    assert ctx.scope == []
    ctx.close()


def test_schema_rejects_a_broken_manifest(host, tmp_path):
    out = execute(tiny_config(tmp_path, n=2), host)
    data = json.loads((out.run_dir / "manifest.json").read_text())
    validate_manifest(data)
    with pytest.raises(ValidationError, match="run_id"):
        Manifest.model_validate({k: v for k, v in data.items() if k != "run_id"})
    with pytest.raises(ValidationError, match="num_examples"):
        validate_manifest({**data, "datasets": [{"id": "x", "content_hash": "sha256:0"}]})
    (tmp_path / "bad.json").write_text(json.dumps({**data, "seeds": {"seed": "zero"}}))
    with pytest.raises(PluriError, match="not a valid plurieval manifest"):
        load_manifest(tmp_path / "bad.json")
    with pytest.raises(PluriError, match="no manifest"):
        load_manifest(tmp_path / "nowhere")
