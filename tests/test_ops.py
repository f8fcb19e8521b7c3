"""Every op of the core against float64 numpy references: forward, finite-
difference gradients of every input and parameter, fast kernels against their
reference twins, one thread against two (tests/opcheck.py), and the errors
that building a graph with bad shapes or settings raises."""

import math

import numpy as np
import pytest

from dagnet import _core
from opcheck import check_op, run_op

SEEDS = [0, 1, 2]
SIZES = [1, 2, 3, 5]  # size 1 and odd sizes
FUSABLE = ["identity", "relu", "leaky_relu", "elu", "sigmoid", "tanh", "softplus"]
ALL_ACTS = FUSABLE + ["gelu", "silu"]
ACT_ALPHA = {"leaky_relu": 0.2, "elu": 1.3}
_erf = np.vectorize(math.erf)


def draw(rng, k, sizes=SIZES):
    """k sizes drawn from `sizes`."""
    return tuple(int(v) for v in rng.choice(sizes, size=k))


def normal(rng, shape, scale=1.0):
    return scale * rng.standard_normal(shape)


def act_np(name, x, alpha=None):
    """The activations of include/dagnet/ops.h in float64."""
    a = ACT_ALPHA.get(name, 0.01) if alpha is None else alpha
    sig = 1.0 / (1.0 + np.exp(-x))
    return {
        "identity": lambda: x,
        "relu": lambda: np.maximum(x, 0.0),
        "leaky_relu": lambda: np.where(x > 0, x, a * x),
        "elu": lambda: np.where(x > 0, x, a * np.expm1(np.minimum(x, 0.0))),
        "sigmoid": lambda: sig,
        "tanh": lambda: np.tanh(x),
        "softplus": lambda: np.logaddexp(0.0, x),
        "gelu": lambda: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),
        "silu": lambda: x * sig,
    }[name]()


def act_attrs(name):
    return {"act": name, **({"alpha": ACT_ALPHA[name]} if name in ACT_ALPHA else {})}


# --- linear ----------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS[:2])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("act", FUSABLE)
def test_linear(act, use_bias, seed):
    rng = np.random.default_rng(seed)
    n, n_in, units = draw(rng, 3)
    lead = draw(rng, int(rng.integers(0, 2)), [1, 3])  # optional leading per-sample axis
    X = normal(rng, (n,) + lead + (n_in,))
    params = {"bias": normal(rng, units, 0.5)} if use_bias else None

    def ref(xs, p):
        z = xs[0] @ p["weight"] + (p["bias"] if use_bias else 0.0)
        return act_np(act, z)

    _, _, pg = check_op("linear", [X], ref, dict(units=units, use_bias=use_bias, **act_attrs(act)),
                        params=params)
    assert sorted(pg) == (["bias", "weight"] if use_bias else ["weight"])


def test_linear_threads_large():
    rng = np.random.default_rng(3)
    X = normal(rng, (301, 67))
    check_op("linear", [X], lambda xs, p: np.tanh(xs[0] @ p["weight"] + p["bias"]),
             dict(units=129, act="tanh"), params={"bias": normal(rng, 129)}, fd=False)


def _dense_chain(units, act, use_bias, fan_out=False):
    """build(g, ids) and a float64 reference for x -> dense0 -> dense1 (units[0],
    units[1]); with fan_out, dense0's output also feeds dense2 (units[1]) and
    out = dense1 + dense2."""
    attrs = dict(use_bias=use_bias, **act_attrs(act))

    def build(g, ids):
        h = g.add_node("linear", ids, units=units[0], **attrs)
        g.set_name(h, "dense0")
        out = g.add_node("linear", [h], units=units[1], **attrs)
        g.set_name(out, "dense1")
        if fan_out:
            other = g.add_node("linear", [h], units=units[1], **attrs)
            g.set_name(other, "dense2")
            out = g.add_node("add", [out, other])
        return out

    def dense(x, p, name):
        return act_np(act, x @ p[name + ".weight"] + (p[name + ".bias"] if use_bias else 0.0))

    def ref(xs, p):
        h = dense(xs[0], p, "dense0")
        out = dense(h, p, "dense1")
        return out + dense(h, p, "dense2") if fan_out else out

    return build, ref


@pytest.mark.parametrize("fan_out", [False, True])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("act", ["relu", "tanh", "identity"])
def test_linear_chain_writes_fresh_gradients(act, use_bias, fan_out):
    # dense1's backward is the first to pass a gradient to dense0's output, so
    # it writes that gradient whole instead of adding to a zeroed buffer (with
    # fan_out, dense2 then adds to it); every dW and db is written whole too
    rng = np.random.default_rng(11)
    X = normal(rng, (5, 3))
    build, ref = _dense_chain((4, 3), act, use_bias, fan_out)
    check_op("linear", [X], ref, build=build)


