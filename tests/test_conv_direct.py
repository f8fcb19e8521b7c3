"""The direct path of CONV2D (src/ops/conv_direct.c), taken by grouped and
depthwise layers with at most 4 input channels per group and by layers of
one group over 1-4 input channels with large enough outputs (24x24, or 16x16
for at most 16 output channels); and im2col through the phases of
each channel, which conv.c uses for every stride, dilation or padding that
is not unit-stride "same" width. Forward and every gradient against the
float64 numpy reference, finite differences, the reference twin and two
threads (tests/opcheck.py), with the kernels of every instruction set this
machine has."""

import numpy as np
import pytest

from dagnet import _core
from opcheck import check_op
from test_conv_ops import conv2d_np, conv2d_transpose_np
from test_gemm import isa  # noqa: F401  (the instruction-set fixture)
from test_ops import FUSABLE, act_attrs, act_np


def conv_attrs(units, kernel, stride=1, pad=0, dilation=1, groups=1, act="identity",
               bias=True):
    a = dict(units=units, kernel=kernel, stride=stride, pad=pad, dilation=dilation,
             groups=groups, use_bias=bias, w_init="normal", w_scale=0.3, **act_attrs(act))
    if bias:
        a.update(b_init="normal", b_scale=0.3)
    return a


def reference(stride=1, pad=0, dilation=1, groups=1, act="identity"):
    def ref(xs, p):
        return act_np(act, conv2d_np(xs[0], p["weight"], p.get("bias"), stride, pad, dilation,
                                     groups))
    return ref


def check(x, units, kernel, stride=1, pad=0, dilation=1, groups=1, act="identity", bias=True,
          **kw):
    return check_op("conv2d", [x], reference(stride, pad, dilation, groups, act),
                    conv_attrs(units, kernel, stride, pad, dilation, groups, act, bias), **kw)


# (n, C, H, W, units, kernel, stride, pad, dilation, groups)
DEPTHWISE = [
    (2, 3, 6, 7, 3, 3, 1, 1, 1, 3),              # 3x3 "same"
    (1, 2, 9, 8, 2, 5, 2, 2, 1, 2),              # 5x5, stride 2
    (1, 2, 7, 7, 2, 7, 1, 3, 1, 2),              # 7x7, "same"
    (2, 2, 5, 6, 4, 3, 1, 1, 1, 2),              # two outputs per channel
    (1, 3, 8, 7, 3, 3, (2, 1), (1, 0, 2, 1), 1, 3),  # mixed strides, asymmetric padding
    (1, 2, 9, 9, 2, 3, 1, 2, 2, 2),              # dilation 2
    (1, 2, 10, 9, 2, 3, 3, 0, 1, 2),             # stride 3, no padding
    (1, 2, 5, 5, 2, 1, 2, 1, 1, 2),              # 1x1 with stride and padding
    (1, 2, 2, 3, 2, 3, 1, 2, 1, 2),              # more padding than image
]
GROUPED = [
    (1, 4, 6, 6, 4, 3, 1, 1, 1, 2),              # 2 channels per group
    (1, 8, 5, 6, 4, 3, 2, 1, 1, 2),              # 4 channels in, 2 out per group
]


@pytest.mark.parametrize("case", DEPTHWISE + GROUPED)
def test_small_with_finite_differences(isa, case):
    n, C, H, W, units, k, s, p, d, G = case
    x = np.random.default_rng(((n * 10 + C) * 10 + H) * 10 + W).standard_normal((n, C, H, W))
    check(x, units, k, s, p, d, G)


@pytest.mark.parametrize("C, H, W, units, k, s, p", [
    (1, 16, 16, 4, 5, 1, 2),     # 16x16 outputs, 5x5
    (2, 24, 24, 3, 3, 1, 1),     # 24x24 outputs
    (3, 31, 32, 2, 3, 2, 1),     # 16x16 outputs with stride 2
    (1, 33, 34, 2, 7, 2, 3),     # 7x7 stride 2, odd sizes
])
def test_first_layers_with_finite_differences(isa, C, H, W, units, k, s, p):
    """One group over few channels, outputs large enough for the direct
    path; finite differences of the weights, and of the image for the
    smallest (the input gradient of a first layer is rarely asked for)."""
    x = np.random.default_rng(C * 100 + H).standard_normal((1, C, H, W))
    check(x, units, k, s, p, check_inputs=[0] if C == 1 and k == 5 else [])


