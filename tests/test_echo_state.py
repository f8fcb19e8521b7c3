"""Echo state networks (seed 003, section 8.10) and the sequence data sets.

The reservoir is checked against a hand-written float64 numpy loop of the
seed's update, h(t) = (1 - a) h(t-1) + sigma(U x(t) + b + W h(t-1)), and of
the scaled form (1 - a) h + a sigma(.); the readout against scikit-learn's
Ridge on the same states. Hand-worked example of the seed's form (N = 1,
F = 1, no bias): U = 0.5, W = 0.5, a = 0.5, sigma = tanh, x = (1, 1):
h(1) = 0.5 * 0 + tanh(0.5) = 0.46212, h(2) = 0.5 * 0.46212 + tanh(0.5 + 0.5 * 0.46212)
= 0.23106 + tanh(0.73106) = 0.23106 + 0.62371 = 0.85477 (test_hand_worked_example).
"""

import doctest
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Ridge
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

import dagnet
import dagnet.datasets
import dagnet.neural_network._echo_state as es
from dagnet import EchoStateClassifier, EchoStateRegressor
from dagnet.datasets import adding_problem, mackey_glass

ACT = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0), "identity": lambda z: z,
       "logistic": lambda z: 1 / (1 + np.exp(-z))}


def reference_states(est, X, h0=None):
    """The update as the seed prints it, one step at a time, in float64 numpy
    from the fitted U, b and W: X (T, F) -> (T, N)."""
    U, b = est.input_weights_, est.input_bias_
    W = est.reservoir_weights_.toarray()
    a, sigma = est.leak_rate, ACT[est.activation]
    h = np.zeros(U.shape[0]) if h0 is None else np.asarray(h0, dtype=np.float64)
    out = []
    for x in np.asarray(X, dtype=np.float64):
        s = sigma(U @ x + b + W @ h)
        h = (1 - a) * h + (s if est.leak_form == "seed" else a * s)
        out.append(h)
    return np.array(out)


def exact_radius(W):
    # numpy's eigenvalues on one BLAS thread (several crawl on a busy 2-core machine)
    with threadpool_limits(1, user_api="blas"):
        return np.max(np.abs(np.linalg.eigvals(W.toarray())))


def series(T=300, F=2, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-1, 1, (T, F))
    y = np.convolve(X[:, 0], [0.5, 0.3, 0.2])[:T] + 0.1 * X[:, 1]  # needs 2 steps of memory
    return X, y


# --- the reservoir -------------------------------------------------------------------------------

@pytest.mark.parametrize("n,density,rho", [(40, 0.2, 0.9), (300, 0.05, 0.5), (250, 0.3, 1.3)])
def test_spectral_radius_equals_target(n, density, rho):
    X, y = series(20)
    est = EchoStateRegressor(n, density=density, spectral_radius=rho, random_state=1).fit(X, y)
    W = est.reservoir_weights_
    assert W.shape == (n, n) and W.nnz == round(density * n * n)
    assert_allclose(exact_radius(W), rho, rtol=1e-12)


def test_arpack_radius_matches_lapack(monkeypatch):
    # beyond _DENSE_EIG_MAX units the radius comes from ARPACK: check it against LAPACK on
    # reservoirs where ARPACK's single-eigenvalue call (k=1) misses the largest
    rng = np.random.RandomState(2)
    mats = [es._reservoir_matrix(n, 0.1, 1.0, rng) * s for n, s in ((300, 1.0), (400, 3.0))]
    exact = [exact_radius(W) for W in mats]
    monkeypatch.setattr(es, "_DENSE_EIG_MAX", 10)
    for W, r in zip(mats, exact):
        assert_allclose(es.spectral_radius(W), r, rtol=1e-10)


