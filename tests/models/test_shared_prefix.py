"""A batch's common prompt prefix is computed once per setting, not once per row.

The reference is the same call with ``share_prefix=False`` (every row's whole prompt through
its own forward pass): the tokens must be identical for every kind of row (plain, adds at
every position / prompt only / generated only, ablations, compositions, neuron edits), on every
architecture, with rows ending at different steps and greedy or seeded sampling.
"""

import pytest
import torch

from plurieval.models import AddVector, Compose, DirectionalAblation, NeuronIntervention
from plurieval.models.lm import MIN_SHARED_PREFIX
from plurieval.models.testing import ARCHS, tiny_model

SYSTEM = "You are a helpful assistant. Answer briefly.\n"  # 45 bytes: a shared prefix of 45 tokens
QUESTIONS = ["What is the capital of France?", "Why?", "Name three colours.", "2+2"]


def _vec(lm, seed):
    return torch.randn(lm.hidden_size, generator=torch.Generator().manual_seed(seed))


def _settings(lm):
    return [None, AddVector(_vec(lm, 1), layers=[0], alpha=2.0),
            AddVector(_vec(lm, 2), layers=[1], alpha=3.0, positions="prompt"),
            AddVector(_vec(lm, 3), layers=[2], alpha=3.0, positions="generated"),
            DirectionalAblation(_vec(lm, 4)),
            Compose([AddVector(_vec(lm, 5), layers=[1], alpha=2.0), DirectionalAblation(_vec(lm, 6), layers=[2])]),
            NeuronIntervention({1: [0, 3, 5]}, values=4.0)]


def _grid(lm):
    settings = _settings(lm)
    rows = [(SYSTEM + q, s) for s in settings for q in QUESTIONS]
    return [p for p, _ in rows], [s for _, s in rows]


@pytest.mark.parametrize("arch", ARCHS)
def test_a_shared_prefix_gives_the_tokens_of_whole_prompts(arch, monkeypatch):
    lm = tiny_model(arch, seed=0)
    prompts, ivs = _grid(lm)
    plain = lm.generate(prompts[:4], max_new_tokens=10, share_prefix=False, lanes=1)
    # rows end at different steps (the tokenizer's own EOS stays one, so prompts encode as before)
    lm.eos_token_ids = [*lm.eos_token_ids, plain[1].token_ids[4], plain[3].token_ids[5]]
    whole = lm.generate(prompts, interventions=ivs, max_new_tokens=10, share_prefix=False, lanes=1)

    prefills = []
    real = lm._prefill_prefix
    monkeypatch.setattr(lm, "_prefill_prefix", lambda shared, capacity: prefills.append(shared) or real(shared, capacity))
    for batch_size in (None, 9):
        shared = lm.generate(prompts, interventions=ivs, max_new_tokens=10, batch_size=batch_size, lanes=1)
        assert [g.token_ids for g in shared] == [g.token_ids for g in whole], batch_size
        assert [g.finish_reason for g in shared] == [g.finish_reason for g in whole]
    # the prefix was computed once per setting of each batch: 7 settings for 28 rows in one batch
    assert len(prefills[0].settings) == 7 and len(prefills[0].owner) == 28
    assert len(prefills[0].tokens) >= len(SYSTEM)
    assert {g.finish_reason for g in whole} == {"eos", "length"}
    assert len({tuple(g.token_ids) for g in whole}) >= 10, "settings changed little: the test proves less"


def test_seeded_samples_are_the_same_with_a_shared_prefix(llama):
    prompts, ivs = _grid(llama)
    kw = dict(interventions=ivs, max_new_tokens=8, do_sample=True, temperature=1.2, seed=3, lanes=1)
    assert ([g.token_ids for g in llama.generate(prompts, share_prefix=True, **kw)]
            == [g.token_ids for g in llama.generate(prompts, share_prefix=False, **kw)])


def test_when_a_prefix_is_shared(llama):
    enc = llama.encode([SYSTEM + q for q in QUESTIONS])
    plain = [None] * len(enc)
    shared = llama._shared_prefix(enc, plain)
    # ByT5 tokens are bytes: the prompts agree on SYSTEM and the next byte differs ("W", "W", "N", "2")
    assert shared is not None and shared.tokens == enc[0][:len(shared.tokens)] and len(shared.tokens) == len(SYSTEM)
    assert shared.settings == [None] and shared.owner == [0, 0, 0, 0]
    # every row its own setting: nothing to share
    ivs = [AddVector(_vec(llama, k), layers=[0], alpha=1.0) for k in range(len(enc))]
    assert llama._shared_prefix(enc, ivs) is None
    # a prefix shorter than MIN_SHARED_PREFIX is not worth a forward pass of its own
    short = llama.encode(["abc" + q for q in ("xyz", "xyw")])
    assert 3 < MIN_SHARED_PREFIX and llama._shared_prefix(short, [None, None]) is None
    # identical prompts: every row keeps its last token, so its first logits are its own
    same = llama.encode([SYSTEM] * 3)
    assert len(llama._shared_prefix(same, [None] * 3).tokens) == len(same[0]) - 1


@pytest.mark.parametrize("arch", ARCHS)
def test_next_token_logprobs_with_a_shared_prefix_equal_whole_prompts(arch):
    lm = tiny_model(arch, seed=0)
    prompts, ivs = _grid(lm)
    whole = lm.next_token_logprobs(prompts, interventions=ivs)  # the default: whole prompts
    shared = lm.next_token_logprobs(prompts, interventions=ivs, share_prefix=True)
    assert torch.allclose(shared, whole, atol=1e-5, rtol=0), float((shared - whole).abs().max())
    assert (whole.argmax(-1) == shared.argmax(-1)).all()
    assert len({int(t) for t in whole.argmax(-1)}) > 3, "the settings changed little: the test proves less"


def test_quantised_rows_keep_their_planned_batches(monkeypatch):
    """Dynamic int8 quantises each Linear's whole input with one scale, so a row depends on
    its batch: no shared prefix, and the batches are not re-cut for lanes."""
    from plurieval.models.lm import LanguageModel
    from plurieval.models.loading import quantize_int8

    base = tiny_model("llama", seed=0)
    lm = LanguageModel(quantize_int8(base.hf), base.tokenizer, name="tiny-int8", quantization="int8")
    assert not lm.rows_independent and base.rows_independent
    monkeypatch.setattr(lm, "_prefill_prefix", lambda *a: pytest.fail("no prefix may be shared under int8"))
    prompts = [SYSTEM + q for q in QUESTIONS]
    assert lm._shared_prefix(lm.encode(prompts), [None] * len(prompts)) is None
    assert base._shared_prefix(base.encode(prompts), [None] * len(prompts)) is not None
    sizes = []
    from plurieval.models import decoding

    real = decoding.decode
    monkeypatch.setattr(decoding, "decode", lambda hf, ids, *a, **kw: sizes.append(ids.shape[0]) or real(hf, ids, *a, **kw))
    lm.generate(prompts, max_new_tokens=3, lanes=2)
    lm.next_token_logprobs(prompts, share_prefix=True)
    assert sizes == [len(prompts)], "one batch, as planned without lanes"
