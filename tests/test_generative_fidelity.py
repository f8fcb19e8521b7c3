"""Autoencoder, VAE and GAN as a scikit-learn user expects them: default
instances in the common checks, feature names and pandas output, outputs in
the input's floating dtype, the float32 range, sparse input, divergence that
is never silent, pickles that continue training bit for bit, sample()'s
argument and random_state's range."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import (check_estimator_sparse_matrix,
                                            check_transformer_preserve_dtypes)

from dagnet import GAN, VAE, Autoencoder
from dagnet.nn import Dense, Dropout

SMALL = dict(VAE=dict(hidden_layer_sizes=(8,), max_iter=3),
             GAN=dict(hidden_layer_sizes=(8,), max_iter=2),
             Autoencoder=dict(hidden_layer_sizes=(3,), max_iter=3))
CLASSES = dict(VAE=VAE, GAN=GAN, Autoencoder=Autoencoder)


def data(n=60, d=4, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d))


def quiet(fit, *args, **kwargs):
    """fit without the warning of max_iter reached."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fit(*args, **kwargs)


def small(name, **kw):
    return CLASSES[name](**dict(SMALL[name], random_state=0, **kw))


# --- 1. default instances in scikit-learn's checks ---------------------------------------

@pytest.mark.parametrize("est", [VAE(), GAN(), Autoencoder()], ids=type)
def test_default_instances_take_sparse_input_and_keep_float32(est):
    """The defaults (also in each estimator's parametrize_with_checks) pass
    the checks of sparse input (the Autoencoder's is an expected failure:
    its predict returns rows) and, for the transformers, of float32 kept
    float32; their tags say so."""
    tags = est.__sklearn_tags__()
    assert tags.input_tags.sparse
    name = type(est).__name__
    if name != "Autoencoder":
        quiet(check_estimator_sparse_matrix, name, est)
    if tags.transformer_tags is not None:
        assert "float32" in tags.transformer_tags.preserves_dtype
        quiet(check_transformer_preserve_dtypes, name, est)


# --- 2. feature names and pandas output ---------------------------------------------------

@pytest.mark.parametrize("name, kw, prefix", [("VAE", dict(n_components=3), "vae"),
                                              ("Autoencoder", dict(hidden_layer_sizes=(5, 3)),
                                               "autoencoder")])
def test_feature_names_out_follow_the_class_name(name, kw, prefix):
    est = small(name, **kw)
    with pytest.raises(NotFittedError):
        est.get_feature_names_out()
    quiet(est.fit, data())
    assert est.get_feature_names_out().tolist() == [f"{prefix}{i}" for i in range(3)]


@pytest.mark.parametrize("name", ["VAE", "Autoencoder"])
def test_pandas_output_alone_and_in_a_pipeline(name):
    X = pd.DataFrame(data(), columns=list("abcd"), index=np.arange(100, 160))
    est = small(name).set_output(transform="pandas")
    Z = quiet(est.fit, X).transform(X)
    assert isinstance(Z, pd.DataFrame)
    assert Z.columns.tolist() == est.get_feature_names_out().tolist()
    assert Z.index.tolist() == X.index.tolist()
    pipe = make_pipeline(StandardScaler(), small(name)).set_output(transform="pandas")
    Z = quiet(pipe.fit, X).transform(X)
    assert isinstance(Z, pd.DataFrame)
    assert Z.columns.tolist() == pipe[-1].get_feature_names_out().tolist()
    assert Z.columns[0] == f"{name.lower()}0"


# --- 3. outputs in the input's floating dtype ----------------------------------------------

DTYPES = [(np.float32, np.float32), (np.float64, np.float64), (np.int64, np.float64)]


@pytest.mark.parametrize("dtype, expect", DTYPES, ids=lambda d: np.dtype(d).name)
def test_vae_outputs_follow_the_input_dtype(dtype, expect):
    X = (data() * 3).astype(dtype)
    vae = quiet(small("VAE").fit, X)
    Z = vae.transform(X)
    assert Z.dtype == expect
    assert vae.inverse_transform(Z).dtype == expect
    assert vae.sample(2).dtype == expect  # the dtype of the data of the fit
    assert vae.score_samples(X).dtype == np.float64
    # the core computes in float32 either way: the same numbers
    np.testing.assert_array_equal(vae.transform(X.astype(np.float64)).astype(np.float32),
                                  vae.transform(X.astype(np.float32)))


@pytest.mark.parametrize("dtype, expect", DTYPES, ids=lambda d: np.dtype(d).name)
def test_autoencoder_outputs_follow_the_input_dtype(dtype, expect):
    X = (data() * 3).astype(dtype)
    ae = quiet(small("Autoencoder").fit, X)
    Z = ae.transform(X)
    assert Z.dtype == expect and ae.predict(X).dtype == expect
    assert ae.inverse_transform(Z).dtype == expect
    assert ae.score_samples(X).dtype == np.float64
    np.testing.assert_array_equal(ae.predict(X.astype(np.float64)).astype(np.float32),
                                  ae.predict(X.astype(np.float32)))


