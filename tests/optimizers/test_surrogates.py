"""Surrogate features, models and acquisition rules against independent references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import actsearch
from actsearch.errors import ActsearchError
from actsearch.surrogates.acquisition import acquire, expected_improvement, ucb
from actsearch.surrogates.features import FeatureExtractor, fisher_spectrum, probe_points, shape_features
from actsearch.surrogates.models import make_model


def test_shape_features_are_asinh_of_outputs_and_finite_difference_slopes():
    n = 24
    c = actsearch.parse("x*tanh(x) + a*x; a=0.3")
    f = shape_features(c, n_points=n, clip=8.0)
    x = probe_points(n).numpy()
    y = x * np.tanh(x) + 0.3 * x
    h = 1e-6
    dy = ((x + h) * np.tanh(x + h) - (x - h) * np.tanh(x - h)) / (2 * h) + 0.3
    np.testing.assert_allclose(f[:n], np.arcsinh(y), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(f[n:], np.arcsinh(dy), rtol=1e-6, atol=1e-7)


def test_shape_features_clip_infinities_and_nan():
    n = 16
    f = shape_features(actsearch.parse("log(x)"), n_points=n, clip=5.0)  # NaN for x < 0
    x = probe_points(n).numpy()
    assert np.all(np.isfinite(f)) and np.all(np.abs(f) <= 5.0)
    assert np.all(f[:n][x < 0] == -5.0)
    np.testing.assert_allclose(f[:n][x > 0], np.arcsinh(np.log(x[x > 0])), rtol=1e-12)
    g = shape_features(actsearch.parse("exp(exp(exp(x)))"), n_points=n, clip=5.0)
    assert g[n - 1] == 5.0  # overflow -> inf -> +clip


def test_fisher_spectrum_matches_explicit_fisher_matrix():
    """Top eigenvalues of G G^T / N equal those of the P x P matrix G^T G / N built directly."""
    c = actsearch.parse("tanh(x)")
    k, batch = 5, 8
    values = fisher_spectrum(c, k=k, batch=batch, width=4, seed=3, clip=50.0)
    # independent construction: per-sample gradients through torch.func, Fisher in parameter space
    from actsearch.surrogates.features import _TinyMLP

    gen = torch.Generator().manual_seed(3)
    x = torch.randn(batch, 16, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, 4, (batch,), generator=gen)
    with torch.random.fork_rng():
        torch.manual_seed(3)
        net = _TinyMLP(lambda: torch.nn.Tanh(), 4, 16, 4).double()
    params = dict(net.named_parameters())

    def logp(p, xi, onehot):  # one-hot: vmap cannot index by a batched label
        out = torch.func.functional_call(net, p, (xi.unsqueeze(0),))
        return (torch.log_softmax(out, -1)[0] * onehot).sum()

    onehots = torch.nn.functional.one_hot(labels, 4).double()
    grads = torch.func.vmap(torch.func.grad(logp), in_dims=(None, 0, 0))(params, x, onehots)
    G = torch.cat([g.reshape(batch, -1) for g in grads.values()], dim=1)
    fisher = G.T @ G / batch
    eig = torch.linalg.eigvalsh(fisher.detach()).flip(0)[:k].clamp_min(0).numpy()
    np.testing.assert_allclose(values, np.arcsinh(np.log10(eig + 1e-12)), rtol=1e-6, atol=1e-8)


def test_feature_extractor_caches_and_sizes():
    fx = FeatureExtractor(groups=("shape",), n_points=10, fisher=True, fisher_k=3)
    c = actsearch.parse("relu(x)")
    a = fx(c)
    assert a.shape == (fx.dim,) == (23,)
    assert fx(actsearch.parse("relu(x)")) is a  # same text: cached
    assert fx.matrix([c, actsearch.parse("tanh(x)")]).shape == (2, 23)
    assert fx.matrix([]).shape == (0, 23)


def test_output_and_slope_groups_read_the_function_at_normal_quantiles():
    from scipy.stats import norm

    fx = FeatureExtractor(groups=("outputs", "slopes"), n_points=20)
    f = fx(actsearch.parse("x*tanh(x) + 0.3*x"))
    q = np.sort(np.concatenate([norm.ppf((np.arange(20) + 0.5) / 20), [-5, -4, -3, 3, 4, 5]]))
    np.testing.assert_allclose(f[:26], np.arcsinh(q * np.tanh(q) + 0.3 * q), atol=2e-4)  # linear interpolation
    s = norm.ppf((np.arange(16) + 0.5) / 16)
    slope = np.tanh(s) + s / np.cosh(s) ** 2 + 0.3
    np.testing.assert_allclose(f[26:], np.arcsinh(slope), atol=2e-3)  # central differences, step 0.02


def test_signal_features_follow_the_mean_field_recursion():
    from scipy import integrate

    from actsearch.surrogates.features import GRID
    from actsearch.surrogates.signal import LAYERS, signal_features

    values = np.stack([np.maximum(GRID, 0), np.tanh(GRID), GRID])
    out = signal_features(values, GRID, sigma_w2=2.0).reshape(3, 4, LAYERS)
    # relu under He init keeps q = 1 and chi = 1; its correlation map is the arc-cosine kernel
    np.testing.assert_allclose(out[0, 0], 0.0, atol=1e-3)
    np.testing.assert_allclose(out[0, 2], 0.0, atol=1e-2)
    c0 = 0.5
    c1 = (np.sqrt(1 - c0**2) + (np.pi - np.arccos(c0)) * c0) / np.pi
    # (10x10 Gauss-Hermite nodes on relu's kink: within 0.015, closer with more nodes)
    assert out[0, 1, 0] == pytest.approx(c1, abs=0.015)
    # identity: q doubles every layer, chi = 2, c unchanged
    np.testing.assert_allclose(out[2, 0], np.log10(2.0) * np.arange(1, LAYERS + 1), atol=1e-6)
    np.testing.assert_allclose(out[2, 1], 0.5, atol=1e-6)
    # tanh, first layer, against direct numerical integration
    gauss = lambda g: integrate.quad(lambda z: g(z) * np.exp(-z * z / 2) / np.sqrt(2 * np.pi), -12, 12)[0]  # noqa
    q1 = 2.0 * gauss(lambda z: np.tanh(z) ** 2)
    chi1 = 2.0 * gauss(lambda z: 1 / np.cosh(z) ** 4)
    assert out[1, 0, 0] == pytest.approx(np.log10(q1), abs=2e-3)
    assert out[1, 2, 0] == pytest.approx(np.log10(chi1), abs=5e-3)


def test_vectorised_features_equal_one_candidate_at_a_time():
    space = actsearch.space("grammar", unary="identity,tanh,sigmoid,relu,sin", shapes="1,3")
    cat = space.catalog()
    fx = FeatureExtractor()
    index = np.arange(0, len(cat), max(1, len(cat) // 25))
    from actsearch.surrogates.features import GRID

    together = fx.from_values(cat.values(GRID, index))
    alone = np.stack([fx(space.build_member(int(i))) for i in index])
    np.testing.assert_allclose(together, alone, atol=1e-6)


def test_catalog_features_are_deterministic_and_cached(tmp_path, monkeypatch):
    from actsearch.search_spaces._catalog import Catalog
    from actsearch.surrogates.pool import catalog_features

    monkeypatch.setenv("ACTSEARCH_DATA", str(tmp_path))
    cat = Catalog.build(("identity", "tanh", "relu", "exp"), ("add", "mul"), (1, 2))
    fx = FeatureExtractor()
    first = catalog_features(cat, fx)
    assert len(list((tmp_path / "spaces").glob("features-*.npy"))) == 1
    again = catalog_features(cat, fx, cache=False)  # recomputed, not read back
    np.testing.assert_array_equal(first, again)
    assert np.isfinite(first).all() and first.shape == (len(cat), fx.dim)
    # a different feature set is a different cache entry
    catalog_features(cat, FeatureExtractor(groups=("outputs",)))
    assert len(list((tmp_path / "spaces").glob("features-*.npy"))) == 2


def test_unknown_feature_group_is_one_clear_error():
    with pytest.raises(ActsearchError, match="unknown feature group 'curvature'"):
        FeatureExtractor(groups=("outputs", "curvature"))


# -- models ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["knn", "gp", "rf"])
def test_models_fit_a_smooth_function_and_are_less_sure_far_away(name):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(80, 2))
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2
    model = make_model(name, seed=0).fit(X, y)
    Xt = rng.uniform(-0.8, 0.8, size=(40, 2))
    mean, std = model.predict(Xt)
    yt = np.sin(2 * Xt[:, 0]) + Xt[:, 1] ** 2
    assert mean.shape == std.shape == (40,)
    assert np.all(std >= 0)
    assert np.sqrt(np.mean((mean - yt) ** 2)) < 0.35 * np.std(yt) + 0.05
    if name in ("knn", "gp"):  # distance-aware uncertainty
        _, far = model.predict(np.array([[6.0, 6.0]]))
        assert far[0] > np.median(std)


def test_knn_mean_is_inverse_distance_weighted_neighbours():
    X = np.array([[0.0], [1.0], [3.0], [10.0]])
    y = np.array([1.0, 2.0, 4.0, 8.0])
    model = make_model("knn", k=2).fit(X, y)
    mean, _ = model.predict(np.array([[0.5 + 0.25]]))  # neighbours x=1 (d=.25), x=0 (d=.75)
    expected = (2.0 / 0.25 + 1.0 / 0.75) / (1 / 0.25 + 1 / 0.75)
    assert mean[0] == pytest.approx(expected, rel=1e-6)


def test_rf_std_is_spread_of_trees():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 3))
    y = X[:, 0] + rng.normal(scale=0.1, size=50)
    model = make_model("rf", seed=0).fit(X, y)
    Xt = rng.normal(size=(5, 3))
    mean, std = model.predict(Xt)
    per_tree = np.stack([t.predict(Xt) for t in model._rf.estimators_])
    np.testing.assert_allclose(mean, model._rf.predict(Xt), rtol=1e-10)
    np.testing.assert_allclose(std, per_tree.std(0), rtol=1e-10)


def test_unknown_model_is_a_clear_error():
    with pytest.raises(ActsearchError, match="unknown surrogate model 'svm'"):
        make_model("svm")


# -- acquisition -------------------------------------------------------------------


def test_ucb_formula():
    np.testing.assert_allclose(ucb([1.0, 2.0], [0.5, 0.0], kappa=2.0), [2.0, 2.0])


def test_expected_improvement_matches_numerical_integral():
    mean, std, best = 0.3, 0.7, 0.5
    z = np.linspace(-12, 12, 200001)
    values = mean + std * z
    density = np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    reference = np.trapezoid(np.maximum(values - best, 0) * density, z)
    assert expected_improvement(np.array([mean]), np.array([std]), best)[0] == pytest.approx(reference, rel=1e-6)
    # zero std: the improvement itself, never negative
    np.testing.assert_allclose(expected_improvement(np.array([0.9, 0.1]), np.zeros(2), 0.5), [0.4, 0.0])


def test_acquire_dispatch_and_errors():
    m, s = np.array([0.1, 0.2]), np.array([0.3, 0.1])
    np.testing.assert_allclose(acquire("ucb", m, s, kappa=1.0), ucb(m, s, 1.0))
    np.testing.assert_allclose(acquire("ei", m, s, best=0.2), expected_improvement(m, s, 0.2))
    with pytest.raises(ActsearchError, match="unknown acquisition 'pi'"):
        acquire("pi", m, s)
