"""The RBM kernels of the C core (include/dagnet/rbm.h) against float64 numpy
on models small enough to enumerate: 6 visible and 4 hidden units (64 x 16
joint states), random weights of scale about 1.

Hand-worked example behind the conditionals (seed 000, 9.2): with one
visible and one hidden unit, W = [[2]], b = [0], c = [-1] and v = 1,
p(h = 1 | v) = sigmoid(-1 + 2) = 0.731, and F(v) = -0 - softplus(1) = -1.313.
"""
import itertools

import numpy as np
import pytest

from dagnet import _core as C


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def softplus(x):
    return np.logaddexp(0.0, x)


def logsumexp(x):
    m = np.max(x)
    return m + np.log(np.sum(np.exp(x - m)))


def states(n):
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


def make_model(nv=6, nh=4, scale=1.0, seed=0):
    r = np.random.RandomState(seed)
    W = (scale * r.randn(nh, nv)).astype(np.float32)
    b = (0.5 * r.randn(nv)).astype(np.float32)
    c = (0.5 * r.randn(nh)).astype(np.float32)
    return W, b, c


def free_energy_np(W, b, c, V, visible="bernoulli"):
    W, b, c, V = (np.asarray(a, np.float64) for a in (W, b, c, V))
    hid = softplus(V @ W.T + c).sum(axis=1)
    if visible == "gaussian":
        return 0.5 * ((V - b) ** 2).sum(axis=1) - hid
    return -(V @ b) - hid


def exact_log_p(W, b, c):
    """(all visible states, log p(v)) by enumeration."""
    vs = states(W.shape[1])
    neg_f = -free_energy_np(W, b, c, vs)
    return vs, neg_f - logsumexp(neg_f)


def exact_gradient(W, b, c, data):
    """The exact log-likelihood gradient (seed 000, 9.2; seed 002, section 8):
    data term minus model term, hidden statistics from probabilities."""
    W64, b64, c64 = (np.asarray(a, np.float64) for a in (W, b, c))
    D = np.asarray(data, np.float64)
    hd = sigmoid(D @ W64.T + c64)
    vs, logp = exact_log_p(W, b, c)
    p = np.exp(logp)
    hm = sigmoid(vs @ W64.T + c64)
    dW = hd.T @ D / len(D) - (hm * p[:, None]).T @ vs
    db = D.mean(0) - p @ vs
    dc = hd.mean(0) - p @ hm
    return dW, db, dc


def mean_log_lik(W, b, c, data):
    return float(np.mean(-free_energy_np(W, b, c, data)) - C.rbm_log_z_exact(W, b, c))


def toy_data(n=40, seed=1):
    """Noisy copies of three 6-bit prototypes."""
    r = np.random.RandomState(seed)
    protos = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1], [1, 0, 1, 0, 1, 0]], np.float32)
    X = protos[r.randint(0, 3, n)]
    flip = r.rand(*X.shape) < 0.05
    return np.where(flip, 1 - X, X).astype(np.float32)


# --- conditionals, samplers, scores ------------------------------------------------

@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_conditionals_match_sigmoid_formulas(visible):
    W, b, c = make_model()
    r = np.random.RandomState(3)
    V = (r.rand(50, 6) < 0.5).astype(np.float32) if visible == "bernoulli" \
        else r.randn(50, 6).astype(np.float32)
    H = (r.rand(50, 4) < 0.5).astype(np.float32)
    W64, b64, c64 = (a.astype(np.float64) for a in (W, b, c))
    ph = C.rbm_hidden_probs(W, b, c, V, visible=visible)
    np.testing.assert_allclose(ph, sigmoid(V @ W64.T + c64), rtol=1e-5, atol=1e-6)
    mv = C.rbm_visible_means(W, b, c, H, visible=visible)
    want = H @ W64 + b64
    if visible == "bernoulli":
        want = sigmoid(want)
    np.testing.assert_allclose(mv, want, rtol=1e-5, atol=1e-6)


def test_hand_worked_example():
    W, b, c = np.array([[2.0]], np.float32), np.zeros(1, np.float32), np.array([-1.0], np.float32)
    v = np.ones((1, 1), np.float32)
    assert C.rbm_hidden_probs(W, b, c, v)[0, 0] == pytest.approx(0.7310586, abs=1e-6)
    assert C.rbm_free_energy(W, b, c, v)[0] == pytest.approx(-1.3132617, abs=1e-6)


