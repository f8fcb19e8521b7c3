"""Bad inputs to the dagnet.nn API (Model, Sequential, layers) and to the
binding under it: each is refused with an error that says what was wrong and
what to do, or gives the right result. Cases that used to crash the
interpreter run in a fresh one, so that a regression fails its test instead
of killing the run."""

import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from dagnet import _core
from dagnet.nn import (Add, BatchNorm, Conv2D, Dense, Flatten, Input, LayerNorm, MaxPool2D, Model,
                       Sequential, Split, UpSampling2D)


def run_isolated(code):
    """Run code in a fresh interpreter; returns its stdout. A crash there
    (a signal, a non-zero exit) fails the calling test."""
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, f"exit status {r.returncode}; stderr:\n{r.stderr[-3000:]}"
    return r.stdout


def dense_model(units=5, width=4, seed=0):
    return Sequential([Dense(units)]).build(input_shape=(width,), random_state=seed)


def compiled(loss="squared_error", units=2):
    return dense_model(units).compile(loss, "sgd", learning_rate=0.01)


# --- 1. backward's gradient must match the last forward's output ---------------------------------

def test_backward_of_a_tiny_gradient_after_a_large_batch_is_refused():
    # a (1, 1) gradient after a (100000, 4) input through Dense(1000) read far
    # out of bounds and killed the interpreter
    out = run_isolated("""
        import numpy as np
        from dagnet.nn import Dense, Sequential
        m = Sequential([Dense(1000)]).build(input_shape=(4,), random_state=0)
        m.forward(np.ones((100000, 4), np.float32))
        try:
            m.backward(np.ones((1, 1)))
        except ValueError as e:
            print("refused:", e)
        """)
    assert "refused: grad_output must have shape (100000, 1000)" in out


@pytest.mark.parametrize("grad_shape", [(4096, 5), (10,), (1, 1), (2, 5, 1), (2, 4), ()])
def test_backward_needs_the_shape_of_the_forward_output(grad_shape):
    m = dense_model()
    m.forward(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"grad_output must have shape \(2, 5\).*got "
                                         + re_shape(grad_shape)):
        m.backward(np.ones(grad_shape))


def re_shape(shape):
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


def test_backward_before_forward_and_after_predict_is_refused():
    m = dense_model()
    with pytest.raises(RuntimeError, match=r"call forward\(X\) before backward"):
        m.backward(np.ones((2, 5)))
    m.forward(np.ones((2, 4)))
    m.predict(np.ones((3, 4)))  # the last run is no longer the forward
    with pytest.raises(RuntimeError, match=r"call forward\(X\) before backward"):
        m.backward(np.ones((2, 5)))


def test_backward_with_the_right_shape_still_works():
    m = dense_model()
    X = np.random.default_rng(0).standard_normal((3, 4))
    m.forward(X)
    W = m.parameters()[f"{m.layers[0].name}.weight"]
    np.testing.assert_allclose(m.backward(np.ones((3, 5))), np.ones((3, 5)) @ W.T, rtol=1e-5)
    np.testing.assert_array_equal(m.backward(None), np.zeros((3, 4)))  # None: a zero gradient


def test_backward_of_a_model_with_two_outputs_checks_each_gradient():
    x = Input((4,))
    m = Model(x, [Dense(2)(x), Dense(3)(x)]).build(random_state=0)
    m.forward(np.ones((2, 4)))
    with pytest.raises(ValueError, match="the model has 2 outputs; give a list of 2"):
        m.backward([np.ones((2, 2))])
    with pytest.raises(ValueError, match=r"grad_output\[1\] must have shape \(2, 3\)"):
        m.backward([np.ones((2, 2)), np.ones((2, 2))])
    assert m.backward([np.ones((2, 2)), None]).shape == (2, 4)