@pytest.mark.parametrize("dtype, expect", DTYPES, ids=lambda d: np.dtype(d).name)
def test_gan_samples_in_the_dtype_of_its_data(dtype, expect):
    gan = small("GAN").fit((data() * 3).astype(dtype))
    assert gan.sample(3).dtype == expect


# --- 4. finite values beyond float32's range -----------------------------------------------

def entry_points(name):
    """(what, call(est, X, codes)) for each method that takes data."""
    calls = [("fit", lambda e, X, Z: clone(e).fit(X))]
    if name != "GAN":
        calls += [("partial_fit", lambda e, X, Z: e.partial_fit(X)),
                  ("transform", lambda e, X, Z: e.transform(X)),
                  ("inverse_transform", lambda e, X, Z: e.inverse_transform(Z)),
                  ("score", lambda e, X, Z: e.score(X)),
                  ("score_samples", lambda e, X, Z: e.score_samples(X))]
    if name == "Autoencoder":
        calls.append(("predict", lambda e, X, Z: e.predict(X)))
    return calls


@pytest.mark.parametrize("name", ["VAE", "GAN", "Autoencoder"])
@pytest.mark.parametrize("big", [1e39, 1e308])
def test_values_beyond_float32_raise_a_clear_error(name, big):
    """Cast to float32, they would be infinities: every entry point says so
    (no NaN results, no numpy overflow warning)."""
    X = data()
    est = quiet(small(name).fit, X)
    bad = X.copy()
    bad[3, 1] = -big
    width = est.transform(X[:1]).shape[1] if name != "GAN" else 1
    codes = np.full((2, width), big)
    for what, call in entry_points(name):
        for Xb in (bad, sp.csr_matrix(bad)):
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)
                with pytest.raises(ValueError, match="exceed float32's range") as info:
                    call(est, Xb, codes)
            assert "StandardScaler" in str(info.value), what


# --- 5. sparse input --------------------------------------------------------------------

def sparse_data():
    X = data(80, 6) * (np.random.default_rng(1).random((80, 6)) > 0.5)
    return X, sp.csr_matrix(X)


def test_vae_takes_sparse_input_as_dense():
    X, S = sparse_data()
    dense, sparse = (quiet(small("VAE").fit, A) for A in (X, S))
    np.testing.assert_array_equal(dense.transform(X), sparse.transform(S.tocsc()))
    np.testing.assert_array_equal(dense.score_samples(X), sparse.score_samples(S))
    Z = dense.transform(X)
    np.testing.assert_array_equal(dense.inverse_transform(Z),
                                  sparse.inverse_transform(sp.csr_matrix(Z)))
    quiet(sparse.partial_fit, S)


def test_gan_takes_sparse_input_as_dense():
    X, S = sparse_data()
    np.testing.assert_array_equal(small("GAN").fit(X).sample(5),
                                  small("GAN").fit(S.tocsc()).sample(5))


def test_autoencoder_inverse_transform_takes_sparse_codes():
    X, _ = sparse_data()
    ae = quiet(small("Autoencoder", activation="relu", code_activation="relu").fit, X)
    Z = ae.transform(X)
    np.testing.assert_array_equal(ae.inverse_transform(sp.csr_matrix(Z)),
                                  ae.inverse_transform(Z))


# --- 6. divergence ----------------------------------------------------------------------

def ring(n=256, seed=0):
    rng = np.random.RandomState(seed)
    angle = rng.randint(8, size=n) * np.pi / 4
    return 2 * np.c_[np.cos(angle), np.sin(angle)] + 0.05 * rng.randn(n, 2)


def params(model):
    return {k: v.copy() for k, v in model.parameters().items()}


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_a_diverging_gan_warns_and_keeps_its_last_sound_epoch():
    """With learning_rate_init=10 the losses reach 1e5 within the first
    epoch (and 1e29, samples near 1e15, if training went on): the fit warns
    with advice and keeps parameters that give finite samples of the
    data's scale. A warm start that diverges goes back to the parameters it
    started from."""
    X = ring()
    with pytest.warns(ConvergenceWarning,
                      match=r"GAN: training diverged.*learning_rate_init \(now 10\)"):
        gan = GAN(learning_rate_init=10.0, max_iter=5, random_state=0).fit(X)
    assert gan.n_iter_ == len(gan.generator_loss_curve_) == len(gan.discriminator_loss_curve_)
    S = gan.sample(100)
    assert np.all(np.isfinite(S)) and np.abs(S).max() < 10

    gan = GAN(max_iter=3, warm_start=True, random_state=0).fit(X)
    sound = params(gan._g), params(gan._d), gan.n_iter_
    with pytest.warns(ConvergenceWarning, match="diverged"):
        gan.set_params(learning_rate_init=10.0).fit(X)
    assert_same(params(gan._g), sound[0])
    assert_same(params(gan._d), sound[1])
    assert gan.n_iter_ == sound[2]
    assert np.all(np.isfinite(gan.sample(50)))


