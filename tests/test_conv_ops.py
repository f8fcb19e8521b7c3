"""The image ops of the core (conv2d, conv2d_transpose, maxpool2d, avgpool2d,
global_avgpool2d, upsample2d, batchnorm over channels) against float64 numpy
references: forward, finite-difference gradients of every input and
parameter, fast kernels against their reference twins and one thread
against two (tests/opcheck.py); shapes and parameter counts of the seeds'
worked examples; and the errors of bad settings."""

import numpy as np
import pytest

from dagnet import _core
from opcheck import check_op, run_op
from test_ops import FUSABLE, act_attrs, act_np


# --- float64 references ----------------------------------------------------------------------

def pad4(pad):
    if isinstance(pad, int):
        return (pad,) * 4
    return tuple(pad) if len(pad) == 4 else (pad[0], pad[0], pad[1], pad[1])


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv2d_np(x, w, b=None, stride=1, pad=0, dilation=1, groups=1):
    """Cross-correlation of x (n, C_in, H, W) with w (C_out, C_in/groups, KH, KW)."""
    (sh, sw), (dh, dw) = pair(stride), pair(dilation)
    pt, pb, pl, pr = pad4(pad)
    n, C_in, H, W = x.shape
    C_out, cig, KH, KW = w.shape
    xp = np.zeros((n, C_in, H + pt + pb, W + pl + pr))
    xp[:, :, pt:pt + H, pl:pl + W] = x
    Ho = (H + pt + pb - dh * (KH - 1) - 1) // sh + 1
    Wo = (W + pl + pr - dw * (KW - 1) - 1) // sw + 1
    y = np.zeros((n, C_out, Ho, Wo))
    cog = C_out // groups
    for g in range(groups):
        xs = xp[:, g * cig:(g + 1) * cig]
        ws = w[g * cog:(g + 1) * cog]
        for kh in range(KH):
            for kw in range(KW):
                patch = xs[:, :, kh * dh:kh * dh + sh * (Ho - 1) + 1:sh,
                           kw * dw:kw * dw + sw * (Wo - 1) + 1:sw]
                y[:, g * cog:(g + 1) * cog] += np.einsum("nchw,oc->nohw", patch, ws[:, :, kh, kw])
    if b is not None:
        y += b[None, :, None, None]
    return y


def conv2d_transpose_np(x, w, b=None, stride=1, pad=0, out_pad=0, dilation=1, groups=1):
    """Each input pixel scatters input x kernel into the output at stride
    offsets (seed 004); w (C_in, C_out/groups, KH, KW); padding crops."""
    (sh, sw), (dh, dw), (oph, opw) = pair(stride), pair(dilation), pair(out_pad)
    pt, pb, pl, pr = pad4(pad)
    n, C_in, H, W = x.shape
    _, cog, KH, KW = w.shape
    cig = C_in // groups
    Hf, Wf = (H - 1) * sh + dh * (KH - 1) + 1, (W - 1) * sw + dw * (KW - 1) + 1
    full = np.zeros((n, cog * groups, Hf + oph, Wf + opw))
    for g in range(groups):
        xs = x[:, g * cig:(g + 1) * cig]
        ws = w[g * cig:(g + 1) * cig]
        for kh in range(KH):
            for kw in range(KW):
                full[:, g * cog:(g + 1) * cog, kh * dh:kh * dh + sh * (H - 1) + 1:sh,
                     kw * dw:kw * dw + sw * (W - 1) + 1:sw] += np.einsum(
                         "nchw,co->nohw", xs, ws[:, :, kh, kw])
    Ho, Wo = Hf - pt - pb + oph, Wf - pl - pr + opw
    y = full[:, :, pt:pt + Ho, pl:pl + Wo]
    if b is not None:
        y = y + b[None, :, None, None]
    return y


def windows(x, K, stride, pad, fill):
    """x (n, C, H, W) padded with `fill`, as (n, C, Ho, Wo, KH*KW) windows."""
    (KH, KW), (sh, sw) = pair(K), pair(stride)
    pt, pb, pl, pr = pad4(pad)
    n, C, H, W = x.shape
    xp = np.full((n, C, H + pt + pb, W + pl + pr), fill, dtype=float)
    xp[:, :, pt:pt + H, pl:pl + W] = x
    Ho, Wo = (H + pt + pb - KH) // sh + 1, (W + pl + pr - KW) // sw + 1
    out = np.empty((n, C, Ho, Wo, KH * KW))
    for kh in range(KH):
        for kw in range(KW):
            out[..., kh * KW + kw] = xp[:, :, kh:kh + sh * (Ho - 1) + 1:sh,
                                        kw:kw + sw * (Wo - 1) + 1:sw]
    return out