def test_graph_backward_checks_count_shape_and_state():
    # the binding read grad_outputs[k] past the end of a short list (a crash),
    # and handed the core gradients of any size
    out = run_isolated("""
        import numpy as np
        from dagnet import _core
        g = _core.Graph()
        x = g.add_input((4,))
        g.add_node("linear", [x], units=3)
        g.compile(0)
        for case, grads in [("before forward", None), ("short list", []),
                            ("long list", [None, None]), ("wrong shape", [np.ones((7, 3))]),
                            ("an array, not a list", np.ones((2, 3)))]:
            if case != "before forward":
                g.forward([np.ones((2, 4))], grad=True)
            try:
                g.backward(grads)
            except (ValueError, TypeError, RuntimeError) as e:
                print(case, "->", type(e).__name__, e)
        g.forward([np.ones((2, 4))], grad=True)
        print("right shape ->", g.backward([np.ones((2, 3))])[0].shape)
        """)
    assert "before forward -> RuntimeError backward needs a forward(..., grad=True)" in out
    assert "short list -> ValueError the graph has 1 output(s) but 0 gradient(s)" in out
    assert "long list -> ValueError the graph has 1 output(s) but 2 gradient(s)" in out
    assert "wrong shape -> ValueError grad_outputs[0] must have shape (2, 3)" in out
    assert "an array, not a list -> TypeError grad_outputs must be a list" in out
    assert "right shape -> (2, 4)" in out


def test_backward_after_a_forward_that_failed_is_refused():
    g = _core.Graph()
    x = g.add_input((1,))
    g.add_node("linear", [x], units=1 << 20)
    g.compile(0)
    g.forward([np.ones((2, 1))], grad=True)
    with pytest.raises(MemoryError):
        g.forward([np.ones((1 << 20, 1))], grad=True)  # 2^40 outputs: no plan
    with pytest.raises(RuntimeError, match="grad=True"):
        g.backward()


def test_predict_of_an_output_that_does_not_exist():
    g = dense_model().graph
    with pytest.raises(ValueError, match=r"output 5 does not exist: the graph has 1 output"):
        g.predict([np.ones((2, 4))], k=5)


# --- 2. batch sizes and epochs -------------------------------------------------------------------

BAD_COUNTS = [0, -5, 2.5, True, "8", None]


@pytest.mark.parametrize("batch_size", BAD_COUNTS)
def test_predict_refuses_a_batch_size_that_is_not_a_positive_int(batch_size):
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        dense_model().predict(np.ones((3, 4)), batch_size=batch_size)


@pytest.mark.parametrize("batch_size", BAD_COUNTS)
def test_fit_and_train_epoch_refuse_a_bad_batch_size(batch_size):
    m = compiled()
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        m.fit(np.ones((4, 4)), np.ones((4, 2)), batch_size=batch_size)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        m.train_epoch(np.ones((4, 4)), np.ones((4, 2)), batch_size=batch_size)


@pytest.mark.parametrize("epochs", [0, -2, 2.7, "3"])
def test_fit_refuses_epochs_that_are_not_a_positive_int(epochs):
    m = compiled()
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        m.fit(np.ones((4, 4)), np.ones((4, 2)), epochs=epochs)
    assert m.history_ == []


def test_numpy_integers_are_accepted_as_counts():
    m = compiled()
    m.fit(np.ones((4, 4)), np.ones((4, 2)), epochs=np.int64(2), batch_size=np.int32(2))
    assert len(m.history_) == 2
    assert m.predict(np.ones((3, 4)), batch_size=np.int64(2)).shape == (3, 2)


# --- 3. Split sizes must add up to the axis ------------------------------------------------------

@pytest.mark.parametrize("sizes", [[2, 3], [4, 4], [6, 1]])
def test_split_sizes_that_do_not_add_up_are_refused_at_build(sizes):
    x = Input((6,))
    parts = Split(x, sizes, name="sp")
    model = Model(x, Add()([Dense(2)(p) for p in parts]))
    with pytest.raises(ValueError, match=rf"sp: the part sizes {re_list(sizes)} add up to "
                                         rf"{sum(sizes)}, but axis -1 of the input "
                                         rf"\(batch, 6\) has length 6"):
        model.build(random_state=0)


def re_list(v):
    return str(list(v)).replace("[", r"\[").replace("]", r"\]")


def test_split_of_one_part_alone_is_checked_too():
    x = Input((3, 6))
    a, _ = Split(x, [1, 1], axis=1, name="sp")
    with pytest.raises(ValueError, match=r"add up to 2, but axis 1 of the input \(batch, 3, 6\)"):
        Model(x, a).build(random_state=0)


