"""The autoencoder ops of the core against float64 numpy references
(tests/opcheck.py): tied dense layers, masking and Gaussian corruption, the
L1, KL-sparsity and contractive penalties, and a loss with added terms."""

import numpy as np
import pytest

from dagnet import _core
from opcheck import check_op, run_op
from test_ops import ACT_ALPHA, FUSABLE, act_attrs, act_np


def _sp(act, h, alpha):
    """s'(a) from h = s(a) in float64, for the fusable activations."""
    return {
        "identity": lambda: np.ones_like(h),
        "relu": lambda: (h > 0).astype(float),
        "leaky_relu": lambda: np.where(h > 0, 1.0, alpha),
        "elu": lambda: np.where(h > 0, 1.0, h + alpha),
        "sigmoid": lambda: h * (1 - h),
        "tanh": lambda: 1 - h * h,
        "softplus": lambda: -np.expm1(-h),
    }[act]()


# --- tied dense layers ---------------------------------------------------------------------

@pytest.mark.parametrize("act", ["identity", "sigmoid", "relu"])
def test_linear_tied_shares_and_sums_the_weight(act):
    rng = np.random.default_rng(3)
    n, d, k = 4, 5, 3
    X = rng.standard_normal((n, d))

    def build(g, ids):
        e = g.add_node("linear", ids, units=k, act="tanh")
        g.set_name(e, "enc")
        dec = g.add_node("linear_tied", [e, e], units=d, **act_attrs(act))
        g.set_name(dec, "dec")
        return dec

    def ref(xs, p):
        h = np.tanh(xs[0] @ p["enc.weight"] + p["enc.bias"])
        return act_np(act, h @ p["enc.weight"].T + p["dec.bias"])

    _, _, pg = check_op("linear_tied", [X], ref, build=build)
    assert sorted(pg) == ["dec.bias", "enc.bias", "enc.weight"]


def test_linear_tied_errors():
    g = _core.Graph()
    x = g.add_input((5,))
    e = g.add_node("linear", [x], units=3)
    g.add_node("linear_tied", [e, e], units=4)  # W_E is (5, 3): needs units 5
    with pytest.raises(ValueError, match="weight of shape"):
        g.compile()
    g = _core.Graph()
    x = g.add_input((5,))
    g.add_node("linear_tied", [x, x], units=5)
    with pytest.raises(ValueError, match="no weight of its own"):
        g.compile()


# --- corruption ----------------------------------------------------------------------------

def test_masking_noise_zeroes_without_rescaling():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((6, 9)) + 4.0
    out, _, _, _ = run_op("masking_noise", [X], dict(rate=0.3), training=True)
    mask = out != 0
    assert 0 < mask.sum() < mask.size
    np.testing.assert_array_equal(out[mask], X.astype(np.float32)[mask])  # kept as they are
    check_op("masking_noise", [X], lambda xs, _: xs[0] * mask, dict(rate=0.3), training=True)
    out, _, _, _ = run_op("masking_noise", [X], dict(rate=0.3), training=False)
    np.testing.assert_array_equal(out, X.astype(np.float32))
    big = np.ones((400, 250))
    out, _, _, _ = run_op("masking_noise", [big], dict(rate=0.3), training=True)
    assert abs((out == 0).mean() - 0.3) < 0.01


def test_gaussian_noise_statistics_and_identity_gradient():
    X = np.zeros((300, 200))
    outs = [run_op("gaussian_noise", [X], dict(scale=0.5), training=True, nthreads=nt,
                   reference=ref)[0] for nt, ref in ((1, False), (2, False), (1, True))]
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_allclose(outs[0], outs[2], atol=1e-6)
    assert abs(outs[0].mean()) < 0.01 and abs(outs[0].std() - 0.5) < 0.01
    rng = np.random.default_rng(5)
    X = rng.standard_normal((3, 4))
    noise = run_op("gaussian_noise", [X], dict(scale=0.2), training=True)[0] - X
    check_op("gaussian_noise", [X], lambda xs, _: xs[0] + noise, dict(scale=0.2),
             training=True, rtol=1e-5, atol=1e-6)
    out, _, _, _ = run_op("gaussian_noise", [X], dict(scale=0.2), training=False)
    np.testing.assert_array_equal(out, X.astype(np.float32))


# --- penalties -----------------------------------------------------------------------------

def _weights(xs, i, n):
    """The sample weights among the inputs (input i), or ones."""
    return xs[i][:, 0] if len(xs) > i else np.ones(n)