def maxpool_np(x, K, stride, pad):
    return windows(x, K, stride, pad, -np.inf).max(-1)


def avgpool_np(x, K, stride, pad, count_pad=True):
    s = windows(x, K, stride, pad, 0.0).sum(-1)
    if count_pad:
        return s / (pair(K)[0] * pair(K)[1])
    return s / windows(np.ones_like(x), K, stride, pad, 0.0).sum(-1)


def rand_conv_case(rng, transpose=False):
    """Random settings: stride > 1, padding, dilation, groups (depthwise
    too), odd sizes, 1x1 kernels, kernels as large as the input."""
    groups = int(rng.choice([1, 1, 2, 3]))
    C_in = groups * int(rng.integers(1, 3))
    C_out = groups * int(rng.integers(1, 3))
    if rng.random() < 0.25:  # depthwise
        groups, C_out = C_in, C_in * int(rng.integers(1, 3))
    KH, KW = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    sh, sw = int(rng.integers(1, 4)), int(rng.integers(1, 3))
    dh, dw = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    pad = tuple(int(v) for v in rng.integers(0, 3, 4))
    H = int(rng.integers(1, 6)) + dh * (KH - 1)
    W = int(rng.integers(1, 6)) + dw * (KW - 1)
    if transpose:
        H, W = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        oph = int(rng.integers(0, max(sh, dh)))
        opw = int(rng.integers(0, max(sw, dw)))
        return dict(C_in=C_in, C_out=C_out, groups=groups, kernel=(KH, KW), stride=(sh, sw),
                    dilation=(dh, dw), pad=pad, out_pad=(oph, opw), H=H, W=W)
    return dict(C_in=C_in, C_out=C_out, groups=groups, kernel=(KH, KW), stride=(sh, sw),
                dilation=(dh, dw), pad=pad, H=H, W=W)


# --- conv2d ----------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(12))
def test_conv2d_random(seed):
    rng = np.random.default_rng(seed)
    c = rand_conv_case(rng)
    pt, pb, pl, pr = c["pad"]
    (KH, KW), (dh, dw) = c["kernel"], c["dilation"]
    if c["H"] + pt + pb - dh * (KH - 1) < 1 or c["W"] + pl + pr - dw * (KW - 1) < 1:
        pytest.skip("empty output")
    n = int(rng.integers(1, 4))
    x = rng.standard_normal((n, c["C_in"], c["H"], c["W"]))
    act = FUSABLE[seed % len(FUSABLE)]
    use_bias = seed % 3 != 2
    attrs = dict(units=c["C_out"], kernel=c["kernel"], stride=c["stride"], pad=c["pad"],
                 dilation=c["dilation"], groups=c["groups"], use_bias=use_bias,
                 w_init="normal", w_scale=0.5, **act_attrs(act))
    if use_bias:
        attrs.update(b_init="normal", b_scale=0.5)

    def ref(xs, p):
        y = conv2d_np(xs[0], p["weight"], p.get("bias"), c["stride"], c["pad"], c["dilation"],
                      c["groups"])
        return act_np(act, y)
    check_op("conv2d", [x], ref, attrs)


@pytest.mark.parametrize("case", [
    dict(C_in=3, C_out=4, kernel=(1, 1), stride=1, pad=0, H=5, W=4),          # 1x1 direct
    dict(C_in=2, C_out=3, kernel=(5, 4), stride=1, pad=0, H=5, W=4),          # kernel = input
    dict(C_in=2, C_out=2, kernel=(3, 3), stride=2, pad=(1, 1, 1, 1), H=7, W=6),
    dict(C_in=4, C_out=8, kernel=(3, 3), stride=1, pad=1, H=4, W=5, groups=4),  # depthwise
    dict(C_in=2, C_out=3, kernel=(1, 1), stride=2, pad=0, H=5, W=5),          # 1x1 strided
    dict(C_in=2, C_out=2, kernel=(2, 2), stride=1, pad=(0, 1, 1, 0), H=3, W=3, dilation=2),
])
def test_conv2d_cases(case):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, case["C_in"], case["H"], case["W"]))
    g = case.get("groups", 1)
    attrs = dict(units=case["C_out"], kernel=case["kernel"], stride=case["stride"],
                 pad=case["pad"], dilation=case.get("dilation", 1), groups=g,
                 b_init="normal", b_scale=0.3)

    def ref(xs, p):
        return conv2d_np(xs[0], p["weight"], p["bias"], case["stride"], case["pad"],
                         case.get("dilation", 1), g)
    check_op("conv2d", [x], ref, attrs)