def test_split_that_adds_up_works():
    x = Input((6,))
    a, b = Split(x, [2, 4])
    m = Model(x, [a, b]).build(random_state=0)
    X = np.arange(12.0).reshape(2, 6)
    pa, pb = m.forward(X)
    np.testing.assert_array_equal(pa, X[:, :2])
    np.testing.assert_array_equal(pb, X[:, 2:])


@pytest.mark.parametrize("sizes", [[2, 0], [2.5, 3.5], [-1, 7], "ab"])
def test_split_sizes_must_be_positive_ints(sizes):
    with pytest.raises(ValueError, match="part sizes must be an int or a tuple of ints >= 1"):
        Split(Input((6,)), sizes)


# --- 4. a layer applied to several inputs --------------------------------------------------------

def test_a_dense_layer_shared_by_inputs_of_different_widths_is_refused():
    d = Dense(3, name="shared")
    a, b = Input((4,)), Input((6,))
    with pytest.raises(ValueError, match=r"shared \(linear\): it shares the parameters of "
                                         r"'shared'.*weight has shape \(4, 3\), but its own "
                                         r"input needs a weight of shape \(6, 3\).*same size"):
        Model([a, b], Add()([d(a), d(b)])).build(random_state=0)


def test_a_layer_applied_to_its_own_output_of_another_width_is_refused():
    d = Dense(2)
    x = Input((4,))
    with pytest.raises(ValueError, match=r"weight has shape \(4, 2\), but its own input needs "
                                         r"a weight of shape \(2, 2\)"):
        Model(x, d(d(x))).build(random_state=0)


def test_a_dense_layer_shared_by_inputs_of_one_width_shares_its_weights():
    """y = (x1 W + b) + (x2 W + b): one weight and one bias, and with an output
    gradient of ones dW = (x1 + x2)^T 1 and db = 2 n (hand-worked)."""
    d = Dense(3, name="shared")
    a, b = Input((4,)), Input((4,))
    m = Model([a, b], Add()([d(a), d(b)])).build(random_state=0)
    assert sorted(m.parameters()) == ["shared.bias", "shared.weight"]
    rng = np.random.default_rng(0)
    X1, X2 = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    W, bias = d.get_weights()
    np.testing.assert_allclose(m.forward([X1, X2]), (X1 + X2) @ W + 2 * bias, rtol=1e-5,
                               atol=1e-5)
    m.backward(np.ones((5, 3)))
    grads = m.gradients()
    np.testing.assert_allclose(grads["shared.weight"], np.tile((X1 + X2).sum(0)[:, None], 3),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grads["shared.bias"], np.full(3, 10.0))
    # training moves the one weight both applications read; a copy keeps the sharing
    m.compile("squared_error", "sgd", learning_rate=0.1).fit([X1, X2], np.zeros((5, 3)), epochs=2)
    W2, b2 = d.get_weights()
    assert not np.allclose(W2, W)
    np.testing.assert_allclose(m.predict([X1, X2]), (X1 + X2) @ W2 + 2 * b2, rtol=1e-5, atol=1e-5)
    copy = pickle.loads(pickle.dumps(m))
    assert sorted(copy.parameters()) == ["shared.bias", "shared.weight"]
    np.testing.assert_allclose(copy.predict([X1, X2]), m.predict([X1, X2]), rtol=1e-6)


def test_a_layer_used_twice_in_a_sequential_shares_its_weights():
    d = Dense(4)
    m = Sequential([d, d]).build(input_shape=(4,), random_state=0)
    W, b = d.get_weights()
    X = np.random.default_rng(0).standard_normal((3, 4))
    np.testing.assert_allclose(m.forward(X), (X @ W + b) @ W + b, rtol=1e-5, atol=1e-5)
    assert len(m.parameters()) == 2


# --- 5. weights given to set_weights -------------------------------------------------------------

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("built", [True, False])
def test_set_weights_refuses_nan_and_infinity(bad, built):
    d = Dense(2, name="d")
    model = Sequential([d]).build(input_shape=(4,), random_state=0) if built else None
    W = np.ones((4, 2))
    W[1, 1] = bad
    with pytest.raises(ValueError, match=r"weights\[0\] of layer 'd' holds NaN or infinite"):
        d.set_weights([W, np.zeros(2)])
    if model is not None:  # the model's weights are untouched
        assert np.isfinite(d.get_weights()[0]).all()


