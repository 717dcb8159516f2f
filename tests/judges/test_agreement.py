"""Agreement statistics (plurieval_resources.judges.agreement) on worked examples derived by hand
from the published definitions, and against scikit-learn's reference implementation."""

import math

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from plurieval_resources.judges.agreement import agreement, confusion, kappa_from_counts


def test_quadratic_kappa_worked_example():
    # labels 0 0 1 1 2 2, judge 0 1 1 1 2 0 (rows = labels):
    #   [[1, 1, 0], [0, 2, 0], [1, 0, 1]]; row marginals 1/3 each, column marginals 2/6, 3/6, 1/6.
    # Quadratic weights (i-j)^2/4. Observed weighted disagreement: (1/6)(1/4) + (1/6)(1) = 5/24.
    # Expected: (1/3) * [(2/6)(1.25) + (3/6)(0.5) + (1/6)(1.25)] = (1/3)(7/8) = 7/24.
    # kappa = 1 - (5/24)/(7/24) = 2/7. Exact agreement 4/6. Bias on the J scale (x50):
    # 50 * (5/6 - 1) = -25/3 J points.
    labels, judge = [0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0]
    assert confusion(labels, judge, (0, 1, 2)).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    rep = agreement(labels, judge, (0, 1, 2), weights="quadratic", scale=50.0, resamples=200)
    assert rep["kappa"]["value"] == pytest.approx(2 / 7)
    assert rep["exact_agreement"]["value"] == pytest.approx(4 / 6)
    assert rep["bias"]["value"] == pytest.approx(-25 / 3)
    assert rep["mean_labels"] == pytest.approx(50.0) and rep["mean_judge"] == pytest.approx(250 / 6)


def test_binary_kappa_worked_example():
    # p_o = 6/8; both raters say yes 3/8 of the time: p_e = (3/8)^2 + (5/8)^2 = 34/64;
    # kappa = (48/64 - 34/64) / (30/64) = 14/30 = 7/15.
    labels, judge = [1, 1, 1, 0, 0, 0, 0, 0], [1, 1, 0, 1, 0, 0, 0, 0]
    rep = agreement(labels, judge, (0, 1), resamples=200)
    assert rep["kappa"]["value"] == pytest.approx(7 / 15)
    assert rep["bias"]["value"] == pytest.approx(0.0)


@pytest.mark.parametrize("weights", ["none", "linear", "quadratic"])
def test_kappa_equals_scikit_learn(weights):
    rng = np.random.default_rng(3)
    for _ in range(20):
        y = rng.integers(0, 3, size=40)
        z = np.where(rng.random(40) < 0.6, y, rng.integers(0, 3, size=40))
        ours = kappa_from_counts(confusion(y, z, (0, 1, 2)), weights)
        ref = cohen_kappa_score(y, z, labels=[0, 1, 2], weights=None if weights == "none" else weights)
        assert ours == pytest.approx(ref)


def test_undefined_kappa_and_intervals():
    rep = agreement([1, 1, 1], [1, 1, 1], (0, 1))
    assert math.isnan(rep["kappa"]["value"])          # both raters use one class only
    assert rep["exact_agreement"]["value"] == 1.0
    y = [0, 1, 2, 2, 1, 0, 2, 1, 1, 0] * 3
    z = [0, 1, 2, 1, 1, 0, 2, 2, 1, 1] * 3
    a = agreement(y, z, (0, 1, 2), weights="quadratic", seed=5)
    b = agreement(y, z, (0, 1, 2), weights="quadratic", seed=5)
    assert a == b                                     # seeded: the same intervals every time
    for stat in ("kappa", "exact_agreement", "bias"):
        assert a[stat]["ci_low"] <= a[stat]["value"] <= a[stat]["ci_high"]
    assert agreement([], [], (0, 1))["n"] == 0
