"""_core.sgemm (include/dagnet/gemm.h) against float64 numpy, on every
instruction set this machine has: the four transpositions, alpha and beta
(beta 0 never reads C), bias and activation epilogues, edge shapes around the
kernels' block sizes, one thread against two (bit-identical), and the plain
reference twin."""

import numpy as np
import pytest

from dagnet import _core

ISAS = ["generic", "avx2", "avx512"]
EPS32 = np.finfo(np.float32).eps


@pytest.fixture(params=ISAS)
def isa(request):
    """Run the test with the kernels of one instruction set, skipping those
    this CPU lacks; restores the detected one afterwards."""
    detected = _core.cpu_detect()
    try:
        got = _core.set_cpu_isa(request.param)
        if got != request.param:
            pytest.skip(f"this CPU has no {request.param} (best: {detected})")
        yield got
    finally:
        _core.set_cpu_isa(detected)


def act64(name, x, alpha=0.01):
    return {"identity": lambda: x, "relu": lambda: np.maximum(x, 0),
            "sigmoid": lambda: 1 / (1 + np.exp(-x)), "tanh": lambda: np.tanh(x),
            "leaky_relu": lambda: np.where(x > 0, x, alpha * x),
            "elu": lambda: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))),
            "softplus": lambda: np.logaddexp(0, x)}[name]()


def operands(rng, M, N, K, ta, tb):
    A = rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
    B = rng.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
    return A, B


def expect(A, B, ta, tb, alpha=1.0, beta=0.0, C=None, bias=None, act="identity", act_alpha=0.01):
    """float64 result and an error bound: K eps |alpha| |op(A)| |op(B)| plus the
    rounding of the epilogue terms."""
    a = (A.T if ta else A).astype(np.float64)
    b = (B.T if tb else B).astype(np.float64)
    z = alpha * (a @ b)
    mag = abs(alpha) * (np.abs(a) @ np.abs(b))
    if beta != 0.0:
        z = z + beta * C.astype(np.float64)
        mag = mag + np.abs(beta * C.astype(np.float64))
    if bias is not None:
        z = z + bias.astype(np.float64)
        mag = mag + np.abs(bias.astype(np.float64))
    K = a.shape[1]
    tol = 2 * (K + 3) * EPS32 * mag + 1e-6
    return act64(act, z, act_alpha), tol


def assert_close(C, ref, tol, what):
    err = np.abs(C.astype(np.float64) - ref)
    bad = err > tol
    assert not bad.any(), (f"{what}: {bad.sum()} of {C.size} elements off, worst "
                           f"{err.max():.3g} at {np.unravel_index(np.argmax(err - tol), C.shape)}")


SHAPES = [  # M, N, K
    (1, 1, 1), (1, 7, 1), (7, 1, 3), (1, 1, 700), (3, 5, 1), (2, 3, 4), (5, 7, 9),
    (13, 2048, 9), (13, 17, 2048), (14, 16, 32), (15, 17, 33), (16, 14, 31), (28, 48, 64),
    (32, 64, 16), (63, 65, 257), (64, 96, 128), (97, 89, 101), (256, 384, 100),
    (255, 383, 513), (383, 129, 1031), (48, 512, 520), (12, 32, 1025),
]


@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_sgemm_shapes_and_transpositions(isa, shape, ta, tb):
    M, N, K = shape
    rng = np.random.default_rng(M * 10007 + N * 101 + K)
    A, B = operands(rng, M, N, K, ta, tb)
    ref, tol = expect(A, B, ta, tb)
    C = _core.sgemm(A, B, trans_a=ta, trans_b=tb, nthreads=1)
    assert C.shape == (M, N) and C.dtype == np.float32
    assert_close(C, ref, tol, f"{isa} {shape} ta={ta} tb={tb}")