def test_conditionals_agree_with_enumeration():
    # p(h | v) from the joint e^-E equals the factorised sigmoid (seed 002, section 8)
    W, b, c = make_model()
    hs = states(4)
    v = np.array([[1, 0, 1, 1, 0, 0]], np.float64)
    neg_e = (v @ b) + hs @ c + (hs @ W.astype(np.float64) @ v.T).ravel()
    p = np.exp(neg_e - logsumexp(neg_e))
    marg = p @ hs
    np.testing.assert_allclose(C.rbm_hidden_probs(W, b, c, v.astype(np.float32))[0], marg, rtol=1e-5)


def test_samplers_follow_their_probabilities():
    P = np.tile(np.linspace(0.05, 0.95, 7, dtype=np.float32), (20000, 1))
    X = C.rbm_sample_bernoulli(P, seed=5, stream=1)
    assert set(np.unique(X)) <= {0.0, 1.0}
    np.testing.assert_allclose(X.mean(0), P[0], atol=0.015)
    # the draw is u < p with u the stream's uniforms, row r at offset + r * cols
    u = C.rng_uniform(5, 1, 7 * 3, 7).reshape(1, 7)
    np.testing.assert_array_equal(X[3:4], (u < P[3:4]).astype(np.float32))
    M = np.tile(np.float32([-1, 0, 2]), (20000, 1))
    Z = C.rbm_sample_gaussian(M, seed=5)
    np.testing.assert_allclose(Z.mean(0), M[0], atol=0.03)
    np.testing.assert_allclose(Z.std(0), 1.0, atol=0.03)


@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_free_energy_matches_numpy(visible):
    W, b, c = make_model(nv=6, nh=4)
    r = np.random.RandomState(4)
    V = (r.rand(300, 6) < 0.5).astype(np.float32) if visible == "bernoulli" \
        else r.randn(300, 6).astype(np.float32)
    want = free_energy_np(W, b, c, V, visible)
    np.testing.assert_allclose(C.rbm_free_energy(W, b, c, V, visible=visible), want,
                               rtol=1e-6, atol=1e-5)
    prev = C.set_reference_mode(True)
    try:
        np.testing.assert_allclose(C.rbm_free_energy(W, b, c, V, visible=visible), want,
                                   rtol=1e-9, atol=1e-9)
    finally:
        C.set_reference_mode(prev)


def test_pseudo_likelihood_matches_numpy():
    W, b, c = make_model(nv=6, nh=4)
    r = np.random.RandomState(4)
    V = (r.rand(300, 6) < 0.5).astype(np.float32)
    F = free_energy_np(W, b, c, V)
    want = np.zeros(len(V))
    for i in range(6):
        Vf = V.copy()
        Vf[:, i] = 1 - Vf[:, i]
        want += -softplus(-(free_energy_np(W, b, c, Vf) - F))
    np.testing.assert_allclose(C.rbm_pseudo_likelihood(W, b, c, V), want, rtol=1e-5, atol=1e-5)
    # one feature per row, scaled by n_visible: scikit-learn's score_samples
    feat = r.randint(0, 6, len(V))
    Vf = V.copy()
    Vf[np.arange(len(V)), feat] = 1 - Vf[np.arange(len(V)), feat]
    want1 = -6 * softplus(-(free_energy_np(W, b, c, Vf) - F))
    np.testing.assert_allclose(C.rbm_pseudo_likelihood(W, b, c, V, feature=feat), want1,
                               rtol=1e-5, atol=1e-5)
    prev = C.set_reference_mode(True)
    try:
        np.testing.assert_allclose(C.rbm_pseudo_likelihood(W, b, c, V), want, rtol=1e-9, atol=1e-9)
    finally:
        C.set_reference_mode(prev)


def test_pseudo_likelihood_refuses_gaussian_and_bad_features():
    W, b, c = make_model()
    with pytest.raises(ValueError, match="feature"):
        C.rbm_pseudo_likelihood(W, b, c, np.zeros((2, 6), np.float32), feature=[0, 6])
    with pytest.raises(ValueError, match="columns"):
        C.rbm_free_energy(W, b, c, np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="visible must be"):
        C.rbm_free_energy(W, b, c, np.zeros((2, 6), np.float32), visible="binary")


