"""The dagnet.nn API: building, forward/backward, parameters, input checks."""

import numpy as np
import pytest

from dagnet.nn import (Activation, Add, BatchNorm, Concat, Dense, Dropout, Flatten, Input,
                       LayerNorm, Model, Multiply, Reshape, Sequential, Slice, Split,
                       Subtract)


def test_sequential_forward_matches_numpy():
    model = Sequential([Dense(5, activation="tanh"), Dense(3)]).build(input_shape=(4,),
                                                                       random_state=0)
    p = model.parameters()
    names = sorted(p)
    assert len(names) == 4
    X = np.random.default_rng(0).standard_normal((7, 4))
    d1, d2 = model.layers
    W1, b1 = p[f"{d1.name}.weight"], p[f"{d1.name}.bias"]
    W2, b2 = p[f"{d2.name}.weight"], p[f"{d2.name}.bias"]
    expect = np.tanh(X @ W1 + b1) @ W2 + b2
    np.testing.assert_allclose(model.forward(X), expect, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.predict(X), expect, rtol=1e-5, atol=1e-5)


def test_backward_returns_input_gradient_and_fills_gradients():
    model = Sequential([Dense(6, activation="sigmoid"), Dense(2)]).build(input_shape=(3,),
                                                                          random_state=1)
    X = np.random.default_rng(0).standard_normal((4, 3))
    G = np.random.default_rng(1).standard_normal((4, 2))
    p = {k: v.astype(np.float64) for k, v in model.parameters().items()}
    d1, d2 = model.layers
    W1, b1, W2 = p[f"{d1.name}.weight"], p[f"{d1.name}.bias"], p[f"{d2.name}.weight"]
    model.forward(X)
    dX = model.backward(G)
    h = 1 / (1 + np.exp(-(X @ W1 + b1)))
    dh = G @ W2.T * h * (1 - h)
    np.testing.assert_allclose(dX, dh @ W1.T, rtol=1e-4, atol=1e-5)
    grads = model.gradients()
    np.testing.assert_allclose(grads[f"{d2.name}.weight"], h.T @ G, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grads[f"{d1.name}.bias"], dh.sum(0), rtol=1e-4, atol=1e-5)


def test_functional_dag_with_two_inputs():
    a, b = Input((3,), name="a"), Input((2,), name="b")
    h = Concat()([Dense(4, activation="relu")(a), Dense(4)(b)])
    s = Add()([Dense(5)(h), Dense(5)(h)])
    out = Dense(1)(Multiply()([s, Subtract()([s, Dense(5)(a)])]))
    model = Model([a, b], out).build(random_state=0)
    rng = np.random.default_rng(0)
    xa, xb = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    y = model.forward([xa, xb])
    assert y.shape == (6, 1)
    ga, gb = model.backward(np.ones((6, 1)))
    assert ga.shape == (6, 3) and gb.shape == (6, 2)
    # finite-difference check of d sum(y) / d xa[0, 0]
    eps = 1e-2
    xp, xm = xa.copy(), xa.copy()
    xp[0, 0] += eps
    xm[0, 0] -= eps
    num = (model.forward([xp, xb]).sum() - model.forward([xm, xb]).sum()) / (2 * eps)
    np.testing.assert_allclose(ga[0, 0], num, rtol=2e-2, atol=2e-3)


def test_layers_of_every_kind_build_and_run():
    x = Input((2, 6))
    h = LayerNorm()(Dense(8, activation="gelu")(x))
    h = Flatten()(Dropout(0.3)(h))
    h = BatchNorm()(Dense(12, activation="silu")(h))
    h = Reshape((3, 4))(Activation("elu")(h))
    out = Dense(3, activation="softmax")(h)
    model = Model(x, out).build(random_state=0)
    y = model.forward(np.random.default_rng(0).standard_normal((5, 2, 6)))
    assert y.shape == (5, 3, 3)
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-5)
    model.forward(np.ones((5, 2, 6)), training=True)
    model.backward(np.ones((5, 3, 3)))


def test_shape_mismatch_names_both_layers():
    a, b = Input((3,)), Input((4,))
    da, db = Dense(5, name="left_dense"), Dense(6, name="right_dense")
    out = Add(name="joiner")([da(a), db(b)])
    with pytest.raises(ValueError) as e:
        Model([a, b], out).build()
    assert "left_dense" in str(e.value) and "right_dense" in str(e.value)


@pytest.mark.parametrize("convert", [
    lambda X: X.astype(np.float64),
    lambda X: X.astype(np.int64),
    lambda X: np.asfortranarray(X),
    lambda X: X.tolist(),
])
def test_inputs_of_other_dtypes_and_layouts_are_accepted(convert):
    model = Sequential([Dense(3)]).build(input_shape=(4,), random_state=0)
    X = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.testing.assert_allclose(model.forward(convert(X)), model.forward(X), rtol=1e-6)


