"""Each reference convention against worked examples derived by hand from the reference code's
definitions (ChaosNLI tools.py, CoT-HLV metrics.py, Baan et al.'s calibration_metrics.py, the
LeWiDi 2023 and 2025 scripts, inseq step_functions.py), including ties, constant inputs, two
options and zero probabilities; plus the convention mechanics (presets, overrides, errors, show,
the docs table)."""

import math

import pytest

from plurieval.errors import ConfigError, DataError
from plurieval.scoring import compute
from plurieval_hlv.conventions import CONVENTIONS, convention_table

LN2, LN3, LN10 = math.log(2), math.log(3), math.log(10)


def score(host, name, preds, refs, **kw):
    return compute(host, name, preds, refs, **kw)


def per(host, name, preds, refs, **kw):
    return score(host, name, preds, refs, **kw)["per_example"]


# --- ChaosNLI: floor model probabilities at 1e-15, renormalise; KL(h||m) and JS distance base e ---

def test_chaosnli_kl_floors_zero_model_probabilities(host):
    # h = [.5, .5, 0], m = [1, 0, 0]. ChaosNLI: m -> [1, 1e-15, 1e-15] / (1 + 2e-15); h untouched, so
    # KL = .5 ln(.5 s) + .5 ln(.5 s / 1e-15) with s = 1 + 2e-15  =  -ln 2 + 7.5 ln 10 (+ O(1e-15))
    h, m = [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]
    assert score(host, "kl_divergence", [m], [h], convention="chaosnli")["score"] == pytest.approx(
        -LN2 + 7.5 * LN10, abs=1e-9)
    # ours adds 1e-12 to both sides: the zero-zero option cancels, the other gives .5 ln(.5 / 1e-12)
    # => -ln 2 + 6 ln 10: a different number from the same inputs
    assert score(host, "kl_divergence", [m], [h])["score"] == pytest.approx(-LN2 + 6 * LN10, abs=1e-6)
    # an explicit field overrides the convention: no floor -> a zero under a human vote is +inf
    assert per(host, "kl_divergence", [m], [h], convention="chaosnli", epsilon=0) == [math.inf]


def test_chaosnli_from_logits(host):
    # logits [ln 2, 0, -1000]: softmax = [2/3, 1/3, e^-1000 -> 0.0] -> floored to 1e-15.
    # h = [.6, .4, 0]: KL = .6 ln(.6 / (2/3)) + .4 ln(.4 / (1/3)) = .6 ln .9 + .4 ln 1.2 (the floor's
    # renormalisation changes it by ~1e-15)
    r = score(host, "kl_divergence", [[LN2, 0.0, -1000.0]], [[0.6, 0.4, 0.0]], convention="chaosnli",
              normalization="softmax")
    assert r["score"] == pytest.approx(0.6 * math.log(0.9) + 0.4 * math.log(1.2), abs=1e-12)
    assert r["config"]["epsilon"] == 1e-15 and r["config"]["smoothing"] == "floor"


def test_chaosnli_js_is_the_distance_in_nats(host):
    # h = [.5, .5], m = [1, 0] (floored: [1, 1e-15]). a = [.75, .25];
    # KL(h||a) = .5 ln(.5/.75) + .5 ln(.5/.25) = .5 ln(4/3); KL(m||a) = ln(1/.75) = ln(4/3);
    # JSD = .5 (.5 ln 4/3) + .5 ln 4/3 = .75 ln(4/3); ChaosNLI reports sqrt of it, base e
    d = score(host, "js_distance", [[1.0, 0.0]], [[0.5, 0.5]], convention="chaosnli")["score"]
    assert d == pytest.approx(math.sqrt(0.75 * math.log(4 / 3)), abs=1e-9)
    # our default (and CoT-HLV's) is base 2: sqrt(.75 log2(4/3))
    assert score(host, "js_distance", [[1.0, 0.0]], [[0.5, 0.5]])["score"] == pytest.approx(
        math.sqrt(0.75 * math.log2(4 / 3)), abs=1e-12)