@pytest.mark.parametrize("groups", [1, 2, 16])
def test_conv2d_threads_large(groups):
    """Shapes large enough for threads over samples and chunks: fast vs
    reference, 1 vs 2 threads bit-identical (no finite differences)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((9, 16, 12, 11))
    attrs = dict(units=32, kernel=3, stride=1, pad=1, groups=groups, act="relu")

    def ref(xs, p):
        return np.maximum(conv2d_np(xs[0], p["weight"], p["bias"], 1, 1, 1, groups), 0)
    check_op("conv2d", [x], ref, attrs, fd=False, rtol=1e-4, atol=1e-4)


def test_conv2d_transpose_large_threads():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((9, 16, 8, 7))
    attrs = dict(units=12, kernel=3, stride=2, pad=1, out_pad=1)

    def ref(xs, p):
        return conv2d_transpose_np(xs[0], p["weight"], p["bias"], 2, 1, 1)
    check_op("conv2d_transpose", [x], ref, attrs, fd=False, rtol=1e-4, atol=1e-4)


# --- conv2d_transpose ------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(12))
def test_conv2d_transpose_random(seed):
    rng = np.random.default_rng(100 + seed)
    c = rand_conv_case(rng, transpose=True)
    (KH, KW), (sh, sw), (dh, dw) = c["kernel"], c["stride"], c["dilation"]
    pt, pb, pl, pr = c["pad"]
    Ho = (c["H"] - 1) * sh - pt - pb + dh * (KH - 1) + c["out_pad"][0] + 1
    Wo = (c["W"] - 1) * sw - pl - pr + dw * (KW - 1) + c["out_pad"][1] + 1
    if Ho < 1 or Wo < 1:  # cropped away: keep the case without padding
        c["pad"] = (0, 0, 0, 0)
    n = int(rng.integers(1, 4))
    x = rng.standard_normal((n, c["C_in"], c["H"], c["W"]))
    act = FUSABLE[seed % len(FUSABLE)]
    attrs = dict(units=c["C_out"], kernel=c["kernel"], stride=c["stride"], pad=c["pad"],
                 out_pad=c["out_pad"], dilation=c["dilation"], groups=c["groups"],
                 w_init="normal", w_scale=0.5, b_init="normal", b_scale=0.5, **act_attrs(act))

    def ref(xs, p):
        y = conv2d_transpose_np(xs[0], p["weight"], p["bias"], c["stride"], c["pad"],
                                c["out_pad"], c["dilation"], c["groups"])
        return act_np(act, y)
    check_op("conv2d_transpose", [x], ref, attrs)


def test_conv2d_transpose_seed004_example():
    """Seed 004, transposed convolution: stride 2, I = K = [[0,1],[2,3]]."""
    I = np.array([[0.0, 1.0], [2.0, 3.0]])
    out, _, _, _ = run_op("conv2d_transpose", [I[None, None]],
                          dict(units=1, kernel=2, stride=2, use_bias=False),
                          params={"weight": I[None, None]})
    expect = [[0, 0, 0, 1], [0, 0, 2, 3], [0, 2, 0, 3], [4, 6, 6, 9]]
    np.testing.assert_array_equal(out[0, 0], expect)


def test_conv2d_transpose_is_conv_input_gradient():
    """conv2d_transpose(G) equals the gradient of conv2d w.r.t. its input
    for upstream gradient G, same weight."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 4, 9, 8)).astype(np.float32)
    w = rng.standard_normal((6, 2, 3, 3)).astype(np.float32)
    conv = dict(kernel=3, stride=2, pad=(1, 0, 1, 1), dilation=1, groups=2, use_bias=False)
    G = rng.standard_normal((2, 6, 4, 4)).astype(np.float32)
    _, gin, _, _ = run_op("conv2d", [x], dict(units=6, **conv), params={"weight": w}, G=G)
    # output padding restores what the stride dropped: 9 = (4-1)*2 - 1 + 2 + 1 + 1 and
    # 8 = (4-1)*2 - 2 + 2 + 1 + 1
    y, _, _, _ = run_op("conv2d_transpose", [G], dict(units=4, out_pad=(1, 1), **conv),
                        params={"weight": w})
    assert y.shape == x.shape
    np.testing.assert_allclose(y, gin[0], rtol=1e-5, atol=1e-5)


