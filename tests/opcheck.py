"""One call checks an op's forward and every gradient.

``check_op`` builds a graph of one node in the core (or the small graph a
``build`` function makes), then compares
- the forward output with a float64 numpy reference,
- the gradient of every input and trainable parameter (for a random upstream
  gradient G) with central finite differences of the float64 reference of
  sum(G * f(inputs, params)), input gradients being added to what other
  consumers of the inputs put there first,
- the fast kernels with the reference twins (set_reference_mode), forward
  and every gradient,
- one thread with two threads (bit-identical), forward and every gradient.
With ``fd=False`` the finite differences are skipped, for shapes large
enough to make the kernels use their threads.
"""

import numpy as np

from dagnet import _core


def _fd_grad(fn, arrays, index, G, eps=1e-6):
    """d sum(G * fn(arrays)) / d arrays[index], central differences in float64."""
    x = arrays[index]
    grad = np.zeros_like(x)
    flat = x.reshape(-1)
    gflat = grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = np.sum(G * fn(arrays))
        flat[i] = old - eps
        down = np.sum(G * fn(arrays))
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return grad


def _param_keys(names):
    """Parameter names by suffix ('weight', 'bias', ...), or in full when two
    nodes of the graph use the same suffix."""
    short = [name.split(".", 1)[1] for name in names]
    return short if len(set(short)) == len(short) else list(names)


def run_op(op, inputs, attrs, params=None, G=None, training=False, nthreads=1,
           reference=False, build=None, seed=1, accumulate=False):
    """Run one op node (or the graph `build(g, input_ids) -> output id` makes)
    forward and backward; returns (out, input grads, trainable param grads
    dict, param values dict taken before the run).

    accumulate: every input also feeds a `scale` node (an extra output whose
    upstream gradient H_i is random); those run backward before the op, so
    an op that overwrites its input gradients instead of adding to them
    loses H_i. H_i is subtracted again from the returned gradients."""
    g = _core.Graph()
    ids = [g.add_input(x.shape[1:]) for x in inputs]
    node = build(g, ids) if build is not None else g.add_node(op, ids, **attrs)
    extra = [g.add_node("scale", [i], scale=1.0) for i in ids] if accumulate else []
    g.set_outputs([node] + extra)
    g.compile(seed=seed)
    order = g.order()
    assert all(order.index(e) > order.index(node) for e in extra)
    values = {}
    plist = g.params()
    keys = _param_keys([p[0] for p in plist])
    for key, (_, _, value, _, _) in zip(keys, plist):
        if params and key in params:
            value[...] = params[key]
        values[key] = value.astype(np.float64)
    prev = _core.set_reference_mode(reference)
    try:
        xs = [x.astype(np.float32) for x in inputs]
        out = g.forward(xs, training=training, grad=True, nthreads=nthreads)[0]
        if G is None:
            G = np.random.default_rng(0).standard_normal(out.shape)
        H = [np.random.default_rng(1 + i).standard_normal(x.shape).astype(np.float32)
             for i, x in enumerate(xs)] if accumulate else []
        gin = g.backward([G.astype(np.float32)] + H, nthreads=nthreads)
    finally:
        _core.set_reference_mode(prev)
    gin = [gi - h if gi is not None else None for gi, h in zip(gin, H)] if accumulate else gin
    pgrads = {key: grad.copy() for key, (_, _, _, grad, tr) in zip(keys, g.params()) if tr}
    return out, gin, pgrads, values


