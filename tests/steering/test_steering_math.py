"""Direction, neuron and feature estimators on synthetic activations with a known answer."""

import math

import pytest
import torch

from plurieval.steering.directions import (
    cosine_matrix,
    diff_mean,
    direction_for,
    lda_direction,
    pca_direction,
    probe_direction,
)
from plurieval.steering.lape import LapeStats, lape_entropy, select_language_neurons
from plurieval.steering.sae import feature_direction, select_features, train_sae


def _clusters(n=200, d=32, gap=4.0, seed=0, noise=None):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(d, generator=g, dtype=torch.float64)
    u = u / u.norm()
    noise_pos = torch.randn(n, d, generator=g, dtype=torch.float64)
    noise_neg = torch.randn(n, d, generator=g, dtype=torch.float64)
    if noise is not None:
        noise_pos, noise_neg = noise_pos @ noise, noise_neg @ noise
    base = torch.randn(d, generator=g, dtype=torch.float64) * 3
    return base + gap / 2 * u + noise_pos, base - gap / 2 * u + noise_neg, u


@pytest.mark.parametrize("method", ["diffmean", "pca", "lda", "probe"])
def test_each_estimator_recovers_the_separating_direction(method):
    pos, neg, u = _clusters()
    v = direction_for(method, pos, neg)
    assert abs(v.norm().item() - 1) < 1e-6
    assert float(v @ u) > 0.9  # right axis *and* right sign (towards the positive group)


@pytest.mark.parametrize("method", ["diffmean", "pca", "lda", "probe"])
def test_direction_points_towards_positive_group(method):
    pos, neg, u = _clusters(seed=3)
    assert float(direction_for(method, neg, pos) @ u) < -0.9


def test_lda_corrects_for_anisotropic_noise_where_diffmean_cannot():
    # Noise is strong along a direction correlated with the mean gap: the Bayes-optimal
    # discriminant is Σ⁻¹Δμ, which differs from Δμ; LDA must find it, DiffMean does not.
    d = 8
    g = torch.Generator().manual_seed(1)
    delta = torch.zeros(d, dtype=torch.float64)
    delta[0], delta[1] = 1.0, 1.0
    cov_sqrt = torch.eye(d, dtype=torch.float64)
    cov_sqrt[1, 1] = 4.0  # std 4 along axis 1
    n = 4000
    pos = delta / 2 + torch.randn(n, d, generator=g, dtype=torch.float64) @ cov_sqrt
    neg = -delta / 2 + torch.randn(n, d, generator=g, dtype=torch.float64) @ cov_sqrt
    sigma = cov_sqrt @ cov_sqrt.T
    w_true = torch.linalg.solve(sigma, delta)
    w_true = w_true / w_true.norm()
    assert float(lda_direction(pos, neg, shrinkage=0.0) @ w_true) > 0.99
    assert float(diff_mean(pos, neg, normalize=True) @ w_true) < 0.8
    assert float(probe_direction(pos, neg, C=10.0) @ w_true) > 0.97


def test_pca_is_the_top_variance_axis():
    pos, neg, u = _clusters(gap=10.0)
    assert float(pca_direction(pos, neg) @ u) > 0.99


def test_diff_mean_value_and_errors():
    pos = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    neg = torch.tensor([[0.0, 0.0]])
    assert torch.allclose(diff_mean(pos, neg), torch.tensor([2.0, 3.0]))
    assert torch.allclose(diff_mean(pos, neg, normalize=True), torch.tensor([2.0, 3.0]) / 13 ** 0.5)
    with pytest.raises(ValueError, match="equal width"):
        diff_mean(pos, torch.zeros(1, 3))
    with pytest.raises(ValueError, match="unknown direction estimator"):
        direction_for("nope", pos, neg)


def test_cosine_matrix():
    m = cosine_matrix(torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]))
    assert torch.allclose(m.diag(), torch.ones(3, dtype=torch.float64))
    assert abs(float(m[0, 1])) < 1e-9 and abs(float(m[0, 2]) - 2 ** -0.5) < 1e-9


# --- LAPE -----------------------------------------------------------------------------------

def test_lape_entropy_hand_computed():
    probs = torch.tensor([[0.5, 0.5], [1.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    ent = lape_entropy(probs)
    assert abs(float(ent[0]) - math.log(2)) < 1e-12
    assert float(ent[1]) == 0.0
    assert ent[2] == float("inf")


def test_lape_finds_planted_language_neurons():
    g = torch.Generator().manual_seed(0)
    layers, neurons, langs = 4, 200, ["de", "en", "fr", "ja"]
    planted = {"de": {(1, 7), (2, 50)}, "fr": {(0, 3), (3, 120)}, "ja": {(2, 9), (3, 11)}, "en": {(1, 100), (0, 199)}}
    stats = LapeStats(layers, neurons)
    for lang in langs:
        for _ in range(5):  # streamed in batches
            # Background neurons fire ~30 % of the time in every language.
            acts = torch.where(torch.rand(100, layers, neurons, generator=g) < 0.3, 1.0, -1.0)
            for layer, n in planted[lang]:
                acts[:, layer, n] = torch.where(torch.rand(100, generator=g) < 0.95, 2.0, -1.0)
            for other in langs:
                if other != lang:
                    for layer, n in planted[other]:
                        acts[:, layer, n] = torch.where(torch.rand(100, generator=g) < 0.01, 1.0, -1.0)
            stats.update(lang, acts)
    assert stats.tokens["de"] == 500
    probs = stats.probabilities()
    assert probs.shape == (layers, neurons, 4)
    sel = select_language_neurons(probs, stats.languages, top_rate=0.01)
    for lang in langs:
        found = {(layer, int(n)) for layer, idx in sel[lang].items() for n in idx}
        assert found == planted[lang], lang
    # The value LAPE steers a planted neuron to is its mean activation where active.
    assert abs(float(stats.mean_active_value()[1, 7, stats.languages.index("de")]) - 2.0) < 1e-6


def test_lape_shape_errors():
    with pytest.raises(ValueError, match="expects"):
        LapeStats(2, 3).update("en", torch.zeros(4, 3, 2))
    with pytest.raises(ValueError, match="probs must be"):
        select_language_neurons(torch.zeros(2, 3, 2), ["en"])


# --- SAE ------------------------------------------------------------------------------------

def test_sae_finds_a_planted_target_feature():
    g = torch.Generator().manual_seed(0)
    d, k_feats, n = 16, 24, 3000
    dictionary = torch.randn(k_feats, d, generator=g)
    dictionary = dictionary / dictionary.norm(dim=1, keepdim=True)
    planted = 5

    def sample(target: bool):
        on = (torch.rand(n, k_feats, generator=g) < 0.08).float()
        on[:, planted] = (torch.rand(n, generator=g) < (0.7 if target else 0.0)).float()
        mags = on * (1 + torch.rand(n, k_feats, generator=g))
        return mags @ dictionary

    pos, neg = sample(True), sample(False)
    sae = train_sae(torch.cat([pos, neg]), num_features=48, l1=3e-3, steps=1500, lr=3e-3, seed=0)
    recon = sae.decode(sae.encode(pos[:200]))
    rel_err = float((recon - pos[:200]).norm() / pos[:200].norm())
    assert rel_err < 0.5
    top = select_features(sae, pos, neg, k=1)
    assert float(sae.w_dec[top[0]] @ dictionary[planted]) > 0.9
    v = feature_direction(sae, top, pos)
    assert abs(float(v.norm()) - 1) < 1e-5 and float(v @ dictionary[planted]) > 0.9
