"""Every metric against numbers derived by hand from the published definitions (no model).

The running example: five words with attribution s = [0.5, −0.2, 0.5, 0.1, 0.0], the model's
option distribution on the full item [0.8, 0.15, 0.05] (prediction: option 0, p(y|x) = 0.8),
human rationale h = [1, 0, 1, 0, 0].

Rankings (``conventions.ranking``):
  eraser: every word, by score descending, ties to the earlier word → [0, 2, 3, 4, 1]
  ferret: positive scores only (0, 2, 3), ties to the later word      → [2, 0, 3]
"""

from __future__ import annotations

import json

import pytest

from plurieval.api import DataError, get_host
from plurieval_faithfulness import conventions as conv

S = [0.5, -0.2, 0.5, 0.1, 0.0]
H = [1, 0, 1, 0, 0]
DIST = [0.8, 0.15, 0.05]


def prediction(records: dict | None = None, scores=S) -> dict:
    return {"example_id": "x", "label": "entailment", "distribution": list(DIST),
            "extra": {"target": {"kind": "option", "index": 0, "option": "entailment", "letter": "A"},
                      "features": [{"field": "premise", "index": i, "word": f"w{i}"} for i in range(len(scores))],
                      "attribution": list(scores), "item": {"fields": None, "chat": True}},
            **({"queries": records} if records else {})}


REF = {"label": "entailment", "rationale": H}


def metric(name: str, **params):
    return get_host().get("metric", name).create(params)


def record(m, masks, values):
    """A record whose output for each mask gives the predicted option probability ``values``."""
    outs = [[v, (1 - v) / 2, (1 - v) / 2] for v in values]
    return {"m": {"settings": m.query_settings(), "masks": masks, "outputs": outs}}


def score(m, masks, values, ref=REF):
    return m.score_examples([prediction(record(m, masks, values))], [ref])[0]


def test_rankings():
    assert conv.ranking(S, "eraser") == [0, 2, 3, 4, 1]
    assert conv.ranking(S, "ferret") == [2, 0, 3]


def test_aopc_thresholds_per_convention():
    # eraser bins 1/5/10/20/50 % of n = 5: ⌊0.05⌋ = ⌊0.25⌋ = ⌊0.5⌋ = 0 words (kept: the empty
    # rationale counts), ⌊1.0⌋ = 1 → [0], ⌊2.5⌋ = 2 → [0, 2]; 100 % is never reached.
    assert conv.aopc_rationales(S, "eraser", None) == [(0.01, []), (0.05, []), (0.1, []), (0.2, [0]), (0.5, [0, 2])]
    # ferret 10..100 %: 10 % → 0 words, skipped; 20 % → 1 → [2]; 30 % → 1, same, skipped; 40 % → 2 →
    # [2, 0]; 50 % skipped; 60 % → 3 → [2, 0, 3]; 70..100 % → only 3 positive words: same, skipped.
    assert conv.aopc_rationales(S, "ferret", None) == [(0.2, [2]), (0.4, [2, 0]), (0.6, [2, 0, 3])]
    assert conv.count_at(0.3, 10) == 3  # not 2 (0.3·10 = 2.9999… in binary)


def test_comprehensiveness_worked():
    # eraser: k = |h| = 2 → r = [0, 2], x∖r keeps words 1, 3, 4 → mask 01011; p(y|x∖r) = 0.2
    # → comprehensiveness = 0.8 − 0.2 = 0.6.
    m = metric("comprehensiveness")
    assert m.masks(prediction(), REF) == ["01011"]
    assert score(m, ["01011"], [0.2]) == pytest.approx(0.6)
    # ferret: k = 5 but only the 3 positive words → r = [2, 0, 3] → mask 01001; p = 0.1 → 0.7.
    f = metric("comprehensiveness", convention="ferret")
    assert f.masks(prediction(), REF) == ["01001"]
    assert score(f, ["01001"], [0.1]) == pytest.approx(0.7)
    # eraser without a human rationale: k = ⌊0.2·5⌋ = 1 → r = [0] → mask 01111.
    assert m.masks(prediction(), {"rationale": None}) == ["01111"]
    # an explicit k as a fraction: ⌊0.4·5⌋ = 2.
    assert metric("comprehensiveness", k=0.4).masks(prediction(), REF) == ["01011"]


def test_sufficiency_worked():
    # eraser: keep only r = [0, 2] → mask 10100; p(y|r) = 0.9 → sufficiency = 0.8 − 0.9 = −0.1
    # (negative values are kept: the rationale alone makes the model surer).
    m = metric("sufficiency")
    assert m.masks(prediction(), REF) == ["10100"]
    assert score(m, ["10100"], [0.9]) == pytest.approx(-0.1)


def test_ferret_no_rationale_values():
    # all scores ≤ 0: ferret finds no rationale and returns comprehensiveness 0, sufficiency 1.
    neg = [-0.1, -0.3, 0.0]
    for name, want in (("comprehensiveness", 0.0), ("sufficiency", 1.0), ("aopc_comprehensiveness", 0.0),
                       ("aopc_sufficiency", 1.0)):
        m = metric(name, convention="ferret")
        p = prediction({"m": {"settings": m.query_settings(), "masks": [], "outputs": []}}, scores=neg)
        assert m.score_examples([p], [{"rationale": None}]) == [want], name


