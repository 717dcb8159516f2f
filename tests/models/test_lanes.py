"""Decoding lanes: batches decoded at once on weight-sharing replicas, one thread each.

The reference is the same call with one lane (every batch in the caller, one after another):
the tokens must be identical, for every kind of row, on every architecture, cache on and off.
"""

import threading

import pytest
import torch

from plurieval.errors import PluriError
from plurieval.models import AddVector, Compose, DirectionalAblation, NeuronIntervention
from plurieval.models.lanes import LANES_ENV, hook_count, lanes_for, run_in_lanes, share_weights
from plurieval.models.lm import _split_for_lanes
from plurieval.models.testing import ARCHS, tiny_model

PROMPTS = ["The quick brown fox", "Hi", "Steering vectors are added to the residual stream.", "abc", "zz top"]


def _vec(lm, seed):
    return torch.randn(lm.hidden_size, generator=torch.Generator().manual_seed(seed))


def _rows(lm):
    settings = [None, AddVector(_vec(lm, 1), layers=[0], alpha=2.0),
                AddVector(_vec(lm, 2), layers=[2], alpha=3.0, positions="generated"),
                DirectionalAblation(_vec(lm, 3)),
                Compose([AddVector(_vec(lm, 4), layers=[1], alpha=2.0), DirectionalAblation(_vec(lm, 5), layers=[1])]),
                NeuronIntervention({1: [0, 3, 5]}, values=4.0)]
    pairs = [(p, s) for p in PROMPTS for s in settings]
    return [p for p, _ in pairs], [s for _, s in pairs]


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("use_cache", [True, False])
def test_lanes_give_the_tokens_of_one_lane(arch, use_cache):
    lm = tiny_model(arch, seed=0)
    plain = lm.generate(PROMPTS, max_new_tokens=10, lanes=1)
    lm.eos_token_ids = [plain[0].token_ids[3], plain[2].token_ids[6]]  # rows end at different steps
    prompts, ivs = _rows(lm)
    one = lm.generate(prompts, interventions=ivs, max_new_tokens=10, lanes=1, use_cache=use_cache)
    for lanes, batch_size in ((2, None), (3, None), (3, 4)):
        many = lm.generate(prompts, interventions=ivs, max_new_tokens=10, lanes=lanes, batch_size=batch_size,
                           use_cache=use_cache)
        assert [g.token_ids for g in many] == [g.token_ids for g in one], (lanes, batch_size)
        assert [g.finish_reason for g in many] == [g.finish_reason for g in one]
    assert {g.finish_reason for g in one} == {"eos", "length"}
    assert len({tuple(g.token_ids) for g in one}) > len(PROMPTS), "the settings changed nothing: the test proves less"


def test_seeded_samples_do_not_depend_on_lanes(llama):
    prompts, ivs = _rows(llama)
    kw = dict(interventions=ivs, max_new_tokens=8, do_sample=True, temperature=1.3, seed=7)
    one = [g.token_ids for g in llama.generate(prompts, lanes=1, **kw)]
    assert [g.token_ids for g in llama.generate(prompts, lanes=2, **kw)] == one


def test_lanes_really_run_at_once_on_replicas_that_share_the_weights(llama, monkeypatch):
    from plurieval.models import decoding

    trees, threads_seen, single = set(), set(), []
    meet = threading.Barrier(2, timeout=30)  # the first two batches must be in flight together
    first = [0]
    real = decoding.decode

    def spy(hf, *a, **kw):
        trees.add(id(hf))
        threads_seen.add(threading.get_ident())
        single.append(torch.get_num_threads() == 1)
        first[0] += 1
        if first[0] <= 2:
            meet.wait()
        return real(hf, *a, **kw)

    monkeypatch.setattr(decoding, "decode", spy)
    threads = torch.get_num_threads()
    llama.generate(PROMPTS * 4, max_new_tokens=4, lanes=2, batch_size=5)
    assert len(threads_seen) == 2 and len(trees) == 2, "two threads, each on its own module tree"
    assert all(single), "a lane's kernels run single-threaded"
    assert torch.get_num_threads() == threads, "the caller's thread count is restored"
    replica = llama.lane_models(2)[1]
    assert replica.hf is not llama.hf
    for (name, a), (_, b) in zip(llama.hf.state_dict(keep_vars=True).items(),
                                 replica.hf.state_dict(keep_vars=True).items(), strict=True):
        assert a is b, f"{name} was copied"
    assert llama.lane_models(2)[1] is replica, "replicas are made once"


