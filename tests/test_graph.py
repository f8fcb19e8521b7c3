"""The core's graph: order, shapes, the sum over consumers, memory, errors."""

import numpy as np
import pytest

from dagnet import _core


def linear_graph(n_in=3, units=2, act="identity"):
    g = _core.Graph()
    x = g.add_input((n_in,))
    y = g.add_node("linear", [x], units=units, act=act)
    g.set_outputs([y])
    return g, x, y


def test_cycle_through_core_api_is_value_error():
    g = _core.Graph()
    x = g.add_input((3,))
    a = g.add_node("scale", [x], scale=2.0)
    b = g.add_node("add", [a, x])
    g.set_input(a, 0, b)  # a reads b, b reads a
    g.set_outputs([b])
    with pytest.raises(ValueError, match="cycle"):
        g.compile()


def test_self_loop_is_value_error():
    g = _core.Graph()
    x = g.add_input((3,))
    a = g.add_node("scale", [x])
    g.set_input(a, 0, a)
    with pytest.raises(ValueError, match="acyclic"):
        g.compile()


def test_shape_mismatch_names_both_ends():
    g = _core.Graph()
    x = g.add_input((3,))
    y = g.add_input((4,))
    g.set_name(x, "left")
    g.set_name(y, "right")
    s = g.add_node("add", [x, y])
    g.set_name(s, "joiner")
    with pytest.raises(ValueError) as e:
        g.compile()
    msg = str(e.value)
    assert "left" in msg and "right" in msg and "joiner" in msg


def test_dangling_input_id_is_value_error():
    g = _core.Graph()
    g.add_input((3,))
    with pytest.raises(ValueError, match="does not exist"):
        g.add_node("scale", [5])


def test_topological_order_follows_edges_not_insertion():
    g = _core.Graph()
    x = g.add_input((2,))
    a = g.add_node("scale", [x], scale=2.0)
    b = g.add_node("scale", [x], scale=3.0)
    g.set_input(a, 0, b)  # a now reads b, which was added after it
    g.set_outputs([a])
    g.compile()
    order = g.order()
    assert order.index(b) < order.index(a)
    (out,) = g.forward([np.ones((1, 2), np.float32)])
    np.testing.assert_allclose(out, 6.0)


def test_node_consumed_twice_gets_sum_of_gradients():
    # y = x W; out = 2 y + 3 y: the gradient reaching y is 5 G (seed 000, section 4)
    g = _core.Graph()
    x = g.add_input((3,))
    y = g.add_node("linear", [x], units=4, use_bias=False)
    a = g.add_node("scale", [y], scale=2.0)
    b = g.add_node("scale", [y], scale=3.0)
    out = g.add_node("add", [a, b])
    g.set_outputs([out])
    g.compile(seed=3)
    (_, _, W, dW, _), = g.params()
    X = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    G = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    (o,) = g.forward([X], grad=True)
    np.testing.assert_allclose(o, 5 * X @ W, rtol=1e-5)
    (dX,) = g.backward([G])
    np.testing.assert_allclose(dW, X.T @ (5 * G), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dX, 5 * G @ W.T, rtol=1e-4, atol=1e-5)


def test_every_backward_starts_its_gradients_anew():
    # dense layers write the gradients no one wrote before them in a backward
    # (their dW, db and the first gradient of their input) instead of adding
    # to zeroed buffers: a second backward with other upstream gradients must
    # give what it gives on its own, nothing of the first one left
    g = _core.Graph()
    x = g.add_input((3,))
    h = g.add_node("linear", [x], units=5, act="relu")
    a = g.add_node("linear", [h], units=2)
    b = g.add_node("linear", [h], units=2, act="tanh")
    out = g.add_node("add", [a, b])
    g.set_outputs([out])
    g.compile(seed=4)
    rng = np.random.default_rng(2)
    X = rng.standard_normal((7, 3)).astype(np.float32)
    G1, G2 = (rng.standard_normal((7, 2)).astype(np.float32) for _ in range(2))

    def grads(G):
        g.forward([X], grad=True)
        (dX,) = g.backward([G])
        return [dX.copy()] + [p[3].copy() for p in g.params()]

    first = grads(G2)
    grads(G1)
    again = grads(G2)
    assert len(first) == 7
    for u, v in zip(first, again):
        np.testing.assert_array_equal(u, v)


def test_same_node_twice_in_one_op():
    g = _core.Graph()
    x = g.add_input((3,))
    out = g.add_node("mul", [x, x])
    g.set_outputs([out])
    g.compile()
    X = np.array([[1.0, -2.0, 3.0]], np.float32)
    (o,) = g.forward([X], grad=True)
    np.testing.assert_allclose(o, X * X)
    (dX,) = g.backward([np.ones_like(X)])
    np.testing.assert_allclose(dX, 2 * X)