# --- the partition function ------------------------------------------------------------

@pytest.mark.parametrize("nv,nh", [(6, 4), (4, 6), (5, 5)])
def test_exact_log_z_equals_brute_force(nv, nh):
    W, b, c = make_model(nv, nh, seed=nv)
    vs, hs = states(nv), states(nh)
    neg_e = (vs @ b)[:, None] + (hs @ c)[None, :] + vs @ W.T.astype(np.float64) @ hs.T
    assert C.rbm_log_z_exact(W, b, c) == pytest.approx(logsumexp(neg_e.ravel()), abs=1e-9)


def test_exact_log_z_gaussian_equals_integral():
    # nv = 2: integrate e^-F(v) on a grid
    W, b, c = make_model(nv=2, nh=3, scale=0.7, seed=2)
    g = np.linspace(-12, 12, 1201)
    V = np.array(np.meshgrid(g, g)).reshape(2, -1).T
    neg_f = -free_energy_np(W, b, c, V, "gaussian")
    want = logsumexp(neg_f) + 2 * np.log(g[1] - g[0])
    assert C.rbm_log_z_exact(W, b, c, visible="gaussian") == pytest.approx(want, abs=1e-6)


def test_exact_log_z_refuses_large_layers():
    W, b, c = make_model(nv=40, nh=31, scale=0.01)
    with pytest.raises(ValueError, match="annealed importance sampling"):
        C.rbm_log_z_exact(W, b, c)


def test_ais_matches_exact_log_z():
    W, b, c = make_model(nv=6, nh=4, scale=1.0, seed=7)
    exact = C.rbm_log_z_exact(W, b, c)
    res = C.rbm_log_z_ais(W, b, c, n_runs=200, n_betas=2000, seed=3)
    assert abs(res["log_z"] - exact) < 0.1
    assert res["rel_se"] < 0.1
    assert res["log_w"].shape == (200,)
    # a larger model, beyond brute force over (v, h) but still enumerable by h
    W, b, c = make_model(nv=20, nh=10, scale=0.5, seed=8)
    exact = C.rbm_log_z_exact(W, b, c)
    base = np.log(0.3 / 0.7) * np.ones(20, np.float32)
    res = C.rbm_log_z_ais(W, b, c, n_runs=100, n_betas=3000, base_b=base, seed=1)
    assert abs(res["log_z"] - exact) < 0.1


def test_ais_gaussian_matches_exact_log_z():
    W, b, c = make_model(nv=5, nh=6, scale=0.4, seed=9)
    exact = C.rbm_log_z_exact(W, b, c, visible="gaussian")
    res = C.rbm_log_z_ais(W, b, c, visible="gaussian", n_runs=100, n_betas=2000, seed=2)
    assert abs(res["log_z"] - exact) < 0.1


def test_ais_betas_schedule():
    bt = C.rbm_ais_betas(1000)
    assert bt[0] == 0.0 and bt[-1] == 1.0 and np.all(np.diff(bt) > 0)
    assert np.sum(bt >= 0.9) > 0.6 * len(bt)  # denser near 1
    with pytest.raises(ValueError, match="start at beta = 0"):
        C.rbm_log_z_ais(*make_model(), betas=[0.1, 1.0])


# --- Gibbs sampling -------------------------------------------------------------------------

def test_long_gibbs_chain_reaches_exact_distribution():
    W, b, c = make_model(scale=1.0, seed=11)
    vs, logp = exact_log_p(W, b, c)
    start = np.zeros((100000, 6), np.float32)
    v, h, vm, hp, used = C.rbm_gibbs(W, b, c, start, k=30, seed=4)
    assert used == 30 * 100000 * (4 + 6)
    idx = (v @ (2 ** np.arange(5, -1, -1))).astype(int)
    emp = np.bincount(idx, minlength=64) / len(idx)
    assert 0.5 * np.abs(emp - np.exp(logp)).sum() < 0.02
    # outputs are consistent: v_mean are the means v was drawn from, h_prob = p(h | v)
    np.testing.assert_allclose(vm[:5], C.rbm_visible_means(W, b, c, h[:5]), rtol=1e-6)
    np.testing.assert_allclose(hp[:5], C.rbm_hidden_probs(W, b, c, v[:5]), rtol=1e-6)