@pytest.mark.parametrize("case", [
    # M, N, K, alpha, beta, act, bias
    (37, 53, 71, 0.7, -1.3, "identity", False),
    (37, 53, 71, 1.0, 1.0, "relu", True),
    (64, 48, 300, -2.0, 0.5, "sigmoid", True),
    (5, 130, 600, 1.5, 0.0, "relu", True),
    (130, 5, 17, 1.0, 0.0, "sigmoid", False),
    (1, 33, 9, 0.5, 2.0, "tanh", True),
    (33, 1, 9, 1.0, -1.0, "leaky_relu", True),
    (40, 40, 40, 1.0, 0.25, "elu", True),
    (40, 41, 600, 1.0, 0.0, "softplus", True),
], ids=str)
@pytest.mark.parametrize("trans", [(False, False), (True, True)], ids=str)
def test_sgemm_alpha_beta_bias_activation(isa, case, trans):
    M, N, K, alpha, beta, act, with_bias = case
    ta, tb = trans
    rng = np.random.default_rng(M + N + K)
    A, B = operands(rng, M, N, K, ta, tb)
    bias = rng.standard_normal(N).astype(np.float32) if with_bias else None
    act_alpha = 0.2 if act == "leaky_relu" else 1.1 if act == "elu" else 0.01
    if beta == 0.0:
        C = np.full((M, N), np.nan, np.float32)  # beta 0: C is not read
        C0 = None
    else:
        C = rng.standard_normal((M, N)).astype(np.float32)
        C0 = C.copy()
    ref, tol = expect(A, B, ta, tb, alpha, beta, C0, bias, act, act_alpha)
    out = _core.sgemm(A, B, C, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta, bias=bias,
                      act=act, act_alpha=act_alpha, nthreads=1)
    assert out is C  # written in place
    assert np.all(np.isfinite(C))
    assert_close(C, ref, tol, f"{isa} {case}")


def test_sgemm_k_zero_and_alpha_zero(isa):
    # K = 0: C = act(beta C + bias); alpha = 0: A and B do not matter
    rng = np.random.default_rng(1)
    bias = rng.standard_normal(6).astype(np.float32)
    C = np.full((4, 6), np.nan, np.float32)
    _core.sgemm(np.zeros((4, 0), np.float32), np.zeros((0, 6), np.float32), C, bias=bias)
    np.testing.assert_array_equal(C, np.broadcast_to(bias, (4, 6)))
    C = rng.standard_normal((4, 6)).astype(np.float32)
    C0 = C.copy()
    A, B = operands(rng, 4, 6, 50, False, False)
    _core.sgemm(A, B, C, alpha=0.0, beta=2.0, bias=bias, act="relu")
    np.testing.assert_allclose(C, np.maximum(2 * C0 + bias, 0), rtol=1e-6, atol=1e-6)


THREAD_SHAPES = [(256, 384, 600), (1000, 70, 130), (13, 2048, 520), (97, 89, 1031)]


@pytest.mark.parametrize("shape", THREAD_SHAPES, ids=str)
def test_sgemm_threads_bit_identical(isa, shape):
    M, N, K = shape
    rng = np.random.default_rng(7)
    for ta, tb in [(False, False), (True, False), (False, True)]:
        A, B = operands(rng, M, N, K, ta, tb)
        bias = rng.standard_normal(N).astype(np.float32)
        C0 = rng.standard_normal((M, N)).astype(np.float32)
        outs = [_core.sgemm(A, B, C0.copy(), trans_a=ta, trans_b=tb, beta=0.5, bias=bias,
                            act="relu", nthreads=nt) for nt in (1, 2)]
        np.testing.assert_array_equal(outs[0], outs[1], err_msg=f"{isa} {shape} {ta} {tb}")
        ref, tol = expect(A, B, ta, tb, 1.0, 0.5, C0, bias, "relu")
        assert_close(outs[1], ref, tol, f"{isa} {shape} 2 threads")


# A^T B with few columns: AVX-512 runs the transposed product B^T A (gemm.c,
# gemm_narrow) for N in 2..12 (not 7, 8) and M >= 48; the edges around it
@pytest.mark.parametrize("shape", [(48, 2, 5), (100, 10, 200), (97, 11, 1), (61, 12, 33),
                                   (200, 3, 700), (47, 10, 64), (130, 13, 64), (100, 8, 64),
                                   (1031, 6, 129), (64, 10, 1100), (2000, 10, 300)], ids=str)
def test_sgemm_few_columns_transposed(isa, shape):
    M, N, K = shape
    rng = np.random.default_rng(M * 31 + N * 7 + K)
    A, B = operands(rng, M, N, K, True, False)
    bias = rng.standard_normal(N).astype(np.float32)
    C0 = rng.standard_normal((M, N)).astype(np.float32)
    for alpha, beta, act, b in [(1.0, 0.0, "identity", None), (0.5, 1.0, "relu", bias),
                                (-1.5, 0.25, "tanh", bias)]:
        C = np.full((M, N), np.nan, np.float32) if beta == 0.0 else C0.copy()
        outs = [_core.sgemm(A, B, C.copy(), trans_a=True, alpha=alpha, beta=beta, bias=b,
                            act=act, nthreads=nt) for nt in (1, 2)]
        np.testing.assert_array_equal(outs[0], outs[1], err_msg=f"{isa} {shape} threads")
        ref, tol = expect(A, B, True, False, alpha, beta, C0, b, act)
        assert_close(outs[0], ref, tol, f"{isa} {shape} {alpha} {beta} {act}")


