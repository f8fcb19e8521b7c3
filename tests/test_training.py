"""The C training loop: losses fall, optimisers run, results are
deterministic across thread counts, NaN stops the fit."""

import numpy as np
import pytest

from dagnet import _core
from dagnet.nn import Dense, Dropout, BatchNorm, Sequential


def blobs(n=300, d=6, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((k, d)) * 3
    y = rng.integers(0, k, n)
    X = centers[y] + rng.standard_normal((n, d))
    return X.astype(np.float32), y


def mlp(k=3, dropout=0.0, batchnorm=False):
    layers = [Dense(32, activation="relu")]
    if batchnorm:
        layers.append(BatchNorm())
    if dropout:
        layers.append(Dropout(dropout))
    layers.append(Dense(k))
    return Sequential(layers)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop",
                                       "adam", "adamw"])
def test_loss_falls_with_every_optimizer(optimizer):
    X, y = blobs()
    lr = {"sgd": 0.05, "momentum": 0.02, "nesterov": 0.02, "adagrad": 0.05}.get(optimizer, 0.005)
    model = mlp().build(input_shape=(6,), random_state=0)
    model.compile("softmax_cross_entropy", optimizer, learning_rate=lr)
    model.fit(X, y, epochs=15, batch_size=32)
    assert model.history_[-1] < 0.5 * model.history_[0]
    acc = (model.predict(X).argmax(1) == y).mean()
    assert acc > 0.9


def test_regression_losses_fall():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4)).astype(np.float32)
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.standard_normal(200)
    model = Sequential([Dense(16, activation="tanh"), Dense(1)]).build(input_shape=(4,),
                                                                        random_state=1)
    model.compile("squared_error", "adam", learning_rate=0.01)
    model.fit(X, y, epochs=30, batch_size=16)
    assert model.history_[-1] < 0.1 * model.history_[0]
    counts = rng.poisson(np.exp(0.3 * X[:, 0])).astype(np.float32)
    pm = Sequential([Dense(1)]).build(input_shape=(4,), random_state=1)
    pm.compile("poisson", "adam", learning_rate=0.05).fit(X, counts, epochs=20, batch_size=16)
    assert pm.history_[-1] < pm.history_[0]


def test_binary_cross_entropy_learns():
    X, y = blobs(k=2)
    model = Sequential([Dense(16, activation="relu"), Dense(1)]).build(input_shape=(6,),
                                                                        random_state=0)
    model.compile("binary_cross_entropy", "adam", learning_rate=0.01)
    model.fit(X, y.astype(np.float32), epochs=10, batch_size=32)
    acc = ((model.predict(X)[:, 0] > 0) == y).mean()
    assert acc > 0.95


def train_params(nthreads, dropout=0.2, batchnorm=True):
    X, y = blobs(n=257)
    model = mlp(dropout=dropout, batchnorm=batchnorm).build(input_shape=(6,), random_state=42)
    model.n_threads = nthreads
    model.compile("softmax_cross_entropy", "adam", learning_rate=0.01, l2=1e-4, clip_norm=5.0)
    model.fit(X, y, epochs=3, batch_size=20)
    return [v.copy() for v in model.parameters().values()], model.history_


def test_bit_identical_with_one_and_two_threads():
    p1, h1 = train_params(1)
    p2, h2 = train_params(2)
    assert h1 == h2
    assert len(p1) == len(p2) == 8
    for a, b in zip(p1, p2):
        np.testing.assert_array_equal(a, b)


def test_same_seed_same_result_and_other_seed_differs():
    p1, _ = train_params(1)
    p1b, _ = train_params(1)
    for a, b in zip(p1, p1b):
        np.testing.assert_array_equal(a, b)
    m = mlp(dropout=0.2, batchnorm=True).build(input_shape=(6,), random_state=7)
    first = next(iter(m.parameters().values()))
    assert first.shape == p1[0].shape
    assert not np.array_equal(first, p1[0])


@pytest.mark.parametrize("n_in, hidden, batch", [
    (200, (256, 128), 64),
    # large enough for every threaded path of the dense step: the batch rows
    # copied by both threads (128 x 1024 floats), dZ and db of (128, 512) split
    # by column blocks, the Adam update of the 1024 x 512 weights by chunks
    (1024, (512,), 128),
])
def test_wide_networks_are_bit_identical_across_threads(n_in, hidden, batch):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((320, n_in)).astype(np.float32)
    y = rng.integers(0, 10, 320)
    res = []
    for nt in (1, 2):
        layers = [Dense(u, activation="relu") for u in hidden] + [Dense(10)]
        m = Sequential(layers).build(input_shape=(n_in,), random_state=5)
        m.n_threads = nt
        m.compile("softmax_cross_entropy", "adam").fit(X, y, epochs=2, batch_size=batch)
        res.append(([v.copy() for v in m.parameters().values()], m.history_))
    assert res[0][1] == res[1][1]
    for a, b in zip(res[0][0], res[1][0]):
        np.testing.assert_array_equal(a, b)


def test_nan_loss_stops_with_floating_point_error():
    X, y = blobs()
    model = mlp().build(input_shape=(6,), random_state=0)
    model.compile("squared_error", "sgd", learning_rate=1e6)
    with pytest.raises(FloatingPointError, match="learning rate"):
        model.fit(X, np.eye(3)[y] * 1e3, epochs=50, batch_size=8)


def test_sample_weights_zero_ignore_samples():
    X, y = blobs()
    w = np.ones(len(y))
    w[y == 2] = 0.0
    model = mlp().build(input_shape=(6,), random_state=0)
    model.compile("softmax_cross_entropy", "adam", learning_rate=0.01)
    model.fit(X, y, epochs=10, batch_size=32, sample_weight=w)
    proba = model.predict(X)
    # class 2 never seen with weight: its logit is never pushed up for its samples
    assert (proba[y == 2].argmax(1) == 2).mean() < 0.5


def test_optimizer_settings_are_checked():
    model = mlp().build(input_shape=(6,), random_state=0)
    X, y = blobs()
    model.compile("softmax_cross_entropy", "adam", learning_rate=-1.0)
    with pytest.raises(ValueError, match="lr"):
        model.fit(X, y)
    with pytest.raises(ValueError, match="unknown loss"):
        model.compile("hinge")


def test_unbuilt_sequential_is_built_by_fit_from_the_data():
    X, y = blobs()
    model = Sequential([Dense(16, activation="relu"), Dense(3)])
    model.compile("softmax_cross_entropy", "adam", learning_rate=0.01).fit(X, y, epochs=5)
    assert model.predict(X).shape == (len(X), 3)
    assert model.history_[-1] < model.history_[0]


def test_training_without_samples_is_value_error():
    model = mlp().build(input_shape=(6,), random_state=0)
    model.compile("softmax_cross_entropy", "adam")
    with pytest.raises(ValueError, match="at least one sample"):
        model.fit(np.zeros((0, 6), np.float32), np.zeros(0, int))