def test_chaosnli_accuracy_takes_the_first_of_tied_options(host):
    # model_p_label = argmax of the logits (first of ties) == majority label (argmax, first of ties)
    h = [0.3, 0.6, 0.1]
    assert per(host, "accuracy_at_k", [[1, 1, 0]], [h], convention="chaosnli") == [0.0]  # model picks option 0
    assert per(host, "accuracy_at_k", [[1, 1, 0]], [h]) == [0.5]  # ours: expected hit of a random tie-break
    # a human tie [.4, .4, .2]: the majority is option 0 for ChaosNLI; ours counts either tied option
    assert per(host, "accuracy_at_k", [[0, 1, 0]], [[0.4, 0.4, 0.2]], convention="chaosnli") == [0.0]
    assert per(host, "accuracy_at_k", [[0, 1, 0]], [[0.4, 0.4, 0.2]]) == [1.0]


# --- CoT-HLV: (z - min z) / sum always; argmax accuracy; undefined Spearman = 0; < 3 options -> accuracy

def test_cot_hlv_linear_normalisation_shifts_always(host):
    # logits [1, 2, 3]: CoT-HLV -> [0, 1, 2] / 3 = [0, 1/3, 2/3]; our `linear` leaves non-negative
    # values unshifted: [1, 2, 3] / 6. Against gold [0, .5, .5]:
    # a = ([0, 1/3, 2/3] + gold) / 2 = [0, 5/12, 7/12]
    # KL(p||a) = 1/3 log2((1/3)/(5/12)) + 2/3 log2((2/3)/(7/12)) = 1/3 log2(4/5) + 2/3 log2(8/7)
    # KL(g||a) = 1/2 log2((1/2)/(5/12)) + 1/2 log2((1/2)/(7/12)) = 1/2 log2(6/5) + 1/2 log2(6/7)
    jsd = 0.5 * (math.log2(4 / 5) / 3 + 2 * math.log2(8 / 7) / 3) + 0.5 * (0.5 * math.log2(6 / 5) + 0.5 * math.log2(6 / 7))
    r = score(host, "js_distance", [[1, 2, 3]], [[0, 0.5, 0.5]], convention="cot-hlv")
    assert r["score"] == pytest.approx(math.sqrt(jsd), abs=1e-12)
    assert r["config"]["normalization"] == "shift_min"
    lin = score(host, "js_distance", [[1, 2, 3]], [[0, 0.5, 0.5]], normalization="linear")["score"]
    assert abs(lin - r["score"]) > 0.05
    # a constant logit vector: sum(z - min z) = 0 -> uniform
    assert score(host, "total_variation", [[2, 2, 2]], [[1 / 3] * 3], normalization="shift_min")["score"] == \
        pytest.approx(0.0, abs=1e-12)


def test_cot_hlv_spearman_constant_input_counts_as_zero(host):
    preds = [[1, 2, 3], [5, 5, 5], [1, 2, 3]]
    refs = [[0.1, 0.2, 0.7], [0.1, 0.2, 0.7], [1 / 3] * 3]
    # rho = 1 on the first; a constant model and a constant human vector have no rho: CoT-HLV takes
    # NaN -> 0.0 and keeps it (mean 1/3); ours leaves them out (mean 1.0)
    cot = score(host, "rank_spearman", preds, refs, convention="cot-hlv")
    assert cot["per_example"] == pytest.approx([1.0, 0.0, 0.0]) and cot["score"] == pytest.approx(1 / 3)
    ours = score(host, "rank_spearman", preds, refs)
    assert ours["per_example"] == [1.0, None, None] and ours["score"] == pytest.approx(1.0)


