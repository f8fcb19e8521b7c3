"""One call checks an op's forward and every gradient.

``check_op`` builds a graph of one node in the core, then compares
- the forward output with a float64 numpy reference,
- the gradient of every input and trainable parameter (for a random upstream
  gradient G) with central finite differences of the float64 reference of
  sum(G * f(inputs, params)),
- the fast kernels with the reference twins (set_reference_mode),
- one thread with two threads (bit-identical).
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


def run_op(op, inputs, attrs, params=None, batched=None, G=None, training=False, nthreads=1,
           reference=False):
    """Run one op node forward and backward; returns (out, input grads, param
    grads dict, param values dict)."""
    g = _core.Graph()
    batched = batched or [True] * len(inputs)
    ids = []
    for x, b in zip(inputs, batched):
        if not b:
            raise ValueError("unbatched inputs are made with batched=False via a sum node")
        ids.append(g.add_input(x.shape[1:]))
    node = g.add_node(op, ids, **attrs)
    g.set_outputs([node])
    g.compile(seed=1)
    values = {}
    for name, _, value, _, _ in g.params():
        short = name.split(".", 1)[1]
        if params and short in params:
            value[...] = params[short]
        values[short] = value.astype(np.float64)
    prev = _core.set_reference_mode(reference)
    try:
        (out,) = g.forward([x.astype(np.float32) for x in inputs], training=training, grad=True,
                           nthreads=nthreads)
        if G is None:
            G = np.random.default_rng(0).standard_normal(out.shape)
        gin = g.backward([G.astype(np.float32)], nthreads=nthreads)
    finally:
        _core.set_reference_mode(prev)
    pgrads = {name.split(".", 1)[1]: grad.copy() for name, _, _, grad, tr in g.params() if tr}
    return out, gin, pgrads, values


def check_op(op, inputs, ref, attrs=None, params=None, rtol=1e-4, atol=1e-5, grad_rtol=2e-3,
             grad_atol=2e-4, training=False, check_inputs=None, fd=True):
    """Check forward and backward of `op` against `ref(inputs64, params64)`.

    inputs: list of float64 arrays (batch first). params: optional dict of
    parameter values by suffix ('weight', 'bias', ...). check_inputs: indexes
    of inputs whose gradient is checked (default all)."""
    attrs = attrs or {}
    inputs = [np.asarray(x, dtype=np.float64) for x in inputs]
    # float32-representable inputs so the float64 reference sees the same values
    inputs = [x.astype(np.float32).astype(np.float64) for x in inputs]
    out, gin, pgrads, values = run_op(op, inputs, attrs, params, training=training)
    expect = ref([x.copy() for x in inputs], dict(values))
    np.testing.assert_allclose(out, expect, rtol=rtol, atol=atol, err_msg=f"{op} forward")
    G = np.random.default_rng(0).standard_normal(out.shape)
    out1, gin1, pg1, _ = run_op(op, inputs, attrs, params, G=G, training=training)
    out_ref, gin_ref, pg_ref, _ = run_op(op, inputs, attrs, params, G=G, training=training,
                                         reference=True)
    out2, gin2, pg2, _ = run_op(op, inputs, attrs, params, G=G, training=training, nthreads=2)
    np.testing.assert_allclose(out1, out_ref, rtol=rtol, atol=atol, err_msg=f"{op} fast vs ref")
    np.testing.assert_array_equal(out1, out2, err_msg=f"{op}: 1 vs 2 threads")
    for a, b in zip(gin1, gin2):
        if a is not None:
            np.testing.assert_array_equal(a, b, err_msg=f"{op} input grad: 1 vs 2 threads")
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
