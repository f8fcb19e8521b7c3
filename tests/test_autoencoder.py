"""Autoencoder: scikit-learn's checks, what each kind learns, the quality bar
against PCA, determinism, pickling and pipelines; and dagnet.metrics."""

import pickle
import warnings

import numpy as np
import pytest
import scipy.linalg
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from dagnet import Autoencoder, _core
from dagnet.metrics import frechet_distance, mmd
from dagnet.nn import Conv2D, Dense, MaxPool2D, UpSampling2D

CHECKED = [
    Autoencoder(),
    Autoencoder(max_iter=50),
    Autoencoder((8, 3), noise="mask", noise_level=0.2, sparsity="l1", max_iter=50),
    Autoencoder((6,), noise="gaussian", contractive=0.1, activation="tanh", solver="lbfgs",
                max_iter=50),
    Autoencoder((8, 4), tied_weights=True, code_activation="logistic", sparsity="kl",
                pretrain="layerwise", max_iter=30),
    Autoencoder(encoder_layers=[Dense(4, activation="tanh")], noise="gaussian", max_iter=30),
    Autoencoder(encoder_layers=[Conv2D(2, (3, 1), padding="same", activation="relu")],
                input_shape=(1, -1, 1), sparsity="l1", max_iter=30),
]


WEIGHTS = ("weighted and repeated rows agree to float32 rounding (the check asks for rtol=1e-7), "
           "and corruption draws fresh noise for each repeat of a row; "
           "test_sample_weights_count_as_repeats checks the equivalence at float32 tolerance")
PREDICT = ("predict returns the reconstruction, (n_samples, n_features), and the check asserts "
           "a prediction of shape (n_samples,); test_sparse_input_equals_dense checks sparse "
           "input")


def expected_failures(estimator):
    return {"check_sample_weight_equivalence_on_dense_data": WEIGHTS,
            "check_sample_weight_equivalence_on_sparse_data": WEIGHTS,
            "check_estimator_sparse_array": PREDICT,
            "check_estimator_sparse_matrix": PREDICT}


@parametrize_with_checks(CHECKED, expected_failed_checks=expected_failures)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("kw", [dict(), dict(sparsity="l1", sparsity_weight=0.1),
                                dict(code_activation="logistic", sparsity="kl"),
                                dict(contractive=0.1, activation="tanh")], ids=str)