def test_reservoir_weights_are_uniform_and_sparse():
    X, y = series(10, F=3)
    est = EchoStateRegressor(400, density=0.05, input_scaling=[0.5, 1.0, 2.0], bias_scaling=0.3,
                             random_state=0).fit(X, y)
    U = est.input_weights_
    assert U.shape == (400, 3) and np.all(U != 0)  # dense, as the seed asks
    assert_allclose(np.abs(U).max(axis=0), [0.5, 1.0, 2.0], rtol=0.02)
    assert np.abs(est.input_bias_).max() <= 0.3
    W = est.reservoir_weights_
    assert W.nnz == 8000
    # nonzeros uniform in (-c, c) before the scaling: mean |w| = c / 2
    c = np.abs(W.data).max()
    assert_allclose(np.abs(W.data).mean(), c / 2, rtol=0.05)
    rows = np.bincount(W.nonzero()[0], minlength=400)
    assert rows.min() > 0 and rows.max() < 60  # places drawn uniformly: about 20 a row


def test_hand_worked_example():
    est = EchoStateRegressor(1, leak_rate=0.5, bias_scaling=0, random_state=0)
    est.fit(np.ones((2, 1)), np.zeros(2))
    est.input_weights_ = np.array([[0.5]])
    est.reservoir_weights_ = est.reservoir_weights_ * (0.5 / est.reservoir_weights_.data[0])
    assert_allclose(est.transform(np.ones((2, 1)))[:, 0], [0.46212, 0.85477], atol=1e-5)


@pytest.mark.parametrize("leak_form", ["seed", "scaled"])
@pytest.mark.parametrize("n,density,activation,a", [
    (60, 0.2, "tanh", 0.3),         # dense W path
    (300, 0.05, "tanh", 0.7),       # sparse W path
    (80, 0.1, "relu", 0.5),
    (50, 0.2, "logistic", 0.2),
    (30, 0.3, "identity", 0.6)])
def test_update_matches_the_seed_formula(leak_form, n, density, activation, a):
    X, y = series(120, F=2)
    est = EchoStateRegressor(n, density=density, activation=activation, leak_rate=a,
                             leak_form=leak_form, spectral_radius=0.5, input_scaling=0.8,
                             random_state=3).fit(X, y)
    ref = reference_states(est, X)
    assert_allclose(est.transform(X), ref, rtol=1e-11, atol=1e-12)
    # 3-D: a batch of sequences, each its own run from h(0) = 0
    X3 = np.stack([X[:40], X[40:80], X[80:]])
    H3 = est.transform(X3)
    for i in range(3):
        assert_allclose(H3[i], reference_states(est, X3[i]), rtol=1e-11, atol=1e-12)


def test_blocks_of_steps_give_the_same_states(monkeypatch):
    X, y = series(200)
    est = EchoStateRegressor(50, leak_rate=0.4, random_state=0).fit(X, y)
    whole = est.transform(X)
    pred = est.predict(X)
    monkeypatch.setattr(es, "_BLOCK_VALUES", 50 * 7)  # blocks of 7 steps
    assert_array_equal(est.transform(X), whole)
    assert_allclose(est.predict(X), pred, rtol=1e-12)
    X3 = np.stack([X[:100], X[100:]])
    assert_allclose(est.transform(X3)[1], reference_states(est, X[100:]), rtol=1e-11, atol=1e-12)
    # the Gram matrix summed block by block: the same fit up to rounding
    refit = EchoStateRegressor(50, leak_rate=0.4, random_state=0).fit(X, y)
    assert_allclose(refit.predict(X), pred, rtol=1e-9, atol=1e-9)


def test_a_equal_1_is_the_standard_unit():
    X, y = series(80)
    kw = dict(n_reservoir=70, leak_rate=1.0, random_state=5)
    seed = EchoStateRegressor(leak_form="seed", **kw).fit(X, y)
    scaled = EchoStateRegressor(leak_form="scaled", **kw).fit(X, y)
    U, b, W = seed.input_weights_, seed.input_bias_, seed.reservoir_weights_.toarray()
    h, std = np.zeros(70), []
    for x in X:
        h = np.tanh(U @ x + b + W @ h)  # h(t) = sigma(U x(t) + W h(t-1)): the standard unit
        std.append(h)
    assert_allclose(seed.transform(X), std, rtol=1e-12, atol=1e-13)
    assert_array_equal(seed.transform(X), scaled.transform(X))