def test_set_weights_refuses_values_beyond_float32():
    d = Dense(2, name="d")
    model = Sequential([d]).build(input_shape=(4,), random_state=0)  # noqa: F841 (keeps d's model alive)
    with pytest.raises(ValueError, match="exceed float32's range"):
        d.set_weights([np.full((4, 2), 1e300), np.zeros(2)])


def test_set_weights_refuses_wrong_shapes_counts_and_types():
    d = Dense(2, name="d")
    model = Sequential([d]).build(input_shape=(4,), random_state=0)  # noqa: F841 (keeps d's model alive)
    with pytest.raises(ValueError, match=r"shapes \[\(4, 2\), \(2,\)\]; got \[\(4, 2\)\]"):
        d.set_weights([np.ones((4, 2))])
    with pytest.raises(ValueError, match=r"got \[\(2, 4\), \(2,\)\]"):
        d.set_weights([np.ones((2, 4)), np.ones(2)])
    with pytest.raises(ValueError, match=r"got \[\(4, 2\), \(2,\), \(2,\)\]"):
        d.set_weights([np.ones((4, 2)), np.ones(2), np.ones(2)])
    with pytest.raises(TypeError, match="set_weights takes a list of arrays"):
        d.set_weights(np.ones((4, 2)))
    with pytest.raises(TypeError, match="set_weights takes a list of arrays"):
        d.set_weights(None)
    with pytest.raises(TypeError, match=r"weights\[0\] of layer 'd' must hold numbers"):
        d.set_weights([np.full((4, 2), "a"), np.ones(2)])


def test_set_weights_copies_and_applies():
    d = Dense(2)
    m = Sequential([d]).build(input_shape=(4,), random_state=0)
    W, b = np.arange(8.0).reshape(4, 2), np.array([1, 2], np.float32)
    d.set_weights([W, b])
    W[...] = 0  # the layer holds a copy
    np.testing.assert_allclose(m.forward(np.ones((1, 4))), [[13, 18]])


# --- 6. sample weights ---------------------------------------------------------------------------

@pytest.mark.parametrize("weights, message", [
    (np.full(4, -1e6), "negative values"),
    (np.array([1.0, np.nan, 1.0, 1.0]), "NaN or infinity"),
    (np.array([1.0, np.inf, 1.0, 1.0]), "NaN or infinity"),
    (np.ones(3), r"one weight per sample, shape \(4,\); got shape \(3,\)"),
    (np.ones((2, 2)), r"one weight per sample, shape \(4,\); got shape \(2, 2\)"),
    (np.ones((4, 1)), r"one weight per sample, shape \(4,\); got shape \(4, 1\)"),
    (np.zeros(4), "all zero"),
    (np.full(4, 1e39), "float32's range"),
])
def test_fit_and_train_epoch_refuse_bad_sample_weights(weights, message):
    m = compiled()
    X, y = np.ones((4, 4)), np.ones((4, 2))
    with pytest.raises(ValueError, match=message):
        m.fit(X, y, sample_weight=weights)
    with pytest.raises(ValueError, match=message):
        m.train_epoch(X, y, sample_weight=weights)


def test_sample_weights_of_zero_and_a_scalar_are_accepted():
    m = compiled()
    X, y = np.ones((4, 4)), np.ones((4, 2))
    m.fit(X, y, sample_weight=np.array([0.0, 1.0, 0.0, 2.0]))
    m.fit(X, y, sample_weight=3.0)
    assert np.isfinite(m.history_).all()


# --- 7. finite values beyond float32's range -----------------------------------------------------

def test_forward_predict_and_fit_report_values_beyond_float32():
    m = compiled()
    big = np.full((2, 4), 1e39)
    for run in (m.forward, m.predict):
        with pytest.raises(ValueError, match="X holds values up to 1e\\+39.*float32's range"):
            run(big)
    with pytest.raises(ValueError, match="X holds values up to 1e\\+39.*float32's range"):
        m.fit(big, np.ones((2, 2)))
    with pytest.raises(ValueError, match="y holds values up to 1e\\+39.*float32's range"):
        m.fit(np.ones((2, 4)), np.full((2, 2), -1e39))


