"""dagnet.nn's image layers: shapes, padding, parameters, the residual block,
batch normalisation on images, and a small CNN trained on digits."""

import numpy as np
import pytest

from dagnet.nn import (Activation, AvgPool2D, BatchNorm, Conv2D, Conv2DTranspose, Dense,
                       Flatten, GlobalAvgPool2D, Input, MaxPool2D, Model, Reshape, Sequential,
                       UpSampling2D, node_shape, residual_block)
from test_conv_ops import conv2d_np


def test_conv2d_layer_matches_reference():
    rng = np.random.default_rng(0)
    m = Sequential([Conv2D(4, (3, 2), stride=(2, 1), padding=(1, 0, 0, 1), dilation=(1, 2),
                           activation="tanh", name="c")])
    m.build(input_shape=(2, 7, 6), random_state=0)
    p = m.parameters()
    assert p["c.weight"].shape == (4, 2, 3, 2) and p["c.bias"].shape == (4,)
    p["c.bias"][:] = rng.standard_normal(4)
    x = rng.standard_normal((3, 2, 7, 6)).astype(np.float32)
    expect = np.tanh(conv2d_np(x.astype(float), p["c.weight"].astype(float),
                               p["c.bias"].astype(float), (2, 1), (1, 0, 0, 1), (1, 2)))
    np.testing.assert_allclose(m.forward(x), expect, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kernel, dilation", [(3, 1), (4, 1), ((5, 2), 1), (3, 2), (1, 1)])
def test_same_padding_keeps_size(kernel, dilation):
    m = Sequential([Conv2D(3, kernel, padding="same", dilation=dilation)])
    out = m.build(input_shape=(2, 9, 8), random_state=0).forward(np.zeros((1, 2, 9, 8)))
    assert out.shape == (1, 3, 9, 8)


def test_layer_errors():
    with pytest.raises(ValueError, match="kernel_size"):
        Sequential([Conv2D(3, 0)]).build(input_shape=(1, 8, 8))
    with pytest.raises(ValueError, match="filters"):
        Sequential([Conv2D(0, 3)]).build(input_shape=(1, 8, 8))
    with pytest.raises(ValueError, match="padding"):
        Sequential([MaxPool2D(2, padding="same")]).build(input_shape=(1, 8, 8))
    with pytest.raises(ValueError, match="channels, height, width"):
        Sequential([Conv2D(3, 3)]).build(input_shape=(64,))


def test_seed004_parameter_counts():
    """Seed 004 Fig. 4.1: 456 and 1510 parameters, 28x28x6 and 24x24x10."""
    m = Sequential([Conv2D(6, 5, name="c1"), Conv2D(10, 5, name="c2")])
    m.build(input_shape=(3, 32, 32), random_state=0)
    p = m.parameters()
    assert p["c1.weight"].size + p["c1.bias"].size == 456
    assert p["c2.weight"].size + p["c2.bias"].size == 1510
    assert m.forward(np.zeros((1, 3, 32, 32))).shape == (1, 10, 24, 24)


def test_image_layer_shapes():
    x = Input((3, 9, 10))
    shapes = {
        "conv": node_shape(Conv2D(5, 3, stride=2, padding=1)(x)),
        "depthwise": node_shape(Conv2D(6, 3, groups=3, padding="same")(x)),
        "transpose": node_shape(Conv2DTranspose(4, 3, stride=2, padding=1, output_padding=1)(x)),
        "max": node_shape(MaxPool2D(2)(x)),
        "avg": node_shape(AvgPool2D(3, stride=2, padding=1)(x)),
        "gap": node_shape(GlobalAvgPool2D()(x)),
        "up": node_shape(UpSampling2D((2, 3))(x)),
    }
    assert shapes == {"conv": (5, 5, 5), "depthwise": (6, 9, 10), "transpose": (4, 18, 20),
                      "max": (3, 4, 5), "avg": (3, 5, 5), "gap": (3,), "up": (3, 18, 30)}


def test_conv2d_non_fusable_activation():
    m = Sequential([Conv2D(2, 1, activation="gelu", use_bias=False, name="c")])
    m.build(input_shape=(1, 2, 2), random_state=0)
    m.parameters()["c.weight"][:] = 1.0
    x = np.array([[[[0.5, -1.0], [2.0, 0.0]]]], dtype=np.float32)
    from math import erf, sqrt
    gelu = np.vectorize(lambda v: 0.5 * v * (1 + erf(v / sqrt(2))))
    np.testing.assert_allclose(m.forward(x)[0, 1], gelu(x[0, 0]), rtol=1e-5, atol=1e-6)


def test_batchnorm_on_images():
    """BatchNorm's default axis is the channel axis of NCHW images: in
    training each channel of the output has mean 0 and variance 1 over
    (batch, H, W)."""
    rng = np.random.default_rng(1)
    m = Sequential([BatchNorm()]).build(input_shape=(3, 4, 5), random_state=0)
    x = (rng.standard_normal((6, 3, 4, 5)) * [[[2.0]], [[0.5]], [[3.0]]] + 4).astype(np.float32)
    y = m.forward(x, training=True)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, atol=1e-3)


