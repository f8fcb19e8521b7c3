"""The tour's sequence models (``python -m dagnet``): digits read row by row
by an LSTM, the adding problem's long-term dependency (seed 003 section 8.7)
that gated cells solve and a vanilla RNN does not, a character-level
language model of the licence text that ships with Python, and an echo state
network predicting the Mackey-Glass series."""

import os
import time
import warnings

import numpy as np


def tour_lstm_digits(X_train, X_test, y_train, y_test):
    """NeuralNetClassifier with one LSTM: each 8x8 digit read as 8 steps of 8
    pixels (input_shape=(8, 8) reshapes the rows)."""
    from dagnet import NeuralNetClassifier
    from dagnet.nn import LSTM

    clf = NeuralNetClassifier([LSTM(64)], input_shape=(8, 8), learning_rate_init=0.01,
                              max_iter=60, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        clf.fit(X_train, y_train)
        t = time.perf_counter() - t0
    print("\nNeuralNetClassifier([LSTM(64)], input_shape=(8, 8)): each digit read row by row, "
          "8 steps of 8 pixels:")
    print(f"  test accuracy {clf.score(X_test, y_test):.3f}; {clf.n_iter_} epochs; fit {t:.2f} s")


def tour_adding_problem():
    """The adding problem with T = 100: the sum of the two marked values of a
    sequence of 100 random numbers, the marks anywhere in it. Predicting the
    mean scores the variance of the target, about 0.167; solved means a test
    MSE below 0.01."""
    from dagnet.datasets import adding_problem
    from dagnet.nn import GRU, LSTM, Dense, Sequential, SimpleRNN

    T = 100
    X, y = adding_problem(6000, T, random_state=0)
    Xt, yt = adding_problem(1000, T, random_state=1)
    print(f"\nThe adding problem (seed 003 section 8.7), T = {T}: 6000 training sequences, "
          f"test MSE of predicting the mean {np.var(yt):.3f}; up to 20 epochs, each cell 32 "
          f"units, adam 0.01, clip_norm 1:")
    for cell in (SimpleRNN, LSTM, GRU):
        model = Sequential([cell(32), Dense(1)]).build((T, 2), random_state=0)
        model.compile("squared_error", learning_rate=0.01, clip_norm=1.0)
        t0 = time.perf_counter()
        for epoch in range(1, 21):
            model.fit(X, y, epochs=1, batch_size=64)
            mse = float(np.mean((model.forward(Xt)[:, 0] - yt) ** 2))
            if mse < 0.005:
                break
        verdict = "solved" if mse < 0.01 else "not solved"
        print(f"  {cell.__name__:9s} test MSE {mse:.4f} after {epoch} epochs "
              f"({time.perf_counter() - t0:.1f} s): {verdict}")


def _licence_text():
    path = os.path.join(os.path.dirname(os.__file__), "LICENSE.txt")
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return None


def tour_char_model(epochs=8, T=64, temperature=0.5):
    """A character-level language model: Embedding, LSTM(256) returning
    sequences and a per-step Dense head, trained to predict each next
    character of the licence text that ships with Python, then sampling
    200 characters with a temperature."""
    from dagnet.nn import LSTM, Dense, Embedding, Sequential

    text = _licence_text()
    if not text:
        print("\ncharacter model: skipped (no LICENSE.txt beside the standard library)")
        return
    chars = sorted(set(text))
    ids = np.array([chars.index(c) for c in text])
    starts = np.arange(0, len(ids) - T - 1, 7)
    X = np.stack([ids[s:s + T] for s in starts]).astype(np.float32)
    Y = np.stack([ids[s + 1:s + T + 1] for s in starts])
    model = Sequential([Embedding(len(chars), 32), LSTM(256, return_sequences=True),
                        Dense(len(chars))]).build((T,), random_state=0)
    model.compile("softmax_cross_entropy", learning_rate=0.005, clip_norm=1.0)
    t0 = time.perf_counter()
    model.fit(X, Y, epochs=epochs, batch_size=64)
    t = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    seq = list(ids[:T])
    out = []
    for _ in range(200):
        logits = model.forward(np.array([seq[-T:]], np.float32))[0, -1].astype(np.float64)
        p = np.exp((logits - logits.max()) / temperature)
        seq.append(int(rng.choice(len(chars), p=p / p.sum())))
        out.append(chars[seq[-1]])
    print(f"\nA character-level LSTM language model of Python's LICENSE.txt ({len(text)} "
          f"characters, {len(chars)} distinct): Embedding(32), LSTM(256), Dense per step;")
    print(f"  {epochs} epochs of {len(X)} windows of {T} in {t:.1f} s, loss "
          f"{model.history_[0] / T:.2f} -> {model.history_[-1] / T:.2f} nats per character. "
          f"Sampled at temperature {temperature}:")
    print("  | " + "".join(out).replace("\n", "\n  | "))


def tour_echo_state():
    """An echo state network (seed 003 section 8.10) predicting the
    Mackey-Glass series one step ahead: a fixed sparse reservoir, a ridge
    readout fitted in closed form."""
    from dagnet import EchoStateRegressor
    from dagnet.datasets import mackey_glass

    series = mackey_glass(4000, tau=17, random_state=0).reshape(-1, 1)
    X, y = series[:-1], series[1:, 0]
    split = 3000
    esn = EchoStateRegressor(n_reservoir=500, random_state=0)
    t0 = time.perf_counter()
    esn.fit(X[:split], y[:split])
    t = time.perf_counter() - t0
    pred = esn.predict(X)[split:]
    nrmse = float(np.sqrt(np.mean((pred - y[split:]) ** 2)) / np.std(y[split:]))
    print(f"\nEchoStateRegressor(n_reservoir=500) on the Mackey-Glass series (tau = 17), one step "
          f"ahead:\n  fit on {split} steps in {t:.2f} s; test NRMSE {nrmse:.4f} on the next "
          f"{len(pred)} steps")


def tour_sequences(data):
    tour_lstm_digits(*data)
    tour_adding_problem()
    tour_char_model()
    tour_echo_state()
