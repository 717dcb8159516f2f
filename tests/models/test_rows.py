"""One batch, many settings: per-row interventions and the decoding loop that drops finished rows.

The reference for every check is the slow path the engine replaces: transformers' own
``generate`` with the intervention's hooks, or the same call with one setting at a time.
"""

import pytest
import torch

from plurieval.errors import PluriError
from plurieval.models import AddVector, Compose, DirectionalAblation, NeuronIntervention
from plurieval.models.testing import ARCHS, tiny_model

PROMPTS = ["The quick brown fox", "Hi", "Steering vectors are added to the residual stream.", "abc"]


def _vec(lm, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(lm.hidden_size, generator=g) * scale


def _settings(lm):
    """Every kind of row: plain, adds at different layers/points/positions, an ablation, a
    composition, and a neuron edit (which has no batched form and runs its own hooks)."""
    return [
        None,
        AddVector(_vec(lm, 1), layers=[0], alpha=2.0),
        AddVector(_vec(lm, 2), layers=[2], alpha=3.0, positions="generated"),
        AddVector(_vec(lm, 3), layers=[1], alpha=2.5, point="mlp_out", positions="prompt"),
        DirectionalAblation(_vec(lm, 4)),
        Compose([AddVector(_vec(lm, 5), layers=[1], alpha=2.0), DirectionalAblation(_vec(lm, 6), layers=[1, 2])]),
        NeuronIntervention({1: [0, 3, 5, 7]}, values=4.0),
    ]


def _with_eos_mid_sequence(lm, prompts):
    """Make a token that plain greedy decoding emits after a few steps the model's EOS, so rows
    finish at different steps (random tiny models never emit their real EOS)."""
    plain = lm.generate(prompts, max_new_tokens=12)
    lm.eos_token_ids = [plain[0].token_ids[4], plain[2].token_ids[7]]
    return lm


@pytest.fixture(params=ARCHS)
def eos_lm(request):
    return _with_eos_mid_sequence(tiny_model(request.param, seed=0), PROMPTS)


def _hf_generate(lm, prompts, iv, max_new_tokens, use_cache=True):
    """The old path: transformers' generate under the intervention's hooks, one setting."""
    from transformers import GenerationConfig

    cfg = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=lm.pad_token_id,
                           eos_token_id=lm.eos_token_ids, use_cache=use_cache, temperature=None, top_p=None, top_k=None)
    ids, mask = lm.pad_left(lm.encode(prompts))
    with torch.inference_mode(), lm.steer(iv), lm._prompt_len(ids.shape[1]):
        seqs = lm.hf.generate(input_ids=ids, attention_mask=mask, generation_config=cfg)
    out = []
    for row in seqs[:, ids.shape[1]:].tolist():
        new = []
        for t in row:
            new.append(t)
            if t in lm.eos_token_ids:
                break
        out.append(new)
    return out


@pytest.mark.parametrize("use_cache", [True, False])
def test_decoding_loop_gives_the_tokens_of_transformers_generate(eos_lm, use_cache):
    lm = eos_lm
    for iv in (None, AddVector(_vec(lm, 1), layers=[1], alpha=2.0)):
        ours = [g.token_ids for g in lm.generate(PROMPTS, max_new_tokens=12, batch_size=4, intervention=iv,
                                                  use_cache=use_cache)]
        assert ours == _hf_generate(lm, PROMPTS, iv, 12, use_cache=use_cache)
        if iv is None:
            assert any(len(t) < 12 for t in ours) and any(len(t) == 12 for t in ours), "EOS untested"


@pytest.mark.parametrize("use_cache", [True, False])
def test_heterogeneous_batch_equals_each_setting_alone(eos_lm, use_cache):
    lm = eos_lm
    settings = _settings(lm)
    alone = {k: [g.token_ids for g in lm.generate(PROMPTS, max_new_tokens=10, intervention=s, use_cache=use_cache)]
             for k, s in enumerate(settings)}
    # rows interleaved (prompt-major), so every batch mixes settings and rows end at different steps
    rows = [(k, i) for i in range(len(PROMPTS)) for k in range(len(settings))]
    for batch_size in (len(rows), 5) if use_cache else (5,):
        mixed = lm.generate([PROMPTS[i] for _, i in rows], max_new_tokens=10, batch_size=batch_size,
                            interventions=[settings[k] for k, _ in rows], use_cache=use_cache)
        for (k, i), g in zip(rows, mixed, strict=True):
            assert g.token_ids == alone[k][i], f"setting {k}, prompt {i}, batch {batch_size}"
    reasons = {g.finish_reason for g in mixed}
    assert reasons == {"eos", "length"}, "rows should end at different steps (finished rows leave the batch)"
    distinct = {tuple(map(tuple, v)) for v in alone.values()}
    assert len(distinct) == len(settings), "some setting had no effect, so the test would prove less"