def test_sample_weights_count_as_repeats(kw):
    """A weight of 2 is the row given twice, penalties included (they are
    weighted means over the batch, as the loss): the objective and its
    gradient agree, and so do full-batch L-BFGS fits."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 5))
    w = rng.integers(0, 3, 30)
    est = dict(hidden_layer_sizes=(3,), solver="lbfgs", max_iter=30, random_state=0, **kw)
    a = _quiet_fit(Autoencoder(**est), X, sample_weight=w)
    X32, R32 = X.astype(np.float32), np.repeat(X, w, axis=0).astype(np.float32)
    W32 = w.astype(np.float32).reshape(-1, 1)
    va, ga = a._graph.objective([X32, X32, W32], chunk=100)
    vb, gb = a._graph.objective([R32, R32, None], chunk=100)
    assert va == pytest.approx(vb, rel=1e-5)
    np.testing.assert_allclose(ga, gb, rtol=1e-4, atol=1e-6)
    b = _quiet_fit(Autoencoder(**dict(est, max_iter=10)), np.repeat(X, w, axis=0))
    a = _quiet_fit(Autoencoder(**dict(est, max_iter=10)), X, sample_weight=w)
    np.testing.assert_allclose(a.predict(X), b.predict(X), rtol=1e-2, atol=1e-2)


def test_sparse_input_equals_dense():
    import scipy.sparse
    X = np.random.default_rng(0).random((40, 6)) * (np.random.default_rng(1).random((40, 6)) > 0.5)
    a = _quiet_fit(Autoencoder((4,), max_iter=5, random_state=0), X)
    b = _quiet_fit(Autoencoder((4,), max_iter=5, random_state=0), scipy.sparse.csr_matrix(X))
    np.testing.assert_array_equal(a.transform(X), b.transform(scipy.sparse.csr_matrix(X)))
    np.testing.assert_array_equal(a.predict(X), b.predict(scipy.sparse.csr_matrix(X)))


@pytest.fixture(scope="module")
def digits():
    X = load_digits().data
    Xtr, Xte = train_test_split(X, test_size=0.3, random_state=0)
    sc = StandardScaler().fit(Xtr)
    return sc.transform(Xtr), sc.transform(Xte)


def _quiet_fit(est, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, **kw)


def test_linear_autoencoder_learns_the_pca_subspace():
    """Seed 002, section 9: a linear autoencoder with squared error spans the
    principal subspace: its reconstructions h W_dec + b lie in the span of the
    decoder's rows, which is PCA's (the encoder may keep small components of
    the low-variance directions, which cost the loss almost nothing)."""
    rng = np.random.default_rng(0)
    scales = np.array([5.0, 4.0, 3.0, 0.3, 0.2, 0.1])
    X = rng.standard_normal((500, 6)) * scales @ np.linalg.qr(rng.standard_normal((6, 6)))[0]
    ae = _quiet_fit(Autoencoder(3, activation="identity", solver="lbfgs", alpha=0.0,
                                max_iter=2000, tol=1e-10, random_state=0), X)
    pca = PCA(3).fit(X)
    angles = scipy.linalg.subspace_angles(ae.coefs_[1].T, pca.components_.T)
    assert np.max(angles) < 1e-3


def test_code_of_16_beats_pca_16_on_held_out_digits(digits):
    Xtr, Xte = digits
    pca = PCA(16, random_state=0).fit(Xtr)
    pca_mse = np.mean((pca.inverse_transform(pca.transform(Xte)) - Xte) ** 2)
    ae = _quiet_fit(Autoencoder((128, 16), activation="tanh", max_iter=150,
                                learning_rate_init=3e-3, random_state=0), Xtr)
    ae_mse = -ae.score(Xte)
    assert ae_mse < pca_mse, (ae_mse, pca_mse)
    np.testing.assert_allclose(-ae.score_samples(Xte).mean(), ae_mse, rtol=1e-10)


@pytest.mark.parametrize("kw", [dict(), dict(tied_weights=True), dict(noise="gaussian"),
                                dict(noise="mask", sparsity="l1"),
                                dict(code_activation="logistic", sparsity="kl"),
                                dict(contractive=0.05, activation="tanh"),
                                dict(pretrain="layerwise")], ids=str)
def test_threads_pickle_and_inverse_transform(digits, kw):
    Xtr, Xte = digits
    fits = [_quiet_fit(Autoencoder((32, 8), max_iter=5, random_state=3, n_threads=nt, **kw),
                       Xtr) for nt in (1, 2)]
    for a, b in zip(fits[0].coefs_ + fits[0].intercepts_, fits[1].coefs_ + fits[1].intercepts_):
        np.testing.assert_array_equal(a, b)
    ae = fits[0]
    clone = pickle.loads(pickle.dumps(ae))
    np.testing.assert_array_equal(clone.transform(Xte), ae.transform(Xte))
    np.testing.assert_allclose(ae.inverse_transform(ae.transform(Xte)), ae.predict(Xte),
                               rtol=1e-5, atol=1e-5)
    assert ae.get_feature_names_out().tolist() == [f"autoencoder{i}" for i in range(8)]


def test_tied_weights_share_one_parameter(digits):
    Xtr, _ = digits
    ae = _quiet_fit(Autoencoder((32, 8), tied_weights=True, max_iter=3, random_state=0), Xtr)
    assert [c.shape for c in ae.coefs_] == [(64, 32), (32, 8)]
    assert [b.shape for b in ae.intercepts_] == [(32,), (8,), (32,), (64,)]
    before = ae.predict(Xtr[:3])
    ae.coefs_[0][...] = 0  # the decoder's last layer uses it too
    after = ae.predict(Xtr[:3])
    assert np.all(np.abs(after - before).max(axis=1) > 0)
    np.testing.assert_allclose(after, np.broadcast_to(ae.intercepts_[3], after.shape),
                               atol=1e-6)


def test_contractive_penalty_is_the_numeric_jacobian_norm():
    """The penalty the loss adds equals lambda times the mean squared
    Frobenius norm of the encoder's Jacobian, taken by finite differences."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((20, 5))
    lam = 0.3
    ae = _quiet_fit(Autoencoder(4, activation="tanh", code_activation="tanh", contractive=lam,
                                max_iter=2, random_state=0), X)
    plain = pickle.loads(pickle.dumps(ae)).set_params(contractive=0.0)
    plain._arch = dict(plain._arch, contractive=0.0)
    plain._graph = plain._make_graph(plain._arch)
    plain._restore(ae._snapshot())
    X32 = X.astype(np.float32)
    with_pen = ae._graph.objective([X32, X32, None], grad=False)[0]
    without = plain._graph.objective([X32, X32, None], grad=False)[0]
    eps, norms = 1e-3, []
    for x in X:
        J = np.stack([(ae.transform((x + eps * e)[None]) - ae.transform((x - eps * e)[None]))[0]
                      / (2 * eps) for e in np.eye(5)])
        norms.append(np.sum(J ** 2))
    np.testing.assert_allclose(with_pen - without, lam * np.mean(norms), rtol=1e-3)


