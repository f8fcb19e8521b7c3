"""BernoulliRBM, GaussianBernoulliRBM, DBN and DBNClassifier behave as a
scikit-learn user expects: likelihoods at default sizes, feature names and
pandas output, dtypes, float32's range, divergence, failed calls that change
nothing, random_state and pickling."""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.neural_network import BernoulliRBM as SkBernoulliRBM
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_fit_score_takes_y, check_pipeline_consistency

from dagnet import DBN, BernoulliRBM, DBNClassifier, GaussianBernoulliRBM, _core

TRANSFORMERS = [BernoulliRBM, GaussianBernoulliRBM, DBN]


def small(cls, **params):
    """A small, seeded instance of cls."""
    size = {"hidden_layer_sizes": (6, 4)} if cls is DBN else {"n_components": 6}
    return cls(random_state=0, n_iter=3, **size, **params)


def binary(n=40, d=8, seed=0):
    return (np.random.RandomState(seed).rand(n, d) < 0.4).astype(np.float64)


def state(obj):
    """Everything an estimator holds, as nested tuples that compare equal
    exactly when the two states are equal bit for bit: arrays by dtype,
    shape and bytes, RandomStates by position, estimators by attributes."""
    if isinstance(obj, np.random.RandomState):
        name, keys, pos, has_gauss, gauss = obj.get_state()
        return ("RandomState", keys.tobytes(), pos, has_gauss, gauss)
    if isinstance(obj, np.ndarray):
        return ("array", obj.dtype.str, obj.shape, obj.tobytes())
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__,) + tuple(state(x) for x in obj)
    if isinstance(obj, dict):
        return tuple(sorted((k, state(v)) for k, v in obj.items()))
    if hasattr(obj, "get_params"):
        return (type(obj).__name__, state(vars(obj)))
    return obj


def fitted_state(est):
    """state() of what fitting set, without the constructor's parameters."""
    params = est.get_params(deep=False)
    return state({k: v for k, v in vars(est).items() if k not in params})


# --- 1. log Z where enumerating is too dear ------------------------------------------


def test_gaussian_rbm_with_default_parameters_scores():
    # 256 hidden units: the exact log Z would enumerate 2^256 hidden states
    check_fit_score_takes_y("GaussianBernoulliRBM", GaussianBernoulliRBM())
    check_pipeline_consistency("GaussianBernoulliRBM", GaussianBernoulliRBM())
    X = np.random.RandomState(0).standard_normal((30, 3))
    rbm = GaussianBernoulliRBM(random_state=0).fit(X)
    ll = rbm.score_samples(X)
    assert ll.shape == (30,) and np.isfinite(ll).all()
    assert rbm.score(X) == pytest.approx(ll.mean(), rel=1e-12)


def test_gaussian_rbm_ais_estimates_the_exact_log_z():
    # 21 hidden units (2^21 states) times 9 visible ones is past the exact
    # budget, so log_partition anneals; enumeration is still feasible here
    rng = np.random.RandomState(1)
    centers = rng.standard_normal((3, 9)) * 2
    X = centers[rng.randint(0, 3, 300)] + 0.3 * rng.standard_normal((300, 9))
    X = StandardScaler().fit_transform(X)
    rbm = GaussianBernoulliRBM(n_components=21, n_iter=30, learning_rate=0.005, ais_runs=64,
                               ais_betas=2000, random_state=0).fit(X)
    exact = _core.rbm_log_z_exact(rbm.components_, rbm.intercept_visible_,
                                  rbm.intercept_hidden_, visible="gaussian")
    assert rbm.log_partition() != exact
    assert rbm.log_partition() == pytest.approx(exact, abs=0.05)


@pytest.mark.parametrize("n_hidden, n_visible", [(20, 10_000), (10_000, 20)])
def test_exact_log_z_only_where_enumeration_is_cheap(monkeypatch, n_hidden, n_visible):
    """2^20 states of the 20-unit layer times 10,000 units summed out in each
    take minutes to enumerate: AIS instead, whichever layer is the small one."""
    X = binary(2, n_visible)
    rbm = BernoulliRBM(n_components=n_hidden, n_iter=1, ais_runs=2, ais_betas=20,
                       random_state=0).fit(X)

    def refuse(*args, **kwargs):
        raise AssertionError("log Z enumerated 2^20 states of 10,000 units")

    monkeypatch.setattr(_core, "rbm_log_z_exact", refuse)
    assert np.isfinite(rbm.score(X))


