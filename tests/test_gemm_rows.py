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