def test_seed_form_is_the_scaled_form_with_w_over_a():
    # (1 - a) h + sigma(U x + W h) with W = a W' is a times the scaled form's states with W':
    # g = a h gives g = (1 - a) g + a sigma(U x + W' g)
    X, y = series(150)
    a, rho = 0.25, 0.9
    seed = EchoStateRegressor(100, leak_rate=a, spectral_radius=a * rho, random_state=7).fit(X, y)
    scaled = EchoStateRegressor(100, leak_rate=a, spectral_radius=rho, leak_form="scaled",
                                random_state=7).fit(X, y)
    assert_allclose(seed.reservoir_weights_.toarray(), a * scaled.reservoir_weights_.toarray(),
                    rtol=1e-12)
    assert_allclose(a * seed.transform(X), scaled.transform(X), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("a", [0.5, 0.2])
def test_relu_leaky_integrator_is_a_gru(a):
    # seed 003 quiz 8.7-8.9: the leaky ReLU unit with decay a is a ReLU GRU with z = 1 - a,
    # r = 1 and U, W multiplied by 1/a (ReLU is positively homogeneous)
    X, y = series(60)
    est = EchoStateRegressor(40, activation="relu", leak_rate=a, spectral_radius=0.3,
                             bias_scaling=0, random_state=0).fit(X, y)
    U, W = est.input_weights_ / a, est.reservoir_weights_.toarray() / a
    z, r = 1 - a, 1.0
    h, gru = np.zeros(40), []
    for x in X:
        cand = np.maximum(W @ (r * h) + U @ x, 0)
        h = z * h + (1 - z) * cand
        gru.append(h)
    assert_allclose(est.transform(X), gru, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kw", [dict(), dict(leak_rate=0.5, spectral_radius=0.4),
                                dict(leak_rate=0.3, leak_form="scaled", spectral_radius=0.95),
                                dict(n_reservoir=300, density=0.05)])
def test_echo_state_property(kw):
    # two runs from different initial states converge: the state forgets h(0)
    X, y = series(400)
    est = EchoStateRegressor(**{"n_reservoir": 100, "random_state": 0, **kw}).fit(X, y)
    rng = np.random.RandomState(1)
    N = est.n_reservoir
    runs = [np.concatenate([S[:, :, 0].copy() for _, S in est._states(X[None], h0)])
            for h0 in (np.zeros(N), rng.uniform(-1, 1, N), rng.uniform(-1, 1, N) / est.leak_rate)]
    gap = [np.abs(r - runs[0]).max(axis=1) for r in runs[1:]]
    for g in gap:
        assert g[0] > 1e-2 and g[-1] < 1e-10
    assert_allclose(runs[0], est.transform(X))
    # the hand-written loop from another h(0) forgets it too
    assert np.abs(reference_states(est, X, np.full(N, 0.5))[-1] - runs[0][-1]).max() < 1e-10


# --- the readout ---------------------------------------------------------------------------------

def test_ridge_readout_equals_sklearn_ridge_series():
    X, y = series(400)
    Y = np.c_[y, np.roll(y, 1)]
    for target in (y, Y):
        est = EchoStateRegressor(80, washout=30, alpha=1e-2, leak_rate=0.6, random_state=0)
        est.fit(X, target)
        Z = np.hstack([est.transform(X), X])[30:]
        ref = Ridge(alpha=1e-2).fit(Z, target[30:])
        assert_allclose(est.coef_, ref.coef_, rtol=1e-7, atol=1e-9)
        assert_allclose(est.intercept_, ref.intercept_, rtol=1e-7, atol=1e-9)
        assert_allclose(est.predict(X), ref.predict(np.hstack([est.transform(X), X])),
                        rtol=1e-8, atol=1e-10)
        assert np.shape(est.coef_) == np.shape(ref.coef_)