def test_linear_chain_threads_large():
    # dZ of (301, 257): the pass computing dZ and db splits its column blocks
    # over the threads
    rng = np.random.default_rng(12)
    X = normal(rng, (301, 33))
    build, ref = _dense_chain((257, 129), "relu", True, fan_out=True)
    check_op("linear", [X], ref, build=build, fd=False)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_backward_reads_the_forward_inputs_after_they_are_dropped(dtype):
    # forward converts float64 inputs to float32 copies, and the caller may
    # drop its own arrays: backward must still see the forward's values
    rng = np.random.default_rng(26)
    X = normal(rng, (5, 3))
    G = normal(rng, (5, 4)).astype(np.float32)
    g = _core.Graph()
    x = g.add_input((3,))
    y = g.add_node("linear", [x], units=4)
    g.set_outputs([y])
    g.compile(seed=0)
    g.forward([X.astype(dtype).copy()], grad=True)
    junk = [np.full(X.shape, 7.0, dtype) for _ in range(20)]  # reuse freed memory
    g.backward([G])
    dW = g.params()[0][3]
    np.testing.assert_allclose(dW, X.T @ G, rtol=1e-5, atol=1e-5)
    assert len(junk) == 20


# --- matmul ----------------------------------------------------------------------------------

def _op(x, trans):
    return np.swapaxes(x, -1, -2) if trans else x


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("trans_a", [False, True])
def test_matmul_batched(trans_a, trans_b, seed):
    rng = np.random.default_rng(seed)
    n, m, k, p = draw(rng, 4)
    lead = draw(rng, int(rng.integers(0, 2)), [2, 3])
    A = normal(rng, (n,) + lead + ((k, m) if trans_a else (m, k)))
    B = normal(rng, (n,) + lead + ((p, k) if trans_b else (k, p)))
    check_op("matmul", [A, B], lambda xs, _: _op(xs[0], trans_a) @ _op(xs[1], trans_b),
             dict(trans_a=trans_a, trans_b=trans_b))


@pytest.mark.parametrize("seed", SEEDS[:2])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("trans_a", [False, True])
def test_matmul_shared_unbatched_b(trans_a, trans_b, seed):
    # B = sum over the batch of a graph input: an unbatched (k, p) matrix that
    # every matrix of A multiplies; its gradient sums over all of them
    rng = np.random.default_rng(10 + seed)
    n, m, k, p = draw(rng, 4)
    lead = draw(rng, int(rng.integers(0, 2)), [2, 3])
    A = normal(rng, (n,) + lead + ((k, m) if trans_a else (m, k)))
    Bs = normal(rng, (n,) + ((p, k) if trans_b else (k, p)))

    def build(g, ids):
        b = g.add_node("sum", [ids[1]], axis=0)
        return g.add_node("matmul", [ids[0], b], trans_a=trans_a, trans_b=trans_b)

    check_op("matmul", [A, Bs], lambda xs, _: _op(xs[0], trans_a) @ _op(xs[1].sum(0), trans_b),
             build=build)


def test_matmul_threads_large():
    rng = np.random.default_rng(4)
    A, B = normal(rng, (3, 2, 70, 90)), normal(rng, (3, 2, 110, 90))
    check_op("matmul", [A, B], lambda xs, _: xs[0] @ _op(xs[1], True), dict(trans_b=True),
             fd=False)


# --- add, sub, mul ---------------------------------------------------------------------------

BROADCAST_PAIRS = [((3, 1), (1, 4)), ((5,), (1,)), ((1,), (4,)), ((2, 3), (2, 3)),
                   ((2, 1, 4), (2, 3, 1)), ((), ())]
NP_BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply}


@pytest.mark.parametrize("seed", SEEDS[:2])
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=str)
@pytest.mark.parametrize("op", ["add", "sub", "mul"])
def test_binary_broadcasting(op, shapes, seed):
    rng = np.random.default_rng(seed)
    n = draw(rng, 1)[0]
    A, B = normal(rng, (n,) + shapes[0]), normal(rng, (n,) + shapes[1])
    check_op(op, [A, B], lambda xs, _: NP_BINARY[op](xs[0], xs[1]))


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("unbatched_first", [False, True])
@pytest.mark.parametrize("op", ["add", "sub", "mul"])
def test_binary_with_unbatched_operand(op, unbatched_first, keepdims):
    # the unbatched operand is the sum over the batch of a graph input; it
    # broadcasts against the batch of the other operand
    rng = np.random.default_rng(5)
    X, S = normal(rng, (3, 2, 4)), normal(rng, (3, 2, 1))

    def build(g, ids):
        s = g.add_node("sum", [ids[1]], axis=0, keepdims=keepdims)
        pair = [s, ids[0]] if unbatched_first else [ids[0], s]
        return g.add_node(op, pair)

    def ref(xs, _):
        s = xs[1].sum(0, keepdims=keepdims)
        return NP_BINARY[op](s, xs[0]) if unbatched_first else NP_BINARY[op](xs[0], s)

    check_op(op, [X, S], ref, build=build)