# --- 8. more bad inputs --------------------------------------------------------------------------

@pytest.mark.parametrize("layer", [BatchNorm(eps=0.0), LayerNorm(eps=0.0)])
def test_normalisation_with_eps_zero_is_refused(layer):
    # a constant feature has variance 0: eps = 0 divided it by 0 (NaN outputs)
    with pytest.raises(ValueError, match="eps is 0; it must be > 0"):
        Sequential([layer]).build(input_shape=(4,), random_state=0)


def test_binary_cross_entropy_needs_targets_in_0_1():
    m = dense_model(units=1).compile("binary_cross_entropy")
    with pytest.raises(ValueError, match="targets in \\[0, 1\\].*from 0 to 5"):
        m.fit(np.ones((4, 4)), np.array([0, 1, 2, 5]))
    m.fit(np.ones((4, 4)), np.array([0, 1, 0.25, 1]))


def test_poisson_needs_targets_of_at_least_0():
    m = dense_model(units=1).compile("poisson")
    with pytest.raises(ValueError, match="poisson takes targets >= 0.*down to -2"):
        m.fit(np.ones((4, 4)), np.array([0, 1, -2, 5]))


@pytest.mark.parametrize("y", [-np.eye(3)[[0, 1, 2, 0]], 5 * np.eye(3)[[0, 1, 2, 0]],
                               np.full((4, 3), 0.5)])
def test_softmax_cross_entropy_needs_labels_or_probabilities(y):
    m = dense_model(units=3).compile("softmax_cross_entropy")
    with pytest.raises(ValueError, match="values in \\[0, 1\\] that sum to 1 over the last axis"):
        m.fit(np.ones((4, 4)), y)
    m.fit(np.ones((4, 4)), np.eye(3)[[0, 1, 2, 0]])
    m.fit(np.ones((4, 4)), np.full((4, 3), 1 / 3))
    m.fit(np.ones((4, 4)), np.array([0, 1, 2, 0]))


@pytest.mark.parametrize("rate", ["x", None, np.nan, 1.0, -0.1])
def test_dropout_rate_must_be_a_number_in_0_1(rate):
    from dagnet.nn import Dropout
    with pytest.raises(ValueError, match="rate must be a number in \\[0, 1\\)"):
        Sequential([Dropout(rate)]).build(input_shape=(4,), random_state=0)


def test_an_initialiser_that_fails_says_why_once():
    # the context was formatted into the buffer it read from: a garbled message
    with pytest.raises(ValueError) as info:
        Sequential([Dense(2, kernel_scale=np.nan)]).build(input_shape=(4,), random_state=0)
    message = str(info.value)
    assert message.count("initialising") == 1
    assert message.startswith("initialising ") and "non-finite scale" in message


@pytest.mark.parametrize("shape", [(4, 5.5), "abc", (-1,), (True,), None])
def test_input_shapes_must_be_ints_of_at_least_0(shape):
    with pytest.raises(ValueError, match="an Input's shape .* must be an int or a tuple of "
                                         "ints >= 0"):
        Input(shape)


def test_numpy_integers_are_accepted_as_sizes():
    m = Sequential([Dense(np.int64(3)), Dense(np.int32(2))])
    assert m.build(input_shape=(np.int64(4),), random_state=0).forward(np.ones((1, 4))).shape \
        == (1, 2)
    c = Sequential([Conv2D(np.int64(2), 3, groups=np.int64(1))])
    assert c.build(input_shape=(1, 4, 4), random_state=0).forward(np.ones((1, 1, 4, 4))).shape \
        == (1, 2, 2, 2)


def test_the_same_input_twice_among_the_model_inputs_is_refused():
    x = Input((4,))
    with pytest.raises(ValueError, match="the same Input appears twice"):
        Model([x, x], Dense(2)(x))


def test_shapes_whose_element_count_overflows_are_refused():
    # Input((2^40, 2^40)) used to compile with a per-sample size of -1
    with pytest.raises(ValueError, match="more elements than a 64-bit count holds"):
        Sequential([Flatten(), Dense(2)]).build(input_shape=(2**40, 2**40), random_state=0)
    with pytest.raises(ValueError, match="more elements than a 64-bit count holds"):
        Sequential([UpSampling2D(2**31)]).build(input_shape=(1, 4, 4), random_state=0)