def test_finished_rows_leave_the_batch(llama):
    lm = _with_eos_mid_sequence(tiny_model("llama", seed=0), PROMPTS)
    widths = []
    handle = lm.hf.model.register_forward_pre_hook(
        lambda _m, _a, kw: widths.append(kw["input_ids"].shape[0]), with_kwargs=True)
    done = []
    try:
        gens = lm.generate(PROMPTS * 4, max_new_tokens=12, batch_size=16, progress=done.append)
    finally:
        handle.remove()
    assert done == [16]  # one batch: the progress callback hears about its 16 rows once
    ended = sum(g.finish_reason == "eos" for g in gens)
    assert ended >= 4 and widths[0] == 16
    assert widths[-1] <= 16 - ended, f"batch stayed {widths[-1]} rows wide with {ended} rows finished"


def test_logprobs_and_activations_per_row_equal_each_setting_alone(any_lm):
    settings = _settings(any_lm)
    rows = [(k, i) for i in range(len(PROMPTS)) for k in range(len(settings))]
    prompts = [PROMPTS[i] for _, i in rows]
    ivs = [settings[k] for k, _ in rows]
    mixed = any_lm.next_token_logprobs(prompts, interventions=ivs, batch_size=9)
    point = "blocks.2.resid_post"
    acts = any_lm.extract(prompts, [point], reduce="mean", interventions=ivs)[point]
    for k, s in enumerate(settings):
        idx = [j for j, (kk, _) in enumerate(rows) if kk == k]
        torch.testing.assert_close(mixed[idx], any_lm.next_token_logprobs(PROMPTS, intervention=s),
                                   rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(acts[idx], any_lm.extract(PROMPTS, [point], reduce="mean", intervention=s)[point],
                                   rtol=1e-5, atol=1e-5)


def test_seeded_sampling_is_per_row(llama):
    """A row's sample depends on the seed and its rank in its setting only: not on the batch
    size, the other settings in the batch, or the global RNG (which it leaves untouched)."""
    iv = AddVector(_vec(llama, 1), layers=[1], alpha=2.0)
    kw = dict(max_new_tokens=8, do_sample=True, temperature=1.3, top_p=0.9, seed=7)
    alone = [g.token_ids for g in llama.generate(PROMPTS, intervention=iv, **kw)]
    state = torch.random.get_rng_state()
    assert alone == [g.token_ids for g in llama.generate(PROMPTS, intervention=iv, batch_size=1, **kw)]
    assert torch.equal(state, torch.random.get_rng_state())
    mixed = llama.generate(PROMPTS + PROMPTS, interventions=[None] * 4 + [iv] * 4, batch_size=3, **kw)
    assert [g.token_ids for g in mixed[4:]] == alone
    assert [g.token_ids for g in mixed[:4]] == [g.token_ids for g in llama.generate(PROMPTS, **kw)]
    other = [g.token_ids for g in llama.generate(PROMPTS, intervention=iv, **{**kw, "seed": 8})]
    assert other != alone
    greedy = [g.token_ids for g in llama.generate(PROMPTS, intervention=iv, max_new_tokens=8)]
    assert alone != greedy


def test_row_arguments_are_checked(llama):
    iv = AddVector(_vec(llama, 1), layers=[0])
    with pytest.raises(PluriError, match="not both"):
        llama.generate(PROMPTS, intervention=iv, interventions=[iv] * 4)
    with pytest.raises(PluriError, match="3 entries for 4 prompts"):
        llama.next_token_logprobs(PROMPTS, interventions=[iv] * 3)
    with pytest.raises(PluriError, match="row 1"):
        llama.extract(PROMPTS, ["blocks.0.resid_pre"], interventions=[None, "diffmean", None, None])
    with pytest.raises(PluriError, match="batch_size"):
        llama.generate(PROMPTS, batch_size=0)


def test_batch_rows_fill_the_budget_and_shrink_for_long_or_large_inputs(llama):
    from plurieval.models import lm as lm_module

    short = llama.batch_rows(64)
    assert short == lm_module.DEFAULT_BATCH_ROWS
    long = llama.batch_rows(100_000)
    assert 1 <= long < short
    assert long * 100_000 * llama.bytes_per_position() <= lm_module.BATCH_MEMORY_BYTES
    # KV cache of every layer in the estimate: 2 (K, V) × 3 layers × 2 kv heads × 16 dims
    assert llama.bytes_per_position() == 4 * (2 * 3 * 2 * 16 + 6 * 64 + 3 * 128)
