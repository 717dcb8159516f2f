"""Every HLV metric against hand-computed values, including ties, zeros, constants, both KL
directions and log bases; plus standalone scoring from Python and from the CLI."""

import json
import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from plurieval.errors import DataError
from plurieval.scoring import compute, score_file

LN2, LN3 = math.log(2), math.log(3)


def score(host, name, preds, refs, **kw):
    return compute(host, name, preds, refs, **kw)


# --- KL -------------------------------------------------------------------------------------------

def test_kl_both_directions_and_bases(host):
    h, m = [0.5, 0.5], [0.25, 0.75]
    # KL(h||m) = .5 ln(.5/.25) + .5 ln(.5/.75)
    assert score(host, "kl_divergence", [m], [h])["score"] == pytest.approx(0.5 * LN2 + 0.5 * math.log(2 / 3), abs=1e-9)
    assert score(host, "kl_divergence", [m], [h], base="2")["score"] == pytest.approx(0.2075187496, abs=1e-9)
    # KL(m||h) = .25 ln(.25/.5) + .75 ln(.75/.5)
    assert score(host, "kl_divergence", [m], [h], direction="model_human")["score"] == pytest.approx(
        0.25 * math.log(0.5) + 0.75 * math.log(1.5), abs=1e-9)


def test_kl_zero_probabilities(host):
    h, m = [1.0, 0.0], [0.5, 0.5]
    # zero on the human side: the term is 0 (0 log 0 = 0), no smoothing needed
    assert score(host, "kl_divergence", [m], [h], epsilon=0)["score"] == pytest.approx(LN2)
    # model -> human with a zero human probability: +inf without smoothing (reported as such)
    r = score(host, "kl_divergence", [m], [h], direction="model_human", epsilon=0)
    assert r["per_example"] == [math.inf]
    # with the default epsilon it is finite but large: the smoothing decides the value
    r = score(host, "kl_divergence", [m], [h], direction="model_human")
    assert 10 < r["score"] < 20
    assert score(host, "kl_divergence", [h], [h])["score"] == pytest.approx(0.0, abs=1e-9)


# --- JS ---------------------------------------------------------------------------------------------

def test_js_disjoint_and_identical(host):
    assert score(host, "js_divergence", [[1, 0]], [[0, 1]])["score"] == pytest.approx(1.0)
    assert score(host, "js_distance", [[1, 0]], [[0, 1]])["score"] == pytest.approx(1.0)
    assert score(host, "js_divergence", [[1, 0]], [[0, 1]], base="e")["score"] == pytest.approx(LN2)
    assert score(host, "js_distance", [[0.2, 0.8]], [[0.2, 0.8]])["score"] == pytest.approx(0.0, abs=1e-7)


def test_js_matches_scipy(host):
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(3), size=20)
    q = rng.dirichlet(np.ones(3), size=20)
    q[0] = [0.0, 0.3, 0.7]  # zeros need no smoothing for JS
    for base, sb in (("2", 2), ("e", None)):
        r = score(host, "js_distance", q.tolist(), p.tolist(), base=base)
        expected = [jensenshannon(a, b, base=sb) for a, b in zip(p, q, strict=True)]
        assert r["per_example"] == pytest.approx(expected, abs=1e-9)
        d = score(host, "js_divergence", q.tolist(), p.tolist(), base=base)
        assert d["per_example"] == pytest.approx([e * e for e in expected], abs=1e-9)


# --- TVD, cross-entropy, entropy calibration -------------------------------------------------------

def test_total_variation(host):
    assert score(host, "total_variation", [[0.5, 0.3, 0.2]], [[0.2, 0.3, 0.5]])["score"] == pytest.approx(0.3)
    assert score(host, "total_variation", [[1, 0]], [[0, 1]])["score"] == pytest.approx(1.0)


def test_cross_entropy(host):
    # -(.5 ln .25 + .5 ln .75) = H(h) + KL(h||m)
    r = score(host, "cross_entropy", [[0.25, 0.75]], [[0.5, 0.5]])["score"]
    assert r == pytest.approx(0.5 * math.log(4) + 0.5 * math.log(4 / 3), abs=1e-9)
    assert score(host, "cross_entropy", [[0.25, 0.75]], [[0.5, 0.5]], base="2")["score"] == pytest.approx(r / LN2)
    assert score(host, "cross_entropy", [[0.0, 1.0]], [[0.5, 0.5]], epsilon=0)["per_example"] == [math.inf]
    # references may be annotator counts
    assert score(host, "cross_entropy", [[1 / 3] * 3], [[7, 2, 1]])["score"] == pytest.approx(LN3)