def test_small_models_keep_the_exact_log_z():
    X = binary(50, 12)
    rbm = BernoulliRBM(n_components=16, n_iter=3, random_state=0).fit(X)
    exact = _core.rbm_log_z_exact(rbm.components_, rbm.intercept_visible_,
                                  rbm.intercept_hidden_)
    assert rbm.log_partition() == exact


# --- 3. feature names and pandas output -------------------------------------------------


@pytest.mark.parametrize("cls", TRANSFORMERS)
def test_feature_names_out(cls):
    est = small(cls)
    with pytest.raises(Exception, match="not fitted"):
        est.get_feature_names_out()
    est.fit(binary())
    prefix = cls.__name__.lower()
    width = 4 if cls is DBN else 6
    np.testing.assert_array_equal(est.get_feature_names_out(),
                                  [f"{prefix}{i}" for i in range(width)])
    # default parameters, as in the report: BernoulliRBM().fit(X)
    assert len(cls().fit(binary()).get_feature_names_out()) == (128 if cls is DBN else 256)


@pytest.mark.parametrize("cls", TRANSFORMERS)
def test_pandas_output_alone_and_in_a_pipeline(cls):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(binary(), columns=[f"pixel{i}" for i in range(8)])
    names = list(small(cls).fit(X).get_feature_names_out())
    alone = small(cls).set_output(transform="pandas").fit(X)
    out = alone.transform(X)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == names
    assert list(alone.fit_transform(X).columns) == names
    pipe = make_pipeline(StandardScaler(with_mean=False), small(cls)).set_output(
        transform="pandas")
    out = pipe.fit(X).transform(X)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == names
    assert list(pipe.get_feature_names_out()) == names


# --- 4. dtypes ----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", TRANSFORMERS)
def test_transform_follows_the_floating_dtype_of_x(cls):
    X = binary()
    est = small(cls).fit(X)
    assert est.transform(X.astype(np.float32)).dtype == np.float32
    assert est.transform(X).dtype == np.float64
    assert est.transform(X.astype(np.int64)).dtype == np.float64
    assert est.fit_transform(X.astype(np.float32)).dtype == np.float32


def test_bernoulli_gibbs_and_score_samples_dtypes_as_sklearn():
    X = binary()
    ours = small(BernoulliRBM).fit(X)
    for dtype in (np.float32, np.float64, np.int64):
        theirs = SkBernoulliRBM(n_components=6, n_iter=3, random_state=0).fit(
            X.astype(dtype if dtype != np.int64 else np.float64))
        Xd = X.astype(dtype)
        assert ours.gibbs(Xd).dtype == theirs.gibbs(Xd).dtype  # bool
        assert ours.score_samples(Xd).dtype == theirs.score_samples(Xd).dtype
    assert ours.gibbs(sp.csr_matrix(X)).dtype == bool


def test_gaussian_rbm_dtypes_follow_x():
    X = np.random.RandomState(0).standard_normal((40, 5))
    rbm = small(GaussianBernoulliRBM).fit(X)
    for dtype in (np.float32, np.float64):
        assert rbm.gibbs(X.astype(dtype)).dtype == dtype
        assert rbm.score_samples(X.astype(dtype)).dtype == dtype
        assert rbm.log_likelihood(X.astype(dtype)).dtype == dtype
    assert rbm.score_samples(X.astype(np.float32)) == pytest.approx(rbm.score_samples(X),
                                                                    rel=1e-6)


# --- 5. values beyond float32's range -----------------------------------------------------


def _methods(cls):
    names = ["fit", "partial_fit", "transform"]
    return names + (["score", "score_samples", "gibbs"] if cls is not DBN else [])