def test_cot_hlv_spearman_with_two_options_reports_accuracy(host):
    # len(pred) < 3 -> accuracy(): argmax(pred) == argmax(gold), first of ties
    preds, refs = [[0.3, 0.7], [0.6, 0.4], [0.4, 0.6]], [[0.5, 0.5], [0.7, 0.3], [0.7, 0.3]]
    # gold [.5, .5] ties -> argmax 0 != 1 -> 0; [.6,.4] vs [.7,.3] -> 1; [.4,.6] vs [.7,.3] -> 0
    assert per(host, "rank_spearman", preds, refs, convention="cot-hlv") == [0.0, 1.0, 0.0]
    # ours: rho of two distinct values is +-1; a constant gold is undefined
    ours = per(host, "rank_spearman", preds, refs)
    assert ours[0] is None and ours[1:] == pytest.approx([1.0, -1.0])


def test_cot_hlv_accuracy_is_argmax_against_argmax(host):
    gold = [[0.2, 0.7, 0.1], [0.4, 0.4, 0.2], [0.4, 0.4, 0.2]]
    preds = [[1, 1, 0], [0, 1, 0], [1, 0, 0]]
    # pred ties -> option 0 (miss); gold ties -> option 0: pred 1 misses, pred 0 hits
    assert per(host, "accuracy_at_k", preds, gold, convention="cot-hlv") == [0.0, 0.0, 1.0]
    assert per(host, "accuracy_at_k", preds, gold) == [0.5, 1.0, 1.0]


# --- Baan et al. 2022: acc@k on the k-th ranked class, ties -> last index; RankCS; EntCE; ECE -------

def test_baan_acc_at_k_compares_kth_ranked_classes(host):
    # np.argsort(x)[-k]: the k-th largest, equal values in index order so the *last* tied index ranks
    # highest. model [.5, .3, .2], votes [30, 50, 20]:
    # k=1: model 0, human 1 -> 0;  k=2: model 1, human 0 -> 0;  k=3: model 2, human 2 -> 1
    m, v = [[0.5, 0.3, 0.2]], [[30, 50, 20]]
    assert [per(host, "accuracy_at_k", m, v, convention="baan2022", k=k)[0] for k in (1, 2, 3)] == [0.0, 0.0, 1.0]
    # ours at k=2 asks whether the human top (1) is in the model's top two {0, 1}: yes
    assert per(host, "accuracy_at_k", m, v, k=2) == [1.0]
    # human tie [40, 40, 20]: argsort -> [2, 0, 1], top = option 1 (the last tied)
    assert per(host, "accuracy_at_k", [[0.1, 0.6, 0.3], [0.6, 0.1, 0.3]], [[40, 40, 20]] * 2,
               convention="baan2022") == [1.0, 0.0]
    # model tie [.4, .4, .2] -> option 1 as well
    assert per(host, "accuracy_at_k", [[0.4, 0.4, 0.2]], [[10, 80, 10]], convention="baan2022") == [1.0]
    with pytest.raises(DataError, match="k=4"):
        score(host, "accuracy_at_k", m, v, convention="baan2022", k=4)


def test_kth_rank_with_random_tie_breaking(host):
    # mode=kth_rank with our tie rules: model [1, 1, 0] has options 0 and 1 tied for ranks 1-2, so its
    # rank-2 option is either with probability 1/2; human [.1, .3, .6] ranks option 1 second -> 1/2
    assert per(host, "accuracy_at_k", [[1, 1, 0]], [[0.1, 0.3, 0.6]], mode="kth_rank", k=2) == [0.5]


def test_baan_rank_calibration_compares_full_argsorts(host):
    # votes [40, 40, 20] argsort -> [2, 0, 1]. model [.3, .5, .2] -> [2, 0, 1]: match;
    # model [.5, .3, .2] -> [2, 1, 0]: no match. Ours (weak orders) requires the tie itself: 0, 0.
    preds, refs = [[0.3, 0.5, 0.2], [0.5, 0.3, 0.2], [0.45, 0.45, 0.1]], [[40, 40, 20]] * 3
    assert per(host, "rank_exact_match", preds, refs, convention="baan2022") == [1.0, 0.0, 1.0]
    assert per(host, "rank_exact_match", preds, refs) == [0.0, 0.0, 1.0]