@pytest.mark.parametrize("op", ["add", "mul"])
def test_binary_threads_large(op):
    rng = np.random.default_rng(6)
    A, B = normal(rng, (40, 33, 1, 65)), normal(rng, (40, 1, 27, 65))
    check_op(op, [A, B], lambda xs, _: NP_BINARY[op](xs[0], xs[1]), fd=False)


# --- scale, broadcast, activation ----------------------------------------------------------

@pytest.mark.parametrize("scale", [-1.7, 0.5, 0.0])
def test_scale(scale):
    rng = np.random.default_rng(7)
    X = normal(rng, (3, 5, 2))
    check_op("scale", [X], lambda xs, _: scale * xs[0], dict(scale=scale))


@pytest.mark.parametrize("case", [((3, 1), (2, 3, 4)), ((1,), (5,)), ((4,), (3, 4)),
                                  ((2, 1), (2, 1)), ((), (3,))], ids=str)
def test_broadcast(case):
    src, to = case
    rng = np.random.default_rng(8)
    X = normal(rng, (3,) + src)
    pad = (3,) + (1,) * (len(to) - len(src)) + src  # size-1 axes after the batch axis
    check_op("broadcast", [X], lambda xs, _: np.broadcast_to(xs[0].reshape(pad), (3,) + to),
             dict(shape=to))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("act", ALL_ACTS)
def test_activation(act, seed):
    rng = np.random.default_rng(seed)
    X = normal(rng, (draw(rng, 1)[0], 3) + draw(rng, 1), 2.0)
    check_op("activation", [X], lambda xs, _: act_np(act, xs[0]), act_attrs(act))


@pytest.mark.parametrize("act", ALL_ACTS)
def test_activation_threads_large(act):
    rng = np.random.default_rng(9)
    X = normal(rng, (9, 4099), 3.0)
    check_op("activation", [X], lambda xs, _: act_np(act, xs[0]), act_attrs(act), fd=False)


def test_activation_extremes_stay_finite():
    # exp never overflows in sigmoid, softplus, elu, silu for large |x|
    X = np.array([[-100.0, -30.0, -1e-3, 0.0, 1e-3, 30.0, 100.0]])
    for act in ALL_ACTS:
        out, (gx,), _, _ = run_op("activation", [X], act_attrs(act),
                                  G=np.ones_like(X))
        np.testing.assert_allclose(out, act_np(act, X), rtol=1e-5, atol=1e-6, err_msg=act)
        assert np.all(np.isfinite(gx)), act


# --- softmax, log_softmax --------------------------------------------------------------------

