"""The recurrent op (RNN, LSTM, GRU) and the sequence helpers against float64
numpy references, central finite differences, the reference twins and two
threads (tests/opcheck.py), for every cell and option: bidirectional, masks,
initial states, peepholes, both GRU forms, go_backwards and truncated BPTT."""

import numpy as np
import pytest

from dagnet import _core
from opcheck import check_op, run_op

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def sig(x):
    return 1.0 / (1.0 + np.exp(-x))


ACTS = {"tanh": np.tanh, "relu": lambda x: np.maximum(x, 0.0), "sigmoid": sig}


def recurrent_ref(X, params, cell, H, D=1, act="tanh", mask=None, h0=None, c0=None,
                  peepholes=False, reset_after=False, go_backwards=False, bias=True,
                  truncate=0, detached=None, record=None, drop=None):
    """The op's equations (include/dagnet/ops.h) in float64, one step at a
    time. With truncate, the states entering the first step of each chunk
    are the constants in `detached[(d, s)]` (recorded by a first run into
    `record`), so no gradient crosses a chunk boundary. drop (D, n, H): the
    recurrent dropout masks, applied where h(t-1) enters a recurrent product."""
    n, T, F = X.shape
    f = ACTS[act]
    S = 2 if cell == "lstm" else 1
    out = np.zeros((n, T + S, D * H))
    G = GATES[cell]
    # one direction's parameters have no leading D axis
    params = {k: np.reshape(v, (D,) + {"kernel": (F, G * H), "recurrent_kernel": (H, G * H),
                                        "peephole": (3, H)}.get(k, (G * H,)))
              for k, v in params.items()}
    for d in range(D):
        Wx, Wh = params["kernel"][d], params["recurrent_kernel"][d]
        b = params["bias"][d] if bias else 0.0
        cols = slice(d * H, (d + 1) * H)
        h = h0[:, cols].copy() if h0 is not None else np.zeros((n, H))
        c = c0[:, cols].copy() if c0 is not None else np.zeros((n, H))
        rev = (d == 1) != go_backwards
        for s, t in enumerate(range(T - 1, -1, -1) if rev else range(T)):
            if truncate and s > 0 and s % truncate == 0:
                if record is not None:
                    record[(d, s)] = (h.copy(), c.copy())
                if detached is not None:
                    h, c = (v.copy() for v in detached[(d, s)])
            valid = np.ones((n, 1), bool) if mask is None else (mask[:, t] != 0)[:, None]
            a = X[:, t] @ Wx + b
            hr = h if drop is None else h * drop[d]
            if cell == "rnn":
                hn, cn = f(a + hr @ Wh), c
            elif cell == "lstm":
                p = params["peephole"][d] if peepholes else np.zeros((3, H))
                z = a + hr @ Wh
                i = sig(z[:, :H] + p[0] * c)
                fg = sig(z[:, H:2 * H] + p[1] * c)
                g = np.tanh(z[:, 2 * H:3 * H])
                o = sig(z[:, 3 * H:] + p[2] * c)
                cn = fg * c + i * g
                hn = o * np.tanh(cn)
            else:
                if reset_after:
                    hw = hr @ Wh + (params["recurrent_bias"][d] if bias else 0.0)
                    r = sig(a[:, :H] + hw[:, :H])
                    zz = sig(a[:, H:2 * H] + hw[:, H:2 * H])
                    nn = f(a[:, 2 * H:] + r * hw[:, 2 * H:])
                else:
                    r = sig(a[:, :H] + hr @ Wh[:, :H])
                    zz = sig(a[:, H:2 * H] + hr @ Wh[:, H:2 * H])
                    nn = f(a[:, 2 * H:] + (r * hr) @ Wh[:, 2 * H:])
                hn, cn = zz * h + (1 - zz) * nn, c
            h = np.where(valid, hn, h)
            c = np.where(valid, cn, c)
            row = T - 1 - t if go_backwards else t
            out[:, row, cols] = np.where(valid, h, 0.0)
        out[:, T, cols] = h
        if cell == "lstm":
            out[:, T + 1, cols] = c
    return out