def test_read_only_input_is_accepted():
    model = Sequential([Dense(3)]).build(input_shape=(4,), random_state=0)
    X = np.ones((2, 4))
    X.setflags(write=False)
    assert model.forward(X).shape == (2, 3)


@pytest.mark.parametrize("bad, match", [
    (np.full((2, 4), np.nan), "NaN"),
    (np.full((2, 4), np.inf), "NaN or infinity"),
    (np.ones(4), r"\(n_samples, 4\)"),
    (np.ones((2, 5)), r"\(n_samples, 4\)"),
    (np.ones((2, 4, 1)), r"\(n_samples, 4\)"),
])
def test_bad_inputs_raise_value_error_naming_the_shape(bad, match):
    model = Sequential([Dense(3)]).build(input_shape=(4,), random_state=0)
    with pytest.raises(ValueError, match=match):
        model.forward(bad)


def test_text_input_is_type_error():
    model = Sequential([Dense(3)]).build(input_shape=(1,), random_state=0)
    with pytest.raises(TypeError):
        model.forward(np.array([["a"], ["b"]]))


def test_parameters_are_writable_and_seen_by_next_forward():
    model = Sequential([Dense(2, use_bias=False)]).build(input_shape=(2,), random_state=0)
    (W,) = model.parameters().values()
    W[...] = [[1, 2], [3, 4]]
    np.testing.assert_allclose(model.forward(np.array([[1.0, 1.0]])), [[4.0, 6.0]])


def test_same_random_state_same_initial_parameters():
    def make(rs):
        m = Sequential([Dense(4), Dense(2)]).build(input_shape=(3,), random_state=rs)
        return [v.copy() for v in m.parameters().values()]
    a, b, c = make(5), make(5), make(6)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


def test_invalid_layer_settings_are_value_errors():
    with pytest.raises(ValueError, match="units"):
        Sequential([Dense(0)]).build(input_shape=(3,))
    with pytest.raises(ValueError, match="unknown activation"):
        Sequential([Dense(3, activation="swish2")]).build(input_shape=(3,))
    with pytest.raises(ValueError, match="rate"):
        Sequential([Dropout(1.5)]).build(input_shape=(3,))
    with pytest.raises(ValueError, match="input_shape"):
        Sequential([Dense(3)]).build()
    with pytest.raises(RuntimeError, match="build"):
        Sequential([Dense(3)]).forward(np.ones((1, 3)))


def test_dropout_only_in_training_and_deterministic():
    model = Sequential([Dropout(0.5)]).build(input_shape=(1000,), random_state=0)
    X = np.ones((4, 1000))
    np.testing.assert_array_equal(model.forward(X), X)
    y = model.forward(X, training=True)
    kept = y != 0
    assert 0.4 < kept.mean() < 0.6
    np.testing.assert_allclose(y[kept], 2.0)


def test_batchnorm_inference_uses_running_statistics():
    model = Sequential([BatchNorm(momentum=1.0)]).build(input_shape=(3,), random_state=0)
    X = np.random.default_rng(0).standard_normal((50, 3)) * 4 + 2
    y = model.forward(X, training=True)
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(0), 1, atol=1e-3)
    p = model.parameters()
    mean = [v for k, v in p.items() if k.endswith("running_mean")][0]
    np.testing.assert_allclose(mean, X.mean(0), rtol=1e-5)
    z = model.forward(X)  # inference: running var is unbiased, so close to but not 1
    np.testing.assert_allclose(z.std(0), np.sqrt(49 / 50), rtol=1e-3)


def test_split_and_slice_route_gradients_to_their_parts():
    x = Input((7,))
    a, b, c = Split(x, [2, 3, 2])
    out = Concat()([c, Slice(1, None)(a), b])
    model = Model(x, out).build(random_state=0)
    X = np.arange(14, dtype=np.float32).reshape(2, 7)
    y = model.forward(X)
    np.testing.assert_array_equal(y, np.concatenate([X[:, 5:], X[:, 1:2], X[:, 2:5]], axis=1))
    G = np.random.default_rng(0).standard_normal(y.shape)
    dX = model.backward(G)
    expect = np.zeros_like(X)
    expect[:, 5:] = G[:, :2]
    expect[:, 1:2] = G[:, 2:3]
    expect[:, 2:5] = G[:, 3:]
    np.testing.assert_allclose(dX, expect, rtol=1e-6)


def test_core_split_builder():
    from dagnet import _core
    g = _core.Graph()
    x = g.add_input((2, 6))
    parts = g.add_split(x, 2, [1, 5])
    g.set_outputs(parts)
    g.compile()
    X = np.random.default_rng(0).standard_normal((3, 2, 6)).astype(np.float32)
    p0, p1 = g.forward([X])
    np.testing.assert_array_equal(p0, X[:, :, :1])
    np.testing.assert_array_equal(p1, X[:, :, 1:])
    g2 = _core.Graph()
    x2 = g2.add_input((4,))
    g2.add_split(x2, -1, [4, 3])
    with pytest.raises(ValueError, match="empty"):
        g2.compile()