def test_isa_choice_is_clamped_and_restored():
    detected = _core.cpu_detect()
    assert detected in ISAS
    assert _core.set_cpu_isa("generic") == "generic"
    assert _core.cpu_isa() == "generic"
    got = _core.set_cpu_isa("avx512")
    assert got == detected  # never above what the CPU has
    assert _core.cpu_isa() == detected
    with pytest.raises(ValueError, match="'avx2'"):
        _core.set_cpu_isa("sse9")


@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("shape", [(1, 1, 1), (5, 7, 9), (33, 65, 130), (13, 2048, 3)], ids=str)
def test_sgemm_reference(shape, ta, tb):
    M, N, K = shape
    rng = np.random.default_rng(3)
    A, B = operands(rng, M, N, K, ta, tb)
    bias = rng.standard_normal(N).astype(np.float32)
    C = np.full((M, N), np.nan, np.float32)
    ref, tol = expect(A, B, ta, tb, 0.5, 0.0, None, bias, "sigmoid")
    _core.sgemm(A, B, C, trans_a=ta, trans_b=tb, alpha=0.5, bias=bias, act="sigmoid",
                reference=True)
    assert_close(C, ref, tol, f"reference {shape}")
    C1 = rng.standard_normal((M, N)).astype(np.float32)
    C2 = C1.copy()
    _core.sgemm(A, B, C1, trans_a=ta, trans_b=tb, beta=-1.0, reference=True)
    ref, tol = expect(A, B, ta, tb, 1.0, -1.0, C2)
    assert_close(C1, ref, tol, f"reference {shape} beta")


def test_sgemm_argument_errors():
    A, B = np.ones((3, 4), np.float32), np.ones((5, 2), np.float32)
    with pytest.raises(ValueError, match="inner dimensions differ: 4 and 5"):
        _core.sgemm(A, B)
    B = np.ones((4, 2), np.float32)
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\)"):
        _core.sgemm(A, B, bias=np.ones(3))
    with pytest.raises(ValueError, match=r"shape \(3, 2\)"):
        _core.sgemm(A, B, np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="float32"):
        _core.sgemm(A, B, np.zeros((3, 2), np.float64))
    with pytest.raises(ValueError, match="'relu'"):
        _core.sgemm(A, B, act="relu6")
    with pytest.raises(ValueError, match="2-D"):
        _core.sgemm(np.ones(3), B)


PACKED_SHAPES = [  # M, N, K: the recurrent steps, ragged slivers, several kc blocks
    (1, 1, 1), (1, 33, 5), (3, 16, 7), (32, 1024, 256), (32, 256, 1024), (13, 97, 1031),
    (40, 480, 160), (7, 31, 600), (200, 64, 48),
]


@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("shape", PACKED_SHAPES, ids=str)
def test_sgemm_with_b_packed_once(isa, shape, tb):
    M, N, K = shape
    rng = np.random.default_rng(M * N + K)
    A, B = operands(rng, M, N, K, False, tb)
    C0 = rng.standard_normal((M, N)).astype(np.float32)
    bias = rng.standard_normal(N).astype(np.float32)
    ref, tol = expect(A, B, False, tb, alpha=0.5, beta=1.5, C=C0, bias=bias, act="tanh")
    outs = []
    for nt in (1, 2):
        C = C0.copy()
        _core.sgemm(A, B, C, trans_b=tb, alpha=0.5, beta=1.5, bias=bias, act="tanh",
                    nthreads=nt, packed=True)
        assert_close(C, ref, tol, f"{isa} packed {shape} tb={tb}")
        outs.append(C)
    np.testing.assert_array_equal(outs[0], outs[1], err_msg=f"{isa} packed {shape}: 1 vs 2 "
                                                            f"threads")
    C = _core.sgemm(A, B, trans_b=tb, beta=0.0, packed=True)  # beta 0 never reads C
    assert_close(C, *expect(A, B, False, tb), f"{isa} packed {shape} beta 0")
