"""The MLPs and NeuralNet estimators where they meet scikit-learn's edges:
the common checks at default parameters, the dtypes of predictions, values
beyond float32's range, divergence (with and without early stopping),
initial weights set by the user, bad sample weights, mixed label types,
out-of-range seeds and resuming after a pickle."""

import pickle
import warnings

import numpy as np
import pytest
from scipy import sparse
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor

from dagnet import (Autoencoder, DBNClassifier, MLPClassifier, MLPRegressor, NeuralNetClassifier,
                    NeuralNetRegressor)
from dagnet.nn import Dense, Dropout

CLASSIFIERS = (MLPClassifier, NeuralNetClassifier)
REGRESSORS = (MLPRegressor, NeuralNetRegressor)
ESTIMATORS = CLASSIFIERS + REGRESSORS


def name(make):
    return make.__name__


def data(make, n=60, seed=0):
    """Small standardised data; y fits the estimator."""
    X, y = make_classification(n_samples=n, n_features=6, n_informative=4, n_classes=3,
                               random_state=seed)
    if make in REGRESSORS:
        y = X[:, 0] - 0.5 * X[:, 1]
    return X, y


def fit_quietly(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


# --- 1. the common checks at default parameters ------------------------------------

def test_common_checks_run_the_default_estimators():
    """tests/test_mlp_sklearn_checks.py and tests/test_neural_net_checks.py run
    scikit-learn's checks on each estimator as constructed without arguments,
    with only the two float32 sample-weight checks as expected failures."""
    from test_mlp_sklearn_checks import ESTIMATORS as MLPS
    from test_mlp_sklearn_checks import expected_failures
    from test_neural_net_checks import ESTIMATORS as NETS

    checked = {repr(est) for est in MLPS + NETS}
    for make in ESTIMATORS:
        assert repr(make()) in checked, f"{name(make)}() is not among the checked estimators"
        assert set(expected_failures(make())) == {
            "check_sample_weight_equivalence_on_dense_data",
            "check_sample_weight_equivalence_on_sparse_data"}


# --- 2. scikit-learn's dtypes ------------------------------------------------------

PAIRS = [(MLPRegressor, SkMLPRegressor, "predict"),
         (NeuralNetRegressor, SkMLPRegressor, "predict"),
         (MLPClassifier, SkMLPClassifier, "predict_proba"),
         (MLPClassifier, SkMLPClassifier, "predict_log_proba"),
         (NeuralNetClassifier, SkMLPClassifier, "predict_proba"),
         (NeuralNetClassifier, SkMLPClassifier, "predict_log_proba")]


@pytest.mark.parametrize("make, sk, method", PAIRS, ids=lambda p: getattr(p, "__name__", p))
@pytest.mark.parametrize("fit_dtype", [np.float32, np.float64])
def test_output_dtypes_are_sklearns(make, sk, method, fit_dtype):
    """scikit-learn computes in the dtype of the data it was fitted on:
    float32 results for float32 X only when it was fitted on float32 X.
    dagnet computes in float32 and returns the same dtypes."""
    X, y = data(make)
    ours = fit_quietly(make(max_iter=2, random_state=0), X.astype(fit_dtype), y)
    theirs = fit_quietly(sk(max_iter=2, random_state=0), X.astype(fit_dtype), y)
    for given in (X.astype(np.float32), X, X.astype(np.int64),
                  sparse.csr_matrix(X.astype(np.float32))):
        expect = getattr(theirs, method)(given).dtype
        assert getattr(ours, method)(given).dtype == expect, (fit_dtype, given.dtype)


def test_images_keep_float32():
    X, y = data(NeuralNetClassifier, n=40)
    images = X[:, :4].reshape(-1, 1, 2, 2).astype(np.float32)
    clf = fit_quietly(NeuralNetClassifier(max_iter=2, random_state=0), images, y)
    assert clf.predict_proba(images).dtype == np.float32
    assert clf.predict_proba(images.astype(np.float64)).dtype == np.float64


# --- 3. values beyond float32's range ----------------------------------------------

@pytest.mark.parametrize("make", ESTIMATORS, ids=name)
@pytest.mark.parametrize("big", [1e38 * 10, 1e308])
def test_values_beyond_float32_are_named(make, big):
    """Finite float64 values float32 cannot hold are reported as such, not
    as the infinities the cast would make of them."""
    X, y = data(make)
    bad = X.copy()
    bad[3, 2] = big
    match = "exceed float32's range"
    est = make(max_iter=2, random_state=0)
    with pytest.raises(ValueError, match=match):
        est.fit(bad, y)
    with pytest.raises(ValueError, match=match):
        est.fit(sparse.csr_matrix(bad), y)
    kw = dict(classes=np.unique(y)) if make in CLASSIFIERS else {}
    with pytest.raises(ValueError, match=match):
        make(random_state=0).partial_fit(bad, y, **kw)
    fit_quietly(est, X, y)
    methods = ["predict", "score"] + (["predict_proba"] if make in CLASSIFIERS else [])
    for method in methods:
        args = (bad, y) if method == "score" else (bad,)
        with pytest.raises(ValueError, match=match):
            getattr(est, method)(*args)
    if make in REGRESSORS:
        y_bad = y.copy()
        y_bad[5] = big
        with pytest.raises(ValueError, match="y holds values up to .* exceed float32's range"):
            make(max_iter=2).fit(X, y_bad)
        with pytest.raises(ValueError, match="exceed float32's range"):
            make().partial_fit(X, y_bad)


# --- 4. and 5. divergence ----------------------------------------------------------

def exploding_regression():
    """Large unscaled data on which sgd at learning_rate_init=10 makes the
    loss infinite in the second epoch (as it makes scikit-learn's)."""
    X, y = make_regression(n_samples=200, n_features=5, random_state=0)
    return X * 1e3, y * 1e6


def test_early_stopping_survives_divergence_as_sklearn():
    """scikit-learn records NaN validation scores once the loss is not
    finite and keeps the best weights; dagnet too, and stops there with a
    ConvergenceWarning that gives the reason and the remedy."""
    X, y = exploding_regression()
    params = dict(solver="sgd", learning_rate_init=10.0, momentum=0, early_stopping=True,
                  max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = SkMLPRegressor(**params).fit(X, y)
    assert np.isnan(theirs.validation_scores_[-1]) and np.isfinite(theirs.predict(X)).all()
    with pytest.warns(ConvergenceWarning, match="diverged.*Lower learning_rate_init"):
        ours = MLPRegressor(**params).fit(X, y)
    assert ours.n_iter_ < 20
    assert len(ours.validation_scores_) == len(ours.loss_curve_) == ours.n_iter_
    assert np.isnan(ours.validation_scores_[-1]) and not np.isfinite(ours.loss_curve_[-1])
    assert ours.best_validation_score_ == np.nanmax(ours.validation_scores_)
    assert np.isfinite(ours.predict(X)).all()
    assert not hasattr(ours, "_best_params")


def test_nan_loss_without_early_stopping_raises_and_keeps_finite_weights():
    X, y = exploding_regression()
    start = fit_quietly(MLPRegressor(solver="sgd", learning_rate_init=1e-30, momentum=0,
                                     max_iter=1, random_state=0), X, y)
    reg = MLPRegressor(solver="sgd", learning_rate_init=10.0, momentum=0, max_iter=20,
                       random_state=0)
    with pytest.raises(ValueError, match="loss became infinite.*Lower learning_rate_init"):
        reg.fit(X, y)
    # the weights it started from (a step of 1e-30 leaves float32 weights as they are)
    for a, b in zip(reg.coefs_ + reg.intercepts_, start.coefs_ + start.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert np.isfinite(reg.predict(X)).all()


def adam_at(lr, make, **kw):
    return make(learning_rate_init=lr, max_iter=50, random_state=0, **kw)


@pytest.mark.parametrize("make", [MLPRegressor, NeuralNetClassifier], ids=name)
def test_a_diverging_fit_warns_and_keeps_usable_weights(make):
    """Adam at learning_rate_init=1e6 drives the loss from under 1 to 1e13
    and more: the fit stops, warns, and keeps the weights it started from,
    whose predictions are finite."""
    X, y = make_classification(n_samples=200, random_state=0)
    with pytest.warns(ConvergenceWarning, match="diverged in epoch 2: the loss grew"):
        est = adam_at(1e6, make).fit(X, y)
    assert est.n_iter_ == 2 and est.loss_curve_[-1] > 1e4 * est.loss_curve_[0]
    out = est.predict_proba(X) if make in CLASSIFIERS else est.predict(X)
    assert np.isfinite(out).all()
    assert np.abs(out).max() < 100  # the initial weights' scale, not the diverged ones'
    # a sound learning rate does not trip the rule
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        adam_at(1e-2, make, n_iter_no_change=2, tol=1e-2).fit(X, y)


def test_a_diverging_autoencoder_keeps_finite_reconstructions():
    X, _ = make_classification(n_samples=200, random_state=0)
    with pytest.warns(ConvergenceWarning, match="diverged"):
        ae = Autoencoder(hidden_layer_sizes=(16,), learning_rate_init=1e6, max_iter=50,
                         random_state=0).fit(X)
    assert max(np.abs(c).max() for c in ae.coefs_) < 10
    assert np.isfinite(ae.predict(X)).all() and np.isfinite(ae.transform(X)).all()


def test_divergence_within_the_first_epoch_is_caught():
    """With several minibatches per epoch the loss can explode within the
    first epoch: the reference is the loss at the initial weights."""
    X, _ = make_classification(n_samples=1000, random_state=0)
    with pytest.warns(ConvergenceWarning, match="diverged in epoch 1"):
        ae = Autoencoder(hidden_layer_sizes=(16,), learning_rate_init=1e3, max_iter=5,
                         random_state=0).fit(X)
    assert np.isfinite(ae.predict(X)).all()


def test_partial_fit_divergence_warns_and_restarts_the_optimiser():
    X, y = make_classification(n_samples=200, random_state=0)
    clf = adam_at(1e6, MLPClassifier)
    with pytest.warns(ConvergenceWarning, match="diverged"):
        for _ in range(3):
            clf.partial_fit(X, y, classes=[0, 1])
    assert np.isfinite(clf.predict_proba(X)).all() and not clf._has_optimizer


# --- 6. initial weights given as coefs_ / intercepts_ ------------------------------

def given_weights(X, y):
    """One epoch of plain sgd from the default initialisation, and its
    weights as float64 arrays."""
    kw = dict(hidden_layer_sizes=(5,), solver="sgd", momentum=0, shuffle=False, random_state=0)
    trained = fit_quietly(MLPRegressor(max_iter=1, **kw), X, y)
    return kw, trained, [c.astype(np.float64) for c in trained.coefs_], \
        [b.astype(np.float64) for b in trained.intercepts_]


@pytest.mark.parametrize("how", ["partial_fit", "warm_start"])
def test_coefs_set_before_training_are_the_initial_weights(how):
    X, y = data(MLPRegressor)
    kw, trained, coefs, intercepts = given_weights(X, y)
    trained.partial_fit(X, y)  # a second epoch of sgd from those weights
    fresh = MLPRegressor(max_iter=1, warm_start=how == "warm_start", **dict(kw, random_state=7))
    fresh.coefs_, fresh.intercepts_ = coefs, intercepts
    fresh.partial_fit(X, y) if how == "partial_fit" else fit_quietly(fresh, X, y)
    for a, b in zip(fresh.coefs_ + fresh.intercepts_, trained.coefs_ + trained.intercepts_):
        np.testing.assert_array_equal(a, b)
    # a pickled unfitted estimator keeps them
    again = MLPRegressor(**kw)
    again.coefs_ = coefs
    assert len(pickle.loads(pickle.dumps(again)).coefs_) == 2


def test_given_weights_of_the_wrong_shapes_are_named():
    X, y = data(MLPRegressor)
    est = MLPRegressor(hidden_layer_sizes=(5,))
    est.coefs_ = [np.zeros((4, 5)), np.zeros((5, 1))]
    with pytest.raises(ValueError, match=r"coefs_\[0\] has shape \(4, 5\); the network needs "
                                         r"\(6, 5\) \(coefs_ has shapes \[\(6, 5\), \(5, 1\)\]\)"):
        est.partial_fit(X, y)
    est = MLPClassifier(hidden_layer_sizes=(5,), warm_start=True)
    est.intercepts_ = [np.zeros(5)]
    with pytest.raises(ValueError, match=r"intercepts_ must be a list of 2 arrays of shapes "
                                         r"\[\(5,\), \(3,\)\]"):
        est.fit(*data(MLPClassifier))
    est = MLPRegressor(hidden_layer_sizes=(5,))
    est.coefs_ = [np.full((6, 5), np.inf), np.zeros((5, 1))]
    with pytest.raises(ValueError, match="NaN or infinity"):
        est.partial_fit(X, y)


# --- 7. sample weights -------------------------------------------------------------

@pytest.mark.parametrize("make", ESTIMATORS, ids=name)
@pytest.mark.parametrize("weights", [-1e6, "array"])
def test_negative_sample_weights_are_refused(make, weights):
    X, y = data(make)
    sw = np.r_[-1e6, np.ones(len(y) - 1)] if weights == "array" else weights
    kw = dict(classes=np.unique(y)) if make in CLASSIFIERS else {}
    for method, extra in (("fit", {}), ("partial_fit", kw)):
        with pytest.raises(ValueError, match=r"negative values \(the lowest is -1e\+06\); "
                                             r"give weights >= 0"):
            getattr(make(max_iter=2), method)(X, y, sample_weight=sw, **extra)
    assert fit_quietly(make(max_iter=2), X, y, sample_weight=2.0).n_iter_ == 2


# --- 8. labels of mixed types ------------------------------------------------------

@pytest.mark.parametrize("make", [MLPClassifier, NeuralNetClassifier, DBNClassifier], ids=name)
def test_mixed_label_types_are_a_clear_error(make):
    X = np.random.default_rng(0).random((40, 4))
    y = np.array([1, "a", 2, "b"] * 10, dtype=object)
    match = r"Mix of label input types \(string and number\)"
    with pytest.raises(ValueError, match=match):
        make(max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match=match):
        make(max_iter=2).partial_fit(X, y, classes=np.array([1, "a", 2, "b"], dtype=object))
    # one type is fine, as in scikit-learn
    assert list(fit_quietly(make(max_iter=2), X, y.astype(str)).classes_) == ["1", "2", "a", "b"]


# --- 9. seeds ---------------------------------------------------------------------

@pytest.mark.parametrize("make", ESTIMATORS, ids=name)
@pytest.mark.parametrize("seed", [2**64, 2**32, -1])
def test_out_of_range_seeds_are_a_value_error(make, seed):
    X, y = data(make)
    for early in (False, True):  # the initial weights, and the validation split
        with pytest.raises(ValueError, match=r"random_state must be .*\[0, 2\*\*32 - 1\]"):
            make(max_iter=2, early_stopping=early, random_state=seed).fit(X, y)
    kw = dict(classes=np.unique(y)) if make in CLASSIFIERS else {}
    with pytest.raises(ValueError, match="random_state"):
        make(random_state=seed).partial_fit(X, y, **kw)
    a, b = (fit_quietly(make(max_iter=2, early_stopping=True, random_state=2**32 - 1), X, y)
            for _ in range(2))
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


# --- 10. pickles -------------------------------------------------------------------

def weights(est):
    if hasattr(est, "layers_"):
        return [w for layer in est.layers_ for w in layer.get_weights()]
    return est.coefs_ + est.intercepts_


@pytest.mark.parametrize("make", ESTIMATORS, ids=name)
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_training_continues_bit_for_bit_after_a_pickle(make, solver):
    """The optimiser's state, its step counters (the shuffles and dropout
    masks follow them) and the learning rate travel with the pickle."""
    X, y = data(make, n=90)
    kw = dict(solver=solver, max_iter=3, batch_size=32, random_state=0)
    if make in (NeuralNetClassifier, NeuralNetRegressor):
        kw["layers"] = [Dense(8, activation="tanh"), Dropout(0.2)]
    else:
        kw.update(hidden_layer_sizes=(8,), dropout=0.2)
    if solver == "sgd":
        kw.update(learning_rate="invscaling", learning_rate_init=0.05)
    est = fit_quietly(make(**kw), X, y)
    twin = pickle.loads(pickle.dumps(est))
    for _ in range(2):
        est.partial_fit(X, y)
        twin.partial_fit(X, y)
    assert est.loss_curve_ == twin.loss_curve_
    for a, b in zip(weights(est), weights(twin)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(est.predict(X), twin.predict(X))
