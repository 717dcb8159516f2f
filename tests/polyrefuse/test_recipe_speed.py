"""The fine-tune's fast path computes the same loss as transformers' own (float32)."""

import torch

from plurieval.models.testing import ARCHS, tiny_model
from plurieval_polyrefuse.recipe import answer_loss


def test_answer_loss_is_transformers_causal_lm_loss():
    g = torch.Generator().manual_seed(0)
    for arch in ARCHS:
        hf = tiny_model(arch).hf
        ids = torch.randint(3, 300, (3, 12), generator=g)
        mask = torch.ones_like(ids)
        mask[1, 9:] = 0  # right padding, as the recipe pads
        labels = torch.full_like(ids, -100)
        labels[0, 5:] = ids[0, 5:]
        labels[1, 7:9] = ids[1, 7:9]
        labels[2, 2:] = ids[2, 2:]
        with torch.no_grad():
            ref = hf(input_ids=ids, attention_mask=mask, labels=labels, use_cache=False).loss
            ours = answer_loss(hf, ids, mask, labels)
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)


def test_the_default_precision_keeps_every_earlier_build_key():
    """``train_dtype`` came later: at its default (float32, what every earlier build used) the
    build key is the one computed before the field existed, so cached builds stay valid."""
    from plurieval_polyrefuse.config import RefusalModelConfig
    from plurieval_polyrefuse.recipe import recipe_key

    cfg = RefusalModelConfig(source="sample", tune_languages=["en", "de"], harmful_per_language=4,
                             harmless_per_language=4, steps=12)
    lm = tiny_model("llama")
    assert recipe_key(cfg, lm) == "eacff62806a8"  # computed with the recipe before train_dtype
    assert recipe_key(cfg.model_copy(update={"train_dtype": "bfloat16"}), lm) != "eacff62806a8"