def softmax_np(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax_np(x, axis):
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


@pytest.mark.parametrize("seed", SEEDS[:2])
@pytest.mark.parametrize("axis", [-1, 1, 2, 3, -2])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax(op, axis, seed):
    rng = np.random.default_rng(seed)
    X = normal(rng, (draw(rng, 1)[0],) + draw(rng, 3), 2.0)
    fn = softmax_np if op == "softmax" else log_softmax_np
    check_op(op, [X], lambda xs, _: fn(xs[0], axis), dict(axis=axis))


@pytest.mark.parametrize("axis", [-1, 1])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_threads_large_and_shifted(op, axis):
    rng = np.random.default_rng(11)
    X = normal(rng, (31, 70, 19), 3.0) + 500.0  # large logits: the max is subtracted first
    fn = softmax_np if op == "softmax" else log_softmax_np
    check_op(op, [X], lambda xs, _: fn(xs[0], axis), dict(axis=axis), fd=False)


# --- sum, mean -------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS[:2])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [1, -1, 2, 0, "all"])
@pytest.mark.parametrize("op", ["sum", "mean"])
def test_reduce(op, axis, keepdims, seed):
    rng = np.random.default_rng(seed)
    X = normal(rng, (draw(rng, 1)[0],) + draw(rng, 3))
    np_axis = tuple(range(1, X.ndim)) if axis == "all" else axis
    core_axis = _core.AXIS_ALL if axis == "all" else axis
    fn = np.sum if op == "sum" else np.mean
    out, _, _ = check_op(op, [X], lambda xs, _: fn(xs[0], axis=np_axis, keepdims=keepdims),
                         dict(axis=core_axis, keepdims=keepdims))
    if axis == 0:  # the reduction over the batch has no batch axis
        assert out.shape == ((1,) if keepdims else ()) + X.shape[1:]


@pytest.mark.parametrize("axis", [0, 1, 2, "all"])
@pytest.mark.parametrize("op", ["sum", "mean"])
def test_reduce_threads_large(op, axis):
    rng = np.random.default_rng(12)
    X = normal(rng, (23, 41, 77))
    np_axis = (1, 2) if axis == "all" else axis
    fn = np.sum if op == "sum" else np.mean
    check_op(op, [X], lambda xs, _: fn(xs[0], axis=np_axis),
             dict(axis=_core.AXIS_ALL if axis == "all" else axis), fd=False)


def test_reduce_node_shapes():
    g = _core.Graph()
    x = g.add_input((3, 4))
    nodes = {
        "sum0": g.add_node("sum", [x], axis=0),
        "sum0k": g.add_node("sum", [x], axis=0, keepdims=True),
        "mean_all": g.add_node("mean", [x], axis=_core.AXIS_ALL),
        "mean_allk": g.add_node("mean", [x], axis=_core.AXIS_ALL, keepdims=True),
        "sum-1": g.add_node("sum", [x], axis=-1),
        "sum1k": g.add_node("sum", [x], axis=1, keepdims=True),
    }
    g.set_outputs(list(nodes.values()))
    g.compile()
    shapes = {k: g.node_shape(v) for k, v in nodes.items()}
    assert shapes == {"sum0": ((3, 4), False), "sum0k": ((1, 3, 4), False),
                      "mean_all": ((), True), "mean_allk": ((1, 1), True),
                      "sum-1": ((3,), True), "sum1k": ((1, 4), True)}


# --- reshape, concat, slice ------------------------------------------------------------------

@pytest.mark.parametrize("case", [((3, 4), (-1,)), ((2, 6), (3, -1)), ((2, 3, 2), (6, 2)),
                                  ((4,), (2, 1, 2)), ((1,), ()), ((5, 1), (-1, 5))], ids=str)
def test_reshape(case):
    src, to = case
    rng = np.random.default_rng(13)
    X = normal(rng, (3,) + src)
    check_op("reshape", [X], lambda xs, _: xs[0].reshape((3,) + to), dict(shape=to))


@pytest.mark.parametrize("seed", SEEDS[:2])
@pytest.mark.parametrize("case", [(2, -1), (2, 1), (3, 1), (3, 2), (3, -2), (2, 3)], ids=str)
def test_concat(case, seed):
    k, axis = case
    rng = np.random.default_rng(seed)
    n = draw(rng, 1)[0]
    base = list(draw(rng, 3))
    ax = axis % 4 - 1  # per-sample axis
    xs = []
    for _ in range(k):
        shape = list(base)
        shape[ax] = draw(rng, 1)[0]
        xs.append(normal(rng, (n,) + tuple(shape)))
    check_op("concat", xs, lambda a, _: np.concatenate(a, axis=axis), dict(axis=axis))


def test_concat_threads_large():
    rng = np.random.default_rng(14)
    xs = [normal(rng, (50, 3, c, 170)) for c in (40, 1, 37)]
    check_op("concat", xs, lambda a, _: np.concatenate(a, axis=2), dict(axis=2), fd=False)


@pytest.mark.parametrize("case", [(1, -3, -1), (-1, 1, 100), (2, -4, 3), (1, 0, 1),
                                  (-2, -1, 5), (2, -100, -2)], ids=str)
def test_slice(case):
    axis, start, stop = case
    rng = np.random.default_rng(15)
    X = normal(rng, (3, 5, 4))
    idx = [slice(None)] * 3
    idx[axis] = slice(start, stop)
    check_op("slice", [X], lambda xs, _: xs[0][tuple(idx)], dict(axis=axis, start=start,
                                                                  stop=stop))


def test_split_into_slices_sums_gradients_back():
    # three slices of one input read by one concat: the input gradient is G
    # moved back, every element reached exactly once
    rng = np.random.default_rng(16)
    X = normal(rng, (2, 7, 3))

    def build(g, ids):
        parts = [g.add_node("slice", [ids[0]], axis=1, start=s, stop=e)
                 for s, e in [(4, 7), (0, 1), (1, 4)]]
        return g.add_node("concat", parts, axis=1)

    check_op("slice", [X], lambda xs, _: np.concatenate([xs[0][:, 4:], xs[0][:, :4]], axis=1),
             build=build)


# --- dropout ---------------------------------------------------------------------------------

def test_dropout_training_gradient_uses_the_forward_mask():
    rng = np.random.default_rng(17)
    rate = 0.4
    X = normal(rng, (5, 3, 7)) + 3.0  # no zeros, so the mask shows in the output
    out, _, _, _ = run_op("dropout", [X], dict(rate=rate), training=True)
    mask = out != 0
    assert 0 < mask.sum() < mask.size
    check_op("dropout", [X], lambda xs, _: xs[0] * mask / (1 - np.float32(rate)),
             dict(rate=rate), training=True)


def test_dropout_mask_statistics_and_scaling():
    rate = 0.3
    X = np.ones((200, 501), np.float32)
    G = np.random.default_rng(18).standard_normal(X.shape).astype(np.float32)
    runs = [run_op("dropout", [X], dict(rate=rate), training=True, G=G, nthreads=nt,
                   reference=r) for nt, r in [(1, False), (2, False), (1, True)]]
    out, (gx,), _, _ = runs[0]
    for other, (gx2,), _, _ in runs[1:]:
        np.testing.assert_array_equal(out, other)  # threads and the reference agree bitwise
        np.testing.assert_array_equal(gx, gx2)
    scale = np.float32(1.0 / (1.0 - np.float64(np.float32(rate))))
    kept = out != 0
    assert set(np.unique(out).tolist()) == {0.0, float(scale)}
    frac = kept.mean()
    sigma = math.sqrt(rate * (1 - rate) / X.size)
    assert abs(frac - (1 - rate)) < 5 * sigma, frac
    # no position bias: rows and columns keep about the same share
    assert np.abs(kept.mean(0) - (1 - rate)).max() < 6 * math.sqrt(rate * (1 - rate) / 200)
    assert np.abs(kept.mean(1) - (1 - rate)).max() < 6 * math.sqrt(rate * (1 - rate) / 501)
    # neighbouring elements are not correlated
    k = kept.reshape(-1).astype(np.float64) - kept.mean()
    assert abs(np.mean(k[1:] * k[:-1]) / np.var(k)) < 0.02
    # expected value preserved: E[out] = x
    assert abs(out.mean() - 1.0) < 5 * sigma * scale
    # backward: G * mask * scale, the forward's mask
    np.testing.assert_array_equal(gx, np.where(kept, G * scale, 0.0).astype(np.float32))


def _dropout_graph(seed, rate=0.5, shape=(40,)):
    g = _core.Graph()
    x = g.add_input(shape)
    d = g.add_node("dropout", [x], rate=rate)
    g.set_outputs([d])
    g.compile(seed=seed)
    return g


def test_dropout_determinism_and_fresh_masks():
    X = np.ones((6, 40), np.float32)
    a, b, c = _dropout_graph(5), _dropout_graph(5), _dropout_graph(6)
    (oa,) = a.forward([X], training=True)
    (ob,) = b.forward([X], training=True)
    (oc,) = c.forward([X], training=True)
    np.testing.assert_array_equal(oa, ob)  # same seed, same run: same mask
    assert not np.array_equal(oa, oc)      # another seed: another mask
    (oa2,) = a.forward([X], training=True)
    assert not np.array_equal(oa, oa2)     # the next run draws a new mask
    (ob2,) = b.forward([X], training=True)
    np.testing.assert_array_equal(oa2, ob2)


def test_dropout_inference_and_rate_zero_are_identity():
    rng = np.random.default_rng(19)
    X = normal(rng, (4, 3, 5))
    G = normal(rng, X.shape)
    for attrs, training in [(dict(rate=0.5), False), (dict(rate=0.0), True)]:
        out, (gx,), _, _ = run_op("dropout", [X], attrs, training=training, G=G)
        np.testing.assert_array_equal(out, X.astype(np.float32))
        np.testing.assert_array_equal(gx, G.astype(np.float32))
    check_op("dropout", [X], lambda xs, _: xs[0], dict(rate=0.5))


@pytest.mark.parametrize("rate", [1.0, -0.1, float("nan")])
def test_dropout_bad_rate(rate):
    with pytest.raises(ValueError, match="rate"):
        _dropout_graph(0, rate=rate)


# --- batchnorm, layernorm --------------------------------------------------------------------

def _bn_axes(ndim, axis):
    ax = axis % ndim
    return ax, tuple(d for d in range(ndim) if d != ax)


def batchnorm_np(x, p, axis, training, eps=1e-5):
    ax, red = _bn_axes(x.ndim, axis)
    shape = [1] * x.ndim
    shape[ax] = -1
    if training:
        mean, var = x.mean(axis=red), x.var(axis=red)
    else:
        mean, var = p["running_mean"], p["running_var"]
    xhat = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    return p["gamma"].reshape(shape) * xhat + p["beta"].reshape(shape)


BN_CASES = [((4, 3), 1), ((3, 5), -1), ((2, 3, 2, 3), 1), ((1, 2, 3, 2), 1), ((3, 2, 4), -1)]


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("case", BN_CASES, ids=str)
def test_batchnorm(case, training):
    shape, axis = case
    rng = np.random.default_rng(20)
    X = normal(rng, shape, 2.0) + 1.0
    C = shape[axis]
    params = {"gamma": 1 + normal(rng, C, 0.3), "beta": normal(rng, C, 0.5),
              "running_mean": normal(rng, C, 0.5), "running_var": 0.5 + rng.random(C)}
    check_op("batchnorm", [X], lambda xs, p: batchnorm_np(xs[0], p, axis, training),
             dict(axis=axis), params=params, training=training)


@pytest.mark.parametrize("momentum", [0.1, 0.3])
@pytest.mark.parametrize("case", [((6, 3), 1), ((3, 4, 2, 3), 1)], ids=str)
def test_batchnorm_running_statistics(case, momentum):
    shape, axis = case
    rng = np.random.default_rng(21)
    C = shape[axis]
    g = _core.Graph()
    x = g.add_input(shape[1:])
    bn = g.add_node("batchnorm", [x], axis=axis, momentum=momentum)
    g.set_outputs([bn])
    g.compile()
    p = {name.split(".")[1]: value for name, _, value, _, _ in g.params()}
    np.testing.assert_array_equal(p["running_mean"], 0.0)
    np.testing.assert_array_equal(p["running_var"], 1.0)
    rm, rv = np.zeros(C), np.ones(C)
    _, red = _bn_axes(len(shape), axis)
    for step in range(3):
        X = (normal(rng, shape) * (step + 1) + step).astype(np.float32)
        g.forward([X], training=True)
        m = X.size // C
        rm = (1 - momentum) * rm + momentum * X.astype(np.float64).mean(axis=red)
        rv = (1 - momentum) * rv + momentum * X.astype(np.float64).var(axis=red) * m / (m - 1)
        np.testing.assert_allclose(p["running_mean"], rm, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(p["running_var"], rv, rtol=1e-5, atol=1e-6)
    # inference does not touch them and normalises with them
    X = normal(rng, shape).astype(np.float32)
    (out,) = g.forward([X])
    np.testing.assert_allclose(p["running_mean"], rm, rtol=1e-5, atol=1e-6)
    pp = {"gamma": np.ones(C), "beta": np.zeros(C), "running_mean": rm, "running_var": rv}
    np.testing.assert_allclose(out, batchnorm_np(X.astype(np.float64), pp, axis, False),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_threads_large(training):
    rng = np.random.default_rng(22)
    X = normal(rng, (37, 5, 13, 17)) * 2 + 1
    C = 5
    params = {"gamma": 1 + normal(rng, C, 0.3), "beta": normal(rng, C, 0.5),
              "running_mean": normal(rng, C, 0.5), "running_var": 0.5 + rng.random(C)}
    check_op("batchnorm", [X], lambda xs, p: batchnorm_np(xs[0], p, 1, training), dict(axis=1),
             params=params, training=training, fd=False)
    X2 = normal(rng, (700, 131))
    C = 131
    params = {"gamma": 1 + normal(rng, C, 0.3), "beta": normal(rng, C, 0.5)}
    check_op("batchnorm", [X2], lambda xs, p: batchnorm_np(xs[0], p, -1, True), dict(axis=-1),
             params=params, training=True, fd=False)


def layernorm_np(x, p, eps=1e-5):
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return p["gamma"] * (x - mean) / np.sqrt(var + eps) + p["beta"]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 1, 3), (1,)], ids=str)
def test_layernorm(shape, seed):
    rng = np.random.default_rng(seed)
    n, D = draw(rng, 1)[0], shape[-1]
    X = normal(rng, (n,) + shape, 2.0) + 1.0
    params = {"gamma": 1 + normal(rng, D, 0.3), "beta": normal(rng, D, 0.5)}
    check_op("layernorm", [X], lambda xs, p: layernorm_np(xs[0], p), params=params)


