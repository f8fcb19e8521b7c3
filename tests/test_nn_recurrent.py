"""dagnet.nn's recurrent layers: shapes and outputs against the float64
reference of tests/test_recurrent_ops.py through get_weights, masks carried
by Masking and Embedding (padding never leaks), bidirectional merge modes,
return_state, initial states, the initialisers, training and pickling."""

import pickle

import numpy as np
import pytest

from dagnet.nn import (GRU, LSTM, Dense, Embedding, Input, LayerNorm, Masking, Model, Sequential,
                       SimpleRNN, TimeDistributed)
from test_recurrent_ops import recurrent_ref


def weights_dict(layer, cell, D):
    w = layer.get_weights()
    names = ["kernel", "recurrent_kernel"]
    if layer.use_bias:
        names.append("bias")
    if cell == "lstm" and layer.peepholes:
        names.append("peephole")
    if cell == "gru" and layer.reset_after and layer.use_bias:
        names.append("recurrent_bias")
    assert len(w) == len(names)
    return {k: v.astype(np.float64) for k, v in zip(names, w)}


@pytest.mark.parametrize("layer_cls,cell,kw", [
    (SimpleRNN, "rnn", {}), (SimpleRNN, "rnn", dict(activation="relu")),
    (LSTM, "lstm", {}), (LSTM, "lstm", dict(peepholes=True)),
    (GRU, "gru", {}), (GRU, "gru", dict(reset_after=True)),
    (LSTM, "lstm", dict(bidirectional=True)), (GRU, "gru", dict(go_backwards=True)),
])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_layer_matches_reference(layer_cls, cell, kw, return_sequences):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, 5, 4))
    layer = layer_cls(6, return_sequences=return_sequences, **kw)
    model = Sequential([layer]).build(input_shape=(5, 4), random_state=1)
    out = model.forward(X)
    D = 2 if kw.get("bidirectional") else 1
    ref = recurrent_ref(X, weights_dict(layer, cell, D), cell, 6, D=D,
                        act=kw.get("activation", "tanh"), peepholes=kw.get("peepholes", False),
                        reset_after=kw.get("reset_after", False),
                        go_backwards=kw.get("go_backwards", False))
    expect = ref[:, :5] if return_sequences else ref[:, 5]
    np.testing.assert_allclose(out, expect, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["sum", "mul", "ave", "concat"])
def test_bidirectional_merge_modes(mode):
    X = np.random.default_rng(1).standard_normal((2, 4, 3))
    both = LSTM(5, bidirectional=True, merge_mode="concat", return_sequences=True)
    ref = Sequential([both]).build((4, 3), random_state=0).forward(X)
    merged = LSTM(5, bidirectional=True, merge_mode=mode, return_sequences=True)
    merged.set_weights(both.get_weights())
    out = Sequential([merged]).build((4, 3), random_state=0).forward(X)
    a, b = ref[..., :5], ref[..., 5:]
    expect = {"sum": a + b, "mul": a * b, "ave": (a + b) / 2, "concat": ref}[mode]
    np.testing.assert_allclose(out, expect, rtol=1e-6, atol=1e-6)