@pytest.mark.parametrize("cls", TRANSFORMERS)
@pytest.mark.parametrize("big", [1e39, 1e308, -1e308])
@pytest.mark.parametrize("sparse", [False, True])
def test_values_beyond_float32_raise_a_clear_error(cls, big, sparse):
    X = binary()
    for method in _methods(cls):
        est = small(cls).fit(X)
        before = state(est)
        Xbig = X.copy()
        Xbig[3, 2] = big
        if sparse:
            Xbig = sp.csr_matrix(Xbig)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            with pytest.raises(ValueError, match="float32's range") as info:
                getattr(est, method)(Xbig)
        assert "infinity" not in str(info.value), method
        if method != "fit":
            assert state(est) == before, method


# --- 6. divergence ------------------------------------------------------------------------


def _diverging_gaussian():
    X = np.random.RandomState(0).standard_normal((100, 5)) * 10  # not standardised
    return X, GaussianBernoulliRBM(n_components=16, learning_rate=1.0, n_iter=10,
                                   random_state=0)


def test_diverged_fit_keeps_the_last_good_epoch():
    X, rbm = _diverging_gaussian()
    with pytest.raises(FloatingPointError, match="learning_rate.*standardise"):
        rbm.fit(X)
    assert all(np.isfinite(p).all() for p in (rbm.components_, rbm.intercept_visible_,
                                              rbm.intercept_hidden_, rbm.h_samples_))
    # the parameters are those of the epochs that finished
    done = clone(rbm).set_params(n_iter=rbm._epoch).fit(X)
    assert fitted_state(done) == fitted_state(rbm)
    assert np.isfinite(rbm.transform(X)).all() and np.isfinite(rbm.score(X))


def test_diverged_partial_fit_changes_nothing():
    X, rbm = _diverging_gaussian()
    rbm.set_params(learning_rate=0.001).fit(X / 10)
    rbm.set_params(learning_rate=10.0)
    before = state(rbm)
    with pytest.raises(FloatingPointError, match="learning_rate"):
        for _ in range(50):
            rbm.partial_fit(X[:10])
            before = state(rbm)
    assert state(rbm) == before


def test_bernoulli_rbm_divergence_is_caught_too():
    # a decay of learning_rate * weight_decay = 5 per update flips and
    # amplifies the weights
    X = binary(100, 5)
    rbm = BernoulliRBM(n_components=4, learning_rate=1.0, weight_decay=5.0, n_iter=20,
                       random_state=0)
    with pytest.raises(FloatingPointError, match="Lower learning_rate"):
        rbm.fit(X)
    assert np.isfinite(rbm.components_).all() and np.isfinite(rbm.transform(X)).all()


def test_dbn_divergence_leaves_the_network_as_it_was(monkeypatch):
    X, _ = _diverging_gaussian()
    dbn = DBN(hidden_layer_sizes=(8, 4), visible="gaussian", learning_rate=10.0,
              random_state=0)
    with pytest.raises(FloatingPointError, match="RBM 0.*standardise"):
        dbn.fit(X)
    assert not hasattr(dbn, "rbms_") and not hasattr(dbn, "n_features_in_")
    # the classifier's advice names its own parameter
    _failing_core(monkeypatch, after=1, error=FloatingPointError)
    clf = DBNClassifier(hidden_layer_sizes=(8,), pretrain_n_iter=3, random_state=0)
    with pytest.raises(FloatingPointError, match="Lower pretrain_learning_rate"):
        clf.fit(binary(40, 5), np.arange(40) % 2)


# --- 7. a failed partial_fit changes nothing ----------------------------------------------


class Boom(Exception):
    pass


def _failing_core(monkeypatch, after, error=Boom):
    """The core's training raises error on its call number `after` (counting
    from 0), having scribbled over the arrays it updates in place."""
    calls = []
    real = _core.rbm_train_epoch

    def train(W, b, c, X, **kw):
        calls.append(1)
        if len(calls) > after:
            for a in (W, b, c, kw.get("chains")) + tuple(kw.get("velocities") or ()):
                if a is not None:
                    a[...] = np.nan
            raise error("the core failed")
        return real(W, b, c, X, **kw)

    monkeypatch.setattr(_core, "rbm_train_epoch", train)