def test_hooks_stay_on_their_own_tree():
    lm = tiny_model("llama", seed=0)
    clone = share_weights(lm.hf)
    fired = []
    handle = clone.model.layers[0].register_forward_hook(lambda *a: fired.append(1))
    with torch.inference_mode():
        ids, mask = lm.pad_left(lm.encode(["abc"]))
        lm.hf(input_ids=ids, attention_mask=mask)
        assert fired == []
        clone(input_ids=ids, attention_mask=mask)
        assert fired == [1]
    handle.remove()
    assert hook_count(clone) == 0 and hook_count(lm.hf) == 0


def test_one_lane_while_hooks_or_steering_are_attached():
    lm = tiny_model("llama", seed=0)
    iv = AddVector(_vec(lm, 1), layers=[1], alpha=3.0)
    alone = [g.token_ids for g in lm.generate(PROMPTS, max_new_tokens=6, intervention=iv, lanes=1)]
    with lm.steer(iv):
        assert lm.lane_models(2) == [lm], "a replica would not carry the steering hooks"
        assert [g.token_ids for g in lm.generate(PROMPTS * 2, max_new_tokens=6, lanes=2, batch_size=3)] == alone * 2
    handle = lm.hf.model.layers[0].register_forward_hook(lambda *a: None)
    assert lm.lane_models(2) == [lm], "a foreign hook on the model: no replicas"
    handle.remove()
    assert len(lm.lane_models(2)) == 2


def test_the_batch_plan_fills_every_lane():
    # 90 rows, 64 per batch, 2 lanes: ceil(90/64) = 2 batches, already a multiple of 2: 45 each
    assert _split_for_lanes(90, 64, 2) == 45
    # 10 rows: 1 batch → 2 batches of 5
    assert _split_for_lanes(10, 64, 2) == 5
    # 810 rows: 13 batches of 64 → 14 (a multiple of 2) → ceil(810/14) = 58 rows
    assert _split_for_lanes(810, 64, 2) == 58
    # 3 lanes, 100 rows: 2 batches → 3 → 34 rows
    assert _split_for_lanes(100, 64, 3) == 34
    assert _split_for_lanes(90, 64, 1) == 64 and _split_for_lanes(1, 64, 4) == 64


def test_the_memory_budget_is_shared_by_the_lanes(llama):
    from plurieval.models import lm as lm_module

    positions = 20_000  # tiny Llama: 3,840 bytes per position, so 1 GiB holds 13 rows of 20k (6 per lane of 2)
    one, two = llama.batch_rows(positions), llama.batch_rows(positions, lanes=2)
    assert 1 <= two < one
    assert 2 * two * positions * llama.bytes_per_position() <= lm_module.BATCH_MEMORY_BYTES


def test_progress_counts_every_row_on_the_callers_thread(llama):
    calls = []
    main = threading.get_ident()
    llama.generate(PROMPTS * 3, max_new_tokens=3, lanes=2, batch_size=4,
                   progress=lambda n: calls.append((n, threading.get_ident())))
    assert sum(n for n, _ in calls) == 15 and {t for _, t in calls} == {main}


def test_lane_count_comes_from_the_argument_the_environment_or_torch(monkeypatch):
    monkeypatch.delenv(LANES_ENV, raising=False)
    assert lanes_for(None) == torch.get_num_threads()
    assert lanes_for(3) == 3
    monkeypatch.setenv(LANES_ENV, "4")
    assert lanes_for(None) == 4
    monkeypatch.setenv(LANES_ENV, "four")
    with pytest.raises(PluriError, match=LANES_ENV):
        lanes_for(None)
    with pytest.raises(PluriError, match="at least 1"):
        lanes_for(0)


def test_an_error_in_a_lane_reaches_the_caller():
    def work(model, job):
        if job == 2:
            raise ValueError("lane failed on job 2")
        return job

    with pytest.raises(ValueError, match="job 2"):
        list(run_in_lanes([1, 2, 3, 4], work, ["a", "b"]))
    assert sorted(r for _, r in run_in_lanes([1, 3, 4], work, ["a", "b"])) == [1, 3, 4]