def make_case(cell, n=3, T=4, F=3, H=5, D=1, mask=False, h0=False, c0=False, seed=0, drop=None,
              **kw):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, F))
    inputs = [X]
    attrs = dict(cell=cell, units=H, directions=D, has_mask=mask, **kw)
    if "act" not in attrs:
        attrs["act"] = "tanh"
    M = None
    if mask:
        M = (rng.random((n, T)) > 0.3).astype(np.float64)
        M[0, -1] = 0.0  # trailing padding
        M[-1, 0] = 0.0  # a leading pad too
        inputs.append(M)
    H0 = C0 = None
    if h0:
        H0 = 0.5 * rng.standard_normal((n, D * H))
        inputs.append(H0)
    if c0:
        C0 = 0.5 * rng.standard_normal((n, D * H))
        inputs.append(C0)
    G = GATES[cell]
    params = {"kernel": 0.5 * rng.standard_normal((D, F, G * H)),
              "recurrent_kernel": 0.4 * rng.standard_normal((D, H, G * H))}
    if kw.get("use_bias", True):
        params["bias"] = 0.3 * rng.standard_normal((D, G * H))
    if kw.get("peepholes"):
        params["peephole"] = 0.5 * rng.standard_normal((D, 3, H))
    if kw.get("reset_after") and kw.get("use_bias", True):
        params["recurrent_bias"] = 0.3 * rng.standard_normal((D, G * H))
    if D == 1:
        params = {k: v[0] for k, v in params.items()}
    slots = dict(mask=1 if mask else None)
    k = 2 if mask else 1
    slots["h0"] = k if h0 else None
    slots["c0"] = (k + 1) if c0 else None

    def ref(xs, ps, detached=None, record=None):
        return recurrent_ref(
            xs[0], ps, cell, H, D=D, act=attrs["act"],
            mask=xs[1] if mask else None,
            h0=xs[slots["h0"]] if h0 else None, c0=xs[slots["c0"]] if c0 else None,
            peepholes=kw.get("peepholes", False), reset_after=kw.get("reset_after", False),
            go_backwards=kw.get("go_backwards", False), bias=kw.get("use_bias", True),
            truncate=kw.get("truncate", 0), detached=detached, record=record, drop=drop)

    check_inputs = [i for i in range(len(inputs)) if i != slots["mask"]]
    return inputs, attrs, params, ref, check_inputs


CASES = [
    dict(cell="rnn"),
    dict(cell="rnn", act="relu"),
    dict(cell="rnn", act="sigmoid", D=2),
    dict(cell="lstm"),
    dict(cell="lstm", peepholes=True),
    dict(cell="lstm", D=2, h0=True, c0=True),
    dict(cell="lstm", h0=True),
    dict(cell="gru"),
    dict(cell="gru", act="relu"),
    dict(cell="gru", reset_after=True),
    dict(cell="gru", reset_after=True, D=2, h0=True),
    dict(cell="lstm", use_bias=False),
    dict(cell="gru", use_bias=False, reset_after=True),
    dict(cell="rnn", go_backwards=True, h0=True),
    dict(cell="lstm", go_backwards=True, peepholes=True),
]


def case_id(c):
    return "-".join(f"{k}={v}" for k, v in c.items())