def test_aopc_worked():
    # eraser comprehensiveness: masks remove [], [], [], [0], [0, 2]; p on them 0.8, 0.8, 0.8 (the full
    # input: not queried, p(y|x) itself), 0.5, 0.2 → deltas 0, 0, 0, 0.3, 0.6 → mean 0.18.
    m = metric("aopc_comprehensiveness")
    assert m.masks(prediction(), REF) == ["11111", "11111", "11111", "01111", "01011"]
    assert score(m, m.masks(prediction(), REF), [0.8, 0.8, 0.8, 0.5, 0.2]) == pytest.approx(0.18)
    # ferret: remove [2], [2, 0], [2, 0, 3] → masks 11011, 01011, 01001; p = 0.6, 0.2, 0.1 → deltas
    # 0.2, 0.6, 0.7 → mean 0.5.
    f = metric("aopc_comprehensiveness", convention="ferret")
    assert f.masks(prediction(), REF) == ["11011", "01011", "01001"]
    assert score(f, ["11011", "01011", "01001"], [0.6, 0.2, 0.1]) == pytest.approx(0.5)
    # eraser sufficiency keeps [], [], [], [0], [0, 2] → masks 00000 ×3, 10000, 10100; p = 0.3 (empty
    # input), 0.3, 0.3, 0.6, 0.75 → deltas 0.5, 0.5, 0.5, 0.2, 0.05 → mean 0.35.
    s = metric("aopc_sufficiency")
    masks = ["00000", "00000", "00000", "10000", "10100"]
    assert s.masks(prediction(), REF) == masks
    assert score(s, masks, [0.3, 0.3, 0.3, 0.6, 0.75]) == pytest.approx(0.35)


def test_tau_loo_worked():
    # LOO masks 01111 … 11110 with p = 0.5, 0.8, 0.6, 0.75, 0.8 → effects e = [0.3, 0, 0.2, 0.05, 0].
    # Pairs of (s, e): 8 concordant, 0 discordant, 1 tied in s only (words 0, 2), 1 tied in e only
    # (words 1, 4), n0 = 10 → τ_b = (8 − 0) / sqrt((10 − 1)(10 − 1)) = 8/9.
    m = metric("tau_loo")
    masks = ["01111", "10111", "11011", "11101", "11110"]
    assert m.masks(prediction(), REF) == masks
    assert score(m, masks, [0.5, 0.8, 0.6, 0.75, 0.8]) == pytest.approx(8 / 9)
    # constant LOO effects: τ undefined → None (left out of the mean)
    assert score(m, masks, [0.8] * 5) is None


PLAUS_S = [0.9, 0.1, 0.5, 0.3]
PLAUS_REF = {"rationale": [1, 0, 0, 1]}


def test_plausibility_worked():
    p = prediction(scores=PLAUS_S)
    # top-2 positive words = {0, 2}; human = {0, 3}: tp = 1, P = 1/2, R = 1/2 → F1 = 0.5; IOU = 1/3.
    assert metric("token_f1", k=2).score_examples([p], [PLAUS_REF]) == [pytest.approx(0.5)]
    assert metric("token_iou", k=2).score_examples([p], [PLAUS_REF]) == [pytest.approx(1 / 3)]
    # threshold 0.2 → {0, 2, 3}: tp = 2, P = 2/3, R = 1 → F1 = 0.8
    assert metric("token_f1", discretise="threshold", threshold=0.2).score_examples([p], [PLAUS_REF]) == [pytest.approx(0.8)]
    # AUPRC: sklearn's PR points (recall, precision) by falling threshold: (0, 1), (0.5, 1) at 0.9,
    # (0.5, 0.5) at 0.5, (1, 2/3) at 0.3, (1, 0.5) at 0.1; trapezoids over recall:
    # 0.5·(1 + 1)/2 + 0 + 0.5·(0.5 + 2/3)/2 + 0 = 0.5 + 0.291666… = 0.791666…
    assert metric("auprc").score_examples([p], [PLAUS_REF]) == [pytest.approx(0.5 + 0.5 * (0.5 + 2 / 3) / 2)]
    # no human rationale → undefined
    assert metric("token_f1").score_examples([p], [{"rationale": [0, 0, 0, 0]}]) == [None]


def test_scorer_refuses_a_record_that_does_not_follow_from_the_attribution():
    m = metric("comprehensiveness")
    with pytest.raises(DataError, match="are not the ones the attribution gives"):
        score(m, ["10111"], [0.2])  # someone removed a convenient word instead of the top-2
    with pytest.raises(DataError, match="not a distribution"):
        m.score_examples([prediction({"m": {"settings": m.query_settings(), "masks": ["01011"],
                                            "outputs": [[float("nan"), 0.5, 0.5]]}})], [REF])
    with pytest.raises(DataError, match="no recorded queries"):
        m.score_examples([prediction()], [REF])
    # records of another convention are found by their settings, never mixed up
    f = metric("comprehensiveness", convention="ferret")
    with pytest.raises(DataError, match="records made with"):
        f.score_examples([prediction(record(m, ["01011"], [0.2]))], [REF])


def test_plurieval_score_recomputes_a_recorded_metric_from_a_file(tmp_path):
    from plurieval.scoring import score_file

    m = metric("aopc_comprehensiveness", convention="ferret")
    row = {"prediction": prediction(record(m, ["11011", "01011", "01001"], [0.6, 0.2, 0.1])), "reference": REF}
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(row) + "\n")
    out = score_file(get_host(), "aopc_comprehensiveness", path, ["convention=ferret"])
    assert out["score"] == pytest.approx(0.5)
    with pytest.raises(DataError, match="no recorded queries"):
        score_file(get_host(), "aopc_comprehensiveness", path, [])  # recorded under ferret, asked for eraser


def test_recorded_spec_must_query_the_model():
    from plurieval.api import MetricSpec

    with pytest.raises(ValueError, match="recorded=True is for metrics that query the model"):
        MetricSpec(name="x", factory="m:f", recorded=True)
    spec = get_host().get("metric", "tau_loo")
    assert spec.recorded and spec.offline and "masks" in spec.describe()["jsonl_form"]
