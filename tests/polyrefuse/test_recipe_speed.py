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
