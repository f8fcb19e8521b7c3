"""The VAE's ops (reparameterize, gaussian_kl, vae_loss) and the spectrally
normalised dense layer against float64 numpy and finite differences."""

import numpy as np

from dagnet import _core
from opcheck import check_op, run_op

RNG = np.random.default_rng(0)


def _eval_eps(shape):
    """The fixed inference draw of reparameterize: z at mu = 0, logvar = 0."""
    z, _, _, _ = run_op("reparameterize", [np.zeros(shape), np.zeros(shape)], {})
    return z.astype(np.float64)


def test_reparameterize_matches_numpy_and_finite_differences():
    mu, lv = RNG.normal(size=(5, 3)), RNG.normal(size=(5, 3)) * 0.5
    eps = _eval_eps((5, 3))
    # one draw shared by every sample at inference
    np.testing.assert_array_equal(eps, np.broadcast_to(eps[0], eps.shape))
    check_op("reparameterize", [mu, lv], lambda x, p: x[0] + np.exp(x[1] / 2) * eps)


def test_reparameterize_training_draws_are_standard_normal():
    n = 20000
    z, _, _, _ = run_op("reparameterize", [np.full((n, 2), 1.5), np.full((n, 2), np.log(4.0))],
                        {}, training=True)
    assert abs(z.mean() - 1.5) < 0.05 and abs(z.std() - 2.0) < 0.05
    z2, _, _, _ = run_op("reparameterize", [np.full((n, 2), 1.5), np.full((n, 2), np.log(4.0))],
                         {}, training=True, nthreads=2)
    np.testing.assert_array_equal(z, z2)


def _kl(mu, lv):
    return 0.5 * np.sum(mu ** 2 + np.exp(lv) - lv - 1, axis=1, keepdims=True)


def test_gaussian_kl_matches_numpy_and_finite_differences():
    check_op("gaussian_kl", [RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))],
             lambda x, p: _kl(x[0], x[1]))


def test_gaussian_kl_is_zero_at_standard_normal_and_equals_monte_carlo():
    kl, _, _, _ = run_op("gaussian_kl", [np.zeros((2, 4)), np.zeros((2, 4))], {})
    np.testing.assert_array_equal(kl, 0)
    mu, lv = np.array([[0.7, -1.2]]), np.array([[0.3, -0.8]])
    kl, _, _, _ = run_op("gaussian_kl", [mu, lv], {})
    # Monte Carlo: E_q[log q(z) - log p(z)] with z ~ q
    rng = np.random.default_rng(1)
    s = np.exp(lv / 2)
    z = mu + s * rng.standard_normal((400000, 2))
    logq = -0.5 * (((z - mu) / s) ** 2 + lv + np.log(2 * np.pi))
    logp = -0.5 * (z ** 2 + np.log(2 * np.pi))
    mc = np.mean(np.sum(logq - logp, axis=1))
    assert kl[0, 0] > 0 and abs(kl[0, 0] - mc) < 0.01


def _build_vae_loss(loss, beta):
    def build(g, ids):
        return g.add_node("vae_loss", ids, loss=loss, scale=beta)
    return build


def test_vae_loss_matches_numpy_and_finite_differences():
    n, d = 5, 4
    z, w, pen = RNG.normal(size=(n, d)), RNG.uniform(0.5, 2, size=(n, 1)), RNG.uniform(size=(n, 1))
    for loss, t in (("binary_cross_entropy", RNG.uniform(size=(n, d))),
                    ("squared_error", RNG.normal(size=(n, d)))):
        def ref(x, p, loss=loss):
            if loss == "squared_error":
                rec = 0.5 * np.sum((x[0] - x[1]) ** 2, axis=1)
            else:
                rec = np.sum(np.logaddexp(0, x[0]) - x[1] * x[0], axis=1)
            return np.sum(x[2][:, 0] * (rec + 0.5 * x[3][:, 0])) / np.sum(x[2])
        check_op("vae_loss", [z, t, w, pen], ref, build=_build_vae_loss(loss, 0.5),
                 check_inputs=[0, 3])


def test_spectral_linear_matches_numpy_at_the_top_singular_vector():
    n_in, units = 5, 3
    W = RNG.normal(size=(n_in, units))
    b = RNG.normal(size=units)
    u = np.linalg.svd(W)[2][0]  # W's top right singular vector: the converged state

    def ref(x, p):
        sigma = np.linalg.norm(p["weight"], 2)
        return x[0] @ (p["weight"] / sigma) + p["bias"]
    check_op("spectral_linear", [RNG.normal(size=(4, n_in))], ref, attrs={"units": units},
             params={"weight": W, "bias": b, "u": u})


def test_spectral_power_iteration_finds_the_largest_singular_value():
    g = _core.Graph()
    x = g.add_input((6,))
    g.set_outputs([g.add_node("spectral_linear", [x], units=4, use_bias=False)])
    g.compile(seed=3)
    W = g.params()[0][2]
    W[...] = RNG.normal(size=W.shape)
    for _ in range(100):  # every training forward is one power-iteration step
        g.forward([np.eye(6, dtype=np.float32)], training=True)
    out = g.forward([np.eye(6, dtype=np.float32)])[0]  # W / sigma
    sigma = W[0, 0] / out[0, 0]
    np.testing.assert_allclose(sigma, np.linalg.svd(W.astype(np.float64))[1][0], rtol=1e-5)


def test_weight_clipping_in_the_optimiser():
    w = np.array([0.5, -0.3, 0.001], dtype=np.float32)
    grads = np.array([-1, 1, 0], dtype=np.float32)
    _core.optim_step("sgd", [w], [grads], [[]], 1, lr=0.1, clip_value=0.01)
    np.testing.assert_array_equal(w, np.float32([0.01, -0.01, 0.001]))
