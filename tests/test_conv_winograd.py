"""Winograd's F(2x2, 3x3) path of CONV2D (src/ops/conv_winograd.c), taken by
3x3 kernels with unit stride and dilation, one group and at least 16
channels on each side: forward and every gradient against the float64 numpy
reference, finite differences, the reference twin and two threads
(tests/opcheck.py), over paddings and odd or tiny images whose last tile
row or column is cut; and against the im2col path it replaces."""

import numpy as np
import pytest

from dagnet import _core
from opcheck import check_op, run_op
from test_conv_ops import conv2d_np
from test_ops import FUSABLE, act_attrs, act_np

MIN_CHANNELS = 16  # DN_WINO_MIN_CHANNELS


ALWAYS, BY_SIZE, NEVER = 2, 1, 0


@pytest.fixture(autouse=True)
def winograd_always():
    """Winograd wherever it can run, small images included (by default it
    waits for 16 tiles of outputs)."""
    old = _core.set_conv_winograd(ALWAYS)
    yield
    _core.set_conv_winograd(old)


def conv_attrs(units, pad, act="identity", bias=True):
    a = dict(units=units, kernel=3, pad=pad, use_bias=bias, w_init="normal", w_scale=0.3,
             **act_attrs(act))
    if bias:
        a.update(b_init="normal", b_scale=0.3)
    return a


def reference(pad, act):
    def ref(xs, p):
        return act_np(act, conv2d_np(xs[0], p["weight"], p.get("bias"), 1, pad))
    return ref


@pytest.mark.parametrize("H, W, pad", [
    (4, 4, 0),             # one tile
    (5, 5, 1),             # odd output: the last tile row and column are cut
    (3, 3, 0),             # a single output pixel
    (1, 2, (1, 1, 1, 0)),  # more padding than image, asymmetric
    (4, 5, (2, 0, 0, 2)),  # padding 2 on one side only
])
def test_small_with_finite_differences(H, W, pad):
    rng = np.random.default_rng(H * 10 + W)
    x = rng.standard_normal((1, MIN_CHANNELS, H, W))
    check_op("conv2d", [x], reference(pad, "identity"), conv_attrs(MIN_CHANNELS, pad))


@pytest.mark.parametrize("seed", range(8))
def test_random_shapes(seed):
    """Larger random shapes, every fusable activation, with and without a
    bias (finite differences skipped; the reference twin and float64 numpy
    stand in)."""
    rng = np.random.default_rng(100 + seed)
    C, M = (int(v) for v in rng.integers(MIN_CHANNELS, 40, size=2))
    H, W = (int(v) for v in rng.integers(1, 14, size=2))
    pad = tuple(int(v) for v in rng.integers(0, 3, size=4))
    if H + pad[0] + pad[1] < 3 or W + pad[2] + pad[3] < 3:
        pad = (1, 1, 1, 1)  # an empty output otherwise
    n = int(rng.integers(1, 6))
    act = FUSABLE[seed % len(FUSABLE)]
    x = rng.standard_normal((n, C, H, W))
    check_op("conv2d", [x], reference(pad, act), conv_attrs(M, pad, act, bias=seed % 3 != 2),
             fd=False, rtol=2e-4, atol=2e-4)


def test_threads_over_samples_and_chunks():
    """Enough samples for threads over samples and for several weight
    gradient chunks: bit-identical on 1 and 2 threads, close to the twin."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((11, 24, 16, 15))
    check_op("conv2d", [x], reference(1, "relu"), conv_attrs(32, 1, "relu"), fd=False,
             rtol=2e-4, atol=2e-4)


def test_equals_im2col_path():
    """The two fast paths agree to float32 rounding: output, input gradient,
    weight and bias gradients."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 20, 9, 10))
    G = rng.standard_normal((3, 24, 9, 10))
    attrs = conv_attrs(24, 1, "relu")
    runs = []
    for mode in (ALWAYS, NEVER):
        _core.set_conv_winograd(mode)
        runs.append(run_op("conv2d", [x], attrs, G=G))
    (o1, g1, p1, _), (o2, g2, p2, _) = runs
    assert not np.array_equal(o1, o2)  # two different computations
    np.testing.assert_allclose(o1, o2, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(g1[0], g2[0], rtol=1e-4, atol=1e-4)
    for k in p1:
        np.testing.assert_allclose(p1[k], p2[k], rtol=1e-4, atol=1e-3)


def test_default_mode_follows_the_output_size():
    """By default small outputs keep im2col (bit for bit the NEVER mode) and
    outputs of 16 tiles (8x8) or more take Winograd."""
    rng = np.random.default_rng(10)
    for H, winograd in ((6, False), (8, True)):
        x = rng.standard_normal((2, 16, H, H))
        outs = []
        for mode in (BY_SIZE, NEVER):
            _core.set_conv_winograd(mode)
            outs.append(run_op("conv2d", [x], conv_attrs(16, 1))[0])
        assert np.array_equal(outs[0], outs[1]) != winograd


def test_narrow_layers_keep_im2col():
    """Below 16 channels on either side the switch changes nothing: the
    im2col path runs either way, bit for bit."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 8, 6, 6))
    G = rng.standard_normal((2, 32, 6, 6))
    runs = []
    for mode in (ALWAYS, NEVER):
        _core.set_conv_winograd(mode)
        runs.append(run_op("conv2d", [x], conv_attrs(32, 1), G=G))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][2]["weight"], runs[1][2]["weight"])


def test_one_sample_alone_equals_it_in_a_batch():
    """Each sample runs alone through the same products, so predicting it
    alone (the products then split across threads) gives the bits it gets
    in a batch: scikit-learn's subset-invariance check relies on it."""
    g = _core.Graph()
    x = g.add_input((16, 12, 12))
    g.set_outputs([g.add_node("conv2d", [x], units=32, kernel=3, pad=1, act="relu")])
    g.compile(0)
    X = np.random.default_rng(11).standard_normal((7, 16, 12, 12)).astype(np.float32)
    full = g.predict([X], 0, chunk=7, nthreads=2)
    for i in range(7):
        np.testing.assert_array_equal(g.predict([X[i:i + 1]], 0, chunk=1, nthreads=2)[0], full[i])
