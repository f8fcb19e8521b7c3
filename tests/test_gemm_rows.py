"""A row of C = op(A) op(B) depends on its row of op(A) alone, bit for bit:
not on how many rows come with it nor where it sits among them, on every
instruction set. So a model predicts one sample exactly as it does in a
batch (scikit-learn's check_methods_subset_invariance asks for this)."""

import numpy as np
import pytest

from dagnet import _core

from test_gemm import isa  # noqa: F401  (the instruction-set fixture)


@pytest.mark.parametrize("K, N", [(2, 8), (8, 8), (20, 3), (64, 100), (300, 33), (7, 1)])
@pytest.mark.parametrize("act", ["identity", "sigmoid", "tanh"])
def test_rows_do_not_depend_on_the_batch(isa, K, N, act):
    rng = np.random.default_rng(K * 100 + N)
    A = rng.standard_normal((61, K)).astype(np.float32)
    B = rng.standard_normal((K, N)).astype(np.float32)
    bias = rng.standard_normal(N).astype(np.float32)
    full = _core.sgemm(A, B, bias=bias, act=act, nthreads=1)
    for lo, hi in [(0, 1), (5, 6), (0, 7), (3, 20), (30, 61), (60, 61)]:
        part = _core.sgemm(A[lo:hi], B, bias=bias, act=act, nthreads=1)
        np.testing.assert_array_equal(part, full[lo:hi], err_msg=f"rows {lo}:{hi}")
    both = _core.sgemm(A, B, bias=bias, act=act, nthreads=2)
    np.testing.assert_array_equal(both, full)


@pytest.mark.parametrize("K, N", [(1, 16), (5, 33), (700, 100), (1100, 1040)])
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("act, alpha, beta", [("identity", 1.0, 0.0), ("relu", 0.5, 0.0),
                                              ("gelu", 1.0, 0.7), ("identity", -2.0, 1.0)])
def test_few_rows_alone_equal_their_batch(isa, K, N, ta, act, alpha, beta):
    """Products of 1-4 rows read B row by row (gemm_rows); their rows equal
    those of the same product in a batch (the sliver kernels), across kc
    blocks (K > 512), a ragged last vector, alpha, beta, bias and
    activations, on 1 and 2 threads, and the float64 product."""
    rng = np.random.default_rng(K + N)
    A = rng.standard_normal((K, 61) if ta else (61, K)).astype(np.float32)
    B = rng.standard_normal((K, N)).astype(np.float32)
    C0 = rng.standard_normal((61, N)).astype(np.float32)
    bias = rng.standard_normal(N).astype(np.float32)
    kw = dict(trans_a=ta, alpha=alpha, beta=beta, bias=bias, act=act)
    full = _core.sgemm(A, B, C0.copy(), nthreads=1, **kw)
    for lo, hi in [(0, 1), (7, 9), (20, 23), (57, 61), (10, 15)]:
        Ap = np.ascontiguousarray(A[:, lo:hi] if ta else A[lo:hi])
        for nt in (1, 2):
            part = _core.sgemm(Ap, B, C0[lo:hi].copy(), nthreads=nt, **kw)
            np.testing.assert_array_equal(part, full[lo:hi], err_msg=f"rows {lo}:{hi}, {nt} threads")
    op_a = (A.T if ta else A).astype(np.float64)
    z = alpha * (op_a @ B) + beta * C0 + bias
    ref = {"identity": z, "relu": np.maximum(z, 0)}.get(act)
    if ref is not None:
        np.testing.assert_allclose(full, ref, rtol=2e-4, atol=2e-4 * np.abs(z).max())