@pytest.mark.parametrize("seed", range(8))
def test_random_shapes(isa, seed):
    """Random depthwise, grouped and first-layer shapes, every fusable
    activation, with and without a bias (finite differences skipped)."""
    rng = np.random.default_rng(200 + seed)
    kind = seed % 3
    k = int(rng.choice([1, 3, 5, 7]))
    s, d = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    pad = tuple(int(v) for v in rng.integers(0, k, size=4))
    if kind == 2:  # one group: an output of at least 24x24
        C, G, units, H, W = int(rng.integers(1, 5)), 1, int(rng.integers(1, 10)), 0, 0
        H = W = 24 * s + d * (k - 1)
    else:
        cig = 1 if kind == 0 else int(rng.integers(2, 5))
        G = int(rng.integers(1, 6)) + 1
        C, units = cig * G, G * int(rng.integers(1, 3))
        H, W = (int(v) + d * (k - 1) for v in rng.integers(1, 12, size=2))
    n = int(rng.integers(1, 5))
    act = FUSABLE[seed % len(FUSABLE)]
    x = rng.standard_normal((n, C, H, W))
    check(x, units, k, s, pad, d, G, act, bias=seed % 3 != 1, fd=False, rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("groups, units, k", [(24, 24, 3), (12, 24, 5), (1, 16, 5)])
def test_threads_over_samples_and_chunks(groups, units, k):
    """Enough samples for threads over samples and several weight-gradient
    chunks: bit-identical on 1 and 2 threads, close to the twin."""
    C = 24 if groups > 1 else 3
    x = np.random.default_rng(groups).standard_normal((11, C, 28, 27))
    check(x, units, k, 1, k // 2, 1, groups, "relu", fd=False, rtol=2e-4, atol=2e-4)


def test_one_sample_alone_equals_it_in_a_batch():
    """Each sample runs alone through the same kernels, so predicting it
    alone gives the bits it gets in a batch."""
    g = _core.Graph()
    x = g.add_input((8, 12, 12))
    h = g.add_node("conv2d", [x], units=8, kernel=3, pad=1, groups=8, act="relu")
    g.set_outputs([g.add_node("conv2d", [h], units=4, kernel=5, pad=2, groups=4)])
    g.compile(0)
    X = np.random.default_rng(11).standard_normal((5, 8, 12, 12)).astype(np.float32)
    full = g.predict([X], 0, chunk=5, nthreads=2)
    for i in range(5):
        np.testing.assert_array_equal(g.predict([X[i:i + 1]], 0, chunk=1, nthreads=2)[0], full[i])


# --- im2col through the phases (many channels per group) -------------------------------------

@pytest.mark.parametrize("C, H, W, units, k, s, p, d", [
    (6, 9, 8, 5, 3, 2, 1, 1),            # stride 2
    (6, 7, 9, 4, 3, 1, 0, 1),            # "valid": narrower than the image
    (5, 9, 9, 3, 3, 1, 2, 2),            # dilation
    (5, 8, 7, 3, 2, (1, 3), (0, 1, 1, 0), 1),  # mixed strides, asymmetric padding
])
def test_strided_im2col(isa, C, H, W, units, k, s, p, d):
    x = np.random.default_rng(C + H + W).standard_normal((2, C, H, W))
    check(x, units, k, s, p, d)


@pytest.mark.parametrize("stride, pad, out_pad", [(2, 0, 0), (2, 1, 1), (3, 1, 0)])
def test_strided_transpose(stride, pad, out_pad):
    """CONV2D_TRANSPOSE puts its columns back with col2im through the
    phases, and reads them with im2col in backward."""
    x = np.random.default_rng(stride + pad).standard_normal((2, 5, 4, 3))
    attrs = dict(units=6, kernel=3, stride=stride, pad=pad, out_pad=out_pad, use_bias=True,
                 w_init="normal", w_scale=0.3, b_init="normal", b_scale=0.3)

    def ref(xs, p):
        return conv2d_transpose_np(xs[0], p["weight"], p["bias"], stride, pad, out_pad)
    check_op("conv2d_transpose", [x], ref, attrs)