def test_baan_entropy_calibration_absolute_and_signed(host):
    # ent_ce: entropy(pred) - entropy(true), nats; generate_table1 takes absolute=True.
    # m = [1, 0], h = [.5, .5]: 0 - ln 2
    assert per(host, "entropy_calibration_error", [[1.0, 0.0]], [[0.5, 0.5]], convention="baan2022") == \
        pytest.approx([LN2])
    assert per(host, "entropy_calibration_error", [[1.0, 0.0], [0.5, 0.5]], [[0.5, 0.5], [1, 0]],
               convention="baan2022", signed=True) == pytest.approx([-LN2, LN2])


def test_baan_ece_against_argmax_votes(host):
    # confidence = max p, prediction = np.argmax(p), label = np.argmax(votes) (first of ties);
    # bins (a, b] from linspace(0, 1, 11).
    preds = [[0.9, 0.05, 0.05], [0.85, 0.1, 0.05], [0.35, 0.4, 0.25], [0.6, 0.4, 0.0]]
    votes = [[8, 1, 1], [2, 6, 2], [5, 5, 0], [0, 10, 0]]
    # item 1: conf .9,  pred 0, label 0 -> 1 | bin (.8, .9]
    # item 2: conf .85, pred 0, label 1 -> 0 | bin (.8, .9]
    # item 3: conf .4,  pred 1, label 0 (tie: first) -> 0 | bin (.3, .4]
    # item 4: conf .6,  pred 0, label 1 -> 0 | bin (.5, .6]
    # ECE = [2 |.875 - .5| + 1 |.4 - 0| + 1 |.6 - 0|] / 4 = (.75 + .4 + .6) / 4 = .4375
    r = score(host, "ece", preds, votes, convention="baan2022")
    assert r["score"] == pytest.approx(0.4375, abs=1e-12)
    assert r["per_example"][2] == {"confidence": 0.4, "correct": 0.0}
    # ours counts either tied human top class: item 3 is correct -> (.75 + .6 + .6) / 4 = .4875
    assert score(host, "ece", preds, votes)["score"] == pytest.approx(0.4875, abs=1e-12)
    # one bin holds everything: |mean conf - accuracy| = |(.9 + .85 + .4 + .6) / 4 - 2/4| = .1875
    assert score(host, "ece", preds, votes, bins=1)["score"] == pytest.approx(0.1875, abs=1e-12)


def test_total_variation_is_baan_distce(host):
    # tvd(): sum |m - h| / 2 with h = the count MLE: [.5, .3, .2] vs [20, 30, 50] -> .3
    assert score(host, "total_variation", [[0.5, 0.3, 0.2]], [[20, 30, 50]], convention="baan2022")["score"] == \
        pytest.approx(0.3)


# --- LeWiDi 2023: clip to [1e-12, 1 - 1e-12], + 1e-9 inside the log, no renormalisation ---------------

def test_lewidi2023_cross_entropy_clips_and_offsets(host):
    t, p = [[0.6, 0.4], [1.0, 0.0]], [[0.7, 0.3], [0.0, 1.0]]
    # item 1: -(.6 ln(.7 + 1e-9) + .4 ln(.3 + 1e-9)); item 2: p clipped to [1e-12, 1 - 1e-12], the
    # human option: -ln(1e-12 + 1e-9); the mean over N items is what cross_entropy() returns
    item1 = -(0.6 * math.log(0.7 + 1e-9) + 0.4 * math.log(0.3 + 1e-9))
    item2 = -math.log(1e-12 + 1e-9)
    r = score(host, "cross_entropy", p, t, convention="lewidi2023")
    assert r["per_example"] == pytest.approx([item1, item2], rel=1e-12)
    assert r["score"] == pytest.approx((item1 + item2) / 2, rel=1e-12)
    # ours: 1e-12 added and renormalised, no offset: item 2 = -ln(1e-12 / (1 + 2e-12)) ~ 12 ln 10
    assert per(host, "cross_entropy", p, t)[1] == pytest.approx(12 * LN10, rel=1e-9)