def test_entropy_calibration_error(host):
    assert score(host, "entropy_calibration_error", [[1 / 3] * 3], [[1, 0, 0]])["score"] == pytest.approx(LN3)
    assert score(host, "entropy_calibration_error", [[1 / 3] * 3], [[1, 0, 0]], base="2")["score"] == pytest.approx(
        math.log2(3))
    # same entropy, different distribution -> 0: calibration of spread, not of the answer
    assert score(host, "entropy_calibration_error", [[0.8, 0.2]], [[0.2, 0.8]])["score"] == pytest.approx(0, abs=1e-12)


# --- normalisation -----------------------------------------------------------------------------------

def test_normalization_of_predictions(host):
    logits = [0.0, LN2]  # softmax -> [1/3, 2/3]
    r = score(host, "total_variation", [logits], [[1 / 3, 2 / 3]], normalization="softmax")
    assert r["score"] == pytest.approx(0.0, abs=1e-12)
    assert score(host, "total_variation", [[1, 3]], [[0.25, 0.75]], normalization="linear")["score"] == pytest.approx(0)
    # negative scores are shifted by their minimum: [-1, 1] -> [0, 1]
    assert score(host, "total_variation", [[-1, 1]], [[0, 1]], normalization="linear")["score"] == pytest.approx(0)
    # a constant vector carries no preference: uniform
    assert score(host, "total_variation", [[0, 0]], [[0.5, 0.5]], normalization="linear")["score"] == pytest.approx(0)
    with pytest.raises(DataError, match="normalization=softmax"):
        score(host, "kl_divergence", [[2.0, 1.0]], [[0.5, 0.5]])
    with pytest.raises(DataError, match="2 options"):
        score(host, "kl_divergence", [[0.5, 0.5]], [[0.2, 0.3, 0.5]])


# --- rank metrics ----------------------------------------------------------------------------------

def test_spearman_with_ties_and_constants(host):
    r = score(host, "rank_spearman", [[0.1, 0.2, 0.7], [0.7, 0.2, 0.1], [1, 1, 2], [5, 5, 5]],
              [[0.2, 0.3, 0.5], [0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.1, 0.2, 0.7]])
    # ties get average ranks: ranks (1.5, 1.5, 3) vs (1, 2, 3) -> rho = 1.5 / sqrt(1.5 * 2)
    assert r["per_example"][:3] == pytest.approx([1.0, -1.0, 1.5 / math.sqrt(3.0)])
    assert r["per_example"][3] is None  # constant model scores: undefined, left out of the mean
    assert r["score"] == pytest.approx((1 - 1 + 1.5 / math.sqrt(3)) / 3)


def test_kendall_tau_b(host):
    r = score(host, "rank_kendall", [[1, 1, 2], [3, 2, 1]], [[0.1, 0.2, 0.7], [0.3, 0.3, 0.4]])
    # (1,1,2) vs (1,2,3): 2 concordant, 0 discordant, 1 tie in x: 2 / sqrt((3-1)(3-0))
    # (3,2,1) vs (.3,.3,.4): pairs (0,1) tie in y, (0,2) and (1,2) discordant: -2 / sqrt(3*2)
    assert r["per_example"] == pytest.approx([2 / math.sqrt(6), -2 / math.sqrt(6)])
    assert score(host, "rank_kendall", [[1, 2, 3]], [[1 / 3] * 3])["per_example"] == [None]


def test_rank_exact_match_weak_orders(host):
    r = score(host, "rank_exact_match", [[3, 2, 1], [3, 3, 1], [3, 3, 1], [0, 0, 0], [0, 0, 0]],
              [[0.5, 0.3, 0.2], [0.4, 0.4, 0.2], [0.5, 0.3, 0.2], [1 / 3] * 3, [0.5, 0.3, 0.2]])
    assert r["per_example"] == [1.0, 1.0, 0.0, 1.0, 0.0]


def test_accuracy_at_k_tie_breaking(host):
    h = [0.2, 0.7, 0.1]
    assert score(host, "accuracy_at_k", [[0.1, 0.5, 0.4]], [h])["score"] == 1.0
    assert score(host, "accuracy_at_k", [[0.6, 0.3, 0.1]], [h])["score"] == 0.0
    assert score(host, "accuracy_at_k", [[0.6, 0.3, 0.1]], [h], k=2)["score"] == 1.0
    # a constant model wins a third of the time at k=1 and two thirds at k=2
    assert score(host, "accuracy_at_k", [[0, 0, 0]], [h])["score"] == pytest.approx(1 / 3)
    assert score(host, "accuracy_at_k", [[0, 0, 0]], [h], k=2)["score"] == pytest.approx(2 / 3)
    # half-tied top: the human top option is one of two tied model top options
    assert score(host, "accuracy_at_k", [[1, 1, 0]], [[0.1, 0.8, 0.1]])["score"] == pytest.approx(0.5)
    # human ties at the top: either tied option counts
    assert score(host, "accuracy_at_k", [[0, 0, 1]], [[0.4, 0.2, 0.4]])["score"] == 1.0
    assert score(host, "accuracy_at_k", [[0, 0, 1]], [h], k=3)["score"] == 1.0
    # one sure slot plus a tie at the k-th place: scores [3, 1, 1, 1] at k=2 take option 0 surely
    # and one of the three tied options for the last slot; the human top option 1 is among them
    # with probability 1/3 (a sure miss, then 1 − C(2,1)/C(3,1))
    h4 = [0.1, 0.6, 0.2, 0.1]
    assert score(host, "accuracy_at_k", [[3, 1, 1, 1]], [h4], k=2)["score"] == pytest.approx(1 / 3)
    # two of the tied options are human-top: 1 − C(1,1)/C(3,1) = 2/3
    assert score(host, "accuracy_at_k", [[3, 1, 1, 1]], [[0.0, 0.4, 0.4, 0.2]], k=2)["score"] == pytest.approx(2 / 3)
    # the sure slot is the human top option: a hit whatever the tie
    assert score(host, "accuracy_at_k", [[3, 1, 1, 1]], [[0.7, 0.1, 0.1, 0.1]], k=2)["score"] == 1.0


