"""MLPClassifier and MLPRegressor: scikit-learn's behaviour (attributes,
losses, solvers, partial_fit, warm_start, early stopping, persistence) and
what dagnet adds (class weights, dropout, normalisation, more activations,
validation loss, thread-independent results, clean failures)."""

import pickle
import warnings

import numpy as np
import pytest
from scipy import sparse
from scipy.special import xlogy
from sklearn.datasets import load_digits, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import dagnet.neural_network._base as mlp_base
from dagnet import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def small_classification(n_classes=3, n=120, seed=0):
    X, y = make_classification(n_samples=n, n_features=8, n_informative=5,
                               n_classes=n_classes, random_state=seed)
    return X, y


# --- scikit-learn's behaviour ------------------------------------------------------

def test_digits_accuracy_and_attributes(digits):
    X, y = digits
    clf = MLPClassifier(random_state=0).fit(X[:1300], y[:1300])
    assert clf.score(X[1300:], y[1300:]) > 0.9
    sk = SkMLPClassifier(max_iter=2, random_state=0).fit(X[:200], y[:200])
    for name in ("n_layers_", "n_outputs_", "out_activation_"):
        assert getattr(clf, name) == getattr(sk, name), name
    assert [c.shape for c in clf.coefs_] == [c.shape for c in sk.coefs_]
    assert [b.shape for b in clf.intercepts_] == [b.shape for b in sk.intercepts_]
    np.testing.assert_array_equal(clf.classes_, np.arange(10))
    assert clf.n_features_in_ == 64 and len(clf.loss_curve_) == clf.n_iter_
    assert clf.t_ == clf.n_iter_ * 1300 and clf.best_loss_ == min(clf.loss_curve_)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    proba = clf.predict_proba(X[:5])
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_allclose(np.log(proba), clf.predict_log_proba(X[:5]))


@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel"])
def test_classifier_targets_like_sklearn(kind):
    X, y = small_classification(2 if kind == "binary" else 3)
    if kind == "multilabel":
        y = np.stack([y == 0, y == 1, (X[:, 0] > 0)], axis=1).astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=1000, random_state=0).fit(X, y)
    sk = SkMLPClassifier(hidden_layer_sizes=(16,), max_iter=2, random_state=0).fit(X, y)
    assert clf.out_activation_ == sk.out_activation_ and clf.n_outputs_ == sk.n_outputs_
    assert clf.predict(X).shape == sk.predict(X).shape
    assert clf.predict_proba(X).shape == sk.predict_proba(X).shape
    sk.set_params(max_iter=1000).fit(X, y)
    assert clf.score(X, y) > sk.score(X, y) - 0.05