def test_return_state_and_initial_states():
    x = Input((6, 3))
    h0, c0 = Input((4,)), Input((4,))
    out, h, c = LSTM(4, return_sequences=True, return_state=True)(x, h0, c0)
    model = Model([x, h0, c0], [out, h, c]).build(random_state=0)
    rng = np.random.default_rng(2)
    X, H0, C0 = rng.standard_normal((2, 6, 3)), rng.standard_normal((2, 4)), \
        rng.standard_normal((2, 4))
    seq, hT, cT = model.forward([X, H0, C0])
    np.testing.assert_allclose(hT, seq[:, -1], rtol=1e-6)
    lstm = model.get_layer(out.layer.layer.name)
    ref = recurrent_ref(X, weights_dict(lstm, "lstm", 1), "lstm", 4, h0=H0, c0=C0)
    np.testing.assert_allclose(cT, ref[:, 7], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(seq, ref[:, :6], rtol=1e-5, atol=1e-5)


def test_bidirectional_return_state_gives_each_direction():
    x = Input((5, 2))
    parts = GRU(3, bidirectional=True, return_state=True)(x)
    assert len(parts) == 3  # output, h forward, h backward
    out, hf, hb = Model(x, parts).build(random_state=0).forward(np.ones((2, 5, 2)))
    np.testing.assert_allclose(out, np.concatenate([hf, hb], axis=1), rtol=1e-6)


@pytest.mark.parametrize("layer_cls", [SimpleRNN, LSTM, GRU])
def test_mask_travels_through_stacked_layers(layer_cls):
    # Masking -> bidirectional layer -> LayerNorm -> TimeDistributed(Dense) -> layer: each
    # padded sequence gives what it gives alone, without its padding
    rng = np.random.default_rng(3)
    X = rng.standard_normal((4, 7, 3))
    lengths = [7, 3, 1, 5]
    for i, L in enumerate(lengths):
        X[i, L:] = 0.0

    def build(T):
        x = Input((T, 3))
        h = layer_cls(5, return_sequences=True, bidirectional=True, name="first")(Masking(0.0)(x))
        h = TimeDistributed(Dense(4, activation="tanh", name="head"))(LayerNorm(name="ln")(h))
        return Model(x, layer_cls(4, name="second")(h))

    model = build(7).build(random_state=0)
    out = model.forward(X)
    for i, L in enumerate(lengths):
        alone = build(L).build(random_state=1)
        for name in ("first", "ln", "second"):
            alone.get_layer(name).set_weights(model.get_layer(name).get_weights())
        head = [lay for lay in model._layer_list() if isinstance(lay, TimeDistributed)][0]
        head2 = [lay for lay in alone._layer_list() if isinstance(lay, TimeDistributed)][0]
        head2.set_weights(head.get_weights())
        np.testing.assert_allclose(out[i], alone.forward(X[i:i + 1, :L])[0], rtol=1e-5,
                                   atol=1e-6)


@pytest.mark.parametrize("layer_cls", [SimpleRNN, LSTM, GRU])
def test_masked_sequence_equals_the_unpadded_one(layer_cls):
    rng = np.random.default_rng(4)
    layer = layer_cls(5, bidirectional=True)
    model = Sequential([Masking(-9.0), layer]).build((6, 2), random_state=0)
    X = rng.standard_normal((3, 6, 2))
    X[1, 4:] = -9.0
    X[2, 2:] = -9.0
    out = model.forward(X)
    for i, L in ((0, 6), (1, 4), (2, 2)):
        alone = Sequential([layer_cls(5, bidirectional=True)])
        alone.layers[0].set_weights(layer.get_weights())
        ref = alone.build((L, 2), random_state=0).forward(X[i:i + 1, :L])
        np.testing.assert_allclose(out[i], ref[0], rtol=1e-5, atol=1e-6)


def test_embedding_mask_zero_and_padding_gradients():
    rng = np.random.default_rng(5)
    ids = rng.integers(1, 20, size=(16, 8))
    for i in range(16):
        ids[i, rng.integers(2, 8):] = 0
    y = (ids.sum(axis=1) > 70).astype(float)
    model = Sequential([Embedding(20, 6, mask_zero=True), LSTM(8), Dense(1)])
    model.build((8,), random_state=0)
    model.compile(loss="binary_cross_entropy", optimizer="adam", learning_rate=0.01)
    before = model.layers[0].get_weights()[0].copy()
    model.fit(ids, y, epochs=3, batch_size=8)
    after = model.layers[0].get_weights()[0]
    # the padding row (id 0) is only ever read at masked steps: no gradient
    np.testing.assert_array_equal(before[0], after[0])
    assert np.abs(after[1:] - before[1:]).max() > 0


def test_initialisers():
    layer = LSTM(6, bidirectional=True)
    keep = [Sequential([layer]).build((3, 4), random_state=0)]  # layers read their model's weights
    _, wh, b = layer.get_weights()
    for d in range(2):
        np.testing.assert_allclose(wh[d] @ wh[d].T, np.eye(6), atol=1e-5)
        np.testing.assert_array_equal(b[d, 6:12], 1.0)  # the forget gate
        np.testing.assert_array_equal(b[d, :6], 0.0)
    g = GRU(6, recurrent_initializer="zeros")
    keep.append(Sequential([g]).build((3, 4), random_state=0))
    np.testing.assert_array_equal(g.get_weights()[1], 0.0)
    a = LSTM(4)
    b2 = LSTM(4)
    keep += [Sequential([a]).build((3, 2), random_state=7),
             Sequential([b2]).build((3, 2), random_state=7)]
    for u, v in zip(a.get_weights(), b2.get_weights()):
        np.testing.assert_array_equal(u, v)


def test_lstm_learns_and_pickles():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((256, 10, 1)).astype(np.float32)
    y = (X[:, 2, 0] > 0).astype(float)  # remember the third step
    model = Sequential([LSTM(16), Dense(1)]).build((10, 1), random_state=0)
    model.compile(loss="binary_cross_entropy", optimizer="adam", learning_rate=0.02)
    model.fit(X, y, epochs=30, batch_size=32)
    acc = ((model.forward(X)[:, 0] > 0) == (y > 0.5)).mean()
    assert acc > 0.95, acc
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.forward(X), model.forward(X))