def test_gibbs_from_hidden_and_gaussian():
    W, b, c = make_model(scale=0.3, seed=12)
    h0 = np.zeros((20000, 4), np.float32)
    v, h, vm, hp, _ = C.rbm_gibbs(W, b, c, h0, k=1, from_hidden=True, visible="gaussian", seed=1)
    # one step from h = 0: v ~ N(b, I), then h ~ p(h | v)
    np.testing.assert_allclose(vm[0], b, rtol=1e-6)
    np.testing.assert_allclose(v.mean(0), b, atol=0.04)
    np.testing.assert_allclose(v.std(0), 1.0, atol=0.03)
    np.testing.assert_allclose(hp, C.rbm_hidden_probs(W, b, c, v, visible="gaussian"), rtol=1e-6)


# --- training ---------------------------------------------------------------------------

def train_step_gradient(W, b, c, data, method, k, seed=0):
    """dW, db, dc of one update over the whole of `data` with lr = 1."""
    W1, b1, c1 = W.copy(), b.copy(), c.copy()
    chains = np.zeros((len(data), W.shape[0]), np.float32) if method == "pcd" else None
    C.rbm_train_epoch(W1, b1, c1, data, method=method, k=k, batch_size=len(data),
                      learning_rate=1.0, seed=seed, chains=chains)
    return W1.astype(np.float64) - W, b1.astype(np.float64) - b, c1.astype(np.float64) - c


def test_cd_and_pcd_statistics_approach_exact_gradient():
    W, b, c = make_model(scale=1.0, seed=13)
    data = np.tile(toy_data(20), (1000, 1))  # 20000 rows: many samples
    exact = exact_gradient(W, b, c, data)

    def err(g):
        return max(np.abs(gi - ei).max() for gi, ei in zip(g, exact))
    e1 = err(train_step_gradient(W, b, c, data, "cd", 1))
    e30 = err(train_step_gradient(W, b, c, data, "cd", 30))
    ep = err(train_step_gradient(W, b, c, data, "pcd", 30))
    assert e30 < 0.03 and ep < 0.03
    assert e30 < 0.5 * e1  # CD-1 is biased; longer chains remove the bias


@pytest.mark.parametrize("method,k", [("cd", 1), ("pcd", 1), ("cd", 3)])
def test_training_raises_exact_log_likelihood(method, k):
    X = toy_data(60)
    r = np.random.RandomState(0)
    W = (0.01 * r.randn(4, 6)).astype(np.float32)
    b, c = np.zeros(6, np.float32), np.zeros(4, np.float32)
    before = mean_log_lik(W, b, c, X)
    chains = np.zeros((10, 4), np.float32)
    vel = tuple(np.zeros_like(a) for a in (W, b, c))
    epoch = 0
    for _ in range(100):
        mon, epoch = C.rbm_train_epoch(W, b, c, X, method=method, k=k, batch_size=10,
                                       learning_rate=0.1, momentum=0.5, l2=1e-4, shuffle=True,
                                       monitor=True, seed=3, chains=chains, velocities=vel,
                                       epoch=epoch)
    assert epoch == 100
    after = mean_log_lik(W, b, c, X)
    assert after > before + 1.0
    assert mon is not None and mon < 1.0
    # AIS agrees with the exact value on the trained model too
    base = np.log(np.clip(X.mean(0), 0.05, 0.95) / (1 - np.clip(X.mean(0), 0.05, 0.95)))
    res = C.rbm_log_z_ais(W, b, c, n_runs=100, n_betas=2000, base_b=base, seed=2)
    assert abs(res["log_z"] - C.rbm_log_z_exact(W, b, c)) < 0.1


def test_gaussian_training_runs_and_lowers_reconstruction_error():
    r = np.random.RandomState(2)
    X = (r.randn(200, 6) @ r.randn(6, 6) * 0.3).astype(np.float32)
    X = (X - X.mean(0)) / X.std(0)
    W = (0.01 * r.randn(4, 6)).astype(np.float32)
    b, c = np.zeros(6, np.float32), np.zeros(4, np.float32)
    first, _ = C.rbm_train_epoch(W, b, c, X, method="cd", learning_rate=0.01, monitor=True,
                                 visible="gaussian")
    for e in range(1, 30):
        last, _ = C.rbm_train_epoch(W, b, c, X, method="cd", learning_rate=0.01, monitor=True,
                                    visible="gaussian", epoch=e)
    assert np.all(np.isfinite(W)) and last < first