# --- pools and upsampling ----------------------------------------------------------------------

POOL_CASES = [
    dict(kernel=2, stride=None, pad=0, shape=(3, 4, 6)),
    dict(kernel=2, stride=None, pad=0, shape=(2, 5, 7)),   # odd: last row/column dropped
    dict(kernel=3, stride=2, pad=1, shape=(2, 5, 6)),
    dict(kernel=(3, 2), stride=(1, 2), pad=(1, 0, 0, 1), shape=(1, 4, 5)),
    dict(kernel=(4, 3), stride=1, pad=0, shape=(2, 4, 3)),  # window = input
    dict(kernel=1, stride=1, pad=0, shape=(2, 3, 3)),
]


def pool_attrs(case):
    a = dict(kernel=case["kernel"], pad=case["pad"])
    if case["stride"] is not None:
        a["stride"] = case["stride"]
    return a


@pytest.mark.parametrize("case", POOL_CASES)
def test_maxpool2d(case):
    rng = np.random.default_rng(0)
    # distinct values: the argmax is unique and finite differences stay inside a window
    x = rng.permutation(np.prod((2,) + case["shape"])).reshape((2,) + case["shape"]) * 0.1
    stride = case["stride"] or case["kernel"]
    check_op("maxpool2d", [x], lambda xs, p: maxpool_np(xs[0], case["kernel"], stride,
                                                        case["pad"]), pool_attrs(case))


@pytest.mark.parametrize("count_pad", [True, False])
@pytest.mark.parametrize("case", POOL_CASES)
def test_avgpool2d(case, count_pad):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2,) + case["shape"])
    stride = case["stride"] or case["kernel"]
    check_op("avgpool2d", [x],
             lambda xs, p: avgpool_np(xs[0], case["kernel"], stride, case["pad"], count_pad),
             dict(pool_attrs(case), count_pad=count_pad))


def test_pools_large_threads():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((8, 16, 18, 17))
    check_op("maxpool2d", [x], lambda xs, p: maxpool_np(xs[0], 2, 2, 0), dict(kernel=2),
             fd=False)
    check_op("avgpool2d", [x], lambda xs, p: avgpool_np(xs[0], 3, 2, 1), dict(kernel=3, stride=2,
             pad=1), fd=False)
    check_op("global_avgpool2d", [x], lambda xs, p: xs[0].mean(axis=(2, 3)), fd=False)
    check_op("upsample2d", [x], lambda xs, p: xs[0].repeat(2, 2).repeat(3, 3),
             dict(factor=(2, 3)), fd=False)


@pytest.mark.parametrize("shape", [(3, 4, 5), (1, 1, 1), (2, 7, 3)])
def test_global_avgpool2d(shape):
    x = np.random.default_rng(3).standard_normal((3,) + shape)
    out = check_op("global_avgpool2d", [x], lambda xs, p: xs[0].mean(axis=(2, 3)))[0]
    assert out.shape == (3, shape[0])


@pytest.mark.parametrize("factor", [1, 2, (2, 3), (3, 1)])
def test_upsample2d(factor):
    fh, fw = pair(factor)
    x = np.random.default_rng(4).standard_normal((2, 3, 3, 4))
    check_op("upsample2d", [x], lambda xs, p: xs[0].repeat(fh, 2).repeat(fw, 3),
             dict(factor=factor))


def test_pool_halves_seed004():
    """Seed 004: a 2x2 window with stride 2 halves H and W, max and average."""
    x = np.arange(2 * 3 * 8 * 8, dtype=np.float32).reshape(2, 3, 8, 8)
    for op in ("maxpool2d", "avgpool2d"):
        out = run_op(op, [x], dict(kernel=2))[0]
        assert out.shape == (2, 3, 4, 4)
    out = run_op("maxpool2d", [x], dict(kernel=2))[0]
    np.testing.assert_array_equal(out, x[:, :, 1::2, 1::2])


# --- batch normalisation over channels ---------------------------------------------------------

