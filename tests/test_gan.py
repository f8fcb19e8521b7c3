"""dagnet.GAN: scikit-learn's checks, losses, mode coverage on a ring of
Gaussians, conditioning, determinism."""

import pickle

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from dagnet import GAN
from dagnet.nn import Conv2D, Dense, Flatten, MaxPool2D, Reshape
from dagnet.neural_network._gan import critic_loss, generator_loss

STD = 0.05
CENTERS = 2 * np.c_[np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4)]


def ring(n, seed=0):
    rng = np.random.RandomState(seed)
    k = rng.randint(8, size=n)
    return CENTERS[k] + STD * rng.randn(n, 2), k


@parametrize_with_checks([GAN(), GAN(hidden_layer_sizes=(8,), max_iter=2)])
def test_sklearn_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ring_of_gaussians_mode_coverage(seed):
    """The default GAN covers the ring from any seed: at least 7 of the 8
    modes, most samples within 3 standard deviations of one."""
    X, _ = ring(2000)
    gan = GAN(max_iter=60, random_state=seed).fit(X)
    S = gan.sample(2000)
    d = np.linalg.norm(S[:, None] - CENTERS[None], axis=2)
    near = d.min(axis=1) < 3 * STD
    modes = np.unique(d.argmin(axis=1)[near])
    assert len(modes) >= 7 and near.mean() > 0.5, (len(modes), near.mean())


@pytest.mark.parametrize("loss", ["minimax", "non-saturating", "least-squares", "wasserstein"])
def test_loss_gradients_match_finite_differences(loss):
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(5, 1)), rng.normal(size=(4, 1))
    _, gr, gf = critic_loss(loss, real, fake)
    _, gg = generator_loss(loss, fake)
    h = 1e-6
    for i in range(4):
        e = np.zeros_like(fake)
        e[i] = h
        num = (critic_loss(loss, real, fake + e)[0] - critic_loss(loss, real, fake - e)[0]) / 2 / h
        assert gf[i, 0] == pytest.approx(num, abs=1e-6)
        num = (generator_loss(loss, fake + e)[0] - generator_loss(loss, fake - e)[0]) / 2 / h
        assert gg[i, 0] == pytest.approx(num, abs=1e-6)
    e = np.zeros_like(real)
    e[0] = h
    num = (critic_loss(loss, real + e, fake)[0] - critic_loss(loss, real - e, fake)[0]) / 2 / h
    assert gr[0, 0] == pytest.approx(num, abs=1e-6)


@pytest.mark.parametrize("settings", [dict(loss="wasserstein", n_critic=2),
                                      dict(loss="wasserstein", spectral_norm=True),
                                      dict(loss="least-squares"), dict(loss="minimax")])
def test_every_loss_trains(settings):
    X, _ = ring(256)
    gan = GAN(max_iter=3, random_state=0, **settings).fit(X)
    assert len(gan.generator_loss_curve_) == len(gan.discriminator_loss_curve_) == 3
    assert np.all(np.isfinite(gan.sample(10)))


def test_weight_clipping_bounds_the_critic():
    X, _ = ring(256)
    gan = GAN(loss="wasserstein", clip_value=0.02, max_iter=2, random_state=0).fit(X)
    for value in gan._d.parameters().values():
        assert np.abs(value).max() <= 0.02


def test_conditional_gan_samples_the_asked_class():
    X, k = ring(2000)
    gan = GAN(learning_rate_init=1e-3, max_iter=30, random_state=0).fit(X, k)
    S = gan.sample(400, y=np.full(400, 3))
    d = np.linalg.norm(S[:, None] - CENTERS[None], axis=2)
    assert np.mean(d.argmin(axis=1) == 3) > 0.8
    assert gan.sample(10).shape == (10, 2)
    with pytest.raises(ValueError, match="labels among the classes"):
        gan.sample(2, y=[9, 9])


def test_reproducible_threads_and_pickle():
    X, _ = ring(512)
    a, b = (GAN(max_iter=3, random_state=5, n_threads=t).fit(X) for t in (1, 2))
    np.testing.assert_array_equal(a.generator_loss_curve_, b.generator_loss_curve_)
    clone = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(clone.sample(20), a.sample(20))
    np.testing.assert_array_equal(a.sample(7), b.sample(27)[20:])


def test_convolutional_generator_and_discriminator():
    """Layer stacks with convolutions: the discriminator reads rows as
    1x8x8 images through a Reshape, the generator shapes its features into
    maps; the estimator adds the output layers. Fits and samples, the same
    on 1 and 2 threads."""
    X = np.random.default_rng(0).random((128, 64))

    def nets():
        D = [Reshape((1, 8, 8)), Conv2D(4, 3, padding="same", activation="leaky_relu"),
             MaxPool2D(2), Flatten()]
        G = [Dense(32, activation="relu"), Reshape((2, 4, 4)),
             Conv2D(4, 3, padding="same", activation="relu"), Flatten()]
        return dict(generator=G, discriminator=D)
    fits = [GAN(max_iter=2, random_state=0, n_threads=nt, **nets()).fit(X) for nt in (1, 2)]
    np.testing.assert_array_equal(fits[0].sample(5), fits[1].sample(5))
    assert fits[0].sample(7).shape == (7, 64) and len(fits[0].generator_loss_curve_) == 2