def test_layernorm_threads_large():
    rng = np.random.default_rng(23)
    X = normal(rng, (50, 9, 203)) * 3 + 1
    params = {"gamma": 1 + normal(rng, 203, 0.3), "beta": normal(rng, 203, 0.5)}
    check_op("layernorm", [X], lambda xs, p: layernorm_np(xs[0], p), params=params, fd=False)


# --- loss ------------------------------------------------------------------------------------

def softplus_np(z):
    return np.logaddexp(0.0, z)


def loss_np(name, z, t, w=None):
    """sum_i w_i l_i / sum_i w_i, the per-sample losses of include/dagnet/ops.h."""
    axes = tuple(range(1, z.ndim))
    if name == "squared_error":
        per = 0.5 * ((z - t) ** 2).sum(axis=axes)
    elif name == "binary_cross_entropy":
        per = (softplus_np(z) - t * z).sum(axis=axes)
    elif name == "poisson":
        per = (np.exp(z) - t * z).sum(axis=axes)
    else:
        if t.shape != z.shape:  # class indices, one per row; others add nothing
            idx = t.reshape(z.shape[:-1])
            K = z.shape[-1]
            ok = (idx >= 0) & (idx < K) & (idx == np.floor(idx))
            onehot = np.eye(K)[np.where(ok, idx, 0).astype(int)]
            t = onehot * ok[..., None]
        per = -(t * log_softmax_np(z, -1)).sum(axis=axes)
    w = np.ones(z.shape[0]) if w is None else w.reshape(z.shape[0])
    return np.float64(np.sum(w * per) / np.sum(w))