@pytest.mark.parametrize("bad,match", [
    (dict(units=0), "units"), (dict(activation="gelu"), "activation"),
    (dict(merge_mode="max"), "merge_mode"), (dict(go_backwards=True, bidirectional=True),
                                             "go_backwards"),
    (dict(dropout=1.0), "dropout"), (dict(truncate=-1), "truncate"),
    (dict(recurrent_dropout=-0.1), "recurrent_dropout"),
])
def test_bad_settings(bad, match):
    kw = dict(units=3)
    kw.update(bad)
    with pytest.raises(ValueError, match=match):
        Sequential([LSTM(**kw)]).build((4, 2))


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"\(steps, features\)"):
        Sequential([LSTM(3)]).build((4,))
    with pytest.raises(ValueError, match=r"\(steps,\)"):
        Sequential([Embedding(5, 2)]).build((4, 2))
    with pytest.raises(ValueError, match="TimeDistributed applies"):
        Sequential([TimeDistributed(LSTM(2))]).build((4, 2))
    x = Input((4, 2))
    with pytest.raises(ValueError, match="initial state"):
        GRU(3)(x, x, x)


def test_per_step_labels_with_ignored_steps():
    # sequence labelling: (n, T) class labels, -1 for padded steps that count for nothing
    rng = np.random.default_rng(8)
    X = rng.standard_normal((64, 6, 3)).astype(np.float32)
    Y = (X[..., 0] > 0).astype(int)
    Y[:, 4:] = -1
    model = Sequential([GRU(8, return_sequences=True), Dense(2)]).build((6, 3), random_state=0)
    model.compile(loss="softmax_cross_entropy", learning_rate=0.05)
    model.fit(X, Y, epochs=60, batch_size=16)
    pred = model.forward(X).argmax(axis=-1)
    assert (pred[:, :4] == Y[:, :4]).mean() > 0.95
    with pytest.raises(ValueError, match="-1 for a step to ignore"):
        model.fit(X, np.full((64, 6), 5), epochs=1)


