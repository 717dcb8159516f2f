"""The model plugin's registrations, resolved through the real plugin host."""

import subprocess
import sys

import pytest
import torch

from plurieval.config import ComponentRef, resolve_model_argument
from plurieval.host import PluginHost
from plurieval.models import LanguageModel
from plurieval.models.testing import tiny_hf_model, tiny_tokenizer


@pytest.fixture(scope="module")
def host():
    return PluginHost()


def test_models_are_registered_with_licences(host):
    default = host.get("model", "default")
    assert default.license == "Apache-2.0"
    assert "Gemma Terms" in host.get("model", "gemma3-270m").license
    hf = host.get("model", "hf")
    assert hf.argument == "path"
    cfg = default.make_config({"quantization": "int8"})
    assert cfg.quantization == "int8" and cfg.dtype == "float32"


def test_hf_colon_path_loads_a_local_folder(host, tmp_path, monkeypatch):
    monkeypatch.setenv("PLURIEVAL_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "m"
    tiny_hf_model("gpt2", seed=1).save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    spec, params = resolve_model_argument(host, ComponentRef(name=f"hf:{folder}", params={"dtype": "float32"}))
    lm = spec.create(params)
    assert isinstance(lm, LanguageModel) and lm.describe()["model_type"] == "gpt2"
    ref = tiny_hf_model("gpt2", seed=1)
    ids = torch.tensor([[5, 6, 7]])
    with torch.inference_mode():
        torch.testing.assert_close(lm.hf(input_ids=ids).logits, ref(input_ids=ids).logits)


def test_bad_config_values_name_the_field(host):
    from plurieval.errors import ConfigError

    with pytest.raises(ConfigError, match="quantization"):
        host.get("model", "default").make_config({"quantization": "int2"})


def test_plugin_module_does_not_import_torch():
    code = "import sys, plurieval_models.plugin; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