def loss_case(rng, name, kind, n=None):
    """(pred, target) for a loss; kind picks the softmax CE target form."""
    n = draw(rng, 1)[0] if n is None else n
    if name == "softmax_cross_entropy":
        rows = draw(rng, int(rng.integers(0, 2)), [1, 2])
        K = draw(rng, 1, [1, 2, 3, 5])[0]
        z = normal(rng, (n,) + rows + (K,), 2.0)
        cls = rng.integers(0, K, size=(n,) + rows)
        if kind == "probabilities":
            t = softmax_np(normal(rng, z.shape, 2.0), -1)
        elif kind == "onehot":
            t = np.eye(K)[cls]
        elif kind == "index_col":
            t = cls[..., None].astype(np.float64)
        else:  # index without the class axis
            t = cls.astype(np.float64)
        return z, t
    shape = (n,) + draw(rng, 2)
    if name == "squared_error":
        return normal(rng, shape), normal(rng, shape)
    if name == "binary_cross_entropy":
        return normal(rng, shape, 3.0), rng.random(shape)
    return normal(rng, shape, 0.7), rng.poisson(2.0, shape).astype(np.float64)


LOSS_CASES = [("squared_error", None), ("binary_cross_entropy", None), ("poisson", None),
              ("softmax_cross_entropy", "probabilities"), ("softmax_cross_entropy", "onehot"),
              ("softmax_cross_entropy", "index_col"), ("softmax_cross_entropy", "index")]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("weights", [None, "(1,)", "()"])
