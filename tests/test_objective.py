"""dn_graph_objective (the loss and gradient over a whole data set, which
L-BFGS minimises), the weight-sum regulariser of the training loop, and the
optimiser state that lets training resume where it stopped."""

import numpy as np
import pytest

from dagnet.nn import Dense, LayerNorm, Sequential


def model_and_data(loss="softmax_cross_entropy", n=37, d=5, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    if loss == "softmax_cross_entropy":
        y = rng.integers(0, k, n).astype(np.float32).reshape(-1, 1)
    elif loss == "binary_cross_entropy":
        y = rng.integers(0, 2, (n, k)).astype(np.float32)
    else:
        y = rng.standard_normal((n, k)).astype(np.float32)
    w = rng.uniform(0.0, 3.0, (n, 1)).astype(np.float32)
    model = Sequential([Dense(7, activation="tanh"), LayerNorm(), Dense(k)])
    model.build(input_shape=(d,), random_state=seed).compile(loss, "sgd")
    g, _ = model._prepare_training(X, y if loss != "softmax_cross_entropy" else y.ravel(), 8,
                                   None)
    return model, g, X, y, w


def numpy_objective(model, X, y, w, loss, l2):
    """The objective in float64 from the model's parameters."""
    p = {k: v.astype(np.float64) for k, v in model.parameters().items()}
    names = sorted(p)
    d0, ln, d1 = (sorted({n.split(".")[0] for n in names}, key=lambda s: int(s.split("_")[1])))
    h = np.tanh(X @ p[f"{d0}.weight"] + p[f"{d0}.bias"])
    mu, var = h.mean(1, keepdims=True), h.var(1, keepdims=True)
    h = (h - mu) / np.sqrt(var + 1e-5) * p[f"{ln}.gamma"] + p[f"{ln}.beta"]
    z = h @ p[f"{d1}.weight"] + p[f"{d1}.bias"]
    if loss == "softmax_cross_entropy":
        lse = np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1)
        per = lse - z[np.arange(len(z)), y.ravel().astype(int)]
    elif loss == "binary_cross_entropy":
        per = (np.logaddexp(0, z) - y * z).sum(1)
    else:
        per = 0.5 * ((z - y) ** 2).sum(1)
    ww = w.ravel().astype(np.float64)
    sq = sum((p[f"{d}.weight"] ** 2).sum() for d in (d0, d1))
    return (ww * per).sum() / ww.sum() + 0.5 * l2 / ww.sum() * sq


@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "binary_cross_entropy",
                                  "squared_error"])
def test_objective_value_and_gradient(loss):
    model, g, X, y, w = model_and_data(loss)
    l2 = 0.3
    value, grad = g.objective([X, y, w], chunk=10, l2=l2, reg_per_sample=True, nthreads=1)
    assert value == pytest.approx(numpy_objective(model, X, y, w, loss, l2), rel=1e-5)
    # central differences of the float64 objective
    eps = 1e-3
    params = model.parameters()
    offsets = {name: off for (name, *_), (off, _, _) in zip(g.params(), g.param_offsets())}
    rng = np.random.default_rng(1)
    for name, arr in params.items():
        for flat in rng.choice(arr.size, size=min(4, arr.size), replace=False):
            idx = np.unravel_index(flat, arr.shape)
            old = arr[idx]
            arr[idx] = old + eps
            up = numpy_objective(model, X, y, w, loss, l2)
            arr[idx] = old - eps
            down = numpy_objective(model, X, y, w, loss, l2)
            arr[idx] = old
            fd = (up - down) / (2 * eps)
            assert grad[offsets[name] + flat] == pytest.approx(fd, rel=2e-2, abs=2e-4), name


def test_objective_chunks_threads_and_repeated_rows_agree():
    model, g, X, y, w = model_and_data("squared_error")
    whole = g.objective([X, y, w], chunk=10_000, l2=0.1, reg_per_sample=True, nthreads=1)
    chunked = g.objective([X, y, w], chunk=4, l2=0.1, reg_per_sample=True, nthreads=2)
    assert chunked[0] == pytest.approx(whole[0], rel=1e-6)
    np.testing.assert_allclose(chunked[1], whole[1], rtol=1e-5, atol=1e-7)
    # integer weights equal repeated rows
    reps = np.array([0, 1, 2, 3] * 10)[:len(X)]
    Xr, yr = np.repeat(X, reps, 0), np.repeat(y, reps, 0)
    wi = reps.astype(np.float32).reshape(-1, 1)
    a = g.objective([X, y, wi], l2=0.1, reg_per_sample=True)
    b = g.objective([Xr, yr, None], l2=0.1, reg_per_sample=True)
    assert a[0] == pytest.approx(b[0], rel=1e-5)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-4, atol=1e-6)
    # value only
    v, none = g.objective([X, y, w], grad=False)
    assert none is None and v < whole[0]


def test_objective_errors():
    model, g, X, y, w = model_and_data()
    with pytest.raises(ValueError, match="l2"):
        g.objective([X, y, w], l2=-1.0)
    with pytest.raises(ValueError, match="needed"):
        g.objective([X, None, w])


def test_training_regulariser_divides_by_the_batch_weight():
    """A full-batch SGD step with every weight 2 equals one on each row twice:
    the loss and the L2 term are both divided by the batch's weight sum, as
    scikit-learn's alpha is."""
    finals = []
    for twice in (False, True):
        model, g, X, y, w = model_and_data("squared_error")
        g.set_optimizer("sgd", lr=0.1, l2=0.5, reg_per_sample=True)
        if twice:
            data = [np.concatenate([X, X]), np.concatenate([y, y]), None]
        else:
            data = [X, y, np.full((len(X), 1), 2.0, dtype=np.float32)]
        loss = g.train_epoch(data, len(data[0]), shuffle=False, nthreads=1)
        finals.append((loss, g.last_reg_loss, [v.copy() for v in model.parameters().values()]))
    assert finals[0][0] == pytest.approx(finals[1][0], rel=1e-6)
    assert finals[0][1] == pytest.approx(finals[1][1], rel=1e-6) and finals[0][1] > 0
    for a, b in zip(finals[0][2], finals[1][2]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_optimizer_state_resumes_training_exactly():
    model, g, X, y, w = model_and_data("squared_error")
    g.set_optimizer("adam", lr=0.01)
    g.train_epoch([X, y, w], 8, nthreads=1)
    saved = ([v.copy() for v in model.parameters().values()], g.optimizer_state().copy(),
             g.step_count, g.epoch_count)
    g.train_epoch([X, y, w], 8, nthreads=1)
    expected = [v.copy() for v in model.parameters().values()]
    assert g.optimizer_state().shape == (2, g.param_floats)

    other, g2, *_ = model_and_data("squared_error")
    g2.set_optimizer("adam", lr=0.01)
    for v, s in zip(other.parameters().values(), saved[0]):
        v[...] = s
    g2.optimizer_state()[...] = saved[1]
    g2.set_counters(saved[2], saved[3])
    g2.train_epoch([X, y, w], 8, nthreads=1)
    for a, b in zip(other.parameters().values(), expected):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError):
        g2.set_counters(-1, 0)