@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize("mask", [False, True])
def test_recurrent_matches_reference_and_gradients(case, mask):
    inputs, attrs, params, ref, check = make_case(mask=mask, **case)
    check_op("recurrent", inputs, ref, attrs=attrs, params=params, check_inputs=check,
             rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("n,T", [(1, 1), (1, 5), (4, 1)])
def test_recurrent_edge_sizes(cell, n, T):
    inputs, attrs, params, ref, check = make_case(cell, n=n, T=T, F=2, H=3, D=2, h0=True)
    check_op("recurrent", inputs, ref, attrs=attrs, params=params, check_inputs=check,
             rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("case", [dict(cell="rnn"), dict(cell="lstm", peepholes=True, c0=True),
                                  dict(cell="gru"), dict(cell="gru", reset_after=True, D=2)],
                         ids=case_id)
@pytest.mark.parametrize("truncate", [1, 2, 3])
def test_truncated_bptt_cuts_gradients_between_chunks(case, truncate):
    inputs, attrs, params, ref, check = make_case(T=7, h0=True, truncate=truncate, **case)
    record = {}
    # the states at the chunk boundaries, as constants for the reference
    ref([x.astype(np.float32).astype(np.float64) for x in inputs],
        {k: v.astype(np.float32).astype(np.float64) for k, v in params.items()}, record=record)
    check_op("recurrent", inputs, lambda xs, ps: ref(xs, ps, detached=record), attrs=attrs,
             params=params, check_inputs=check, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_large_shapes_use_threads_bit_identically(cell):
    # sizes at which the step's products and cells split over threads
    inputs, attrs, params, ref, check = make_case(cell, n=40, T=3, F=20, H=160, mask=True,
                                                  reset_after=(cell == "gru"))
    check_op("recurrent", inputs, ref, attrs=attrs, params=params, check_inputs=check,
             rtol=1e-4, atol=1e-4, grad_rtol=1e-3, grad_atol=1e-3, fd=False)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_padding_never_leaks(cell):
    # changing the inputs of masked steps changes no output and no gradient
    inputs, attrs, params, _, _ = make_case(cell, n=4, T=6, mask=True, D=2)
    X, M = inputs[0], inputs[1]
    X2 = X.copy()
    X2[M == 0] = 100.0 * np.random.default_rng(5).standard_normal(X2[M == 0].shape)
    G = np.random.default_rng(7).standard_normal((4, 6 + (2 if cell == "lstm" else 1), 10))
    out1, gin1, pg1, _ = run_op("recurrent", [X, M], attrs, params=params, G=G)
    out2, gin2, pg2, _ = run_op("recurrent", [X2, M], attrs, params=params, G=G)
    np.testing.assert_array_equal(out1, out2)
    for k in pg1:
        np.testing.assert_array_equal(pg1[k], pg2[k])
    np.testing.assert_array_equal(gin1[0][M == 0], 0.0)
    np.testing.assert_array_equal(gin1[0], gin2[0])


def test_bidirectional_equals_two_single_directions():
    inputs, attrs, params, _, _ = make_case("lstm", n=3, T=5, D=2, mask=True)
    out2 = run_op("recurrent", inputs, attrs, params=params)[0]
    T, H = 5, 5
    single = dict(attrs, directions=1)
    fwd = run_op("recurrent", inputs, single,
                 params={k: v[0] for k, v in params.items()})[0]
    X, M = inputs
    # the backward direction is a forward layer over the reversed sequence
    rev = run_op("recurrent", [X[:, ::-1].copy(), M[:, ::-1].copy()], single,
                 params={k: v[1] for k, v in params.items()})[0]
    np.testing.assert_allclose(out2[:, :T, :H], fwd[:, :T], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out2[:, :T, H:], rev[:, :T][:, ::-1], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out2[:, T:, :H], fwd[:, T:], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out2[:, T:, H:], rev[:, T:], rtol=1e-6, atol=1e-6)


def _compile_one(shape, **attrs):
    g = _core.Graph()
    x = g.add_input(shape)
    g.set_outputs([g.add_node("recurrent", [x], **attrs)])
    g.compile(seed=0)


@pytest.mark.parametrize("shape,attrs,match", [
    ((4, 3), dict(cell="gru", units=2, peepholes=True), "peepholes"),
    ((4, 3), dict(cell="rnn", units=2, reset_after=True), "reset_after"),
    ((4, 3), dict(cell="lstm", units=2, directions=3), "directions"),
    ((4, 3), dict(cell="lstm", units=2, directions=2, go_backwards=True), "go_backwards"),
    ((4, 3), dict(cell="rnn", units=2, act="gelu"), "activation"),
    ((4, 3), dict(cell="lstm", units=0), "units"),
    ((4, 3), dict(cell="lstm", units=2, truncate=-1), "truncate"),
    ((12,), dict(cell="lstm", units=2), r"\(T, F\)"),
])
def test_bad_settings_are_refused(shape, attrs, match):
    with pytest.raises(ValueError, match=match):
        _compile_one(shape, **attrs)


def test_unknown_cell_is_refused():
    g = _core.Graph()
    x = g.add_input((4, 3))
    with pytest.raises(ValueError, match="recurrent cell"):
        g.add_node("recurrent", [x], cell="transformer", units=2)


# --- sequence mask and embedding --------------------------------------------------------


def test_sequence_mask():
    X = np.zeros((2, 4, 3))
    X[0, 1, 2] = 1.0
    X[1, 0] = X[1, 3] = -2.0
    out = run_op("sequence_mask", [X], dict(scale=0.0))[0]
    np.testing.assert_array_equal(out, [[0, 1, 0, 0], [1, 0, 0, 1]])
    out = run_op("sequence_mask", [X], dict(scale=-2.0))[0]
    np.testing.assert_array_equal(out, [[1, 1, 1, 1], [0, 1, 1, 0]])


def test_embedding_forward_and_gradient():
    rng = np.random.default_rng(0)
    ids = np.array([[0, 3, 3, 1], [2, 0, 9, 3]], dtype=np.float64)  # 9 is out of range
    W = rng.standard_normal((5, 4))
    attrs = dict(vocab=5, units=4)

    def ref(xs, ps):
        idx = xs[0].astype(int)
        table = np.vstack([ps["embeddings"], np.zeros((1, 4))])
        idx = np.where((idx >= 0) & (idx < 5), idx, 5)
        return table[idx]

    check_op("embedding", [ids], ref, attrs=attrs, params={"embeddings": W}, check_inputs=[])


# --- the composition oracle: the same network unrolled from primitive ops -------------


def unrolled(g, x, cell, T, F, H, reset_after=False, h0=None):
    """The layer unrolled over T steps from the engine's primitive ops
    (slice, reshape, linear, add, mul, activation, scale), one linear node per
    step for each kernel, all sharing the first step's weights. Returns the
    output node (T + S, H) built as the fused op lays it out, and the ids of
    the first step's input and recurrent linear nodes (whose parameters are
    the layer's). h0: a node of zeros to start from (PyTorch's GRU adds its
    recurrent bias at the first step too)."""
    G = GATES[cell]

    def cols(v, k, width=H):
        return g.add_node("slice", [v], axis=1, start=k * H, stop=k * H + width)

    def act(v, name):
        return g.add_node("activation", [v], act=name)

    def linear(v, units, bias, first):
        node = g.add_node("linear", [v], units=units, use_bias=bias)
        if first is not None:
            g.share_params(node, first)
        return node

    wx = wh = whn = None
    h, c = h0, None
    outs = []
    for t in range(T):
        xt = g.add_node("reshape", [g.add_node("slice", [x], axis=1, start=t, stop=t + 1)],
                        shape=(F,))
        a = linear(xt, G * H, True, wx)
        wx = wx if wx is not None else a
        if h is not None:
            if cell == "gru" and not reset_after:
                hr = linear(h, 2 * H, False, wh)
                wh = wh if wh is not None else hr
                hsum = g.add_node("add", [cols(a, 0, 2 * H), hr])
            else:
                hr = linear(h, G * H, reset_after, wh)
                wh = wh if wh is not None else hr
                hsum = g.add_node("add", [a, hr]) if cell != "gru" else None
        if cell == "rnn":
            h = act(a if h is None else hsum, "tanh")
        elif cell == "lstm":
            z = a if h is None else hsum
            i, f, u, o = (act(cols(z, k), n) for k, n in enumerate(
                ("sigmoid", "sigmoid", "tanh", "sigmoid")))
            ig = g.add_node("mul", [i, u])
            c = ig if c is None else g.add_node("add", [g.add_node("mul", [f, c]), ig])
            h = g.add_node("mul", [o, act(c, "tanh")])
        else:
            if h is None:
                rz = act(cols(a, 0, 2 * H), "sigmoid")
                n = act(cols(a, 2), "tanh")
            elif reset_after:
                rz = act(g.add_node("add", [cols(a, 0, 2 * H), cols(hr, 0, 2 * H)]), "sigmoid")
                r = cols(rz, 0)
                n = act(g.add_node("add", [cols(a, 2), g.add_node("mul", [r, cols(hr, 2)])]),
                        "tanh")
            else:
                rz = act(hsum, "sigmoid")
                rh = g.add_node("mul", [cols(rz, 0), h])
                nn = linear(rh, H, False, whn)
                whn = whn if whn is not None else nn
                n = act(g.add_node("add", [cols(a, 2), nn]), "tanh")
            z = cols(rz, 1)
            # (1 - z) n + z h, as n - z n + z h
            h_new = g.add_node("sub", [n, g.add_node("mul", [z, n])])
            if h is not None:
                h_new = g.add_node("add", [h_new, g.add_node("mul", [z, h])])
            h = h_new
        outs.append(g.add_node("reshape", [h], shape=(1, H)))
    outs.append(outs[-1])
    if cell == "lstm":
        outs.append(g.add_node("reshape", [c], shape=(1, H)))
    assert len(outs) <= 8, "concat joins at most 8 inputs: keep T + S <= 8"
    return g.add_node("concat", outs, axis=1), wx, wh, whn


@pytest.mark.parametrize("cell,reset_after", [("rnn", False), ("lstm", False), ("gru", False),
                                              ("gru", True)])
def test_fused_op_equals_its_composition_from_primitive_ops(cell, reset_after):
    n, T, F, H = 3, 4, 5, 6
    rng = np.random.default_rng(11)
    X = rng.standard_normal((n, T, F)).astype(np.float32)
    G = GATES[cell]
    Wx = (0.5 * rng.standard_normal((F, G * H))).astype(np.float32)
    Wh = (0.4 * rng.standard_normal((H, G * H))).astype(np.float32)
    b = (0.3 * rng.standard_normal(G * H)).astype(np.float32)
    bh = (0.3 * rng.standard_normal(G * H)).astype(np.float32)
    S = 2 if cell == "lstm" else 1
    Gout = rng.standard_normal((n, T + S, H)).astype(np.float32)

    fused = _core.Graph()
    x = fused.add_input((T, F))
    r = fused.add_node("recurrent", [x], cell=cell, units=H, act="tanh", reset_after=reset_after)
    fused.set_outputs([r])
    fused.compile(seed=0)
    params = {name.split(".", 1)[1]: (value, grad) for name, _, value, grad, _ in fused.params()}
    params["kernel"][0][...] = Wx
    params["recurrent_kernel"][0][...] = Wh
    params["bias"][0][...] = b
    if reset_after:
        params["recurrent_bias"][0][...] = bh
    out_f = fused.forward([X], training=True, grad=True, nthreads=1)[0].copy()
    fused.backward([Gout], nthreads=1)

    comp = _core.Graph()
    x = comp.add_input((T, F))
    h0 = comp.add_input((H,)) if reset_after else None
    y, wx, wh, whn = unrolled(comp, x, cell, T, F, H, reset_after, h0)
    comp.set_outputs([y])
    comp.compile(seed=0)
    plist = [(node, value, grad) for _, node, value, grad, _ in comp.params()]
    wx_w, wx_b = [(v, gr) for nd, v, gr in plist if nd == wx]
    wx_w[0][...] = Wx
    wx_b[0][...] = b
    h_params = [(v, gr) for nd, v, gr in plist if nd == wh]
    if cell == "gru" and not reset_after:
        h_params[0][0][...] = Wh[:, :2 * H]
        [(v, _)] = [(v, gr) for nd, v, gr in plist if nd == whn]
        v[...] = Wh[:, 2 * H:]
    else:
        h_params[0][0][...] = Wh
        if reset_after:
            h_params[1][0][...] = bh
    feed = [X] + ([np.zeros((n, H), np.float32)] if reset_after else [])
    out_c = comp.forward(feed, training=True, grad=True, nthreads=1)[0]
    comp.backward([Gout], nthreads=1)
    np.testing.assert_allclose(out_f, out_c, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(params["kernel"][1], wx_w[1], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(params["bias"][1], wx_b[1], rtol=1e-4, atol=1e-4)
    gwh = params["recurrent_kernel"][1]
    if cell == "gru" and not reset_after:
        np.testing.assert_allclose(gwh[:, :2 * H], h_params[0][1], rtol=1e-4, atol=1e-4)
        [(_, gn)] = [(v, gr) for nd, v, gr in plist if nd == whn]
        np.testing.assert_allclose(gwh[:, 2 * H:], gn, rtol=1e-4, atol=1e-4)
    else:
        np.testing.assert_allclose(gwh, h_params[0][1], rtol=1e-4, atol=1e-4)
        if reset_after:
            np.testing.assert_allclose(params["recurrent_bias"][1], h_params[1][1], rtol=1e-4,
                                       atol=1e-4)


# --- RTRL (seed 003 section 8.4.2): forward-mode gradients equal BPTT's ---------------


def rtrl_gradients(X, params, G, act="tanh", h0=None):
    """Real-time recurrent learning for an Elman layer h(t) = act(x(t) W_x +
    h(t-1) W_h + b) and the loss L = sum_t G(t) . h(t) (+ G(T) . h(T) for the
    final-state row): the sensitivities S(t) = dh(t)/dtheta are carried
    forward, S(t) = act'(a(t)) (da(t)/dtheta + W_h^T S(t-1)), and dL/dtheta
    accumulates online; no step is stored. float64, per sample."""
    n, T, F = X.shape
    Wx, Wh, b = params["kernel"], params["recurrent_kernel"], params["bias"]
    H = Wh.shape[0]
    sizes = [F * H, H * H, H]
    P = sum(sizes)
    grads = np.zeros(P)
    f = ACTS[act]
    for s in range(n):
        h = np.zeros(H) if h0 is None else h0[s].copy()
        S = np.zeros((H, P))  # dh/dtheta; h0 is a constant
        for t in range(T):
            a = X[s, t] @ Wx + h @ Wh + b
            hn = f(a)
            dact = {"tanh": 1 - hn ** 2, "relu": (a > 0).astype(float),
                    "sigmoid": hn * (1 - hn)}[act]
            direct = np.zeros((H, P))
            for k in range(H):
                direct[k, k:F * H:H] = X[s, t]                          # W_x[:, k]
                direct[k, F * H + k:F * H + H * H:H] = h                # W_h[:, k]
                direct[k, F * H + H * H + k] = 1.0                      # b[k]
            S = dact[:, None] * (direct + Wh.T @ S)
            h = hn
            w = G[s, t] + (G[s, T] if t == T - 1 else 0.0)
            grads += w @ S
    o = np.cumsum([0] + sizes)
    return {"kernel": grads[o[0]:o[1]].reshape(F, H),
            "recurrent_kernel": grads[o[1]:o[2]].reshape(H, H), "bias": grads[o[2]:o[3]]}


@pytest.mark.parametrize("act", ["tanh", "relu", "sigmoid"])
def test_rtrl_equals_bptt(act):
    inputs, attrs, params, _, _ = make_case("rnn", n=3, T=6, F=3, H=4, act=act, seed=4)
    G = np.random.default_rng(9).standard_normal((3, 7, 4))
    X = inputs[0].astype(np.float32).astype(np.float64)
    P = {k: v.astype(np.float32).astype(np.float64) for k, v in params.items()}
    _, _, grads, _ = run_op("recurrent", [X], attrs, params=params, G=G)
    expect = rtrl_gradients(X, P, G, act=act)
    for k in expect:
        np.testing.assert_allclose(grads[k], expect[k], rtol=1e-4, atol=1e-4, err_msg=k)


# --- the seeds' special cases ------------------------------------------------------------


BIG = 40.0  # sigmoid(40) is 1 in float32, sigmoid(-40) 4e-18


def _run(cell, X, params, **attrs):
    H = params["recurrent_kernel"].shape[0]
    attrs = dict(dict(cell=cell, units=H, act="tanh"), **attrs)
    return run_op("recurrent", [X], attrs, params=params)[0]


def test_gru_special_cases():
    # seed 003 section 8.7: z = 0, r = 1 is a vanilla RNN; z = 0, r = 0 gives tanh(U x);
    # z = 1 keeps the state
    rng = np.random.default_rng(12)
    n, T, F, H = 2, 5, 3, 4
    X = rng.standard_normal((n, T, F))
    U, W = rng.standard_normal((F, H)), 0.5 * rng.standard_normal((H, H))
    Wx = np.concatenate([np.zeros((F, 2 * H)), U], axis=1)
    Wh = np.concatenate([np.zeros((H, 2 * H)), W], axis=1)

    def gru(zb, rb):
        b = np.concatenate([np.full(H, rb), np.full(H, zb), np.zeros(H)])
        return _run("gru", X, {"kernel": Wx, "recurrent_kernel": Wh, "bias": b})

    rnn = _run("rnn", X, {"kernel": U, "recurrent_kernel": W, "bias": np.zeros(H)})
    np.testing.assert_allclose(gru(-BIG, BIG), rnn, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gru(-BIG, -BIG)[:, :T], np.tanh(X @ U), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gru(BIG, 0.0), 0.0, atol=1e-12)  # from h0 = 0 the state stays 0


def test_gru_relu_is_a_leaky_integrator():
    # seed 003 section 8.7 (quiz 8.7-8.9): h = (1 - a) h + relu(U x + W h) equals a ReLU
    # GRU with z = 1 - a, r = 1 and U, W scaled by 1 / a
    rng = np.random.default_rng(13)
    n, T, F, H, a = 2, 6, 3, 4, 0.2
    X = rng.standard_normal((n, T, F))
    U, W = rng.standard_normal((F, H)), 0.3 * rng.standard_normal((H, H))
    h = np.zeros((n, H))
    expect = []
    for t in range(T):
        h = (1 - a) * h + np.maximum(X[:, t] @ U + h @ W, 0.0)
        expect.append(h)
    expect = np.stack(expect, axis=1)
    z_bias = np.log((1 - a) / a)  # sigmoid(z_bias) = 1 - a
    Wx = np.concatenate([np.zeros((F, 2 * H)), U / a], axis=1)
    Wh = np.concatenate([np.zeros((H, 2 * H)), W / a], axis=1)
    b = np.concatenate([np.full(H, BIG), np.full(H, z_bias), np.zeros(H)])
    out = _run("gru", X, {"kernel": Wx, "recurrent_kernel": Wh, "bias": b}, act="relu")
    np.testing.assert_allclose(out[:, :T], expect, rtol=1e-4, atol=1e-5)


def test_lstm_closed_gates_cut_the_paths():
    # seed 003 section 8.8: f = 0 wipes c(t-1), i = 0 ignores the candidate; with f = 0
    # the gradient reaching c0 through the cell is zero
    rng = np.random.default_rng(14)
    n, T, F, H = 2, 4, 3, 3
    X = rng.standard_normal((n, T, F))
    Wx = 0.5 * rng.standard_normal((F, 4 * H))
    Wh = np.zeros((H, 4 * H))  # no path through h(t-1) either

    def bias(i, f):
        return np.concatenate([np.full(H, i), np.full(H, f), np.zeros(2 * H)])

    attrs = dict(cell="lstm", units=H, act="tanh")
    C0 = rng.standard_normal((n, H))
    H0 = np.zeros((n, H))
    G = rng.standard_normal((n, T + 2, H))
    params = {"kernel": Wx, "recurrent_kernel": Wh, "bias": bias(0.0, -BIG)}
    _, gin, _, _ = run_op("recurrent", [X, H0, C0], attrs, params=params, G=G)
    np.testing.assert_allclose(gin[2], 0.0, atol=1e-12)  # f = 0: c0 reaches nothing
    params["bias"] = bias(-BIG, BIG)  # i = 0, f = 1: the cell keeps c0 for ever
    out, _, pg, _ = run_op("recurrent", [X, H0, C0], attrs, params=params, G=G)
    np.testing.assert_allclose(out[:, T + 1], C0, rtol=1e-6)
    # seed 002 section 7: a closed input gate leaves the candidate no gradient
    np.testing.assert_allclose(pg["kernel"][:, 2 * H:3 * H], 0.0, atol=1e-12)
    # and a closed output gate cuts the cell from the outputs: with o = 0 and no gradient
    # on the final c, c0 gets none
    params["bias"] = np.concatenate([np.zeros(3 * H), np.full(H, -BIG)])
    G_h = G.copy()
    G_h[:, T + 1] = 0.0
    _, gin, _, _ = run_op("recurrent", [X, H0, C0], attrs, params=params, G=G_h)
    np.testing.assert_allclose(gin[2], 0.0, atol=1e-12)


def test_a_recurrent_graph_counts_its_products_for_threads():
    # a graph run uses its threads when its largest product can feed them: for a
    # recurrent layer, the kernels' gradient over all steps, D T 4H (F + H) per sample
    g = _core.Graph()
    x = g.add_input((50, 64))
    g.set_outputs([g.add_node("recurrent", [x], cell="lstm", units=256)])
    g.compile(seed=0)
    prev = _core.set_thread_trim(True)
    try:
        assert g.step_threads(32, 2) == 2
        small = _core.Graph()
        x = small.add_input((3, 2))
        small.set_outputs([small.add_node("recurrent", [x], cell="rnn", units=4)])
        small.compile(seed=0)
        assert small.step_threads(4, 2) == 1
    finally:
        _core.set_thread_trim(prev)


def dropout_masks(node_id, n, H, D, rate, seed=1, run=1):
    """The masks the op draws in its first training run of a fresh graph
    compiled with `seed` (src/ops/recurrent.c rnn_draw_mask, the stream of
    node `node_id` in run `run`)."""
    stream = ((node_id + 1) << 40) ^ run
    u = np.stack([_core.rng_uniform(seed, stream, d * n * H, n * H) for d in range(D)])
    return np.where(u >= np.float32(rate), 1.0 / (1.0 - rate), 0.0).reshape(D, n, H)


@pytest.mark.parametrize("case", [dict(cell="rnn"), dict(cell="lstm", peepholes=True),
                                  dict(cell="gru"), dict(cell="gru", reset_after=True, D=2),
                                  dict(cell="lstm", D=2, mask=True)], ids=case_id)
def test_recurrent_dropout(case):
    n, H, D, rate = 3, 5, case.get("D", 1), 0.4
    n_inputs = 2 if case.get("mask") else 1
    m = dropout_masks(n_inputs, n, H, D, rate)
    assert 0 < (m == 0).mean() < 1
    inputs, attrs, params, ref, check = make_case(n=n, H=H, drop=m, **case)
    attrs["recurrent_dropout"] = rate
    check_op("recurrent", inputs, ref, attrs=attrs, params=params, check_inputs=check,
             rtol=2e-5, atol=2e-5, training=True)
    # at inference nothing is dropped
    plain = make_case(n=n, H=H, **case)[3]
    out = run_op("recurrent", inputs, attrs, params=params)[0]
    np.testing.assert_allclose(out, plain([x.astype(np.float32).astype(np.float64)
                                           for x in inputs],
                                          {k: v.astype(np.float32) for k, v in params.items()}),
                               rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("isa", ["generic", "avx2", "avx512"])
@pytest.mark.parametrize("cell,kw", [("lstm", dict(peepholes=True)), ("gru", {}),
                                     ("gru", dict(reset_after=True)), ("rnn", {})])
def test_every_instruction_set(isa, cell, kw):
    # the step products run on the GEMM kernels of the instruction set in use (packed once per
    # call under it): against the reference and the float64 numpy one, 1 and 2 threads
    detected = _core.cpu_detect()
    try:
        if _core.set_cpu_isa(isa) != isa:
            pytest.skip(f"this CPU has no {isa}")
        inputs, attrs, params, ref, check = make_case(cell, n=20, T=5, F=7, H=40, D=2, mask=True,
                                                      **kw)
        check_op("recurrent", inputs, ref, attrs=attrs, params=params, check_inputs=check,
                 rtol=1e-4, atol=1e-4, grad_rtol=1e-3, grad_atol=1e-3, fd=False)
    finally:
        _core.set_cpu_isa(detected)
