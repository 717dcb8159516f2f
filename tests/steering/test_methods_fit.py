"""Each registered language-steering method fits on a tiny real model and returns an
intervention that changes what the model computes (prompting: a prompt rewrite)."""

import pytest
import torch

from plurieval.components import Example
from plurieval.host import get_host
from plurieval.models.testing import tiny_model
from plurieval.steering.prompting import PromptRewrite

TEXT = {"en": ["What is the capital of France?", "How many legs does a spider have?", "Why is the sky blue?"],
        "de": ["Was ist die Hauptstadt von Frankreich?", "Wie viele Beine hat eine Spinne?", "Warum ist der Himmel blau?"]}


@pytest.fixture(scope="module")
def lm():
    return tiny_model("llama", seed=0)


def _examples():
    return [Example(id=f"{lang}{i}", input=q, metadata={"language": lang}) for lang, qs in TEXT.items() for i, q in enumerate(qs)]


@pytest.mark.parametrize("name,params", [
    ("diffmean", {}), ("pca", {}), ("lda", {}), ("probe", {}),
    ("sae", {"steps": 30}), ("lape", {"top_rate": 0.1, "alpha": 3.0}),
])
def test_fit_returns_an_intervention_that_changes_logits(lm, name, params):
    spec = get_host().get("method", name)
    assert spec.method_kind == "steering"
    layer = {} if name == "lape" else {"layer": 1}  # LAPE edits neurons of every layer
    method = spec.create({"target_language": "de", "source_languages": ["en"], **layer, **params})
    iv = method.fit(lm, _examples())
    base = lm.next_token_logprobs(["Hello"], chat=False)
    steered = lm.next_token_logprobs(["Hello"], chat=False, intervention=iv)
    assert not torch.allclose(base, steered)
    assert iv.card["target"] == "de"


def test_diffmean_fit_matches_core_math(lm):
    from plurieval.steering.directions import diff_mean

    method = get_host().get("method", "diffmean").create({"target_language": "de", "layer": 2, "alpha": 1.0,
                                                         "alpha_unit": "absolute"})
    iv = method.fit(lm, _examples())
    acts = lm.extract(TEXT["de"] + TEXT["en"], ["blocks.2.resid_pre"], reduce="mean", chat=False)["blocks.2.resid_pre"]
    expected = diff_mean(acts[:3], acts[3:], normalize=True)
    assert torch.allclose(iv.vector, expected, atol=1e-4)
    assert iv.layers == [2] and iv.alpha == 1.0


def test_prompting_is_a_prompt_rewrite(lm):
    method = get_host().get("method", "prompting").create({"target_language": "ja"})
    iv = method.fit(lm, [])
    assert isinstance(iv, PromptRewrite)
    assert iv.rewrite(["Why?"]) == ["Why?\n\nAnswer in Japanese."]


def test_missing_language_metadata_is_a_clear_error(lm):
    from plurieval.errors import PluriError

    method = get_host().get("method", "diffmean").create({"target_language": "de"})
    with pytest.raises(PluriError, match="metadata\\['language'\\]"):
        method.fit(lm, [Example(id="x", input="hi")])