def test_ridge_readout_equals_sklearn_ridge_sequences():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, (30, 12, 3))
    y_seq = X[:, :, 0].sum(1)
    y_step = np.cumsum(X[:, :, 1], axis=1)
    # per sequence: [h(T), x(T)]
    est = EchoStateRegressor(60, alpha=0.1, random_state=0).fit(X, y_seq)
    Z = np.hstack([est.transform(X)[:, -1], X[:, -1]])
    ref = Ridge(alpha=0.1).fit(Z, y_seq)
    assert_allclose(est.coef_, ref.coef_, rtol=1e-7, atol=1e-9)
    assert_allclose(est.predict(X), ref.predict(Z), rtol=1e-8, atol=1e-10)
    # per step, after a washout of 4 steps of each sequence; the input left out
    est = EchoStateRegressor(60, alpha=0.1, washout=4, include_input=False,
                             random_state=0).fit(X, y_step)
    Z = est.transform(X)[:, 4:].reshape(-1, 60)
    ref = Ridge(alpha=0.1).fit(Z, y_step[:, 4:].ravel())
    assert_allclose(est.coef_, ref.coef_, rtol=1e-7, atol=1e-9)
    assert_allclose(est.intercept_, ref.intercept_, rtol=1e-7, atol=1e-9)


def test_alpha_zero_is_least_squares():
    X, y = series(300)
    est = EchoStateRegressor(40, alpha=0.0, random_state=0).fit(X, y)
    Z = np.c_[est.transform(X), X, np.ones(300)]
    coef = np.linalg.lstsq(Z, y, rcond=None)[0]
    assert_allclose(est.predict(X), Z @ coef, atol=1e-8)


def test_random_state_determinism():
    X, y = series(200)
    a = EchoStateRegressor(50, random_state=3).fit(X, y)
    b = EchoStateRegressor(50, random_state=3).fit(X, y)
    c = EchoStateRegressor(50, random_state=4).fit(X, y)
    assert_array_equal(a.predict(X), b.predict(X))
    assert_array_equal(a.reservoir_weights_.toarray(), b.reservoir_weights_.toarray())
    assert not np.allclose(a.input_weights_, c.input_weights_)
    d = EchoStateRegressor(50, random_state=np.random.RandomState(3)).fit(X, y)
    assert_array_equal(a.input_weights_, d.input_weights_)
    # refitting rebuilds the same reservoir
    assert_array_equal(a.fit(X, y).predict(X), b.predict(X))


def test_float32_input_gives_the_float64_result():
    X, y = series(150)
    X32 = X.astype(np.float32)
    a = EchoStateRegressor(40, random_state=0).fit(X32, y)
    b = EchoStateRegressor(40, random_state=0).fit(X32.astype(np.float64), y)
    assert_array_equal(a.predict(X32), b.predict(X32.astype(np.float64)))
    assert a.predict(X32).dtype == np.float64


# --- layouts -------------------------------------------------------------------------------------

def test_layouts_and_shapes():
    rng = np.random.RandomState(0)
    X3 = rng.uniform(-1, 1, (10, 8, 2))
    cases = [((10,), "per_sequence", (10,)), ((10, 3), "per_sequence", (10, 3)),
             ((10, 8), "per_step", (10, 8)), ((10, 8, 2), "per_step", (10, 8, 2))]
    for shape, layout, out in cases:
        est = EchoStateRegressor(30, random_state=0).fit(X3, rng.standard_normal(shape))
        assert est.target_layout_ == layout and est.predict(X3).shape == out
        assert est.n_features_in_ == 2 and not hasattr(est, "feature_names_in_")
    # k == T outputs per sequence: targets says so
    est = EchoStateRegressor(30, targets="per_sequence", random_state=0).fit(X3, X3[:, :, 0])
    assert est.target_layout_ == "per_sequence" and est.predict(X3).shape == (10, 8)
    # one series, 2-D
    X2, y = series(50)
    est = EchoStateRegressor(30, random_state=0).fit(X2, y)
    assert est.predict(X2).shape == (50,) and est.transform(X2).shape == (50, 30)
    assert EchoStateRegressor(30, random_state=0).fit(X2, np.c_[y, y]).predict(X2).shape == (50, 2)
    assert est.transform(X3).shape == (10, 8, 30)