def test_sklearn_recipe_is_scikit_learns_update():
    """One epoch of the recipe equals BernoulliRBM._fit batch by batch, written
    here in float64 numpy with the same uniforms: PCD-1, chains = batch_size
    kept as h samples from 0, batches of gen_even_slices in order, both
    statistics divided by the batch's rows. (The uniforms are read at the
    positions rbm_train.c documents for batch q: stream RBMT << 32 + epoch,
    phase 1 of (k + 1) phases of rows * (n_hidden + n_visible rounded to even).)"""
    X = toy_data(23, seed=5)
    W, b, c = make_model(scale=0.3, seed=14)
    bs, nh, nv = 5, 4, 6
    W64, b64, c64 = (a.astype(np.float64) for a in (W, b, c))
    h_samples = np.zeros((bs, nh))
    stream = (0x52424D54 << 32) + 0
    phase = bs * (nh + nv)
    for q, start in enumerate(range(0, 23, bs)):
        v_pos = X[start:start + bs].astype(np.float64)
        m = len(v_pos)
        pos0 = q * 2 * phase
        ph, pv = pos0 + phase, pos0 + phase + bs * nh
        h_pos = sigmoid(v_pos @ W64.T + c64)
        u_v = C.rng_uniform(0, stream, pv, bs * nv).reshape(bs, nv)
        v_neg = (u_v < sigmoid(h_samples @ W64 + b64)).astype(np.float64)
        h_neg = sigmoid(v_neg @ W64.T + c64)
        lr = 0.1 / m
        W64 += lr * (v_pos.T @ h_pos - v_neg.T @ h_neg).T
        c64 += lr * (h_pos.sum(0) - h_neg.sum(0))
        b64 += lr * (v_pos.sum(0) - v_neg.sum(0))
        u_h = C.rng_uniform(0, stream, ph, bs * nh).reshape(bs, nh)
        h_samples = (u_h < h_neg).astype(np.float64)
    chains = np.zeros((bs, nh), np.float32)
    C.rbm_train_epoch(W, b, c, X, method="pcd", k=1, batch_size=bs, learning_rate=0.1,
                      neg_per_batch=True, shuffle=False, seed=0, chains=chains)
    np.testing.assert_allclose(W, W64, atol=2e-6)
    np.testing.assert_allclose(b, b64, atol=2e-6)
    np.testing.assert_allclose(c, c64, atol=2e-6)
    np.testing.assert_array_equal(chains, h_samples)


def test_training_checks_its_arguments():
    W, b, c = make_model()
    X = toy_data(10)
    with pytest.raises(ValueError, match="persistent chains"):
        C.rbm_train_epoch(W, b, c, X, method="pcd")
    with pytest.raises(ValueError, match="velocities"):
        C.rbm_train_epoch(W, b, c, X, method="cd", momentum=0.5)
    with pytest.raises(ValueError, match="in place"):
        C.rbm_train_epoch(W.astype(np.float64), b, c, X, method="cd")
    with pytest.raises(ValueError, match="learning rate"):
        C.rbm_train_epoch(W, b, c, X, method="cd", learning_rate=0.0)


# --- sample weights -------------------------------------------------------------------------

def train_weighted(X, sample_weight=None, method="pcd", epochs=3, batch_size=64, chains=40,
                   shuffle=False, visible="bernoulli"):
    W, b, c = make_model(nv=X.shape[1], nh=5, scale=0.3, seed=4)
    h = np.zeros((chains, 5), np.float32) if method == "pcd" else None
    vel = tuple(np.zeros_like(a) for a in (W, b, c))
    for e in range(epochs):
        C.rbm_train_epoch(W, b, c, X, method=method, k=2, batch_size=batch_size,
                          learning_rate=0.1, momentum=0.5, l2=1e-3, shuffle=shuffle, seed=3,
                          chains=h, velocities=vel, epoch=e, visible=visible,
                          sample_weight=sample_weight)
    return W, b, c


@pytest.mark.parametrize("method", ["cd", "pcd"])
@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_unit_weights_change_nothing(method, visible):
    X = toy_data(50)
    plain = train_weighted(X, None, method, batch_size=8, shuffle=True, visible=visible)
    ones = train_weighted(X, np.ones(50), method, batch_size=8, shuffle=True, visible=visible)
    for p, q in zip(plain, ones):
        np.testing.assert_array_equal(p, q)