@pytest.mark.parametrize("weighted", [False, True])
def test_l1_penalty(weighted):
    rng = np.random.default_rng(6)
    H = rng.standard_normal((5, 4))
    inputs = [H] + ([rng.uniform(0.5, 2.0, (5, 1))] if weighted else [])

    def ref(xs, _):
        w = _weights(xs, 1, len(xs[0]))
        return 0.3 * np.sum(w * np.abs(xs[0]).sum(axis=1)) / w.sum()

    check_op("l1_penalty", inputs, ref, dict(scale=0.3), check_inputs=[0])


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("rho", [0.05, 0.4])
def test_kl_sparsity(rho, weighted):
    rng = np.random.default_rng(7)
    H = rng.uniform(0.05, 0.95, (6, 5))
    inputs = [H] + ([rng.uniform(0.5, 2.0, (6, 1))] if weighted else [])

    def ref(xs, _):
        w = _weights(xs, 1, len(xs[0]))
        r = (w[:, None] * xs[0]).sum(axis=0) / w.sum()
        return 0.7 * np.sum(rho * np.log(rho / r) + (1 - rho) * np.log((1 - rho) / (1 - r)))

    check_op("kl_sparsity", inputs, ref, dict(scale=0.7, rate=rho), grad_rtol=3e-3,
             check_inputs=[0])


def _contractive_ref(act, alpha, lam):
    """lambda sum_i w_i ||J_i||_F^2 / sum_i w_i with J_i built entry by entry."""
    def ref(xs, p):
        W, b = p["weight"], p["bias"]
        h = act_np(act, xs[0] @ W + b, alpha)
        sp = _sp(act, h, alpha)
        w = _weights(xs, 1, len(h))
        total = 0.0
        for i in range(h.shape[0]):
            J = sp[i][:, None] * W.T  # (k, d): dh_j / dx_l
            total += w[i] * np.sum(J * J)
        return lam * total / w.sum()
    return ref


@pytest.mark.parametrize("act", FUSABLE)
def test_contractive_matches_the_jacobian_and_finite_differences(act):
    rng = np.random.default_rng(8)
    n, d, k = 4, 5, 3
    X = rng.standard_normal((n, d))
    alpha = ACT_ALPHA.get(act, 0.01)
    weighted = act in ("sigmoid", "relu", "tanh")
    extra = [rng.uniform(0.5, 2.0, (n, 1))] if weighted else []

    def build(g, ids):
        h = g.add_node("linear", ids[:1], units=k, **act_attrs(act))
        return g.add_node("contractive", [h, ids[0]] + ids[1:], scale=0.4, **act_attrs(act))

    # weights away from relu's kink at 0 for the finite differences
    W = rng.standard_normal((d, k))
    b = np.array([0.3, -0.2, 0.5])
    if act in ("relu", "leaky_relu", "elu"):
        X = np.abs(X) * np.sign(rng.standard_normal((n, d)))
    _, _, pg = check_op("contractive", [X] + extra, _contractive_ref(act, alpha, 0.4),
                        build=build, params=dict(weight=W, bias=b), check_inputs=[0])
    assert sorted(pg) == ["bias", "weight"]


def test_contractive_needs_the_dense_layers_activation():
    g = _core.Graph()
    x = g.add_input((4,))
    h = g.add_node("linear", [x], units=3, act="sigmoid")
    g.add_node("contractive", [h, x], scale=1.0, act="tanh")
    with pytest.raises(ValueError, match="activation it names"):
        g.compile()


# --- a loss with added terms ---------------------------------------------------------------

@pytest.mark.parametrize("weighted", [False, True])
def test_loss_adds_unbatched_terms(weighted):
    rng = np.random.default_rng(9)
    P, T = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    W = rng.uniform(0.5, 2.0, (5, 1))
    inputs = [P, T] + ([W] if weighted else [])

    def build(g, ids):
        pen = g.add_node("l1_penalty", [ids[0]], scale=0.25)
        kl = g.add_node("kl_sparsity", [g.add_node("activation", [ids[0]], act="sigmoid")],
                        scale=0.5, rate=0.2)
        return g.add_node("loss", ids + [pen, kl], loss="squared_error")

    def ref(xs, _):
        p, t = xs[0], xs[1]
        w = xs[2][:, 0] if weighted else np.ones(len(p))
        mse = np.sum(w * 0.5 * np.sum((p - t) ** 2, axis=1)) / w.sum()
        r = (1 / (1 + np.exp(-p))).mean(axis=0)
        kl = np.sum(0.2 * np.log(0.2 / r) + 0.8 * np.log(0.8 / (1 - r)))
        return mse + 0.25 * np.abs(p).sum() / len(p) + 0.5 * kl

    check_op("loss", inputs, ref, build=build, check_inputs=[0])


def test_loss_term_errors():
    g = _core.Graph()
    p = g.add_input((3,))
    t = g.add_input((3,))
    g.add_node("loss", [p, t, g.add_node("sum", [p], axis=0)])  # (3,) unbatched: not a number
    with pytest.raises(ValueError, match="added term"):
        g.compile()
    g = _core.Graph()
    ids = [g.add_input((3,)) for _ in range(2)] + [g.add_input((1,)) for _ in range(2)]
    g.add_node("loss", ids)  # a batched fourth input: neither weights nor a term
    with pytest.raises(ValueError, match="input 3 is batched"):
        g.compile()