def check_op(op, inputs, ref, attrs=None, params=None, rtol=1e-4, atol=1e-5, grad_rtol=2e-3,
             grad_atol=2e-4, training=False, check_inputs=None, fd=True, build=None):
    """Check forward and backward of `op` against `ref(inputs64, params64)`.

    inputs: list of float64 arrays (batch first). params: optional dict of
    parameter values by suffix ('weight', 'bias', ...). check_inputs: indexes
    of inputs whose gradient is checked (default all). build: optional
    `build(g, input_ids) -> output node id` for a graph of several nodes
    (e.g. a `sum` over axis 0 making an unbatched operand). Returns the
    output, the input gradients and the parameter gradients (one thread,
    fast kernels)."""
    attrs = attrs or {}
    inputs = [np.asarray(x, dtype=np.float64) for x in inputs]
    # float32-representable inputs so the float64 reference sees the same values
    inputs = [x.astype(np.float32).astype(np.float64) for x in inputs]
    kw = dict(params=params, training=training, build=build)
    out, gin, pgrads, values = run_op(op, inputs, attrs, **kw)
    expect = ref([x.copy() for x in inputs], dict(values))
    assert out.shape == np.shape(expect), f"{op}: output shape {out.shape}, expected " \
                                          f"{np.shape(expect)}"
    np.testing.assert_allclose(out, expect, rtol=rtol, atol=atol, err_msg=f"{op} forward")
    G = np.random.default_rng(0).standard_normal(out.shape)
    kw["accumulate"] = True  # backward must add to the input gradients
    out1, gin1, pg1, _ = run_op(op, inputs, attrs, G=G, **kw)
    out_ref, gin_ref, pg_ref, _ = run_op(op, inputs, attrs, G=G, reference=True, **kw)
    out2, gin2, pg2, _ = run_op(op, inputs, attrs, G=G, nthreads=2, **kw)
    np.testing.assert_allclose(out1, out_ref, rtol=rtol, atol=atol, err_msg=f"{op} fast vs ref")
    np.testing.assert_array_equal(out1, out2, err_msg=f"{op}: 1 vs 2 threads")
    for i, (a, r, b) in enumerate(zip(gin1, gin_ref, gin2)):
        assert (a is None) == (r is None) == (b is None), f"{op}: input {i} gradient presence"
        if a is None:
            continue
        np.testing.assert_array_equal(a, b, err_msg=f"{op} input {i} grad: 1 vs 2 threads")
        np.testing.assert_allclose(a, r, rtol=grad_rtol, atol=grad_atol,
                                   err_msg=f"{op} input {i} grad: fast vs ref")
    assert sorted(pg1) == sorted(pg_ref) == sorted(pg2)
    for k in pg1:
        np.testing.assert_array_equal(pg1[k], pg2[k], err_msg=f"{op} {k} grad: 1 vs 2 threads")
        np.testing.assert_allclose(pg1[k], pg_ref[k], rtol=grad_rtol, atol=grad_atol,
                                   err_msg=f"{op} {k} grad: fast vs ref")
    if not fd:
        return out1, gin1, pg1
    names = sorted(pg1)
    keys = list(range(len(inputs))) if check_inputs is None else list(check_inputs)

    def f(arrays):
        return ref(arrays[:len(inputs)], dict(values, **dict(zip(names, arrays[len(inputs):]))))

    arrays = [x.copy() for x in inputs] + [values[k].copy() for k in names]
    for i in keys:
        num = _fd_grad(f, arrays, i, G)
        np.testing.assert_allclose(gin1[i], num, rtol=grad_rtol, atol=grad_atol,
                                   err_msg=f"{op} gradient of input {i}")
        np.testing.assert_allclose(gin_ref[i], num, rtol=grad_rtol, atol=grad_atol,
                                   err_msg=f"{op} reference gradient of input {i}")
    for j, k in enumerate(names):
        num = _fd_grad(f, arrays, len(inputs) + j, G)
        np.testing.assert_allclose(pg1[k], num, rtol=grad_rtol, atol=grad_atol,
                                   err_msg=f"{op} gradient of parameter {k}")
        np.testing.assert_allclose(pg_ref[k], num, rtol=grad_rtol, atol=grad_atol,
                                   err_msg=f"{op} reference gradient of parameter {k}")
    return out1, gin1, pg1