@pytest.mark.parametrize("case", LOSS_CASES, ids=str)
def test_loss(case, weights, seed):
    name, kind = case
    rng = np.random.default_rng(seed)
    z, t = loss_case(rng, name, kind)
    inputs = [z, t]
    if weights is not None:
        w = 0.1 + 2 * rng.random(z.shape[0])
        inputs.append(w.reshape(-1, 1) if weights == "(1,)" else w)
    out, gin, _ = check_op(
        "loss", inputs, lambda xs, _: loss_np(name, *xs), dict(loss=name), check_inputs=[0])
    assert out.shape == ()
    # the gradient reaches the prediction only: targets and weights get none
    for gk in gin[1:]:
        assert gk is None or not np.any(gk)


def test_loss_threads_large():
    rng = np.random.default_rng(24)
    for name, kind in LOSS_CASES:
        z, t = loss_case(rng, name, kind, n=20011)
        w = 0.1 + rng.random(z.shape[0])
        check_op("loss", [z, t, w], lambda xs, _: loss_np(name, *xs), dict(loss=name), fd=False)


def test_loss_softmax_ce_invalid_indices_add_nothing():
    rng = np.random.default_rng(25)
    z = normal(rng, (6, 3))
    t = np.array([0, -1, 3, 1.5, 2, 1], np.float64)
    w = np.array([1.0, 2.0, 1.0, 0.5, 1.0, 3.0])
    out, (gz, _, _), _ = check_op("loss", [z, t, w],
                                  lambda xs, _: loss_np("softmax_cross_entropy", *xs),
                                  dict(loss="softmax_cross_entropy"), check_inputs=[0])
    np.testing.assert_array_equal(gz[1:4], 0.0)


@pytest.mark.parametrize("K", [10, 17, 33])
@pytest.mark.parametrize("kind", ["index", "probabilities"])
def test_loss_softmax_ce_blocks(K, kind):
    # forward works on blocks of 64 rows shifted by the block's maximum: 150
    # samples of 2 rows cross blocks and samples; rows shifted by +-40 lie
    # far below the block maximum and are redone with their own
    rng = np.random.default_rng(26 + K)
    n, rows = 150, 2
    z = normal(rng, (n, rows, K), 2.0)
    z[1::3] += 40.0
    z[2::3] -= 40.0
    if kind == "index":
        t = rng.integers(0, K, size=(n, rows)).astype(np.float64)
    else:
        t = softmax_np(normal(rng, z.shape, 2.0), -1)
    w = 0.1 + rng.random(n)
    check_op("loss", [z, t, w], lambda xs, _: loss_np("softmax_cross_entropy", *xs),
             dict(loss="softmax_cross_entropy"), fd=False)


def test_loss_zero_weights_give_zero():
    z, t = np.ones((3, 2)), np.zeros((3, 2))
    out, (gz, _, _), _, _ = run_op("loss", [z, t, np.zeros(3)], dict(loss="squared_error"),
                                   G=np.array(1.0))
    assert out == 0.0
    np.testing.assert_array_equal(gz, 0.0)


def test_loss_hand_worked():
    # MSE: pred [[1, 2], [0, 0]], target [[0, 0], [0, 1]] ->
    #   l = [0.5 (1 + 4), 0.5 (0 + 1)] = [2.5, 0.5]; mean 1.5;
    #   weights [3, 1]: (7.5 + 0.5) / 4 = 2.0; d/dpred = w_i (p - t) / 4
    z = np.array([[1.0, 2.0], [0.0, 0.0]])
    t = np.array([[0.0, 0.0], [0.0, 1.0]])
    out, _, _, _ = run_op("loss", [z, t], dict(loss="squared_error"))
    assert out == pytest.approx(1.5)
    out, (gz, _, _), _, _ = run_op("loss", [z, t, np.array([3.0, 1.0])],
                                   dict(loss="squared_error"), G=np.array(1.0))
    assert out == pytest.approx(2.0)
    np.testing.assert_allclose(gz, [[0.75, 1.5], [0.0, -0.25]])
    # softmax CE of logits [0, ln 3] with class 1: -log(3 / 4)
    out, _, _, _ = run_op("loss", [np.array([[0.0, math.log(3.0)]]), np.array([1.0])],
                          dict(loss="softmax_cross_entropy"))
    assert out == pytest.approx(-math.log(0.75), rel=1e-6)