@pytest.mark.parametrize("filters, stride, projected", [(4, 1, False), (8, 1, True),
                                                        (4, 2, True)])
def test_residual_block(filters, stride, projected):
    x = Input((4, 6, 5))
    y = residual_block(x, filters, stride=stride, name="rb")
    m = Model(x, y).build(random_state=0)
    names = set(m.parameters())
    assert ("rb.proj.weight" in names) == projected
    out = m.forward(np.random.default_rng(0).standard_normal((2, 4, 6, 5)), training=True)
    assert out.shape == (2, filters, 6 // stride if stride == 1 else 3, 5 if stride == 1 else 3)
    assert out.min() >= 0  # ends in ReLU
    if not projected:
        # with the residual branch silenced (gamma 0, beta 0) the block is relu(x)
        m.parameters()["rb.bn2.gamma"][:] = 0
        xin = np.random.default_rng(1).standard_normal((2, 4, 6, 5)).astype(np.float32)
        np.testing.assert_allclose(m.forward(xin, training=True), np.maximum(xin, 0), atol=1e-6)


def test_residual_network_trains():
    """A network of two residual blocks learns which channel has the larger
    mean (running statistics at inference)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 2, 6, 6)).astype(np.float32)
    y = (X[:, 0].mean(axis=(1, 2)) > X[:, 1].mean(axis=(1, 2))).astype(np.int64)
    x = Input((2, 6, 6))
    h = residual_block(Conv2D(8, 3, padding=1, activation="relu")(x), 8)
    h = residual_block(h, 16, stride=2)
    out = Dense(2)(GlobalAvgPool2D()(h))
    m = Model(x, out).build(random_state=0).compile("softmax_cross_entropy", "adam",
                                                    learning_rate=0.01)
    m.fit(X, y, epochs=20, batch_size=16)
    assert np.mean(m.forward(X).argmax(1) == y) > 0.85


def test_cnn_digits():
    """The small CNN of the issue reaches > 95% test accuracy on digits."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    m = Sequential([
        Reshape((1, 8, 8)),
        Conv2D(16, 3, padding="same", activation="relu"),
        MaxPool2D(2),
        Conv2D(32, 3, padding="same", activation="relu"),
        Flatten(),
        Dense(10),
    ]).build(input_shape=(64,), random_state=0)
    m.compile("softmax_cross_entropy", "adam", learning_rate=3e-3)
    m.fit(Xtr, ytr, epochs=12, batch_size=32)
    acc = float(np.mean(m.predict(Xte).argmax(1) == yte))
    assert acc > 0.95, acc


def test_upsampling_and_transpose_autoencoder_shapes():
    m = Sequential([Conv2D(4, 3, stride=2, padding=1, activation="relu"),
                    Conv2DTranspose(4, 3, stride=2, padding=1, output_padding=1,
                                    activation="relu"),
                    UpSampling2D(2), AvgPool2D(2), Conv2D(1, 1), Activation("sigmoid")])
    m.build(input_shape=(1, 8, 8), random_state=0)
    assert m.forward(np.zeros((2, 1, 8, 8))).shape == (2, 1, 8, 8)
