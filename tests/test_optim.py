"""Optimiser steps of the core (_core.optim_step) against the formulas of
include/dagnet/optim.h worked in float64 numpy: every update rule over three
steps, L2/L1 weight decay (per sample or not) and the returned regularisation
loss, max-norm, gradient clipping, thread independence, invalid settings."""

import math

import numpy as np
import pytest

from dagnet import _core

OPTIMS = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"]
DEFAULTS = dict(lr=0.001, momentum=0.9, beta1=0.9, beta2=0.999, eps=1e-8, rho=0.99,
                weight_decay=0.01, l2=0.0, l1=0.0, reg_per_sample=False, max_norm=0.0,
                clip_norm=0.0)
SLOTS = {"sgd": 0, "momentum": 1, "nesterov": 1, "adagrad": 1, "rmsprop": 1, "adam": 2,
         "adamw": 2}


def ref_step(name, ws, gs, states, t, batch, decay, constrain, **settings):
    """One step of include/dagnet/optim.h in float64; updates ws and states in
    place and returns the regularisation loss."""
    c = dict(DEFAULTS, **settings)
    lr, mu, b1, b2, eps, rho = (c[k] for k in ("lr", "momentum", "beta1", "beta2", "eps", "rho"))
    gs = [g.astype(np.float64) for g in gs]
    # 1. clipping by the global norm of the raw gradients (every parameter)
    if c["clip_norm"] > 0:
        norm = math.sqrt(sum(float(np.sum(g * g)) for g in gs))
        gs = [g * (c["clip_norm"] / max(c["clip_norm"], norm)) for g in gs]
    div = batch if c["reg_per_sample"] else 1.0
    l2, l1 = c["l2"] / div, c["l1"] / div
    reg = 0.0
    for w, g, s, dec in zip(ws, gs, states, decay):
        # 2. weight decay as a loss term, on decayed parameters only
        if dec:
            reg += 0.5 * l2 * np.sum(w * w) + l1 * np.sum(np.abs(w))
            g = g + l2 * w + l1 * np.sign(w)
        # 3. the rule
        if name == "sgd":
            w -= lr * g
        elif name == "momentum":
            s[0][...] = mu * s[0] - lr * g
            w += s[0]
        elif name == "nesterov":
            s[0][...] = mu * s[0] - lr * g
            w += mu * s[0] - lr * g
        elif name == "adagrad":
            s[0] += g * g
            w -= lr * g / (np.sqrt(s[0]) + eps)
        elif name == "rmsprop":
            s[0][...] = rho * s[0] + (1 - rho) * g * g
            w -= lr * g / (np.sqrt(s[0]) + eps)
        else:
            if name == "adamw" and dec:
                w -= lr * c["weight_decay"] * w
            s[0][...] = b1 * s[0] + (1 - b1) * g
            s[1][...] = b2 * s[1] + (1 - b2) * g * g
            w -= lr * (s[0] / (1 - b1 ** t)) / (np.sqrt(s[1] / (1 - b2 ** t)) + eps)
    # 4. max-norm on the columns of constrained parameters
    if c["max_norm"] > 0:
        for w, con in zip(ws, constrain):
            if con:
                cols = w.reshape(-1, w.shape[-1] if w.ndim else 1)
                norms = np.sqrt((cols * cols).sum(0))
                cols *= np.where(norms > c["max_norm"], c["max_norm"] / np.maximum(norms, 1e-300),
                                 1.0)
    return reg


def make_problem(name, seed=0, shapes=((4, 3), (3,), (2, 5))):
    """Parameters away from 0 (so sign(w) is stable), three gradients each."""
    rng = np.random.default_rng(seed)
    ws = [(rng.choice([-1, 1], s) * (0.3 + rng.random(s))).astype(np.float32) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(3)]
    states = [[np.zeros(s, np.float32) for _ in range(SLOTS[name])] for s in shapes]
    return ws, grads, states


def run_both(name, settings, decay=(1, 0, 1), constrain=(1, 0, 0), batch=8, steps=3, seed=0,
             nthreads=1):
    ws, grads, states = make_problem(name, seed)
    ws64 = [w.astype(np.float64) for w in ws]
    st64 = [[s.astype(np.float64) for s in ss] for ss in states]
    regs, regs64 = [], []
    for t in range(1, steps + 1):
        gcopy = [g.copy() for g in grads[t - 1]]
        regs.append(_core.optim_step(name, ws, grads[t - 1], states, t, batch=batch,
                                     decay=list(decay), constrain=list(constrain),
                                     nthreads=nthreads, **settings))
        for g, g0 in zip(grads[t - 1], gcopy):
            np.testing.assert_array_equal(g, g0)  # the raw gradient is not modified
        regs64.append(ref_step(name, ws64, grads[t - 1], st64, t, batch, decay, constrain,
                               **settings))
    return (ws, states, regs), (ws64, st64, regs64)