def test_per_step_sequences_are_independent_series():
    rng = np.random.RandomState(1)
    X3 = rng.uniform(-1, 1, (6, 20, 2))
    y3 = np.cumsum(X3[:, :, 0], axis=1)
    est = EchoStateRegressor(40, leak_rate=0.5, random_state=0).fit(X3, y3)
    P = est.predict(X3)
    for i in range(6):
        assert_allclose(est.predict(X3[i]), P[i], rtol=1e-10, atol=1e-12)
    # per sequence: the readout of [h(T), x(T)]
    est = EchoStateRegressor(40, random_state=0).fit(X3, y3[:, -1])
    Z = np.hstack([est.transform(X3)[:, -1], X3[:, -1]])
    assert_allclose(est.predict(X3), Z @ est.coef_ + est.intercept_, rtol=1e-10)


def test_score_leaves_out_the_washout():
    X, y = series(300)
    est = EchoStateRegressor(40, washout=50, random_state=0).fit(X, y)
    from sklearn.metrics import r2_score
    assert est.score(X, y) == pytest.approx(r2_score(y[50:], est.predict(X)[50:]))


def test_feature_names_from_a_dataframe():
    pd = pytest.importorskip("pandas")
    X, y = series(60)
    df = pd.DataFrame(X, columns=["a", "b"])
    est = EchoStateRegressor(20, random_state=0).fit(df, y)
    assert list(est.feature_names_in_) == ["a", "b"]
    assert_allclose(est.predict(df), EchoStateRegressor(20, random_state=0).fit(X, y).predict(X))
    est.fit(np.stack([X, X]), y[None].repeat(2, 0))
    assert not hasattr(est, "feature_names_in_")


def test_in_a_pipeline():
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    X, y = series(200)
    pipe = make_pipeline(EchoStateRegressor(30, random_state=0), LinearRegression()).fit(X, y)
    assert pipe.predict(X).shape == (200,)


# --- tasks ---------------------------------------------------------------------------------------

def test_mackey_glass_one_step_nrmse():
    # Fit on 2000 steps of the tau = 17 series (washout 100), predict the next 1000 from h(0) = 0
    # and score the 900 after their own washout. Measured NRMSE (RMSE / std of the targets) of
    # 100 units with the defaults, seeds 0-4: 1.2e-3 to 1.8e-3; 300 units: 0.8e-3 to 1.0e-3.
    # Predicting the last value (persistence) scores 0.146. The bound 5e-3 is ~3x the worst seed,
    # 30x below persistence: a wrong update, readout or washout breaks it.
    s = mackey_glass(3101)
    X, y = s[:-1, None], s[1:]
    for seed in (0, 1):
        est = EchoStateRegressor(100, washout=100, random_state=seed).fit(X[:2000], y[:2000])
        pred = est.predict(X[2000:])[100:]
        nrmse = np.sqrt(np.mean((pred - y[2100:]) ** 2)) / np.std(y[2100:])
        assert nrmse < 5e-3, nrmse


def test_adding_problem_beats_the_baseline():
    # the mean predictor's MSE is 1/6; a leaky reservoir that remembers 10 steps does far better
    # (measured 2.6e-5 with 300 units, 1e-3-ish with 100)
    X, y = adding_problem(1500, T=10, random_state=0)
    est = EchoStateRegressor(100, leak_rate=0.5, spectral_radius=0.4, input_scaling=0.5,
                             random_state=0).fit(X[:1000], y[:1000])
    assert np.mean((est.predict(X[1000:]) - y[1000:]) ** 2) < 0.01


def test_classifies_sequences_by_frequency():
    rng = np.random.RandomState(0)
    y = rng.choice(["slow", "medium", "fast"], 300)
    w = np.select([y == "slow", y == "medium"], [0.2, 0.5], 0.9)
    t = np.arange(30)
    X = np.sin(w[:, None] * t + rng.uniform(0, 2 * np.pi, (300, 1)))[..., None]
    X += 0.05 * rng.standard_normal(X.shape)
    clf = EchoStateClassifier(100, random_state=0).fit(X[:200], y[:200])
    assert list(clf.classes_) == ["fast", "medium", "slow"]
    assert clf.decision_function(X[200:]).shape == (100, 3)
    assert clf.score(X[200:], y[200:]) > 0.9
    assert not hasattr(clf, "predict_proba")