@pytest.mark.parametrize("layer", [Conv2D(1, 3, padding=2**62), Conv2D(1, 3, stride=2**62),
                                   Conv2D(1, 3, dilation=2**62), MaxPool2D(2**62),
                                   MaxPool2D(2, stride=2**62)])
def test_image_layers_refuse_sizes_whose_arithmetic_would_overflow(layer):
    with pytest.raises(ValueError, match="at most 2147483648|in \\[1, 2147483648\\]"):
        Sequential([layer]).build(input_shape=(1, 4, 4), random_state=0)


def test_node_settings_beyond_64_bits_are_refused():
    g = _core.Graph()
    x = g.add_input((4,))
    with pytest.raises(ValueError, match="node setting 'axis' = 1099511627776 is out of range"):
        g.add_node("softmax", [x], axis=2**40)
    with pytest.raises(ValueError, match="sizes of a shape must fit in 64 bits"):
        g.add_input((2**70,))


def test_empty_batches_give_empty_outputs():
    m = dense_model()
    assert m.forward(np.ones((0, 4))).shape == (0, 5)
    assert m.predict(np.ones((0, 4))).shape == (0, 5)
    with pytest.raises(ValueError, match="at least one sample"):
        compiled().fit(np.ones((0, 4)), np.ones((0, 2)))


def test_non_contiguous_and_integer_inputs_give_the_same_result():
    m = dense_model()
    X = np.arange(32).reshape(8, 4)
    expect = m.forward(X.astype(np.float32)[::2])
    np.testing.assert_array_equal(m.forward(np.asfortranarray(X)[::2]), expect)
    np.testing.assert_array_equal(m.forward(X[::2]), expect)


# --- binding entry points that take arrays -------------------------------------------------------

def test_binding_lists_of_the_wrong_length_are_refused():
    # each of these read past the end of a list and crashed the interpreter
    out = run_isolated("""
        import numpy as np
        from dagnet import _core
        f32 = lambda *s: np.ones(s, np.float32)
        cases = {
            "philox": lambda: _core.philox4x32([1, 2], 3),
            "no grads": lambda: _core.optim_step("sgd", [f32(3)], [], [[]], 1, lr=0.1),
            "no states": lambda: _core.optim_step("adam", [f32(3)], [f32(3)], [[]], 1, lr=0.1),
            "short state": lambda: _core.optim_step("adam", [f32(3)], [f32(3)],
                                                    [[f32(1), f32(1)]], 1, lr=0.1),
            "no decay": lambda: _core.optim_step("sgd", [f32(3)], [f32(3)], [[]], 1, decay=[],
                                                 lr=0.1),
            "0-d": lambda: _core.optim_step("sgd", [f32()], [f32()], [[]], 1, lr=0.1),
        }
        for name, call in cases.items():
            try:
                call()
            except ValueError as e:
                print(name, "->", e)
        """)
    assert "philox -> a Philox counter has 4 words, got 2" in out
    assert "no grads -> grads must hold one entry per parameter (1), got 0" in out
    assert "no states -> optimiser 'adam' keeps 2 state array(s) per parameter" in out
    assert "short state -> states[0]: each array must have the shape of its parameter" in out
    assert "no decay -> decay must hold one entry per parameter (1), got 0" in out
    assert "0-d -> params must hold C-contiguous float32 arrays of at least one dimension" in out


def test_sgemm_refuses_an_output_it_may_not_write():
    A, B = np.ones((2, 3)), np.ones((3, 4))
    C = np.zeros((2, 4), np.float32)
    C.setflags(write=False)
    for bad in (C, np.zeros((2, 4, 1), np.float32), np.zeros((2, 4), np.float32, order="F")):
        with pytest.raises(ValueError, match="C is written in place"):
            _core.sgemm(A, B, bad)


def test_augment_apply_refuses_angles_that_are_not_finite():
    with pytest.raises(ValueError, match="degrees must be finite"):
        _core.augment_apply(np.ones((2, 1, 4, 4)), False, np.nan, 0, 0)
