"""padding='same' of Conv2D for any stride and dilation, as TensorFlow
defines it, and of Conv2DTranspose (output H stride): output shapes over
random sizes against the formula, the layers' forward against float64
numpy references with the padding worked out here, the core ops with those
(often uneven) paddings through check_op, and shape inference before
compile (Graph.infer_shape), which the strided case needs."""

import numpy as np
import pytest

from dagnet import _core
from dagnet.nn import Conv2D, Conv2DTranspose, Input, Model, Sequential
from opcheck import check_op
from test_conv_ops import conv2d_np, conv2d_transpose_np


def tf_same(size, k, s, d):
    """TensorFlow's 'same' along one axis: (output, before, after), output
    ceil(size / s), total max((output - 1) s + (k - 1) d + 1 - size, 0),
    before = total // 2."""
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return out, total // 2, total - total // 2


def test_tf_same_worked_examples():
    # H = 7, k = 3, s = 2: 4 outputs; (4 - 1) 2 + 3 - 7 = 2 rows, 1 above and 1 below.
    # H = 8: still 4 outputs; 6 + 3 - 8 = 1 row, below (TensorFlow puts the odd one last).
    # H = 5, k = 1, s = 3: 2 outputs; 3 + 1 - 5 < 0, no padding.
    assert tf_same(7, 3, 2, 1) == (4, 1, 1)
    assert tf_same(8, 3, 2, 1) == (4, 0, 1)
    assert tf_same(5, 1, 3, 1) == (2, 0, 0)
    assert tf_same(9, 3, 1, 2) == (9, 2, 2)


def random_cases(n, seed):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield dict(H=int(rng.integers(1, 14)), W=int(rng.integers(1, 14)),
                   k=(int(rng.integers(1, 6)), int(rng.integers(1, 6))),
                   s=(int(rng.integers(1, 5)), int(rng.integers(1, 5))),
                   d=(int(rng.integers(1, 4)), int(rng.integers(1, 4))))


@pytest.mark.parametrize("seed", range(4))
def test_conv2d_same_shapes_and_values(seed):
    rng = np.random.default_rng(100 + seed)
    for c in random_cases(10, seed):
        oh, pt, pb = tf_same(c["H"], c["k"][0], c["s"][0], c["d"][0])
        ow, pl, pr = tf_same(c["W"], c["k"][1], c["s"][1], c["d"][1])
        m = Sequential([Conv2D(3, c["k"], stride=c["s"], dilation=c["d"], padding="same",
                               bias_initializer="normal", bias_scale=0.5, name="c")])
        m.build(input_shape=(2, c["H"], c["W"]), random_state=seed)
        x = rng.standard_normal((2, 2, c["H"], c["W"])).astype(np.float32)
        out = m.forward(x)
        assert out.shape == (2, 3, oh, ow), c
        p = m.parameters()
        expect = conv2d_np(x.astype(float), p["c.weight"].astype(float),
                           p["c.bias"].astype(float), c["s"], (pt, pb, pl, pr), c["d"])
        np.testing.assert_allclose(out, expect, rtol=1e-5, atol=1e-5, err_msg=str(c))


@pytest.mark.parametrize("seed", range(3))
def test_conv2d_transpose_same_shapes_and_values(seed):
    rng = np.random.default_rng(200 + seed)
    for c in random_cases(8, 10 + seed):
        m = Sequential([Conv2DTranspose(2, c["k"], stride=c["s"], dilation=c["d"],
                                        padding="same", bias_initializer="normal",
                                        bias_scale=0.5, name="t")])
        m.build(input_shape=(3, c["H"], c["W"]), random_state=seed)
        x = rng.standard_normal((2, 3, c["H"], c["W"])).astype(np.float32)
        out = m.forward(x)
        assert out.shape == (2, 2, c["H"] * c["s"][0], c["W"] * c["s"][1]), c
        # the gradient of a 'same' convolution of an (H s, W s) image: its padding
        _, pt, pb = tf_same(c["H"] * c["s"][0], c["k"][0], c["s"][0], c["d"][0])
        _, pl, pr = tf_same(c["W"] * c["s"][1], c["k"][1], c["s"][1], c["d"][1])
        full = conv2d_transpose_np(x.astype(float), m.parameters()["t.weight"].astype(float),
                                   m.parameters()["t.bias"].astype(float), c["s"], 0, 0, c["d"])
        # crop the padding; rows the kernel never reaches hold the bias alone
        Ho, Wo = out.shape[2:]
        expect = np.broadcast_to(m.parameters()["t.bias"][None, :, None, None],
                                 out.shape).astype(float).copy()
        crop = full[:, :, pt:pt + Ho, pl:pl + Wo]
        expect[:, :, :crop.shape[2], :crop.shape[3]] = crop
        np.testing.assert_allclose(out, expect, rtol=1e-5, atol=1e-5, err_msg=str(c))


@pytest.mark.parametrize("case", [
    dict(H=8, W=7, k=3, s=2, d=1),      # odd padding at the bottom only
    dict(H=6, W=9, k=4, s=3, d=1),
    dict(H=7, W=7, k=3, s=2, d=2),
])
def test_conv2d_op_with_same_padding(case):
    """Forward, finite-difference gradients, reference twin and threads of
    the core op with the padding 'same' gives."""
    _, pt, pb = tf_same(case["H"], case["k"], case["s"], case["d"])
    _, pl, pr = tf_same(case["W"], case["k"], case["s"], case["d"])
    pad = (pt, pb, pl, pr)
    x = np.random.default_rng(5).standard_normal((2, 2, case["H"], case["W"]))
    attrs = dict(units=3, kernel=case["k"], stride=case["s"], pad=pad, dilation=case["d"],
                 b_init="normal", b_scale=0.3)

    def ref(xs, p):
        return conv2d_np(xs[0], p["weight"], p["bias"], case["s"], pad, case["d"])
    check_op("conv2d", [x], ref, attrs)


def test_same_in_a_deeper_model():
    """The input's shape is inferred while the model is built: two strided
    'same' convolutions after another layer."""
    x = Input((1, 13, 10))
    h = Conv2D(4, 3, padding="same", name="a")(x)
    h = Conv2D(4, 3, stride=2, padding="same", name="b")(h)
    y = Conv2D(2, 5, stride=3, dilation=2, padding="same", name="c")(h)
    out = Model(x, y).build(random_state=0).forward(np.zeros((1, 1, 13, 10)))
    assert out.shape == (1, 2, 3, 2)  # 13 -> 13 -> 7 -> 3, 10 -> 10 -> 5 -> 2


def test_infer_shape_before_compile():
    g = _core.Graph()
    x = g.add_input((2, 9, 9))
    c = g.add_node("conv2d", [x], units=4, kernel=(3, 3), stride=(2, 2))
    assert g.infer_shape(c) == ((4, 4, 4), True)
    bad = g.add_node("conv2d", [x], units=4, kernel=(11, 11))
    with pytest.raises(ValueError, match="conv2d"):
        g.infer_shape(bad)


def test_same_errors():
    with pytest.raises(ValueError, match="leave output_padding at 0"):
        Sequential([Conv2DTranspose(2, 3, stride=2, padding="same", output_padding=1)]).build(
            input_shape=(1, 4, 4))
    with pytest.raises(ValueError, match="channels, height, width"):
        Sequential([Conv2D(3, 3, stride=2, padding="same")]).build(input_shape=(64,))