# --- errors ----------------------------------------------------------------------------------

def _compile(build, shapes):
    g = _core.Graph()
    ids = [g.add_input(s) for s in shapes]
    g.set_outputs([build(g, ids)])
    g.compile()
    return g


ARITY = [("add", 1), ("add", 3), ("matmul", 1), ("scale", 2), ("concat", 1), ("loss", 1),
         ("linear_tied", 1), ("softmax", 2), ("linear", 2)]


@pytest.mark.parametrize("case", ARITY, ids=str)
def test_wrong_arity_is_value_error(case):
    op, k = case
    g = _core.Graph()
    ids = [g.add_input((3,)) for _ in range(k)]
    with pytest.raises(ValueError, match=rf"{op}.*inputs.*got {k}|{op}.*given {k}"):
        g.add_node(op, ids)


BAD = [
    # (name, input shapes, op, attrs, message fragments)
    ("add shapes", [(3,), (4,)], "add", {}, ["(batch, 3)", "(batch, 4)"]),
    ("mul shapes", [(2, 3), (2, 4)], "mul", {}, ["sizes must match"]),
    ("sub rank", [(3, 4), (4,)], "sub", {}, ["batch axis"]),
    ("matmul inner", [(2, 3), (4, 5)], "matmul", {}, ["inner dimensions", "(2, 3)", "(4, 5)"]),
    ("matmul lead", [(2, 2, 3), (3, 3, 5)], "matmul", {}, ["leading dimensions"]),
    ("matmul 1-d", [(3,), (3, 2)], "matmul", {}, ["(..., m, k)"]),
    ("softmax axis", [(3, 4)], "softmax", dict(axis=3), ["axis 3", "out of range"]),
    ("softmax batch axis", [(3, 4)], "log_softmax", dict(axis=0), ["batch axis"]),
    ("sum axis", [(3, 4)], "sum", dict(axis=-4), ["axis -4", "out of range"]),
    ("mean axis", [(3,)], "mean", dict(axis=2), ["axis 2"]),
    ("concat axis", [(3,), (3,)], "concat", dict(axis=0), ["batch axis"]),
    ("concat shapes", [(3, 2), (4, 2)], "concat", dict(axis=-1), ["(batch, 3, 2)",
                                                                   "(batch, 4, 2)"]),
    ("slice empty", [(5,)], "slice", dict(axis=1, start=3, stop=3), ["empty"]),
    ("slice axis", [(5,)], "slice", dict(axis=2, start=0, stop=1), ["axis 2"]),
    ("reshape count", [(3, 4)], "reshape", dict(shape=(5, 2)), ["(3, 4)", "(5, 2)"]),
    ("reshape -1", [(3, 4)], "reshape", dict(shape=(5, -1)), ["divide"]),
    ("broadcast", [(3,)], "broadcast", dict(shape=(2, 4)), ["(3,)", "(2, 4)"]),
    ("batchnorm axis", [(3,)], "batchnorm", dict(axis=0), ["batch axis"]),
    ("batchnorm momentum", [(3,)], "batchnorm", dict(momentum=1.5), ["momentum"]),
    ("layernorm scalar", [()], "layernorm", {}, ["last axis"]),
    ("linear units", [(3,)], "linear", dict(units=0), ["units"]),
    ("leaky alpha", [(3,)], "activation", dict(act="leaky_relu", alpha=-0.5), ["alpha"]),
    ("linear leaky alpha", [(3,)], "linear", dict(units=2, act="leaky_relu", alpha=-0.5),
     ["alpha"]),
    ("linear elu alpha", [(3,)], "linear", dict(units=2, act="elu", alpha=-1.0), ["alpha"]),
    ("scale", [(3,)], "scale", dict(scale=float("inf")), ["finite"]),
    ("loss target", [(3,), (4,)], "loss", dict(loss="squared_error"), ["(3,)", "(4,)"]),
    ("ce target", [(3,), (2,)], "loss", dict(loss="softmax_cross_entropy"), ["class index"]),
    ("loss weight", [(3,), (3,), (2,)], "loss", dict(loss="poisson"), ["sample_weight"]),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_graph_is_value_error_with_message(case):
    _, shapes, op, attrs, fragments = case
    with pytest.raises(ValueError) as e:
        _compile(lambda g, ids: g.add_node(op, ids, **attrs), shapes)
    msg = str(e.value)
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in {msg!r}"
    assert f"{op}_" in msg  # the node is named


def test_loss_unbatched_input_is_value_error():
    with pytest.raises(ValueError, match="batch"):
        _compile(lambda g, ids: g.add_node("loss", [ids[0], g.add_node("sum", [ids[1]], axis=0)]),
                 [(3,), (3,)])


def test_unknown_loss_and_activation_names():
    g = _core.Graph()
    x = g.add_input((3,))
    with pytest.raises(ValueError, match="'squared_error'"):
        g.add_node("loss", [x, x], loss="mse")
    with pytest.raises(ValueError, match="'gelu'"):
        g.add_node("activation", [x], act="swish")