# --- LeWiDi 2025: Manhattan, Wasserstein, error rate, MAD, with the scripts' rounding --------------

def test_lewidi2025_manhattan_rounds_items_and_mean(host):
    # |0 - 1/3| + |1 - 2/3| = 2/3 -> .66667;  |.1 - 1/3| + |.9 - 2/3| = 7/15 -> .46667
    # mean of the rounded values (.66667 + .46667) / 2 = .56667; unrounded: (2/3 + 7/15) / 2 = 17/30
    preds, refs = [[0.0, 1.0], [0.1, 0.9]], [[1 / 3, 2 / 3], [1 / 3, 2 / 3]]
    r = score(host, "manhattan_distance", preds, refs, convention="lewidi2025")
    assert r["per_example"] == [0.66667, 0.46667] and r["score"] == 0.56667
    assert score(host, "manhattan_distance", preds, refs)["score"] == pytest.approx(17 / 30, abs=1e-12)


def test_lewidi2025_multilabel_manhattan(host):
    # VariErrNLI: one [p(0), p(1)] per label. Per label: .2, .2, 2/3 -> .66667; item mean
    # (.2 + .2 + .66667) / 3 = .355556... -> .35556. Unrounded: (16/15) / 3 = 16/45.
    pred = [[0.4, 0.6], [0.9, 0.1], [0.0, 1.0]]
    ref = [[0.5, 0.5], [1.0, 0.0], [1 / 3, 2 / 3]]
    assert score(host, "manhattan_distance", [pred], [ref], convention="lewidi2025", multilabel=True)["score"] == 0.35556
    assert score(host, "manhattan_distance", [pred], [ref], multilabel=True)["score"] == pytest.approx(16 / 45)
    # the submission format: {label: {"0": p0, "1": p1}}, matched by label name
    as_dict = lambda v: {name: {"0": a, "1": b} for name, (a, b) in zip(["contradiction", "entailment", "neutral"], v, strict=True)}  # noqa: E731
    assert score(host, "manhattan_distance", [as_dict(pred)], [as_dict(ref)], multilabel=True)["score"] == \
        pytest.approx(16 / 45)


def test_lewidi2025_wasserstein_on_ordinal_labels(host):
    # 1-D earth mover's distance with cost |i - j| = sum over cut points of |CDF_t - CDF_p|:
    # t = [.2, .3, .5] (CDF .2, .5), p = [.5, .3, .2] (CDF .5, .8): .3 + .3 = .6
    # t = [1/3, 2/3, 0] (CDF 1/3, 1), p = [0, 0, 1] (CDF 0, 0): 1/3 + 1 = 4/3 (a zero-probability case)
    preds, refs = [[0.5, 0.3, 0.2], [0.0, 0.0, 1.0]], [[0.2, 0.3, 0.5], [1 / 3, 2 / 3, 0.0]]
    r = score(host, "wasserstein_distance", preds, refs, convention="lewidi2025")
    assert r["per_example"] == pytest.approx([0.6, 4 / 3], abs=1e-12)  # items are not rounded
    assert r["score"] == 0.96667  # (.6 + 4/3) / 2 = 29/30, rounded to 5
    assert score(host, "wasserstein_distance", preds, refs)["score"] == pytest.approx(29 / 30)
    # positions [1, 2, 4]: the gaps weigh the CDF differences: .3 * 1 + .3 * 2 = .9
    assert per(host, "wasserstein_distance", preds[:1], refs[:1], positions=[1, 2, 4]) == pytest.approx([0.9])
    # moving all mass two labels over costs 2
    assert per(host, "wasserstein_distance", [[0, 0, 1]], [[1, 0, 0]]) == pytest.approx([2.0])