def test_params_are_writable_views_seen_by_next_forward():
    g, x, y = linear_graph()
    g.compile(seed=0)
    params = {name: value for name, _, value, _, _ in g.params()}
    W, b = params[f"linear_{y}.weight"], params[f"linear_{y}.bias"]
    W[...] = np.arange(6, dtype=np.float32).reshape(3, 2)
    b[...] = [1.0, -1.0]
    (o,) = g.forward([np.ones((2, 3), np.float32)])
    np.testing.assert_allclose(o, [[7.0, 8.0], [7.0, 8.0]])


def test_memory_plan_reuses_buffers_in_inference():
    g = _core.Graph()
    h = g.add_input((64,))
    for _ in range(10):
        h = g.add_node("linear", [h], units=64, act="relu")
    g.set_outputs([h])
    g.compile()
    X = np.ones((100, 64), np.float32)
    g.forward([X])
    infer = g.activation_bytes
    per_buffer = 100 * 64 * 4
    assert infer <= 3 * per_buffer  # input, and two buffers ping-ponging
    g.forward([X], training=True, grad=True)
    assert g.activation_bytes > infer  # training keeps what backward needs


def test_allocation_too_large_is_memory_error():
    g = _core.Graph()
    x = g.add_input((2_000_000,))
    g.add_node("linear", [x], units=2_000_000)
    with pytest.raises(MemoryError):
        g.compile()


def test_activation_too_large_is_memory_error():
    g, _, _ = linear_graph(4, 1 << 20)
    g.compile()
    X = np.zeros((1, 4), np.float32)
    with pytest.raises(MemoryError):
        g.forward([np.broadcast_to(X, (1 << 22, 4))])


def test_zero_features_rejected():
    g = _core.Graph()
    x = g.add_input((0,))
    g.add_node("linear", [x], units=3)
    with pytest.raises(ValueError, match="0 features"):
        g.compile()


def test_empty_batch_gives_empty_output():
    g, _, _ = linear_graph()
    g.compile()
    (o,) = g.forward([np.zeros((0, 3), np.float32)])
    assert o.shape == (0, 2)
    assert g.predict([np.zeros((0, 3), np.float32)]).shape == (0, 2)


def test_wrong_input_shape_is_value_error():
    g, _, _ = linear_graph()
    g.compile()
    with pytest.raises(ValueError, match=r"\(n_samples, 3\)"):
        g.forward([np.zeros((2, 4), np.float32)])
    with pytest.raises(ValueError, match="inputs"):
        g.forward([])


def test_run_before_compile_and_backward_before_forward():
    g, _, _ = linear_graph()
    with pytest.raises(RuntimeError, match="compile"):
        g.forward([np.zeros((1, 3), np.float32)])
    g.compile()
    g.forward([np.zeros((1, 3), np.float32)])
    with pytest.raises(RuntimeError, match=r"grad=True"):
        g.backward()


def test_nodes_cannot_be_added_after_compile():
    g, x, _ = linear_graph()
    g.compile()
    with pytest.raises(RuntimeError, match="compiled"):
        g.add_node("scale", [x])


def test_unknown_names_list_the_valid_ones():
    g = _core.Graph()
    x = g.add_input((3,))
    with pytest.raises(ValueError, match="'relu'"):
        g.add_node("activation", [x], act="relux")
    with pytest.raises(ValueError, match="unknown op"):
        g.add_node("convolve", [x])
    with pytest.raises(TypeError, match="unknown node setting"):
        g.add_node("scale", [x], scale_factor=2)


def test_unfusable_activation_in_linear_is_rejected():
    g = _core.Graph()
    x = g.add_input((3,))
    g.add_node("linear", [x], units=2, act="gelu")
    with pytest.raises(ValueError, match="separate activation"):
        g.compile()


def test_run_count_keys_the_training_draws():
    """Dropout's masks are keyed by the graph's run count: a graph rebuilt
    with the same parameters and given the count back draws the same masks,
    so training resumes bit for bit after a pickle."""
    def graph():
        g = _core.Graph()
        x = g.add_input((64,))
        g.set_outputs([g.add_node("dropout", [x], rate=0.5)])
        g.compile(7)
        return g

    X = np.ones((4, 64), np.float32)
    a = graph()
    assert a.run_count == 0
    a.forward([X], training=True)
    a.forward([X], training=True)
    assert a.run_count == 2
    third = a.forward([X], training=True)[0]
    b = graph()
    b.run_count = 2
    np.testing.assert_array_equal(b.forward([X], training=True)[0], third)
    c = graph()
    assert not np.array_equal(c.forward([X], training=True)[0], third)
    for bad in (-1, 2**64, 1.5, True):
        with pytest.raises(ValueError, match="run_count"):
            b.run_count = bad