def test_denoising_recovers_clean_digits():
    X = load_digits().data / 16
    rng = np.random.default_rng(0)
    noisy = X * (rng.random(X.shape) >= 0.3)
    kw = dict(hidden_layer_sizes=(64, 32), loss="binary_cross_entropy", max_iter=40,
              random_state=0)
    dae = _quiet_fit(Autoencoder(noise="mask", noise_level=0.3, **kw), X)
    ae = _quiet_fit(Autoencoder(**kw), X)
    err = [np.mean((m.predict(noisy) - X) ** 2) for m in (dae, ae)]
    assert err[0] < err[1]


def test_sparsity_makes_the_code_sparse():
    X = load_digits().data / 16
    kw = dict(hidden_layer_sizes=(32,), code_activation="logistic", max_iter=30,
              loss="binary_cross_entropy", random_state=0)
    dense = _quiet_fit(Autoencoder(**kw), X).transform(X)
    kl = _quiet_fit(Autoencoder(sparsity="kl", sparsity_weight=2.0, sparsity_target=0.05,
                                **kw), X).transform(X)
    assert kl.mean() < 0.2 < 0.5 < dense.mean()
    kw["code_activation"] = "relu"
    dense = _quiet_fit(Autoencoder(**kw), X).transform(X)
    l1 = _quiet_fit(Autoencoder(sparsity="l1", sparsity_weight=0.2, **kw), X).transform(X)
    assert l1.mean() < 0.5 * dense.mean()
    assert (l1 == 0).mean() > 0.3 > (dense == 0).mean()


def test_pipeline_standard_scaler_autoencoder_logistic_regression():
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe = make_pipeline(StandardScaler(), Autoencoder((64, 32), max_iter=40, random_state=0),
                             LogisticRegression(max_iter=500)).fit(Xtr, ytr)
    assert pipe.score(Xte, yte) > 0.9
    assert pipe[:-1].get_feature_names_out()[0] == "autoencoder0"


def test_anomalies_score_lower():
    X = load_digits().data / 16
    ae = _quiet_fit(Autoencoder((32,), loss="binary_cross_entropy", max_iter=30,
                                random_state=0), X)
    odd = np.random.default_rng(0).random((20, 64))
    assert ae.score_samples(odd).max() < np.median(ae.score_samples(X))