def test_batchnorm_images_per_channel():
    """BATCHNORM with the channel axis (1 of the full NCHW tensor, 0 of the
    per-sample (C, H, W)) normalises each channel over batch, H and W."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 3, 5, 6)) * 2 + 1

    def ref(xs, p):
        v = xs[0]
        m = v.mean(axis=(0, 2, 3), keepdims=True)
        s = v.var(axis=(0, 2, 3), keepdims=True)
        return ((v - m) / np.sqrt(s + 1e-5) * p["gamma"][None, :, None, None]
                + p["beta"][None, :, None, None])
    params = {"gamma": rng.standard_normal(3), "beta": rng.standard_normal(3)}
    check_op("batchnorm", [x], ref, dict(axis=1), params=params, training=True)


# --- shapes and parameter counts of the seeds ---------------------------------------------------

def test_seed004_shapes_and_parameters():
    """Seed 004 Fig. 4.1: 32x32x3 -> (5x5x3x6) -> 28x28x6 -> (5x5x6x10) ->
    24x24x10, with 456 and 1510 parameters (one bias per filter; seed 002
    section 5 counts N(cwh + 1) the same way)."""
    g = _core.Graph()
    x = g.add_input((3, 32, 32))
    c1 = g.add_node("conv2d", [x], units=6, kernel=5)
    c2 = g.add_node("conv2d", [c1], units=10, kernel=5)
    g.set_outputs([c2])
    g.compile()
    assert g.node_shape(c1)[0] == (6, 28, 28)
    assert g.node_shape(c2)[0] == (10, 24, 24)
    sizes = [p[2].size for p in g.params()]
    assert sizes[0] + sizes[1] == 456 and sizes[2] + sizes[3] == 1510


@pytest.mark.parametrize("N, k, s, C, filters, out, params", [
    (8, 4, 2, 1, 10, 3, 160),    # seed 003 ch. 7: 8x8, 10 filters 4x4, s = 2
    (6, 4, 2, 1, 10, 2, 160),    # 6x6, s = 2
    (6, 4, 1, 1, 10, 3, 160),    # 6x6, s = 1
    (16, 2, 1, 3, 10, 15, 120),  # 10 filters 2x2 over 3 channels
    (5, 3, 1, 1, 16, 3, 144),    # 16 filters 3x3
])
def test_seed003_counts(N, k, s, C, filters, out, params):
    """Seed 003 chapter 7's exercises: output sizes floor((N - k)/s) + 1 and
    weights without biases (the notes do not count them); multiplications =
    output positions x filters x weights per filter."""
    g = _core.Graph()
    x = g.add_input((C, N, N))
    c = g.add_node("conv2d", [x], units=filters, kernel=k, stride=s, use_bias=False)
    g.set_outputs([c])
    g.compile()
    assert g.node_shape(c)[0] == (filters, out, out)
    assert [p[2].size for p in g.params()] == [params]


def test_seed003_multiplications():
    # 10 filters 4x4, s = 2 on 8x8: 9 positions x 10 x 16 = 1440; on 6x6: 4 x 10 x 16 = 640
    for N, mults in ((8, 1440), (6, 640)):
        o = (N - 4) // 2 + 1
        assert o * o * 10 * 16 == mults


# --- errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize("op, shape, attrs, match", [
    ("conv2d", (3, 8), dict(units=2, kernel=3), "channels, height, width"),
    ("conv2d", (3, 4, 4), dict(units=2, kernel=5), "would be empty"),
    ("conv2d", (3, 4, 4), dict(units=4, kernel=1, groups=2), "must divide"),
    ("conv2d", (3, 4, 4), dict(units=0, kernel=1), "output channels"),
    ("conv2d", (3, 4, 4), dict(units=2, kernel=1, act="gelu"), "cannot be fused"),
    ("conv2d_transpose", (3, 4, 4), dict(units=2, kernel=3, stride=2, out_pad=2), "output padding"),
    ("maxpool2d", (3, 4, 4), dict(kernel=2, pad=2), "smaller than the window"),
    ("avgpool2d", (3, 1, 4), dict(kernel=2), "larger than the padded input"),
    ("global_avgpool2d", (3, 4), {}, "channels, height, width"),
    ("upsample2d", (3, 4, 4), dict(factor=0), "factors"),
])
def test_errors(op, shape, attrs, match):
    g = _core.Graph()
    x = g.add_input(shape)
    g.set_outputs([g.add_node(op, [x], **attrs)])
    with pytest.raises(ValueError, match=match):
        g.compile()