def sklearn_loss(est, X, Y, sw, alpha):
    """scikit-learn's reported loss, in float64, at est's weights."""
    a = X
    for i, (W, b) in enumerate(zip(est.coefs_, est.intercepts_)):
        z = a @ W.astype(np.float64) + b
        a = np.maximum(z, 0) if i < len(est.coefs_) - 1 else z
    w = np.ones(len(X)) if sw is None else sw
    if est.out_activation_ == "softmax":
        p = np.exp(a - a.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        per = -(Y * np.log(p)).sum(1)
    elif est.out_activation_ == "logistic":
        p = 1 / (1 + np.exp(-a))
        per = -(Y * np.log(p) + (1 - Y) * np.log(1 - p)).sum(1)
    elif est.out_activation_ == "exp":
        p = np.exp(a)
        per = (xlogy(Y, Y / p) - Y + p).sum(1)
    else:
        per = 0.5 * ((Y - a) ** 2).mean(1)
    sq = sum((c.astype(np.float64) ** 2).sum() for c in est.coefs_)
    return np.average(per, weights=w) + 0.5 * alpha * sq / w.sum()


@pytest.mark.parametrize("case", ["multiclass", "multilabel", "squared", "poisson"])
@pytest.mark.parametrize("weighted", [False, True])
def test_reported_loss_is_sklearns(case, weighted):
    """With one full-batch epoch at a negligible learning rate, loss_ is the
    loss at the initial weights, which must be scikit-learn's formula."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 4))
    if case == "multiclass":
        y = rng.integers(0, 3, 50)
        Y = np.eye(3)[y]
        est = MLPClassifier
    elif case == "multilabel":
        Y = y = rng.integers(0, 2, (50, 3))
        est = MLPClassifier
    elif case == "squared":
        Y = y = rng.standard_normal((50, 2))
        est = MLPRegressor
    else:
        y = rng.poisson(2.0, 50).astype(float)
        Y = y.reshape(-1, 1)
        est = lambda **kw: MLPRegressor(loss="poisson", **kw)  # noqa: E731
    sw = rng.uniform(0.5, 2, 50) if weighted else None
    m = est(hidden_layer_sizes=(6,), solver="sgd", momentum=0, learning_rate_init=1e-9,
            batch_size=50, max_iter=1, alpha=0.3, random_state=0).fit(X, y, sample_weight=sw)
    assert m.loss_ == pytest.approx(sklearn_loss(m, X, Y, sw, 0.3), rel=1e-5)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_regressor_solvers(solver):
    X, y = make_regression(n_samples=200, n_features=5, noise=5, random_state=0)
    X = StandardScaler().fit_transform(X)
    y = (y - y.mean()) / y.std()
    reg = MLPRegressor(hidden_layer_sizes=(32,), solver=solver, max_iter=300,
                       learning_rate_init=0.01 if solver == "sgd" else 0.001,
                       random_state=0).fit(X, y)
    assert reg.score(X, y) > 0.9
    assert reg.predict(X).shape == (200,)
    assert len(reg.loss_curve_) >= 1 and np.isfinite(reg.loss_)
    multi = MLPRegressor(hidden_layer_sizes=(16,), solver=solver, max_iter=50,
                         random_state=0).fit(X, np.stack([y, -y], 1))
    assert multi.predict(X).shape == (200, 2) and multi.n_outputs_ == 2


def test_lbfgs_matches_sklearns_fit():
    X, y = small_classification()
    X = StandardScaler().fit_transform(X)
    ours = MLPClassifier(hidden_layer_sizes=(10,), solver="lbfgs", random_state=0).fit(X, y)
    theirs = SkMLPClassifier(hidden_layer_sizes=(10,), solver="lbfgs", random_state=0).fit(X, y)
    assert ours.score(X, y) >= theirs.score(X, y) - 0.03
    assert ours.loss_ == pytest.approx(ours.loss_curve_[-1], rel=1e-3)
    assert ours.loss_ < 0.3 and ours.n_iter_ <= 200


@pytest.mark.parametrize("make, kw", [
    (MLPClassifier, dict(solver="lbfgs")),
    (MLPRegressor, dict(solver="sgd", tol=1e-2)),
])
def test_sample_weight_equals_repeated_rows(make, kw):
    """scikit-learn's check_sample_weight_equivalence with its own settings
    for MLPs, at float32 tolerance."""
    rng = np.random.RandomState(42)
    X = rng.rand(15, 30)
    y = rng.randint(0, 3, size=15)
    sw = rng.randint(0, 5, size=15)
    a = make(random_state=0, **kw).fit(X.repeat(sw, axis=0), y.repeat(sw))
    b = make(random_state=0, **kw).fit(X, y, sample_weight=sw)
    method = "predict_proba" if hasattr(a, "predict_proba") else "predict"
    np.testing.assert_allclose(getattr(a, method)(X), getattr(b, method)(X), rtol=2e-3,
                               atol=1e-5)


def test_partial_fit():
    X, y = small_classification()
    clf = MLPClassifier(hidden_layer_sizes=(16,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    for _ in range(3):
        clf.partial_fit(X[y != 2], y[y != 2], classes=[0, 1, 2])
    assert clf.n_iter_ == 1 and clf.t_ == 3 * (y != 2).sum() and len(clf.loss_curve_) == 3
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.predict_proba(X).shape == (120, 3)
    with pytest.raises(ValueError, match="not the same"):
        clf.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="early_stopping"):
        MLPRegressor(early_stopping=True).partial_fit(X, y.astype(float))
    reg = MLPRegressor(random_state=0).partial_fit(X, y.astype(float))
    assert reg.n_iter_ == 1


def test_warm_start_continues():
    X, y = small_classification()
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=5, warm_start=True, random_state=0)
    clf.fit(X, y)
    first = clf.coefs_[0].copy()
    clf.fit(X, y)
    assert len(clf.loss_curve_) == 10 and not np.array_equal(first, clf.coefs_[0])
    with pytest.raises(ValueError, match="same classes"):
        clf.fit(X[y < 2], y[y < 2])


@pytest.mark.parametrize("metric", ["score", "loss"])
def test_early_stopping_keeps_the_best_weights(digits, metric):
    X, y = digits
    clf = MLPClassifier(hidden_layer_sizes=(32,), early_stopping=True, n_iter_no_change=3,
                        early_stopping_metric=metric, tol=1e-2 if metric == "loss" else 1e-4,
                        max_iter=200, random_state=0)
    clf.fit(X[:600], y[:600])
    assert len(clf.validation_scores_) == clf.n_iter_ == len(clf.validation_loss_curve_)
    assert clf.n_iter_ < 200 and clf.best_loss_ is None
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    if metric == "loss":
        assert clf.best_validation_loss_ == min(clf.validation_loss_curve_)
    # the restored weights reproduce the best epoch's validation figure: refit
    # the same split and compare
    tr, va = clf._split_validation(np.asarray(X[:600], dtype=np.float32), y[:600],
                                   np.zeros((600, 1), np.float32), None)
    if metric == "score":
        assert clf.score(va[0], va[1]) == pytest.approx(clf.best_validation_score_)


def test_lbfgs_early_stopping_records_validation():
    X, y = small_classification(n=300)
    clf = MLPClassifier(solver="lbfgs", early_stopping=True, n_iter_no_change=5,
                        random_state=0).fit(X, y)
    assert len(clf.validation_scores_) == len(clf.validation_loss_curve_) == len(clf.loss_curve_)
    assert clf.best_validation_score_ == max(clf.validation_scores_)


def test_learning_rate_schedules():
    X, y = small_classification()
    sgd = MLPClassifier(solver="sgd", learning_rate="invscaling", max_iter=3,
                        random_state=0).fit(X, y)
    assert sgd._learning_rate == pytest.approx(0.001 / (sgd.t_ + 1) ** 0.5)
    adam = MLPClassifier(learning_rate="invscaling", max_iter=3, random_state=0).fit(X, y)
    assert adam._learning_rate == 0.001  # scikit-learn: schedules are sgd's only
    adam = MLPClassifier(learning_rate="invscaling", schedule_adam=True, max_iter=3,
                         random_state=0).fit(X, y)
    assert adam._learning_rate < 0.001
    ada = MLPClassifier(solver="sgd", learning_rate="adaptive", tol=10.0, n_iter_no_change=1,
                        max_iter=6, random_state=0).fit(X, y)
    assert ada._learning_rate < 0.001


def test_pickle_and_resume(tmp_path):
    X, y = small_classification()
    clf = MLPClassifier(hidden_layer_sizes=(16,), random_state=0, max_iter=20).fit(X, y)
    clone = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(clf.predict_proba(X), clone.predict_proba(X))
    # the optimiser's state travels too: partial_fit continues identically
    clf.partial_fit(X, y)
    clone.partial_fit(X, y)
    np.testing.assert_array_equal(clf.coefs_[0], clone.coefs_[0])
    # writes into coefs_ and replaced arrays are both seen
    clone.coefs_[1][...] = 0
    clone.intercepts_[1] = np.array([5.0, 0.0, 0.0])
    assert (clone.predict(X) == 0).all()


def test_results_do_not_depend_on_thread_count(digits):
    X, y = digits
    fits = [MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=5, dropout=0.1,
                          normalization="batch", random_state=3, n_threads=t).fit(X, y)
            for t in (1, 2)]
    for a, b in zip(fits[0].coefs_, fits[1].coefs_):
        np.testing.assert_array_equal(a, b)
    assert fits[0].loss_curve_ == fits[1].loss_curve_


def test_pipeline_gridsearch_and_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = small_classification()
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=50, random_state=0))
    pipe.set_output(transform="pandas")
    search = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-2]}, cv=2, n_jobs=2)
    search.fit(df, y)
    assert search.best_score_ > 0.6
    clf = MLPClassifier(max_iter=20, random_state=0).fit(df, y)
    np.testing.assert_array_equal(clf.feature_names_in_, df.columns)
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(X)


def test_sparse_input_equals_dense():
    X, y = small_classification()
    a = MLPClassifier(max_iter=20, random_state=0).fit(X, y)
    b = MLPClassifier(max_iter=20, random_state=0).fit(sparse.csr_matrix(X), y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(sparse.csc_matrix(X)))


# --- what dagnet adds ------------------------------------------------------------

def test_class_weight():
    X, y = small_classification(n=200)
    keep = (y != 1) | (np.arange(200) % 4 == 0)  # class 1 rare
    X, y = X[keep], y[keep]
    bal = MLPClassifier(class_weight="balanced", max_iter=30, random_state=0).fit(X, y)
    from sklearn.utils.class_weight import compute_sample_weight
    same = MLPClassifier(max_iter=30, random_state=0).fit(
        X, y, sample_weight=compute_sample_weight("balanced", y))
    np.testing.assert_array_equal(bal.coefs_[0], same.coefs_[0])
    MLPClassifier(class_weight={1: 5.0}, max_iter=5).fit(X, y)
    with pytest.raises(ValueError, match="not among the classes"):
        MLPClassifier(class_weight={7: 5.0}, max_iter=5).fit(X, y)


@pytest.mark.parametrize("activation", sorted(mlp_base.ACTIVATIONS))
def test_every_activation_learns(activation):
    X, y = small_classification()
    X = StandardScaler().fit_transform(X)
    clf = MLPClassifier(hidden_layer_sizes=(32,), activation=activation, max_iter=200,
                        learning_rate_init=0.01, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.7


@pytest.mark.parametrize("normalization", [None, "batch", "layer"])
def test_dropout_and_normalization(digits, normalization):
    X, y = digits
    clf = MLPClassifier(hidden_layer_sizes=(64,), dropout=0.2, normalization=normalization,
                        max_iter=30, random_state=0).fit(X[:1200], y[:1200])
    assert clf.score(X[1200:], y[1200:]) > 0.85
    # prediction is deterministic (dropout off, batch norm's running statistics)
    np.testing.assert_array_equal(clf.predict_proba(X[:50]), clf.predict_proba(X[:50]))


def test_lbfgs_refuses_stochastic_layers():
    X, y = small_classification()
    with pytest.raises(ValueError, match="lbfgs"):
        MLPClassifier(solver="lbfgs", dropout=0.5).fit(X, y)


def test_verbose_progress(capsys):
    X, y = small_classification()
    MLPClassifier(max_iter=3, verbose=2, early_stopping=True, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    assert out.count("Iteration") == 3 and "val_score" in out and " s)" in out
    MLPClassifier(max_iter=3, random_state=0).fit(X, y)
    assert capsys.readouterr().out == ""


def test_nan_loss_stops_with_a_clear_error():
    X, y = make_regression(n_samples=100, n_features=5, random_state=0)
    reg = MLPRegressor(solver="sgd", learning_rate_init=10.0, momentum=0, max_iter=50,
                       random_state=0)
    with pytest.raises(ValueError, match="(became|non-finite)"):
        reg.fit(X * 1e3, y * 1e6)


@pytest.mark.parametrize("solver, method", [("adam", "train_epoch"), ("lbfgs", "objective")])
def test_keyboard_interrupt_leaves_a_usable_model(monkeypatch, solver, method):
    X, y = small_classification()
    make = mlp_base.BaseMLP._make_graph

    class Interrupting:
        """The graph, with Ctrl-C arriving during the 4th call of `method`."""

        def __init__(self, g):
            self._g, self.calls = g, 0

        def __getattr__(self, name):
            return getattr(self._g, name)

        def run(self, *args, **kwargs):
            self.calls += 1
            if self.calls == 4:
                raise KeyboardInterrupt
            return getattr(self._g, method)(*args, **kwargs)

    def patched(arch):
        proxy = Interrupting(make(arch))
        setattr(proxy, method, proxy.run)
        return proxy

    monkeypatch.setattr(mlp_base.BaseMLP, "_make_graph", staticmethod(patched))
    with pytest.warns(UserWarning, match="interrupted"):
        clf = MLPClassifier(solver=solver, max_iter=50, random_state=0).fit(X, y)
    if solver == "adam":
        assert clf.n_iter_ == 3
    assert clf.predict(X).shape == (120,) and np.isfinite(clf.loss_)


@pytest.mark.parametrize("params, match", [
    (dict(hidden_layer_sizes=(10, 0)), "hidden_layer_sizes"),
    (dict(activation="swish"), "activation"),
    (dict(solver="newton"), "solver"),
    (dict(alpha=-1.0), "alpha"),
    (dict(batch_size=0), "batch_size"),
    (dict(learning_rate_init=0.0), "learning_rate_init"),
    (dict(max_iter=0), "max_iter"),
    (dict(momentum=1.5), "momentum"),
    (dict(validation_fraction=1.0), "validation_fraction"),
    (dict(beta_1=1.0), "beta_1"),
    (dict(n_iter_no_change=0), "n_iter_no_change"),
    (dict(dropout=1.0), "dropout"),
    (dict(normalization="group"), "normalization"),
    (dict(shuffle="yes"), "shuffle"),
    (dict(n_threads=0), "n_threads"),
    (dict(class_weight="uniform"), "class_weight"),
])
def test_bad_parameters_say_which(params, match):
    X, y = small_classification()
    with pytest.raises(ValueError, match=match):
        MLPClassifier(**params).fit(X, y)


def test_bad_data():
    X, y = small_classification()
    clf = MLPClassifier(max_iter=5)
    with pytest.raises(ValueError, match="NaN"):
        clf.fit(np.where(X > 2, np.nan, X), y)
    with pytest.raises(ValueError, match="inconsistent"):
        clf.fit(X, y[:-1])
    with pytest.raises(ValueError, match="all zero"):
        clf.fit(X, y, sample_weight=np.zeros(len(y)))
    with pytest.raises(ValueError, match="negative"):
        MLPRegressor(loss="poisson", max_iter=5).fit(X, -np.abs(X[:, 0]))
    clf.fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :3])


def test_regressor_poisson():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 3))
    y = rng.poisson(np.exp(0.5 * X[:, 0] - 0.3 * X[:, 1]))
    reg = MLPRegressor(loss="poisson", hidden_layer_sizes=(16,), max_iter=200,
                       random_state=0).fit(X, y)
    assert reg.out_activation_ == "exp" and (reg.predict(X) > 0).all()
    sk = SkMLPRegressor(loss="poisson", hidden_layer_sizes=(16,), max_iter=200,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X, y)
    assert reg.loss_ < sk.loss_ * 1.1