def test_lewidi2025_error_rate(host):
    # one 0/1 label per annotator; errors / n. [1,0,1,1] vs [1,1,1,0]: 2/4 = .5; [0,1,1] vs [0,1,0]: 1/3
    # LeWiDi rounds each item (.33333) but not the mean: (.5 + .33333) / 2 = .416665
    preds, refs = [[1, 1, 1, 0], [0, 1, 0]], [[1, 0, 1, 1], [0, 1, 1]]
    r = score(host, "error_rate", preds, refs, convention="lewidi2025")
    assert r["per_example"] == [0.5, 0.33333] and r["score"] == pytest.approx(0.416665, abs=1e-12)
    assert score(host, "error_rate", preds, refs)["score"] == pytest.approx(5 / 12, abs=1e-12)
    # multilabel: per-label annotator vectors; each label 1/3 (-> .33333), the item their mean
    ml = score(host, "error_rate", [[[1, 1, 1], [0, 0, 0]]], [[[1, 0, 1], [0, 0, 1]]], convention="lewidi2025",
               multilabel=True)
    assert ml["score"] == pytest.approx(0.33333, abs=1e-12)
    with pytest.raises(DataError, match="3 annotator labels, reference has 2"):
        score(host, "error_rate", [[1, 0, 1]], [[1, 0]])


def test_lewidi2025_mean_absolute_distance_with_scale(host):
    # Par ratings in -5..5, scale 11: ([|-5+4| + 0 + |3-5|] / 3) / 11 = 1/11; ([0 + 4] / 2) / 11 = 2/11
    preds, refs = [[-4, 0, 5], [2, -2]], [[-5, 0, 3], [2, 2]]
    r = score(host, "mean_absolute_distance", preds, refs, convention="lewidi2025", scale=11)
    assert r["per_example"] == pytest.approx([1 / 11, 2 / 11]) and r["score"] == pytest.approx(3 / 22)
    with pytest.raises(ConfigError, match="scale"):
        score(host, "mean_absolute_distance", preds, refs)


# --- inseq step scores --------------------------------------------------------------------------

def test_step_scores_as_inseq_computes_them(host):
    # one step, logits [0, ln 2, ln 5] -> p = [1/8, 2/8, 5/8]; target 1 (p = 1/4)
    step = [[0.0, LN2, math.log(5)]]
    assert per(host, "step_logit", [step], [[1]]) == pytest.approx([LN2])
    assert per(host, "step_probability", [step], [[1]]) == pytest.approx([0.25])
    assert per(host, "step_logprob", [step], [1]) == pytest.approx([-math.log(4)])
    assert per(host, "step_crossentropy", [step], [1]) == pytest.approx([math.log(4)])  # nats, F.cross_entropy
    assert per(host, "step_crossentropy", [step], [1], base="2") == pytest.approx([2.0])
    # entropy: 1/8 ln 8 + 1/4 ln 4 + 5/8 ln(8/5), no target needed
    h = math.log(8) / 8 + math.log(4) / 4 + 5 * math.log(8 / 5) / 8
    assert per(host, "step_entropy", [step], [None]) == pytest.approx([h])
    # perplexity: 1/p = 4 = e^(ln 4); inseq: 2 ** (ln 4) = 2.6146..., the pitfall
    assert per(host, "step_perplexity", [step], [1]) == pytest.approx([4.0])
    assert per(host, "step_perplexity", [step], [1], convention="inseq") == pytest.approx([2 ** math.log(4)])