def test_integer_weights_equal_repeated_rows_and_zero_weights_equal_removed_rows():
    """Full-batch PCD: the chains draw the same numbers whatever the data, so
    weighting rows is exactly repeating them (up to rounding), and weight 0
    is leaving the row out."""
    X = toy_data(12)
    w = np.array([2, 1, 0, 3, 1, 1, 0, 2, 1, 1, 1, 2], np.float64)
    weighted = train_weighted(X, w)
    repeated = train_weighted(np.repeat(X, w.astype(int), axis=0))
    for p, q in zip(weighted, repeated):
        np.testing.assert_allclose(p, q, rtol=2e-5, atol=2e-6)
    kept = w > 0
    halved = train_weighted(X[kept], w[kept] / 2)  # only relative weights count
    for p, q in zip(weighted, halved):
        np.testing.assert_allclose(p, q, rtol=2e-5, atol=2e-6)


def test_zero_weight_batches_leave_the_model_alone():
    X = toy_data(20)
    before = make_model(nv=X.shape[1], nh=5, scale=0.3, seed=4)
    after = train_weighted(X, np.zeros(20), "cd", epochs=1)
    for p, q in zip(before, after):
        np.testing.assert_array_equal(p, q)


def test_bad_sample_weights_are_refused():
    W, b, c = make_model()
    X = toy_data(10)
    with pytest.raises(ValueError, match="one weight per row"):
        C.rbm_train_epoch(W, b, c, X, method="cd", sample_weight=np.ones(9))
    with pytest.raises(ValueError, match="finite and >= 0"):
        C.rbm_train_epoch(W, b, c, X, method="cd", sample_weight=-np.ones(10))


# --- determinism ----------------------------------------------------------------------------

def run_all(nthreads, seed=0):
    W, b, c = make_model(nv=30, nh=40, scale=0.2, seed=15)
    r = np.random.RandomState(6)
    X = (r.rand(500, 30) < 0.3).astype(np.float32)
    chains = np.zeros((17, 40), np.float32)
    vel = tuple(np.zeros_like(a) for a in (W, b, c))
    mon, _ = C.rbm_train_epoch(W, b, c, X, method="pcd", k=2, batch_size=32, learning_rate=0.05,
                               momentum=0.5, l2=1e-3, shuffle=True, monitor=True, seed=seed,
                               chains=chains, velocities=vel, nthreads=nthreads)
    # 2000 rows: large enough for the samplers' parallel loops
    v, h, _, _, _ = C.rbm_gibbs(W, b, c, np.tile(X, (4, 1)), k=3, seed=seed, nthreads=nthreads)
    fe = C.rbm_free_energy(W, b, c, X, nthreads=nthreads)
    pl = C.rbm_pseudo_likelihood(W, b, c, X, nthreads=nthreads)
    ais = C.rbm_log_z_ais(W, b, c, n_runs=40, n_betas=200, seed=seed, nthreads=nthreads)
    return [W, b, c, chains, np.array([mon]), v, h, fe, pl, ais["log_w"]]


def test_results_identical_for_any_thread_count_and_fixed_seed():
    one, two, again = run_all(1), run_all(2), run_all(2)
    for a, b_, c_ in zip(one, two, again):
        np.testing.assert_array_equal(a, b_)
        np.testing.assert_array_equal(b_, c_)
    other = run_all(2, seed=1)
    assert not np.array_equal(one[0], other[0])


def test_pseudo_likelihood_of_values_in_0_1_flips_to_1_minus_v():
    """Data in [0, 1] (digits / 16): flipping feature i means v_i -> 1 - v_i,
    as scikit-learn's score_samples does; the fast path equals the reference."""
    rng = np.random.default_rng(3)
    W = rng.normal(0, 0.5, (7, 9)).astype(np.float32)
    b = rng.normal(0, 0.5, 9).astype(np.float32)
    c = rng.normal(0, 0.5, 7).astype(np.float32)
    V = rng.random((13, 9)).astype(np.float32)
    fast = C.rbm_pseudo_likelihood(W, b, c, V)
    C.set_reference_mode(True)
    try:
        ref = C.rbm_pseudo_likelihood(W, b, c, V)
    finally:
        C.set_reference_mode(False)
    np.testing.assert_allclose(fast, ref, rtol=1e-5)