def test_classifies_every_step_of_a_series():
    # label(t) = the sign of the input 3 steps before: a per-step task that needs memory
    rng = np.random.RandomState(0)
    x = rng.uniform(-1, 1, 1500)
    labels = np.r_[[0, 0, 0], (x[:-3] > 0).astype(int)]
    clf = EchoStateClassifier(100, washout=10, random_state=0).fit(x[:1000, None], labels[:1000])
    d = clf.decision_function(x[1000:, None])
    assert d.shape == (500,)
    assert_array_equal(clf.predict(x[1000:, None]), (d > 0).astype(int))
    assert clf.score(x[1000:, None], labels[1000:]) > 0.95
    # per step labels on sequences: (n, T)
    X3 = x[:1500].reshape(50, 30, 1)
    L3 = labels[:1500].reshape(50, 30)
    clf = EchoStateClassifier(100, washout=3, random_state=0).fit(X3[:40], L3[:40])
    assert clf.predict(X3[40:]).shape == (10, 30)
    assert clf.score(X3[40:], L3[40:]) > 0.95


# --- errors --------------------------------------------------------------------------------------

@pytest.mark.parametrize("params,match", [
    (dict(n_reservoir=0), r"'n_reservoir' parameter of EchoStateRegressor must be an int"),
    (dict(spectral_radius=-1), "'spectral_radius' parameter"),
    (dict(density=0.0), r"'density' parameter .* range \(0, 1\]"),
    (dict(leak_rate=0), r"'leak_rate' parameter .* \(0, 1\]"),
    (dict(leak_rate=1.5), "'leak_rate' parameter"),
    (dict(leak_form="jaeger"), "'leak_form' parameter .* one of 'seed', 'scaled'; got 'jaeger'"),
    (dict(activation="gelu"), "'activation' parameter"),
    (dict(washout=-1), "'washout' parameter"),
    (dict(washout=2.5), "'washout' parameter"),
    (dict(alpha=np.nan), "'alpha' parameter"),
    (dict(include_input="yes"), "'include_input' parameter .* a bool"),
    (dict(input_scaling=[-1, 1]), "'input_scaling' parameter"),
    (dict(targets="each"), "'targets' parameter"),
    (dict(random_state=-3), "'random_state' parameter")])
def test_bad_params_are_named(params, match):
    X, y = series(20)
    with pytest.raises(ValueError, match=match):
        EchoStateRegressor(**params).fit(X, y)
    # checked before the data, whatever their layout
    match = match.replace("EchoStateRegressor", "EchoStateClassifier")
    with pytest.raises(ValueError, match=match):
        EchoStateClassifier(**params).fit(np.zeros((4, 3, 2)), [0, 1, 0, 1])


def test_every_parameter_has_a_constraint():
    for cls in (EchoStateRegressor, EchoStateClassifier):
        assert set(cls._parameter_constraints) == set(cls().get_params())


