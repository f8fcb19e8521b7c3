"""dagnet.VAE: scikit-learn's checks, the ELBO on digits, determinism."""

import pickle

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from dagnet import VAE
from dagnet.nn import Conv2D, Dense, MaxPool2D, Reshape, UpSampling2D


@parametrize_with_checks([VAE(), VAE(hidden_layer_sizes=(8,), max_iter=5),
                          VAE(encoder_layers=[Conv2D(2, (3, 1), padding="same",
                                                     activation="relu")],
                              input_shape=(1, -1, 1), max_iter=5)])
def test_sklearn_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def test_held_out_elbo_improves_monotonically_on_digits(digits):
    X, _ = digits
    vae = VAE(n_components=8, hidden_layer_sizes=(128,), decoder="bernoulli",
              early_stopping=True, max_iter=8, random_state=0).fit(X)
    scores = vae.validation_scores_
    assert all(b > a for a, b in zip(scores, scores[1:])), scores
    assert len(vae.loss_curve_) == vae.n_iter_ == 8


def test_score_samples_is_deterministic_and_per_sample(digits):
    X, _ = digits
    vae = VAE(decoder="bernoulli", hidden_layer_sizes=(32,), max_iter=3, random_state=0).fit(X)
    s = vae.score_samples(X[:50])
    np.testing.assert_array_equal(s, vae.score_samples(X[:50]))
    np.testing.assert_array_equal(s[::-1], vae.score_samples(X[:50][::-1]))
    assert vae.score(X[:50]) == pytest.approx(s.mean())
    again = VAE(decoder="bernoulli", hidden_layer_sizes=(32,), max_iter=3, random_state=0).fit(X)
    np.testing.assert_array_equal(s, again.score_samples(X[:50]))


def test_one_and_two_threads_are_bit_identical(digits):
    X, _ = digits
    runs = [VAE(hidden_layer_sizes=(64,), max_iter=3, random_state=1, n_threads=t).fit(X)
            for t in (1, 2)]
    np.testing.assert_array_equal(runs[0].transform(X), runs[1].transform(X))
    np.testing.assert_array_equal(runs[0].sample(4), runs[1].sample(4))


def test_transform_inverse_transform_sample_and_pickle(digits):
    X, _ = digits
    vae = VAE(n_components=3, decoder="bernoulli", max_iter=3, random_state=0).fit(X)
    Z = vae.transform(X[:10])
    R = vae.inverse_transform(Z)
    assert Z.shape == (10, 3) and R.shape == (10, 64) and R.min() >= 0 and R.max() <= 1
    clone = pickle.loads(pickle.dumps(vae))
    np.testing.assert_array_equal(clone.transform(X[:10]), Z)
    np.testing.assert_array_equal(clone.sample(5), vae.sample(5))
    clone.partial_fit(X)
    assert clone.n_iter_ == vae.n_iter_ + 1


def test_pipeline(digits):
    X, y = digits
    pipe = make_pipeline(StandardScaler(), VAE(n_components=8, max_iter=20, random_state=0),
                         LogisticRegression(max_iter=500)).fit(X[:1200], y[:1200])
    assert pipe.score(X[1200:], y[1200:]) > 0.6


def test_bad_input_messages():
    with pytest.raises(ValueError, match="decoder='bernoulli' needs data in"):
        VAE(decoder="bernoulli").fit(np.array([[0.0, 2.0], [1.0, 0.5]]))
    with pytest.raises(ValueError, match="decoder"):
        VAE(decoder="poisson").fit(np.ones((4, 2)))


def conv_vae(**kw):
    enc = [Conv2D(8, 3, padding="same", activation="relu", name="enc0"), MaxPool2D(2)]
    dec = [Dense(8 * 4 * 4, activation="relu", name="dec0"), Reshape((8, 4, 4)),
           UpSampling2D(2), Conv2D(1, 3, padding="same", name="dec1")]
    return VAE(n_components=4, encoder_layers=enc, decoder_layers=dec, input_shape=(1, 8, 8),
               decoder="bernoulli", random_state=0, **kw)


def test_convolutional_encoder_and_decoder(digits):
    """Layer stacks: rows read as 1x8x8 images, a convolutional encoder and
    decoder; the ELBO improves with training, threads and pickling keep
    every bit, sample and inverse_transform give rows."""
    X, _ = digits
    fits = [conv_vae(max_iter=m, n_threads=nt).fit(X[:600]) for m, nt in ((1, 1), (8, 1), (8, 2))]
    short, vae, vae2 = fits
    assert vae.score(X[600:]) > short.score(X[600:]) + 1
    np.testing.assert_array_equal(vae.transform(X[:20]), vae2.transform(X[:20]))
    assert vae.sample(3).shape == (3, 64) and vae.inverse_transform(np.zeros((2, 4))).shape == (2, 64)
    clone = pickle.loads(pickle.dumps(vae))
    np.testing.assert_array_equal(clone.score_samples(X[:20]), vae.score_samples(X[:20]))


@pytest.mark.parametrize("kw, match", [
    (dict(encoder_layers=[Dense(3)], decoder_layers=[Dense(5)]), "decoder's output"),
    (dict(encoder_layers=[Dense(3)], input_shape=(2, 3)), "cannot be reshaped"),
    (dict(decoder_layers=[Dense(4)]), "go with a layer stack"),
    (dict(encoder_layers="conv"), "list of dagnet.nn layers"),
])
def test_layer_settings_say_what_to_do(kw, match):
    X = np.random.default_rng(0).random((20, 4))
    with pytest.raises(ValueError, match=match):
        VAE(max_iter=1, **kw).fit(X)