@pytest.mark.parametrize("lr, error", [(0.5, None), (100.0, ValueError)], ids=["growing", "nan"])
def test_a_diverging_vae_says_so_and_stays_usable(lr, error):
    """At 0.5 the loss grows to 1e12: a warning; at 100 it turns NaN: a
    ValueError. Either way the model keeps its last sound epoch, the
    decoder in step with the encoder."""
    X = data(300, 6)
    vae = VAE(learning_rate_init=lr, max_iter=5, random_state=0)
    match = r"VAE: training diverged.*learning_rate_init"
    if error is None:
        with pytest.warns(ConvergenceWarning, match=match):
            vae.fit(X)
    else:
        with pytest.raises(error, match=match):
            vae.fit(X)
    assert vae.n_iter_ == len(vae.loss_curve_)
    for out in (vae.transform(X), vae.sample(10), vae.score_samples(X)):
        assert np.all(np.isfinite(out))
    assert np.abs(vae.sample(10)).max() < 100


def test_sound_training_does_not_warn():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        GAN(max_iter=5, random_state=0).fit(ring())
        VAE(max_iter=5, random_state=0).fit(data(300, 6))
    assert not [w for w in caught if "diverged" in str(w.message)]


# --- 7. pickles continue bit for bit -------------------------------------------------------

def test_pickled_vae_continues_as_the_original():
    """The reparameterisation draws of training follow the graph's count of
    runs, inference runs included: the copy makes them up."""
    X = data(200, 6)
    vae = quiet(small("VAE").fit, X)
    vae.transform(X)
    copy = pickle.loads(pickle.dumps(vae))
    for est in (vae, copy):
        est.partial_fit(X)
        est.score_samples(X[:10])
        est.partial_fit(X)
    assert_same(params(vae._net), params(copy._net))
    np.testing.assert_array_equal(vae.sample(4), copy.sample(4))


@pytest.mark.parametrize("noise", [None, "gaussian", "mask"])
def test_pickled_autoencoder_continues_as_the_original(noise):
    X = data(200, 6)
    ae = quiet(small("Autoencoder", noise=noise).fit, X)
    ae.predict(X)
    copy = pickle.loads(pickle.dumps(ae))
    for est in (ae, copy):
        est.partial_fit(X)
        est.partial_fit(X)
    for a, b in zip(ae.coefs_ + ae.intercepts_, copy.coefs_ + copy.intercepts_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dropout", [False, True])
def test_pickled_gan_continues_as_the_original(dropout):
    """fit with warm_start=True continues; with dropout in the discriminator
    its training draws depend on the count of runs too."""
    X = ring()
    layers = [Dense(16, activation="leaky_relu"), Dropout(0.3)] if dropout else None
    gan = GAN(hidden_layer_sizes=(16,), discriminator=layers, max_iter=2, warm_start=True,
              random_state=0).fit(X)
    gan.sample(3)
    copy = pickle.loads(pickle.dumps(gan))
    for est in (gan, copy):
        est.fit(X)
    assert_same(params(gan._g), params(copy._g))
    assert_same(params(gan._d), params(copy._d))
    assert gan.n_iter_ == copy.n_iter_ == 4
    np.testing.assert_array_equal(gan.sample(5), copy.sample(5))


def test_gan_warm_start_needs_the_same_network_and_classes():
    X = ring()
    gan = GAN(max_iter=1, warm_start=True, random_state=0).fit(X)
    with pytest.raises(ValueError, match="warm_start=True continues a GAN fitted without y"):
        gan.fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        gan.set_params(hidden_layer_sizes=(4,)).fit(X)


# --- 8. sample()'s argument and parameter messages ------------------------------------------

@pytest.mark.parametrize("name", ["VAE", "GAN"])
def test_sample_takes_a_positive_int(name):
    est = quiet(small(name).fit, data())
    for n in (0, -1, 2.5, "3", True, None):
        with pytest.raises(ValueError, match=r"n_samples .* must be an int >= 1; got") as info:
            est.sample(n)
        assert "{" not in str(info.value)
    assert est.sample(np.int64(2)).shape == (2, 4)


@pytest.mark.parametrize("name, kw", [("VAE", dict(n_components=0)),
                                      ("VAE", dict(max_iter=0)),
                                      ("GAN", dict(latent_dim=0)),
                                      ("GAN", dict(warm_start="yes"))])
def test_parameter_messages_name_the_estimator(name, kw):
    with pytest.raises(ValueError, match=f"parameter of {name} must") as info:
        small(name, **kw).fit(data())
    assert "{est}" not in str(info.value)


# --- 9. random_state ----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["VAE", "GAN", "Autoencoder"])
@pytest.mark.parametrize("seed", [2**64, 2**32, -1])
def test_random_state_out_of_range_is_a_value_error(name, seed):
    with pytest.raises(ValueError, match=r"random_state must be .*2\*\*32 - 1"):
        small(name).set_params(random_state=seed).fit(data())
    if name != "GAN":
        with pytest.raises(ValueError, match="random_state"):
            small(name).set_params(random_state=seed).partial_fit(data())