@pytest.mark.parametrize("cls", TRANSFORMERS)
@pytest.mark.parametrize("params", [{}, dict(method="cd", k=2, momentum=0.5),
                                    dict(n_chains=7, momentum=0.3)])
def test_failed_partial_fit_changes_nothing(monkeypatch, cls, params):
    X = binary()
    est = small(cls, **params).fit(X)
    est.partial_fit(X[:10])
    if cls is not DBN:
        est.gibbs(X[:3])  # move the sampling stream too
    before = state(est)
    bad = {"wrong width": X[:, :5], "NaN": np.where(X == 1, np.nan, X), "empty": X[:0]}
    for what, Xbad in bad.items():
        with pytest.raises(ValueError):
            est.partial_fit(Xbad)
        assert state(est) == before, what
    # a failure inside training: in the top layer, after the bottom one moved
    _failing_core(monkeypatch, after=len(getattr(est, "rbms_", [est])) - 1)
    with pytest.raises(Boom):
        est.partial_fit(X[:10])
    assert state(est) == before
    monkeypatch.undo()
    est.partial_fit(X[:10])
    assert state(est) != before


@pytest.mark.parametrize("cls", TRANSFORMERS)
def test_failed_first_partial_fit_leaves_the_estimator_unfitted(monkeypatch, cls):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(binary(), columns=[f"f{i}" for i in range(8)])
    rs = np.random.RandomState(3)
    est = small(cls).set_params(random_state=rs)
    before, rs_before = state(est), state(rs)
    X.iloc[0, 0] = 1e39
    with pytest.raises(ValueError):
        est.partial_fit(X)
    assert state(est) == before and state(rs) == rs_before
    # a failure after the initial weights were drawn from rs
    _failing_core(monkeypatch, after=0)
    with pytest.raises(Boom):
        est.partial_fit(binary())
    assert state(est) == before and state(rs) == rs_before
    assert est.random_state is rs
    est.set_params(random_state=2**64)
    with pytest.raises(ValueError, match="random_state"):
        est.partial_fit(binary())
    assert not hasattr(est, "n_features_in_")


# --- 8. random_state --------------------------------------------------------------------


@pytest.mark.parametrize("cls", TRANSFORMERS + [DBNClassifier])
@pytest.mark.parametrize("seed", [2**64, 2**32, -1])
def test_random_state_out_of_range_raises_value_error(cls, seed):
    est = cls(random_state=seed)
    with pytest.raises(ValueError, match=r"random_state .*2\*\*32 - 1"):
        est.fit(binary(), np.arange(40) % 2)
    with pytest.raises(ValueError, match="random_state"):
        est.partial_fit(binary(), np.arange(40) % 2, **({"classes": [0, 1]}
                                                       if cls is DBNClassifier else {}))


# --- 9. pickling ----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", TRANSFORMERS)
@pytest.mark.parametrize("params", [{}, dict(method="cd", k=2, momentum=0.5),
                                    dict(n_chains=7, momentum=0.3, weight_decay=1e-3)])
def test_training_continues_bit_for_bit_after_pickling(cls, params):
    X = binary()
    est = small(cls, **params).fit(X)
    est.partial_fit(X[:10])
    copy = pickle.loads(pickle.dumps(est))
    assert state(copy) == state(est)
    for model in (est, copy):
        model.partial_fit(X[10:25])
        model.sample(2, n_steps=3)
        if cls is not DBN:
            model.gibbs(X[:4])
        model.partial_fit(X[25:])
    assert state(copy) == state(est)


def test_dbn_classifier_continues_bit_for_bit_after_pickling():
    X, y = binary(), np.arange(40) % 2
    clf = DBNClassifier(hidden_layer_sizes=(6,), pretrain_n_iter=2, max_iter=3,
                        random_state=0).fit(X, y)
    copy = pickle.loads(pickle.dumps(clf))
    for model in (clf, copy):
        model.partial_fit(X, y)
    for a, b in zip(clf.coefs_ + clf.intercepts_, copy.coefs_ + copy.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert state(clf.dbn_) == state(copy.dbn_)
    np.testing.assert_array_equal(clf.predict_proba(X), copy.predict_proba(X))
