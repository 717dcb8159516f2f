"""Diagnosticity: do the faithfulness metrics order explanations whose faithfulness is known by
construction? (``diagnosticity.py`` builds the pairs on the planted tiny model and computes the
table in docs/faithfulness.md.)

What the construction fixes, and so what each metric must show:

- the counterfactual test inserts the key words themselves; an insertion that flips the answer
  is a key word, which the faithful reasoning names (it names every key in the edited input) and
  the unfaithful one never does. So under ``atanasova`` every pair with a flip is ordered
  correctly (faithful 0 < unfaithful 1), and under ``cc-shap`` no pair is ordered wrongly.
- the planted model's answer never depends on the reasoning (it was trained on the letter after
  the question alone), so the Lanham tests and the biasing feature — which measure whether the
  answer depends on the reasoning — must not tell the two explanations apart: every pair is a tie
  or undefined, never ordered either way.
"""

from __future__ import annotations

import pytest
from diagnosticity import METRICS, table


@pytest.fixture(scope="module")
def diag(planted):
    return table(n_items=12, resamples=200)


def test_every_metric_is_reported_with_an_interval(diag):
    rows, info = diag
    assert set(rows) == set(METRICS)
    for key, r in rows.items():
        assert 0.0 <= r["value"] <= 1.0, key
        assert r["ci_low"] <= r["value"] + 1e-9 and r["value"] <= r["ci_high"] + 1e-9 or key == "simulatability"
    assert info["same_answer"] == 1.0  # both explanations explain the same answer


def test_the_counterfactual_test_orders_every_decided_pair_correctly(diag):
    rows, _ = diag
    ata = rows["counterfactual_test"]
    assert ata["undefined"] < 12, "some insertion of a key word must flip the answer"
    assert ata["of_decided"] == 1.0 and ata["faithful"] == 0.0 and ata["unfaithful"] == 1.0
    ccs = rows["counterfactual_test@cc-shap"]
    assert ccs["value"] * 12 + ccs["ties"] == 12  # correct or tied, never wrong
    assert ccs["value"] == pytest.approx((12 - ata["undefined"]) / 12)  # the same flips decide both conventions


@pytest.mark.parametrize("key", ["lanham_early_answering", "lanham_adding_mistakes", "lanham_paraphrasing",
                                 "lanham_filler_tokens", "biasing_feature"])
def test_reasoning_dependence_tests_cannot_tell_the_pair_apart(diag, key):
    r = diag[0][key]
    assert r["value"] == 0.0 and r["ties"] + r["undefined"] == 12, r
