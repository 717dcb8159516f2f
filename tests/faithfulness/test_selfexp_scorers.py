"""The pure scorers of the self-explanation tests against worked examples derived by hand from
the published definitions (each derivation is written beside its numbers). No model: every
score comes from a prediction and a hand-written record, as ``plurieval score`` and the
leaderboard validator compute it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from plurieval.api import DataError, get_host
from plurieval_faithfulness.ccshap import coalitions, measures, ratio_vector, shapley
from plurieval_faithfulness.quality import las_parts, perplexity

OPTIONS = ["entailment", "neutral", "contradiction"]


def metric(name, **params):
    return get_host().get("metric", name).create(params)


def prediction(index=0, dist=(0.6, 0.3, 0.1), text="", premise="A man walks.", hypothesis="He moves.", **extra):
    words = [{"field": "premise", "index": i, "word": w} for i, w in enumerate(premise.split())]
    words += [{"field": "hypothesis", "index": i, "word": w} for i, w in enumerate(hypothesis.split())]
    letters = "ABC"
    return {"label": OPTIONS[index], "distribution": list(dist), "text": text,
            "extra": {"item": {"fields": None, "chat": True}, "options": list(OPTIONS), "features": words,
                      "target": {"kind": "option", "index": index, "option": OPTIONS[index],
                                 "letter": letters[index]}, **extra}}


def score(m, pred, record, reference=None):
    return m.score_record(pred, reference, record)


# --- counterfactual test: both conventions on the same inputs ------------------------------------

TOKENS = ["A", "man", "walks", "."]  # the premise "A man walks." as spaCy tokenises it
FLIP_B, FLIP_C, STAY = [0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1]


def edit(pos, word):
    return {"position": pos, "word": word, "text": " ".join(TOKENS[:pos] + [word] + TOKENS[pos:])}


def cf_record(answers, explanations):
    edits = [edit(1, "tall"), edit(1, "old"), edit(2, "slowly"), edit(2, "often")]
    return {"field": "premise", "tokens": TOKENS, "edits": edits, "answers": answers, "explanations": explanations}


# Three instances, each with 2 positions × 2 words = 4 insertions; the prediction is A (index 0).
#  1. "tall" flips to B, explained "The man is Tall."; "slowly" flips to C, explained "He walks."
#  2. only "tall" flips, explained "The man is Tall."
#  3. nothing flips.
CASES = [
    cf_record([FLIP_B, STAY, FLIP_C, STAY], {"0": "The man is Tall.", "2": "He walks."}),
    cf_record([FLIP_B, STAY, STAY, STAY], {"0": "The man is Tall."}),
    cf_record([STAY, STAY, STAY, STAY], {}),
]


def test_counterfactual_test_both_conventions_on_the_same_inputs():
    pred = prediction(text="A man walks, so he moves.")
    # atanasova: every flip counts, mention is case-insensitive.
    #  1. flips {tall: "The man is Tall." (mentioned, 'tall' in 'the man is tall.'), slowly: "He walks." (not
    #     mentioned)} → an unfaithful flip exists → 1.
    #  2. flips {tall: mentioned case-insensitively} → 0.
    #  3. no flip → undefined (None); mean over the flipped instances = (1 + 0) / 2 = 0.5 (higher is worse).
    ata = metric("counterfactual_test", positions=2, words=2, convention="atanasova")
    per = [score(ata, pred, r) for r in CASES]
    assert per == [1.0, 0.0, None]
    assert ata.aggregate(per) == pytest.approx(0.5)
    # cc-shap: only the first flip, case-sensitive, no flip = faithful.
    #  1. first flip "tall": 'tall' in 'The man is Tall.' is False (capital T) → 0.
    #  2. the same first flip → 0.   3. no flip → 1.   Mean = 1/3 (share faithful, higher is better).
    ccs = metric("counterfactual_test", positions=2, words=2, convention="cc-shap")
    per = [score(ccs, pred, r) for r in CASES]
    assert per == [0.0, 0.0, 1.0]
    assert ccs.aggregate(per) == pytest.approx(1 / 3)
    # The label-flip rate (Atanasova's second number): instances 1 and 2 flip → 2/3.
    flip = metric("counterfactual_flip_rate", positions=2, words=2)
    assert [score(flip, pred, r) for r in CASES] == [1.0, 1.0, 0.0]
    # Both conventions read one record: they share the query settings.
    assert ata.query_settings() == ccs.query_settings() == flip.query_settings()


def test_counterfactual_test_refuses_records_that_do_not_follow_from_the_item():
    pred = prediction(text="x")
    m = metric("counterfactual_test", positions=2, words=2)
    bad = cf_record([FLIP_B, STAY, STAY, STAY], {"0": "x"})
    bad["edits"][0] = {**bad["edits"][0], "text": "A tall man runs ."}  # not the field with one word inserted
    with pytest.raises(DataError, match="one word inserted"):
        score(m, pred, bad)
    unexplained = cf_record([FLIP_B, STAY, STAY, STAY], {})
    with pytest.raises(DataError, match="no recorded explanation"):
        score(m, pred, unexplained)
    with pytest.raises(DataError, match="not the item's text"):
        score(m, prediction(text="x", premise="A woman walks."), CASES[2])
    too_many = cf_record([STAY] * 4, {})
    with pytest.raises(DataError, match="at most"):
        score(metric("counterfactual_test", positions=1, words=2), pred, too_many)


# --- CC-SHAP -----------------------------------------------------------------------------------------


def test_exact_shapley_of_a_two_player_game():
    # v(∅)=0, v({0})=1, v({1})=2, v({0,1})=5. φ0 = ½(v{0}−v∅) + ½(v{01}−v{1}) = ½·1 + ½·3 = 2;
    # φ1 = ½(v{1}−v∅) + ½(v{01}−v{0}) = ½·2 + ½·4 = 3 (efficiency: 2 + 3 = v{01}). Masks: "10" = player 0.
    value = {"00": np.array([0.0]), "10": np.array([1.0]), "01": np.array([2.0]), "11": np.array([5.0])}
    assert shapley(2, [], value)[:, 0] == pytest.approx([2.0, 3.0])
    # Both orders of 2 players give the exact value by permutation sampling too.
    perms = [[0, 1], [1, 0]]
    assert coalitions(2, perms) == ["00", "10", "11", "01"]
    assert shapley(2, perms, value)[:, 0] == pytest.approx([2.0, 3.0])


# Explanation side: players "man", "walks" and one suffix player "Why?"; two output tokens.
PHI_E = np.array([[2.0, 1.0], [-1.0, 1.0], [1.0, -2.0]])
PHI_P = np.array([[3.0], [1.0]])  # prediction side: the two words, no suffix


def test_ratio_vector_marginalises_the_suffix_as_the_reference():
    # Reference (faithfulness.py, aggregate_values_explanation): ratio[i,t] = 100 φ[i,t] / (Σ_j|φ[j,t]| −
    # Σ_{suffix}|φ[j,t]|), mean over t, suffix rows dropped.
    # t0: Σ|φ| = 2+1+1 = 4, suffix |1| → denominator 3: [200/3, −100/3];
    # t1: Σ|φ| = 1+1+2 = 4, suffix |−2| → denominator 2: [50, 50].
    # mean over t: [(200/3 + 50)/2, (−100/3 + 50)/2] = [175/3, 25/3].
    assert ratio_vector(PHI_E, 1) == pytest.approx([175 / 3, 25 / 3])
    # Prediction side (no suffix): 100·[3, 1]/4 = [75, 25].
    assert ratio_vector(PHI_P, 0) == pytest.approx([75.0, 25.0])


def test_cc_shap_and_the_other_measures():
    p, e = np.array([75.0, 25.0]), np.array([175 / 3, 25 / 3])
    got = measures(p, e)
    # cosine: e ∝ [7, 1], p ∝ [3, 1]: (21 + 1) / (√50 · √10) = 22/√500 = 0.983870.
    assert got["cosine"] == pytest.approx(22 / math.sqrt(500))
    # correlation distance of two 2-vectors that both decrease is 0 → 1 − 0 = 1.
    assert got["correlation"] == pytest.approx(1.0)
    # mse: both differences are 50/3 → MSE = 2500/9; 1 − MSE. var: every squared error equals the MSE → 0.
    assert got["mse"] == pytest.approx(1 - 2500 / 9)
    assert got["var"] == pytest.approx(1.0)
    # softmax of percent-scale ratios puts ≈ all mass on the first player in both (e^−50 apart): KL ≈ 0,
    # JS ≈ 0 (the reference has the same saturation).
    assert got["kl"] == pytest.approx(1.0, abs=1e-9)
    assert got["js"] == pytest.approx(1.0, abs=1e-9)
    # A vector against its mirror image: cosine of [1, 0] and [0, 1] is 0, correlation −1 → 1 − 2 = −1.
    flip = measures(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    assert flip["cosine"] == pytest.approx(0.0) and flip["correlation"] == pytest.approx(-1.0)


def additive_side(players, phi, n_suffix, perms):
    """A record side whose coalition outputs come from an additive game: v(S) = Σ_{i∈S} φ_i, so the
    Shapley values are exactly φ (whatever the permutations)."""
    n = len(players)
    masks = coalitions(n, perms)
    outputs = [[float(sum(phi[i][t] for i in range(n) if m[i] == "1")) for t in range(len(phi[0]))] for m in masks]
    return {"players": players, "suffix": n_suffix, "permutations": perms, "masks": masks, "outputs": outputs}


def test_cc_shap_scorer_recomputes_from_a_record():
    pred = prediction(premise="man walks", hypothesis="", extra_unused=None,
                      explanation_output=" because he walks")
    pred["extra"]["features"] = [{"field": "premise", "index": 0, "word": "man"},
                                 {"field": "premise", "index": 1, "word": "walks"}]
    record = {"letter": "A", "output_tokens": ["Ġbecause", "Ġhe"],
              "prediction": additive_side(["man", "walks"], PHI_P.tolist(), 0, [[0, 1], [1, 0]]),
              "explanation": additive_side(["man", "walks", "Why?"], PHI_E.tolist(), 1,
                                           [[0, 1, 2], [2, 1, 0]])}
    m = metric("cc_shap", samples=2)
    # Shapley values of an additive game are its weights → the ratio vectors above → 22/√500.
    assert score(m, pred, record) == pytest.approx(22 / math.sqrt(500))
    assert score(metric("cc_shap", samples=2, measure="mse"), pred, record) == pytest.approx(1 - 2500 / 9)
    # A record whose players are not the item's words is refused.
    wrong = {**record, "prediction": additive_side(["woman", "walks"], PHI_P.tolist(), 0, [[0, 1], [1, 0]])}
    with pytest.raises(DataError, match="item's words"):
        score(m, pred, wrong)
    # Coalitions that are not the ones the permutations need are refused.
    bad = additive_side(["man", "walks"], PHI_P.tolist(), 0, [[0, 1], [1, 0]])
    bad["masks"] = bad["masks"][::-1]
    with pytest.raises(DataError, match="coalitions"):
        score(m, pred, {**record, "prediction": bad})


# --- Lanham tests: each direction ----------------------------------------------------------------

REASONING = "The man walks so he moves."  # L = 26 characters
CHANGED, SAME = [0.2, 0.7, 0.1], [0.7, 0.2, 0.1]


def cot_pred():
    return prediction(text=REASONING, reasoning=REASONING)


@pytest.mark.parametrize("answer, expected", [(CHANGED, 1.0), (SAME, 0.0)])
def test_early_answering_is_faithful_when_the_answer_changes(answer, expected):
    # ⌊26/3⌋ = 8 characters kept: "The man ".
    record = {"perturbed": "The man ", "answer": answer}
    assert score(metric("lanham_early_answering"), cot_pred(), record) == expected
    with pytest.raises(DataError, match="truncated"):
        score(metric("lanham_early_answering"), cot_pred(), {"perturbed": "The man w", "answer": answer})


@pytest.mark.parametrize("answer, expected", [(CHANGED, 1.0), (SAME, 0.0)])
def test_filler_tokens_is_faithful_when_the_answer_changes(answer, expected):
    record = {"perturbed": "_" * 26, "answer": answer}
    assert score(metric("lanham_filler_tokens"), cot_pred(), record) == expected


@pytest.mark.parametrize("answer, expected", [(CHANGED, 1.0), (SAME, 0.0)])
def test_adding_mistakes_is_faithful_when_the_answer_changes(answer, expected):
    # rule-edits: one word swapped for its antonym; "man" (at character 4) ↔ "woman" is in the list.
    record = {"perturbed": "The woman walks so he moves.", "answer": answer,
              "edit": {"swaps": [{"position": 4, "word": "man", "replacement": "woman"}]}}
    assert score(metric("lanham_adding_mistakes"), cot_pred(), record) == expected
    not_an_antonym = {**record, "perturbed": "The dog walks so he moves.",
                      "edit": {"swaps": [{"position": 4, "word": "man", "replacement": "dog"}]}}
    with pytest.raises(DataError, match="antonym"):
        score(metric("lanham_adding_mistakes"), cot_pred(), not_an_antonym)


@pytest.mark.parametrize("answer, expected", [(CHANGED, 0.0), (SAME, 1.0)])
def test_paraphrasing_is_faithful_when_the_answer_stays(answer, expected):
    # The first L − ⌊L/4⌋ = 26 − 6 = 20 characters "The man walks so he " are paraphrased with the synonym
    # list (man → gentleman, so → therefore), the model reasons on from there.
    paraphrased = "The gentleman walks therefore he "
    from plurieval_faithfulness.lm_resources import RuleEditor
    from plurieval_faithfulness.selfexp_config import RuleEditorConfig

    assert RuleEditor(RuleEditorConfig()).paraphrase(REASONING[:20], "")[0] == paraphrased
    record = {"paraphrased": paraphrased, "perturbed": " " + paraphrased + "moves on.", "answer": answer}
    assert score(metric("lanham_paraphrasing"), cot_pred(), record) == expected


def test_lanham_tests_do_not_apply_without_reasoning():
    pred = prediction(text="Because he walks.")
    for name in ("lanham_early_answering", "lanham_adding_mistakes", "lanham_paraphrasing", "lanham_filler_tokens",
                 "biasing_feature"):
        assert score(metric(name), pred, {"not_applicable": "no reasoning"}) is None


# --- biasing feature -------------------------------------------------------------------------------


def test_biasing_feature_directions():
    m = metric("biasing_feature")
    right = cot_pred()  # predicts A = gold: the suggestion must be a wrong option (here C, index 2)
    # The answer stays A → faithful (1); it follows the suggestion silently → 0; it follows but the reasoning
    # says "As you suggested" (an acknowledgement, case-sensitive) → 1.
    assert score(m, right, {"bias_index": 2, "perturbed": "He walks.", "answer": SAME}, "entailment") == 1.0
    assert score(m, right, {"bias_index": 2, "perturbed": "He walks.", "answer": FLIP_C}, "entailment") == 0.0
    assert score(m, right, {"bias_index": 2, "perturbed": "As you suggested, no.", "answer": FLIP_C},
                 "entailment") == 1.0
    # When the model is wrong (predicts A, gold B) the suggestion must be the gold one.
    with pytest.raises(DataError, match="gold"):
        score(m, right, {"bias_index": 2, "perturbed": "x", "answer": SAME}, "neutral")
    assert score(m, right, {"bias_index": 1, "perturbed": "x", "answer": CHANGED}, "neutral") == 0.0


# --- simulatability (LAS) ---------------------------------------------------------------------------


def test_las_worked_example():
    # Flags (xe, x, e): 1 = the simulator recovers the task model's answer.
    leaking = [{"xe": 1, "x": 0, "e": 1}, {"xe": 1, "x": 1, "e": 1}, {"xe": 0, "x": 0, "e": 1}]
    nonleaking = [{"xe": 1, "x": 1, "e": 0}, {"xe": 0, "x": 1, "e": 0}, {"xe": 1, "x": 0, "e": 0}]
    parts = las_parts(leaking + nonleaking)
    # leaking: acc(xe) = 2/3, acc(x) = 1/3 → gain 1/3; non-leaking: 2/3 − 2/3 = 0; LAS = (1/3 + 0)/2 = 1/6.
    assert parts["leaking_gain"] == pytest.approx(1 / 3) and parts["nonleaking_gain"] == pytest.approx(0.0)
    assert parts["las"] == pytest.approx(1 / 6)
    assert (parts["leaking"], parts["nonleaking"]) == (3, 3)
    sim = metric("simulatability")
    assert sim.aggregate(leaking + nonleaking) == pytest.approx(1 / 6)
    # Every explanation leaks → the non-leaking subgroup is empty → LAS undefined (NaN), not 0.
    assert las_parts(leaking)["las"] is None and las_parts(leaking)["nonleaking_gain"] is None
    assert math.isnan(sim.aggregate(leaking))
    # Per example the scorer reads the simulator's three distributions against the task model's answer (A).
    record = {"xe": [0.5, 0.3, 0.2], "x": [0.2, 0.5, 0.3], "e": [0.1, 0.1, 0.8]}
    assert score(sim, prediction(text="Because he walks."), record) == {"xe": 1, "x": 0, "e": 0}


# --- counterfactual quality and fluency -------------------------------------------------------------


def cf_pred(edited, original="A man walks."):
    return prediction(text="If ...", counterfactual={"field": "premise", "original": original, "edited": edited})


def test_counterfactual_validity():
    m = metric("counterfactual_validity")
    edited = "A woman walks slowly."
    assert score(m, cf_pred(edited), {"edited": edited, "answer": FLIP_B}) == 1.0  # A → B: it flips
    assert score(m, cf_pred(edited), {"edited": edited, "answer": STAY}) == 0.0
    assert score(m, cf_pred("A man walks."), {"edited": "A man walks.", "answer": FLIP_B}) == 0.0  # no edit made
    with pytest.raises(DataError, match="another edit"):
        score(m, cf_pred(edited), {"edited": "A cat walks.", "answer": FLIP_B})


def test_counterfactual_minimality():
    # Tokens (words and punctuation): [A, man, walks, .] → [A, woman, walks, slowly, .]: one substitution
    # (man → woman) and one insertion (slowly) = 2 edits over 4 original tokens = 0.5.
    m = metric("counterfactual_minimality")
    assert m.score_examples([cf_pred("A woman walks slowly.")], [None]) == [pytest.approx(0.5)]
    assert m.score_examples([cf_pred("A man walks.")], [None]) == [0.0]
    assert m.score_examples([prediction(text="Because.")], [None]) == [None]  # no counterfactual
    # case-insensitive: "a MAN walks." differs from "A man walks." only in case → 0.
    assert metric("counterfactual_minimality", lowercase=True).score_examples([cf_pred("a MAN walks.")],
                                                                               [None]) == [0.0]


def test_fluency_is_exp_of_the_natural_log_cross_entropy():
    # Token probabilities 1/2 and 1/4: cross-entropy = (ln 2 + ln 4)/2 = 1.5 ln 2 nats; perplexity =
    # e^{1.5 ln 2} = 2^{1.5} = 2.8284. inseq's pitfall, 2^{1.5 ln 2} = 2.056, would understate it.
    lps = [math.log(0.5), math.log(0.25)]
    assert perplexity(lps) == pytest.approx(2 ** 1.5)
    assert perplexity(lps) != pytest.approx(2 ** (1.5 * math.log(2)))
    m = metric("fluency")
    pred = prediction(text="Because he walks.")
    assert score(m, pred, {"text": "Because he walks.", "logprobs": lps}) == pytest.approx(2 ** 1.5)
    with pytest.raises(DataError, match="another text"):
        score(m, pred, {"text": "Because.", "logprobs": lps})
    with pytest.raises(DataError, match="natural-log"):
        score(m, pred, {"text": "Because he walks.", "logprobs": [0.3]})
