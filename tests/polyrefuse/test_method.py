"""Refusal-direction selection on a real tiny Llama with a planted refusal direction."""

import math

import pytest
import torch
from polyrefuse_planted import planted_examples, planted_model

from plurieval.models.interventions import AddVector, DirectionalAblation
from plurieval_polyrefuse.config import RefusalDirectionConfig, RefusalSelectionConfig
from plurieval_polyrefuse.method import RefusalDirection, post_instruction_positions
from plurieval_polyrefuse.metrics import refusal_scores
from plurieval_polyrefuse.selection import kl_row


@pytest.fixture(scope="module")
def planted():
    return planted_model()


@pytest.fixture(scope="module")
def fitted(planted):
    lm, _ = planted
    method = RefusalDirection(RefusalDirectionConfig())
    iv = method.fit(lm, planted_examples("train") + planted_examples("val"))
    return method, iv


def test_model_refuses_harmful_only(planted):
    lm, _ = planted
    exs = planted_examples("val")
    scores = refusal_scores(lm, [e.input for e in exs], ["en"] * len(exs))
    harmful = [s for s, e in zip(scores, exs, strict=False) if e.target == "harmful"]
    harmless = [s for s, e in zip(scores, exs, strict=False) if e.target == "harmless"]
    assert min(harmful) > 5 and max(harmless) < 0


def test_selection_recovers_planted_direction(planted, fitted):
    lm, u = planted
    method, iv = fitted
    sel = method.selection
    assert post_instruction_positions(lm) == 1 and sel.positions == [-1]
    # last 20 % of 3 layers pruned: int(3 * 0.8) = 2 → layers 0 and 1 scored
    assert sorted({r["layer"] for r in sel.scores}) == [0, 1]
    cos = float(torch.nn.functional.cosine_similarity(sel.direction.double(), u.double(), dim=0))
    assert cos > 0.99
    assert sel.filters_passed and isinstance(iv, DirectionalAblation)
    assert iv.card["layer"] == sel.layer
    best = min(r["refusal"] for r in sel.scores if r["kept"])
    assert math.isclose(best, min(r["refusal"] for r in sel.scores if r["layer"] == sel.layer))
    assert best < sel.baseline_refusal - 5


def test_ablation_zeroes_component_and_raises_compliance(planted, fitted):
    lm, _ = planted
    method, iv = fitted
    r_hat = iv.direction
    harmful = [e.input for e in planted_examples("val") if e.target == "harmful"]
    for layer in range(lm.num_layers):
        acts = lm.extract(harmful, [f"blocks.{layer}.resid_pre"], intervention=iv)[f"blocks.{layer}.resid_pre"]
        plain = lm.extract(harmful, [f"blocks.{layer}.resid_pre"])[f"blocks.{layer}.resid_pre"]
        assert (plain @ r_hat).abs().min() > 1.0  # the component is there without ablation
        assert (acts @ r_hat).abs().max() < 1e-4
    before = refusal_scores(lm, harmful, ["en"] * len(harmful))
    after = refusal_scores(lm, harmful, ["en"] * len(harmful), intervention=iv)
    assert min(before) > 0 > max(after)  # refusal tokens stop being the likely continuation
    # greedy first token: "I"/"S"/"A" before, something else after
    refusal_ids = {lm.tokenizer(s, add_special_tokens=False)["input_ids"][0] for s in "ISA"}
    first_before = lm.next_token_logprobs(harmful).argmax(-1).tolist()
    first_after = lm.next_token_logprobs(harmful, intervention=iv).argmax(-1).tolist()
    assert all(t in refusal_ids for t in first_before)
    assert not any(t in refusal_ids for t in first_after)


def test_addition_induces_refusal(planted, fitted):
    lm, _ = planted
    method, _ = fitted
    harmless = [e.input for e in planted_examples("val") if e.target == "harmless"]
    add = method.selection.addition()
    assert isinstance(add, AddVector) and add.layers == [method.selection.layer]
    before = refusal_scores(lm, harmless, ["en"] * len(harmless))
    after = refusal_scores(lm, harmless, ["en"] * len(harmless), intervention=add)
    assert max(before) < 0 < min(after)


def test_kl_filter_and_prune_are_configurable(planted):
    lm, _ = planted
    exs = planted_examples("train")
    # Prune nothing: all three layers are scored.
    m = RefusalDirection(RefusalDirectionConfig())
    m.fit(lm, exs, selection=RefusalSelectionConfig(prune_layer_fraction=0.0))
    assert sorted({r["layer"] for r in m.selection.scores}) == [0, 1, 2]
    # An impossible KL threshold keeps nothing: the fallback is flagged, not silent.
    m = RefusalDirection(RefusalDirectionConfig())
    iv = m.fit(lm, exs, selection=RefusalSelectionConfig(kl_threshold=1e-300))
    scores = m.selection.scores
    assert all(r["kl"] > 1e-300 for r in scores), "every ablation should move the harmless distribution a little"
    assert not any(r["kept"] for r in scores)
    assert not m.selection.filters_passed and iv.card["filters_passed"] is False
    # The fallback still picks the lowest refusal score over all candidates.
    assert m.selection.layer == min(scores, key=lambda r: r["refusal"])["layer"]


def test_kl_hand_computed():
    p = torch.tensor([[0.5, 0.5]], dtype=torch.float64).log()
    q = torch.tensor([[0.9, 0.1]], dtype=torch.float64).log()
    expected = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    assert math.isclose(kl_row(p[0], q[0]), expected, rel_tol=1e-9)
    assert kl_row(p[0], p[0]) == 0.0


def test_fit_rejects_unlabelled_examples(planted):
    from plurieval.components import Example
    from plurieval.errors import PluriError

    lm, _ = planted
    with pytest.raises(PluriError, match="neither harmful nor harmless"):
        RefusalDirection(RefusalDirectionConfig()).fit(lm, [Example("x", "hi", None, {})])


def test_coarse_to_fine_screen_keeps_the_exact_criteria(planted):
    """Screening every candidate on 2 prompts and scoring only the best one on all of them picks
    the same planted direction as the exhaustive protocol (screen_prompts=0), with the exact
    filters applied to full scores only."""
    lm, u = planted
    exs = planted_examples("train") + planted_examples("val")
    exhaustive = RefusalDirection(RefusalDirectionConfig())
    exhaustive.fit(lm, exs, selection=RefusalSelectionConfig(screen_prompts=0))
    assert not any("screen_refusal" in r for r in exhaustive.selection.scores)
    screened = RefusalDirection(RefusalDirectionConfig())
    screened.fit(lm, exs, selection=RefusalSelectionConfig(screen_prompts=2, screen_keep=1))
    rows = screened.selection.scores
    finalists = [r for r in rows if not r.get("screened_out")]
    assert len(finalists) == 1 and len(rows) == len(exhaustive.selection.scores)
    assert all("screen_refusal" in r for r in rows) and not any(r["kept"] for r in rows if r.get("screened_out"))
    assert (screened.selection.layer, screened.selection.position) == (exhaustive.selection.layer,
                                                                      exhaustive.selection.position)
    # the finalist's full score is the exhaustive protocol's score of the same candidate
    same = next(r for r in exhaustive.selection.scores
                if (r["layer"], r["position"]) == (finalists[0]["layer"], finalists[0]["position"]))
    assert finalists[0]["refusal"] == pytest.approx(same["refusal"])
    cos = float(torch.nn.functional.cosine_similarity(screened.selection.direction.double(), u.double(), dim=0))
    assert cos > 0.99