def test_encoder_decoder_with_teacher_forcing_and_decoding():
    # seq2seq (seed 003 section 8.5): the decoder starts from the encoder's final state,
    # trained with teacher forcing, then decoded greedily and by sampling
    from dagnet.nn import decode

    rng = np.random.default_rng(0)
    V, T, H = 8, 4, 48  # tokens 2..7, 1 starts the decoder
    src = rng.integers(2, V, size=(3000, T))
    tgt = src[:, ::-1]
    teacher = np.concatenate([np.ones((len(src), 1), int), tgt[:, :-1]], axis=1)
    e_in, d_in = Input((T,)), Input((T,))
    _, h, c = LSTM(H, return_state=True)(Embedding(V, 8)(e_in))
    dec_emb, dec = Embedding(V, 8), LSTM(H, return_sequences=True, return_state=True)
    head = Dense(V)
    out, _, _ = dec(dec_emb(d_in), h, c)
    model = Model([e_in, d_in], head(out)).build(random_state=0)
    model.compile("softmax_cross_entropy", learning_rate=0.01, clip_norm=1.0)
    model.fit([src, teacher], tgt, epochs=12, batch_size=64)
    # the same trained layers, rebuilt: the encoder, and the decoder for one step
    encoder = Model(e_in, [h, c]).build(random_state=1)
    x1, h0, c0 = Input((1,)), Input((H,)), Input((H,))
    o1, h1, c1 = dec(dec_emb(x1), h0, c0)
    step = Model([x1, h0, c0], [head(o1), h1, c1]).build(random_state=1)
    test = rng.integers(2, V, size=(100, T))
    greedy = decode(step, encoder.forward(test), start=1, steps=T)
    assert (greedy == test[:, ::-1]).mean() > 0.97
    cold = decode(step, encoder.forward(test), start=1, steps=T, temperature=0.05,
                  random_state=0)
    np.testing.assert_array_equal(cold, greedy)  # a cold temperature is greedy
    hot = [decode(step, encoder.forward(test), start=1, steps=T, temperature=5.0,
                  random_state=s) for s in (0, 0, 1)]
    np.testing.assert_array_equal(hot[0], hot[1])  # seeded
    assert (hot[0] != hot[2]).any() and (hot[0] != greedy).any()


def test_recurrent_dropout_trains_and_is_off_at_inference():
    rng = np.random.default_rng(9)
    X = rng.standard_normal((128, 8, 2)).astype(np.float32)
    y = (X[:, 1, 0] > 0).astype(float)
    model = Sequential([LSTM(16, recurrent_dropout=0.3), Dense(1)]).build((8, 2), random_state=0)
    out = model.forward(X)
    np.testing.assert_array_equal(out, model.forward(X))  # inference: deterministic
    model.compile(loss="binary_cross_entropy", learning_rate=0.02)
    model.fit(X, y, epochs=40, batch_size=32)
    assert ((model.forward(X)[:, 0] > 0) == (y > 0.5)).mean() > 0.9
    plain = Sequential([LSTM(16), Dense(1)]).build((8, 2), random_state=0)
    for a, b in zip(plain.layers, model.layers):
        a.set_weights(b.get_weights())
    np.testing.assert_array_equal(plain.forward(X), model.forward(X))


def test_bidirectional_wrapper_is_the_flag():
    from dagnet.nn import Bidirectional

    X = np.random.default_rng(10).standard_normal((2, 5, 3))
    flag = LSTM(4, bidirectional=True, merge_mode="sum", return_sequences=True)
    a = Sequential([flag]).build((5, 3), random_state=0).forward(X)
    wrapped = Bidirectional(LSTM(4, return_sequences=True), merge_mode="sum")
    wrapped.set_weights(flag.get_weights())
    np.testing.assert_array_equal(Sequential([wrapped]).build((5, 3), random_state=0).forward(X),
                                  a)
    with pytest.raises(TypeError, match="wraps"):
        Bidirectional(Dense(3))
    with pytest.raises(ValueError, match="already"):
        Bidirectional(flag)