@pytest.mark.parametrize("kw, match", [
    (dict(sparsity="kl"), "code_activation='logistic'"),
    (dict(contractive=0.1, activation="gelu"), "contractive"),
    (dict(decoder_layer_sizes=(4,), tied_weights=True), "mirrors"),
    (dict(noise="mask", noise_level=1.0), "noise_level"),
    (dict(loss="binary_cross_entropy"), r"\[0, 1\]"),
    (dict(noise="salt"), "noise"),
])
def test_bad_settings_say_what_to_do(kw, match):
    X = np.random.default_rng(0).standard_normal((20, 4))
    with pytest.raises(ValueError, match=match):
        Autoencoder(**kw).fit(X)


def conv_layers():
    """A convolutional encoder of 1x8x8 digits to an 8x2x2 code, and its
    decoder (upsampling, convolutions, a linear last layer)."""
    enc = [Conv2D(8, 3, padding="same", activation="relu", name="enc0"), MaxPool2D(2),
           Conv2D(8, 3, padding="same", activation="relu", name="enc1"), MaxPool2D(2)]
    dec = [UpSampling2D(2), Conv2D(8, 3, padding="same", activation="relu", name="dec0"),
           UpSampling2D(2), Conv2D(1, 3, padding="same", name="dec1")]
    return enc, dec


def test_convolutional_autoencoder():
    """Encoder and decoder layers: rows read as images, the flattened
    encoder output is the code, inverse_transform decodes it as predict
    does, threads and pickling keep every bit, and training lowers the
    reconstruction error."""
    X = load_digits().data / 16
    Xtr, Xte = train_test_split(X, test_size=0.25, random_state=0)
    enc, dec = conv_layers()
    fits = [_quiet_fit(Autoencoder(encoder_layers=enc, decoder_layers=dec, input_shape=(1, 8, 8),
                                   loss="binary_cross_entropy", max_iter=m, random_state=0,
                                   n_threads=nt), Xtr) for m, nt in ((1, 1), (20, 1), (20, 2))]
    short, ae, ae2 = fits
    assert ae.n_components_ == 32 and ae.transform(Xte).shape == (len(Xte), 32)
    assert ae.predict(Xte).shape == Xte.shape
    assert ae.score(Xte) > short.score(Xte) + 0.01
    for a, b in zip(ae.coefs_ + ae.intercepts_, ae2.coefs_ + ae2.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert [c.shape for c in ae.coefs_] == [(8, 1, 3, 3), (8, 8, 3, 3), (8, 8, 3, 3),
                                            (1, 8, 3, 3)]
    np.testing.assert_allclose(ae.inverse_transform(ae.transform(Xte)), ae.predict(Xte),
                               rtol=1e-6, atol=1e-6)
    clone = pickle.loads(pickle.dumps(ae))
    np.testing.assert_array_equal(clone.predict(Xte), ae.predict(Xte))


def test_layer_encoder_default_decoder_and_pipeline():
    """decoder_layers=None decodes with one Dense layer; a layer encoder sits in a
    Pipeline like the dense one."""
    X = load_digits().data
    y = load_digits().target
    pipe = make_pipeline(StandardScaler(),
                         Autoencoder(encoder_layers=[Dense(24, activation="relu", name="e0"),
                                              Dense(12, name="code")],
                                     max_iter=30, random_state=0),
                         LogisticRegression(max_iter=500))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X[:1200], y[:1200])
    assert pipe.score(X[1200:], y[1200:]) > 0.8
    ae = pipe[1]
    assert ae.n_components_ == 12
    assert [c.shape for c in ae.coefs_] == [(64, 24), (24, 12), (12, 64)]