# --- standalone scoring: file and CLI --------------------------------------------------------------

def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_score_file_with_logits(host, tmp_path):
    f = _write(tmp_path / "p.jsonl", [{"prediction": [0.0, LN2], "reference": [1 / 3, 2 / 3]},
                                      {"prediction": [0.0, 0.0], "reference": [0.5, 0.5]}])
    out = score_file(host, "kl_divergence", f, ["normalization=softmax"])
    assert out["metric"] == "kl_divergence" and out["config"]["normalization"] == "softmax"
    assert out["per_example"] == pytest.approx([0, 0], abs=1e-9)


@pytest.mark.parametrize("metric", ["kl_divergence", "js_distance", "js_divergence", "total_variation",
                                    "cross_entropy", "rank_spearman", "rank_kendall", "rank_exact_match",
                                    "accuracy_at_k", "entropy_calibration_error"])
def test_cli_score_every_metric(metric, tmp_path):
    from typer.testing import CliRunner

    from plurieval.cli import app

    f = _write(tmp_path / "p.jsonl", [{"prediction": [2.0, 1.0, 0.0], "reference": [0.6, 0.3, 0.1]},
                                      {"prediction": [0.0, 1.0, 2.0], "reference": [0.6, 0.3, 0.1]}])
    res = CliRunner().invoke(app, ["score", metric, str(f), "--set", "normalization=softmax"]
                             if metric not in ("rank_spearman", "rank_kendall", "rank_exact_match", "accuracy_at_k")
                             else ["score", metric, str(f)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert set(out) >= {"metric", "config", "score", "per_example"} and len(out["per_example"]) == 2
    if metric in ("rank_spearman", "rank_kendall", "rank_exact_match", "accuracy_at_k"):
        assert out["per_example"][0] == 1.0 and out["per_example"][1] in (-1.0, 0.0)


def test_cli_score_subprocess_reports_bad_input(tmp_path):
    import subprocess
    import sys

    f = _write(tmp_path / "p.jsonl", [{"prediction": [2.0, 1.0], "reference": [0.5, 0.5]}])
    cmd = [sys.executable, "-c", "from plurieval.cli import main; main()", "score", "js_distance", str(f)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "normalization" in res.stderr
    res = subprocess.run(cmd + ["--set", "normalization=linear", "--set", "base=e"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["score"] == pytest.approx(jensenshannon([2 / 3, 1 / 3], [0.5, 0.5]), abs=1e-9)


def test_cli_base_given_as_a_number_and_infinite_kl_stay_valid(tmp_path):
    """`--set base=2` arrives as the YAML integer 2 (the docs' own example), and KL with
    epsilon=0 against a zero model probability is +inf, which plain json.dumps would print as the
    invalid token `Infinity`."""
    import subprocess
    import sys

    f = _write(tmp_path / "p.jsonl", [{"prediction": [0.5, 0.5], "reference": [0.25, 0.75]},
                                      {"prediction": [1.0, 0.0], "reference": [0.5, 0.5]}])
    cmd = [sys.executable, "-c", "from plurieval.cli import main; main()", "score"]
    res = subprocess.run(cmd + ["js_distance", str(f), "--set", "base=2"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["config"]["base"] == "2"
    assert out["per_example"][0] == pytest.approx(jensenshannon([0.5, 0.5], [0.25, 0.75], base=2), abs=1e-9)
    res = subprocess.run(cmd + ["kl_divergence", str(f), "--set", "epsilon=0"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    def invalid(token):
        raise AssertionError(f"plurieval score printed {token}, which is not JSON")

    out = json.loads(res.stdout, parse_constant=invalid)
    assert out["per_example"][1] == "inf" and out["score"] == "inf"
    assert out["per_example"][0] == pytest.approx(0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5))