def test_step_scores_over_several_steps_and_masked_logits(host):
    # step 1 as above (p = 1/4), step 2: uniform over 3, target 2 (p = 1/3)
    steps = [[0.0, LN2, math.log(5)], [0.0, 0.0, 0.0]]
    # sequence perplexity exp(mean(ln 4, ln 3)) = sqrt(12); inseq: mean(2^ln4, 2^ln3)
    assert per(host, "step_perplexity", [steps], [[1, 2]]) == pytest.approx([math.sqrt(12)])
    assert per(host, "step_perplexity", [steps], [[1, 2]], convention="inseq") == pytest.approx(
        [(2 ** math.log(4) + 2 ** LN3) / 2])
    assert per(host, "step_crossentropy", [steps], [[1, 2]], reduction="sum") == pytest.approx([math.log(12)])
    # a masked token (-inf logit) has probability 0 and adds nothing to the entropy
    assert per(host, "step_entropy", [[[0.0, -math.inf, 0.0]]], [None]) == pytest.approx([LN2])
    assert per(host, "step_probability", [[[0.0, -math.inf, 0.0]]], [1]) == [0.0]
    with pytest.raises(DataError, match="2 steps of logits but 1 target"):
        score(host, "step_logit", [steps], [[1]])
    with pytest.raises(DataError, match=r"target ids must lie in \[0, 3\)"):
        score(host, "step_logit", [steps], [[1, 7]])
    with pytest.raises(ConfigError, match="reduction=sum applies to perplexity=inseq"):
        score(host, "step_perplexity", [steps], [[1, 2]], reduction="sum")


# --- the convention mechanics -----------------------------------------------------------------------

def test_convention_sets_every_sub_choice_and_fields_override(host):
    cfg = score(host, "accuracy_at_k", [[1, 0]], [[1, 0]], convention="baan2022", k=2)["config"]
    assert cfg == {"convention": "baan2022", "k": 2, "mode": "kth_rank", "model_ties": "last", "human_ties": "last"}
    cfg = score(host, "cross_entropy", [[0.5, 0.5]], [[1, 0]], convention="lewidi2023", base=2)["config"]
    assert cfg["base"] == "2" and cfg["smoothing"] == "clip" and cfg["log_offset"] == 1e-9


def test_a_convention_a_metric_does_not_have_is_refused_with_the_way_out(host):
    with pytest.raises(ConfigError, match="ChaosNLI's 'JS div' is the JS \\*distance\\*.*use js_distance"):
        score(host, "js_divergence", [[0.5, 0.5]], [[0.5, 0.5]], convention="chaosnli")
    with pytest.raises(ConfigError, match="conventions for kl_divergence: plurieval, chaosnli"):
        score(host, "kl_divergence", [[0.5, 0.5]], [[0.5, 0.5]], convention="lewidi2025")
    with pytest.raises(ConfigError, match="unknown convention 'chaos'"):
        score(host, "kl_divergence", [[0.5, 0.5]], [[0.5, 0.5]], convention="chaos")


def test_every_hlv_metric_takes_a_convention_and_its_presets_validate(host):
    for metric, presets in CONVENTIONS.items():
        spec = host.get("metric", metric)
        for name in presets:
            params = {"convention": name, **({"scale": 6} if metric == "mean_absolute_distance" else {})}
            cfg = spec.make_config(params)
            assert cfg.convention == name
            for field, value in presets[name].items():
                assert getattr(cfg, field) == value, (metric, name, field)


def test_show_lists_what_each_convention_sets(monkeypatch):
    from typer.testing import CliRunner

    from plurieval import cli

    monkeypatch.setattr(cli.console, "width", 200)
    res = CliRunner().invoke(cli.app, ["show", "accuracy_at_k"])
    assert res.exit_code == 0, res.output
    assert "convention: what each value sets" in res.output
    assert "baan2022" in res.output and "mode='kth_rank'" in res.output and "model_ties='last'" in res.output


def test_docs_table_is_the_generated_one():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "hlv.md").read_text(encoding="utf-8")
    assert convention_table() in doc, "docs/hlv.md: paste plurieval_hlv.conventions.convention_table() output"