CONFIGS = {
    "defaults": dict(),
    "tuned": dict(lr=0.05, momentum=0.7, beta1=0.8, beta2=0.95, rho=0.8, eps=1e-3,
                  weight_decay=0.3),
    "l2": dict(lr=0.05, l2=0.3),
    "l1": dict(lr=0.05, l1=0.2),
    "l2_l1_per_sample": dict(lr=0.05, l2=0.8, l1=0.4, reg_per_sample=True),
    "max_norm": dict(lr=0.1, max_norm=0.9),
    "clip_norm": dict(lr=0.1, clip_norm=0.5),
    "all": dict(lr=0.1, l2=0.2, l1=0.1, reg_per_sample=True, max_norm=1.1, clip_norm=1.5),
}


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("name", OPTIMS)
def test_three_steps_match_numpy(name, config):
    (ws, states, regs), (ws64, st64, regs64) = run_both(name, CONFIGS[config])
    for w, w64 in zip(ws, ws64):
        np.testing.assert_allclose(w, w64, rtol=2e-5, atol=2e-6)
    for ss, ss64 in zip(states, st64):
        for s, s64 in zip(ss, ss64):
            np.testing.assert_allclose(s, s64, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(regs, regs64, rtol=1e-5, atol=1e-9)
    if CONFIGS[config].get("l2") or CONFIGS[config].get("l1"):
        assert all(r > 0 for r in regs)
    else:
        assert all(r == 0 for r in regs)


def step1(name, w, g, t=1, state=None, **settings):
    """One step on a single parameter of one value; returns (w, state)."""
    W = np.array([w], np.float32)
    states = state if state is not None else [np.zeros(1, np.float32)
                                              for _ in range(SLOTS[name])]
    _core.optim_step(name, [W], [np.array([g], np.float32)], [states], t, **settings)
    return float(W[0]), states


def test_sgd_hand_worked():
    # w = 1, g = 0.5, lr = 0.1: w = 1 - 0.1 * 0.5 = 0.95
    w, _ = step1("sgd", 1.0, 0.5, lr=0.1)
    assert w == pytest.approx(0.95, abs=1e-7)
    # with l2 = 0.2: g = 0.5 + 0.2 * 1 = 0.7, w = 0.93
    w, _ = step1("sgd", 1.0, 0.5, lr=0.1, l2=0.2)
    assert w == pytest.approx(0.93, abs=1e-7)
    # with l1 = 0.2 on w = -1: g = 0.5 - 0.2 = 0.3, w = -1.03
    w, _ = step1("sgd", -1.0, 0.5, lr=0.1, l1=0.2)
    assert w == pytest.approx(-1.03, abs=1e-7)


def test_momentum_hand_worked():
    # mu = 0.9, lr = 0.1, g = 0.5 twice:
    #   v1 = -0.05,                 w1 = 1 - 0.05 = 0.95
    #   v2 = 0.9 (-0.05) - 0.05 = -0.095, w2 = 0.95 - 0.095 = 0.855
    w, st = step1("momentum", 1.0, 0.5, lr=0.1, momentum=0.9)
    assert (w, float(st[0][0])) == (pytest.approx(0.95), pytest.approx(-0.05))
    w, st = step1("momentum", w, 0.5, t=2, state=st, lr=0.1, momentum=0.9)
    assert (w, float(st[0][0])) == (pytest.approx(0.855), pytest.approx(-0.095))


def test_nesterov_hand_worked():
    # v1 = -0.05, w1 = 1 + 0.9 (-0.05) - 0.05 = 0.905
    w, st = step1("nesterov", 1.0, 0.5, lr=0.1, momentum=0.9)
    assert (w, float(st[0][0])) == (pytest.approx(0.905), pytest.approx(-0.05))


def test_adam_hand_worked():
    # lr = 0.1, b1 = 0.9, b2 = 0.999, g = 0.5 twice:
    #   t=1: m = 0.05, v = 0.00025; m/(1-0.9) = 0.5, v/(1-0.999) = 0.25 -> step 0.1 0.5/0.5
    #        w = 1 - 0.1 = 0.9
    #   t=2: m = 0.045 + 0.05 = 0.095, m/(1-0.81) = 0.5; v = 0.00049975,
    #        v/(1-0.998001) = 0.25 -> w = 0.9 - 0.1 = 0.8
    w, st = step1("adam", 1.0, 0.5, lr=0.1)
    assert w == pytest.approx(0.9, abs=1e-6)
    # (1 - b2 is 0.00099999 in float32)
    assert float(st[0][0]) == pytest.approx(0.05, rel=1e-6)
    assert float(st[1][0]) == pytest.approx(0.00025, rel=1e-4)
    w, st = step1("adam", w, 0.5, t=2, state=st, lr=0.1)
    assert w == pytest.approx(0.8, abs=1e-6)
    assert float(st[1][0]) == pytest.approx(0.00049975, rel=1e-4)
    # adamw first decays: w = 1 - 0.1 * 0.5 * 1 = 0.95, then the same Adam step: 0.85
    w, _ = step1("adamw", 1.0, 0.5, lr=0.1, weight_decay=0.5)
    assert w == pytest.approx(0.85, abs=1e-6)


def test_adagrad_rmsprop_hand_worked():
    # adagrad: s = 0.25, w = 1 - 0.1 * 0.5 / (0.5 + 0.1) = 1 - 1/12
    w, st = step1("adagrad", 1.0, 0.5, lr=0.1, eps=0.1)
    assert w == pytest.approx(1 - 1 / 12, abs=1e-6) and float(st[0][0]) == 0.25
    # rmsprop, rho = 0.75: s = 0.0625, w = 1 - 0.1 * 0.5 / (0.25 + 0.1) = 1 - 1/7
    w, st = step1("rmsprop", 1.0, 0.5, lr=0.1, rho=0.75, eps=0.1)
    assert w == pytest.approx(1 - 1 / 7, abs=1e-6) and float(st[0][0]) == 0.0625


def test_regularisation_loss_value():
    # W = [[1, -2], [3, 0.5]], b = [4] (not decayed): ||W||^2 = 14.25, ||W||_1 = 6.5
    #   0.5 * 0.2 * 14.25 + 0.1 * 6.5 = 2.075; per sample with batch 5: / 5
    W = np.array([[1.0, -2.0], [3.0, 0.5]], np.float32)
    b = np.array([4.0], np.float32)
    zeros = [np.zeros_like(W), np.zeros_like(b)]
    for per_sample, expect in [(False, 2.075), (True, 2.075 / 5)]:
        reg = _core.optim_step("sgd", [W.copy(), b.copy()], zeros, [[], []], 1, batch=5,
                               decay=[1, 0], lr=0.1, l2=0.2, l1=0.1, reg_per_sample=per_sample)
        assert reg == pytest.approx(expect, rel=1e-6)
    # the loss is that of the weights before the step: same value for any gradient
    reg = _core.optim_step("sgd", [W.copy(), b.copy()], [np.ones_like(W), np.ones_like(b)],
                           [[], []], 1, decay=[1, 0], lr=0.5, l2=0.2, l1=0.1)
    assert reg == pytest.approx(2.075, rel=1e-6)


def test_weight_decay_skips_parameters_without_decay():
    b = np.array([1.0, -2.0], np.float32)
    for name, kw in [("sgd", dict(l2=0.5, l1=0.3)), ("adamw", dict(weight_decay=0.5))]:
        w = b.copy()
        states = [[np.zeros(2, np.float32) for _ in range(SLOTS[name])]]
        reg = _core.optim_step(name, [w], [np.zeros(2, np.float32)], states, 1, decay=[0],
                               lr=0.1, **kw)
        np.testing.assert_array_equal(w, b)  # zero gradient and no decay: unchanged
        assert reg == 0.0


def test_max_norm_scales_long_columns_only():
    # columns of W (n_in, n_out) are the units' incoming weights: norms 5 and 1
    W = np.array([[3.0, 0.6], [4.0, 0.8]], np.float32)
    _core.optim_step("sgd", [W], [np.zeros_like(W)], [[]], 1, lr=0.1, max_norm=2.0)
    np.testing.assert_allclose(W, [[1.2, 0.6], [1.6, 0.8]], rtol=1e-6)
    np.testing.assert_array_equal(W[:, 1], np.array([0.6, 0.8], np.float32))  # untouched
    V = np.array([[3.0, 0.6], [4.0, 0.8]], np.float32)
    _core.optim_step("sgd", [V], [np.zeros_like(V)], [[]], 1, constrain=[0], lr=0.1,
                     max_norm=2.0)
    np.testing.assert_array_equal(V, np.array([[3.0, 0.6], [4.0, 0.8]], np.float32))


def test_clip_norm_uses_the_global_norm():
    # gradients [3] and [4]: global norm 5, clip 1 -> scaled by 1/5 -> steps 0.6 lr, 0.8 lr
    a, b = np.zeros(1, np.float32), np.zeros(1, np.float32)
    _core.optim_step("sgd", [a, b], [np.array([3.0], np.float32), np.array([4.0], np.float32)],
                     [[], []], 1, decay=[1, 0], lr=1.0, clip_norm=1.0)
    np.testing.assert_allclose([a[0], b[0]], [-0.6, -0.8], rtol=1e-6)
    # a norm below the limit is left alone
    _core.optim_step("sgd", [a, b], [np.array([3.0], np.float32), np.array([4.0], np.float32)],
                     [[], []], 1, lr=1.0, clip_norm=10.0)
    np.testing.assert_allclose([a[0], b[0]], [-3.6, -4.8], rtol=1e-6)


@pytest.mark.parametrize("name", OPTIMS)
def test_threads_bit_identical_on_large_parameters(name):
    settings = dict(lr=0.01, l2=0.1, l1=0.01, max_norm=3.0, clip_norm=50.0)
    results = []
    for nt in (1, 2):
        ws, grads, states = make_problem(name, 3, shapes=((300, 301), (301,), (70001,)))
        regs = [_core.optim_step(name, ws, grads[t - 1], states, t, decay=[1, 0, 1],
                                 constrain=[1, 0, 0], nthreads=nt, **settings)
                for t in (1, 2, 3)]
        results.append((ws, states, regs))
    (w1, s1, r1), (w2, s2, r2) = results
    assert r1 == r2
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(s1, s2):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    # and the large problem still follows the formulas
    ws64_src, grads, states64 = make_problem(name, 3, shapes=((300, 301), (301,), (70001,)))
    ws64 = [w.astype(np.float64) for w in ws64_src]
    st64 = [[s.astype(np.float64) for s in ss] for ss in states64]
    for t in (1, 2, 3):
        ref_step(name, ws64, grads[t - 1], st64, t, 1, (1, 0, 1), (1, 0, 0), **settings)
    for a, b in zip(w1, ws64):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_state_slots():
    assert {n: _core.optim_state_slots(n) for n in OPTIMS} == SLOTS


BAD_SETTINGS = [
    ("lr", 0.0), ("lr", -0.1), ("lr", float("nan")), ("lr", float("inf")),
    ("momentum", 1.0), ("momentum", -0.1), ("beta1", 1.0), ("beta1", -0.5),
    ("beta2", 1.5), ("eps", 0.0), ("eps", -1e-8), ("rho", 0.0), ("rho", 1.1),
    ("weight_decay", -0.01), ("l2", -1.0), ("l1", float("inf")), ("max_norm", -1.0),
    ("clip_norm", -0.5), ("clip_norm", float("nan")),
]


@pytest.mark.parametrize("field,value", BAD_SETTINGS)
def test_invalid_setting_names_the_field(field, value):
    w = np.ones(2, np.float32)
    with pytest.raises(ValueError, match=rf"optimiser {field} is"):
        _core.optim_step("adam", [w], [np.ones(2, np.float32)],
                         [[np.zeros(2, np.float32), np.zeros(2, np.float32)]], 1,
                         **{field: value})
    np.testing.assert_array_equal(w, 1.0)  # nothing was written
    g = _core.Graph()
    y = g.add_node("linear", [g.add_input((2,))], units=1)
    g.set_outputs([y])
    with pytest.raises(ValueError, match=rf"optimiser {field} is"):
        g.set_optimizer("sgd", **{field: value})


def test_invalid_calls():
    w, gr = np.ones(2, np.float32), np.ones(2, np.float32)
    with pytest.raises(ValueError, match="'sgd'.*'adamw'"):
        _core.optim_step("lbfgs", [w], [gr], [[]], 1)
    with pytest.raises(TypeError, match="unknown optimiser setting 'learning_rate'"):
        _core.optim_step("sgd", [w], [gr], [[]], 1, learning_rate=0.1)
    with pytest.raises(ValueError, match="step t is 0"):
        _core.optim_step("sgd", [w], [gr], [[]], 0)
    with pytest.raises(ValueError, match="batch"):
        _core.optim_step("sgd", [w], [gr], [[]], 1, batch=-1, l2=0.1, reg_per_sample=True)
    np.testing.assert_array_equal(w, 1.0)