def test_bad_inputs_give_clear_errors():
    X, y = series(30)
    rng = np.random.RandomState(0)
    X3 = rng.standard_normal((5, 10, 2))
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        EchoStateRegressor(10).fit(X[:, 0], y)
    with pytest.raises(ValueError, match="got 4 dimensions"):
        EchoStateRegressor(10).fit(X3[..., None], y[:5])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        EchoStateRegressor(10).fit(X, y[:-1])
    with pytest.raises(ValueError, match=r"one entry per sequence of X, 5"):
        EchoStateRegressor(10).fit(X3, y[:4])
    with pytest.raises(ValueError, match=r"per-step targets .* must have shape \(5, 10\)"):
        EchoStateRegressor(10, targets="per_step").fit(X3, np.zeros((5, 9)))
    with pytest.raises(ValueError, match=r"washout=30 drops every one of the 30 time steps"):
        EchoStateRegressor(10, washout=30).fit(X, y)
    with pytest.raises(ValueError, match="washout=10 drops every one of the 10 time steps"):
        EchoStateRegressor(10, washout=10).fit(X3, np.zeros((5, 10)))
    with pytest.raises(ValueError, match="targets='per_sequence' needs X of shape"):
        EchoStateRegressor(10, targets="per_sequence").fit(X, y)
    with pytest.raises(ValueError, match="input_scaling has 3 values but X has 2 features"):
        EchoStateRegressor(10, input_scaling=[1, 1, 1]).fit(X, y)
    bad = X3.copy()
    bad[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        EchoStateRegressor(10).fit(bad, y[:5])
    with pytest.raises(ValueError, match="Input y contains NaN"):
        EchoStateRegressor(10).fit(X3, np.r_[np.nan, y[:4]])
    with pytest.raises(ValueError, match="requires y to be passed"):
        EchoStateRegressor(10).fit(X3, None)
    with pytest.raises(NotFittedError):
        EchoStateRegressor(10).predict(X)
    est = EchoStateRegressor(10, random_state=0).fit(X3, y[:5])
    with pytest.raises(ValueError, match="X has 3 features, but EchoStateRegressor is expecting 2"):
        est.predict(rng.standard_normal((5, 10, 3)))
    with pytest.raises(ValueError, match=r"fitted with one target per sequence.*X\[np.newaxis\]"):
        est.predict(X)
    with pytest.raises(ValueError, match="at least 2 classes"):
        EchoStateClassifier(10).fit(X3, np.ones(5))
    with pytest.raises(ValueError, match="Unknown label type"):
        EchoStateClassifier(10).fit(X3, y[:5] + 0.5)


def test_reservoir_without_cycles_is_an_error(monkeypatch):
    # 1 connection among 3 units forms a cycle (a nonzero eigenvalue) only on the diagonal;
    # a radius of 0 at every draw makes W impossible to scale
    X, y = series(30)
    monkeypatch.setattr(es, "spectral_radius", lambda W: 0.0)
    with pytest.raises(ValueError, match=r"10 random reservoirs of 3 units .* raise density"):
        EchoStateRegressor(3, density=0.1, random_state=4).fit(X, y)


def test_readonly_and_list_inputs():
    X, y = series(40)
    X3 = np.stack([X, X])
    X3.setflags(write=False)
    est = EchoStateRegressor(20, random_state=0).fit(X3.tolist(), [1.0, 2.0])
    assert_allclose(est.predict(X3), est.predict(X3.tolist()))


# --- scikit-learn's estimator checks ------------------------------------------------------------

# The checks feed 2-D X of independent samples, which these estimators read as ONE series whose
# row t depends on the rows before it (through the state). Predicting on a subset of the rows or
# on the rows in another order changes every state after the first change: these two checks
# test an invariance a sequence model must not have.
SEQUENCE = ("a 2-D X is one time series; the prediction of row t depends on rows 0..t-1 through "
            "the reservoir state, so it changes with the rows' order and with the subset given")


def expected_failures(estimator):
    return {"check_methods_subset_invariance": SEQUENCE,
            "check_methods_sample_order_invariance": SEQUENCE}


@parametrize_with_checks(
    [EchoStateRegressor(), EchoStateClassifier(),
     EchoStateRegressor(30, density=0.3, leak_rate=0.5, leak_form="scaled", activation="relu",
                        spectral_radius=0.5, input_scaling=0.5, bias_scaling=0.0, alpha=0.1,
                        include_input=False),
     EchoStateClassifier(40, density=0.05, leak_rate=0.3, activation="logistic", alpha=1e-3)],
    expected_failed_checks=expected_failures)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        check(estimator)


# --- datasets ------------------------------------------------------------------------------------

def reference_mackey_glass(n_samples, tau=17.0, beta=0.2, gamma=0.1, n=10, dt=0.1, every=10,
                           x0=1.2):
    """Classical RK4 one step at a time, the delayed values at half steps by cubic Hermite
    interpolation, the history constant: the method datasets.mackey_glass documents."""
    m = int(round(tau / dt))
    K = (n_samples - 1) * every
    x, d = np.full(m + K + 1, x0), np.zeros(m + K + 1)

    def g(z):
        return beta * z / (1 + z ** n)

    for k in range(K):
        if k == m:  # the solution's slope at t = 0 from here on
            d[m] = -gamma * x[m] + g(x[0])
        lo, hi = x[k], x[k + 1]
        mid = (lo + hi) / 2 + dt / 8 * (d[k] - d[k + 1])
        xc = x[m + k]
        k1 = -gamma * xc + g(lo)
        k2 = -gamma * (xc + dt / 2 * k1) + g(mid)
        k3 = -gamma * (xc + dt / 2 * k2) + g(mid)
        k4 = -gamma * (xc + dt * k3) + g(hi)
        x[m + k + 1] = xc + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        d[m + k + 1] = -gamma * x[m + k + 1] + g(x[k + 1])
    return x[m::every]


def test_mackey_glass_matches_step_by_step_rk4():
    assert_allclose(mackey_glass(120, discard=0), reference_mackey_glass(120), rtol=1e-12)


def test_mackey_glass_converges_at_fourth_order():
    # halving dt divides the error by ~16 (2^4) over the first 200 time units
    fine = mackey_glass(200, dt=0.025, discard=0)
    e1 = np.abs(mackey_glass(200, dt=0.1, discard=0) - fine).max()
    e2 = np.abs(mackey_glass(200, dt=0.05, discard=0) - fine).max()
    assert e1 < 1e-8 and 10 < e1 / e2 < 25


def test_mackey_glass_series():
    x = mackey_glass(3000)
    assert x.shape == (3000,) and x.dtype == np.float64
    assert 0.2 < x.min() and x.max() < 1.45 and 0.85 < x.mean() < 0.95
    assert_array_equal(x, mackey_glass(3000))  # deterministic without a seed
    assert_array_equal(mackey_glass(100, discard=600), x[100:200])
    a, b = mackey_glass(500, random_state=0), mackey_glass(500, random_state=1)
    assert_array_equal(a, mackey_glass(500, random_state=0))
    assert np.abs(a - b).max() > 0.1  # another trajectory on the same attractor
    assert 0.2 < b.min() and b.max() < 1.45
    # sample_step: every other sample of the 1-unit series
    assert_allclose(mackey_glass(50, sample_step=2.0, discard=0),
                    mackey_glass(99, discard=0)[::2], rtol=1e-12)
    # tau = 30: the more chaotic series still stays positive and bounded
    x30 = mackey_glass(1000, tau=30)
    assert 0.1 < x30.min() and x30.max() < 1.5


def test_mackey_glass_bad_arguments():
    with pytest.raises(ValueError, match=r"tau / dt must be a whole number .* for example dt=0.2"):
        mackey_glass(10, tau=17, dt=0.3)
    with pytest.raises(ValueError, match="n_samples must be an int >= 1"):
        mackey_glass(0)
    with pytest.raises(ValueError, match="x0 must be a finite number >= 0"):
        mackey_glass(10, x0=-1)
    with pytest.raises(ValueError, match="tau must be a positive"):
        mackey_glass(10, tau=0)


def test_adding_problem():
    X, y = adding_problem(2000, T=25, random_state=0)
    assert X.shape == (2000, 25, 2) and y.shape == (2000,)
    marks = X[:, :, 1]
    assert_array_equal(marks.sum(1), 2)
    first, second = np.argmax(marks[:, :12] > 0, axis=1), 12 + np.argmax(marks[:, 12:] > 0, axis=1)
    assert_array_equal(marks[:, :12].sum(1), 1)  # one marker in each half
    assert_allclose(y, X[np.arange(2000), first, 0] + X[np.arange(2000), second, 0])
    assert np.all((X[:, :, 0] >= 0) & (X[:, :, 0] < 1))
    # both positions spread over their halves; y has mean 1 and variance 1/6
    assert len(np.unique(first)) == 12 and len(np.unique(second)) == 13
    assert abs(y.mean() - 1) < 0.03 and abs(y.var() - 1 / 6) < 0.02
    assert_array_equal(adding_problem(5, 7, random_state=3)[0], adding_problem(5, 7, 3)[0])
    with pytest.raises(ValueError, match="T must be an int >= 2"):
        adding_problem(5, T=1)


def test_lazy_module_and_exports():
    assert dagnet.datasets is dagnet.datasets
    assert "datasets" in dir(dagnet) and "EchoStateRegressor" in dagnet.__all__
    assert dagnet.EchoStateClassifier is EchoStateClassifier


@pytest.mark.parametrize("module", [dagnet.datasets, es])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