@pytest.mark.parametrize("kw, match", [
    (dict(tied_weights=True), "dense encoder"),
    (dict(contractive=0.1), "dense encoder"),
    (dict(pretrain="layerwise"), "dense encoder"),
    (dict(input_shape=(1, 3, 3)), "cannot be reshaped"),
    (dict(decoder_layers=[Dense(5)]), "decoder's output"),
    (dict(encoder_layers=["dense"]), "list of dagnet.nn layers"),
])
def test_layer_settings_say_what_to_do(kw, match):
    X = np.random.default_rng(0).standard_normal((20, 4))
    kw = dict(dict(encoder_layers=[Dense(2)]), **kw)
    with pytest.raises(ValueError, match=match):
        Autoencoder(**kw).fit(X)
    with pytest.raises(ValueError, match="go with a layer stack"):
        Autoencoder(input_shape=(2, 2)).fit(X)


def test_decoder_layer_sizes_and_lbfgs():
    X = np.random.default_rng(0).standard_normal((50, 6))
    ae = _quiet_fit(Autoencoder((5, 2), decoder_layer_sizes=(3, 4), solver="lbfgs",
                                max_iter=20, random_state=0), X)
    assert [c.shape for c in ae.coefs_] == [(6, 5), (5, 2), (2, 3), (3, 4), (4, 6)]
    assert ae.inverse_transform(np.zeros((2, 2))).shape == (2, 6)
    with pytest.raises(ValueError, match="codes of shape"):
        ae.inverse_transform(np.zeros((2, 3)))


def test_autoencoder_op_names_are_registered():
    g = _core.Graph()
    x = g.add_input((3,))
    for op in ("masking_noise", "gaussian_noise", "l1_penalty"):
        g.add_node(op, [x])


# --- metrics -------------------------------------------------------------------------------

def test_mmd_zero_for_the_same_set_symmetric_and_growing_with_the_shift():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((100, 3)), rng.standard_normal((80, 3))
    assert mmd(X, X) == 0.0
    assert abs(mmd(X, X, biased=False)) < 0.05
    for biased in (True, False):
        assert mmd(X, Y, biased=biased) == pytest.approx(mmd(Y, X, biased=biased), abs=1e-12)
    shifts = [mmd(X, Y + s, bandwidth=1.0) for s in (0.0, 0.5, 1.0, 2.0)]
    assert shifts == sorted(shifts)


def test_mmd_closed_form_for_two_points():
    # k(0, 1) = exp(-1 / 2): biased MMD^2 of {0} and {1} is 2 - 2 exp(-1/2)
    assert mmd([[0.0], [0.0]], [[1.0], [1.0]], bandwidth=1.0) == \
        pytest.approx(2 - 2 * np.exp(-0.5))
    with pytest.raises(ValueError, match="same space"):
        mmd(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="bandwidth"):
        mmd(np.zeros((3, 2)), np.ones((3, 2)), bandwidth=0.0)


def test_frechet_distance_closed_form_for_diagonal_gaussians():
    rng = np.random.default_rng(0)
    m1, m2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 2.0, 0.5]), np.array([2.0, 1.0, 0.5])
    X = m1 + s1 * rng.standard_normal((200000, 3))
    Y = m2 + s2 * rng.standard_normal((200000, 3))
    expect = np.sum((m1 - m2) ** 2) + np.sum((s1 - s2) ** 2)
    assert frechet_distance(X, Y) == pytest.approx(expect, rel=0.01)
    assert frechet_distance(X, Y) == pytest.approx(frechet_distance(Y, X), rel=1e-8)
    assert frechet_distance(X[:500], X[:500]) < 1e-8


def test_early_stopping_and_partial_fit():
    X = load_digits().data / 16
    ae = _quiet_fit(Autoencoder((32,), early_stopping=True, max_iter=200, n_iter_no_change=3,
                                random_state=0), X)
    assert ae.n_iter_ < 200 and len(ae.validation_scores_) == ae.n_iter_
    assert ae.best_validation_score_ == max(ae.validation_scores_) < 0
    inc = Autoencoder((8,), random_state=0)
    for _ in range(3):
        inc.partial_fit(X)
    assert inc.n_iter_ == 1 and len(inc.loss_curve_) == 3
    assert not hasattr(Autoencoder(solver="lbfgs"), "partial_fit")
