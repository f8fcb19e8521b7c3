"""The tour: ``python -m dagnet`` trains networks on a dataset that
scikit-learn ships and prints what it did, the score and the time."""

import time

import numpy as np


def _digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


def tour_nn():
    from dagnet import _core
    from dagnet.nn import Dense, Sequential

    X_train, X_test, y_train, y_test = _digits()
    print(f"dagnet tour: digits, {len(X_train)} training and {len(X_test)} test images of 8x8 "
          f"pixels, 10 classes")
    print(f"core: {_core.cpu_detect()} kernels, {_core.max_threads()} thread(s), OpenMP "
          f"{'on' if _core.have_openmp() else 'off'}")
    model = Sequential([Dense(100, activation="relu"), Dense(10)])
    model.build(input_shape=(64,), random_state=0)
    model.compile("softmax_cross_entropy", optimizer="adam", learning_rate=1e-3)
    t0 = time.perf_counter()
    model.fit(X_train, y_train, epochs=200, batch_size=200)
    fit_time = time.perf_counter() - t0
    acc = (model.predict(X_test).argmax(1) == y_test).mean()
    print(f"\ndagnet.nn Sequential 64-100(relu)-10, adam, batch 200, 200 epochs "
          f"(one C call per epoch)")
    print(f"  loss {model.history_[0]:.3f} -> {model.history_[-1]:.4f}; "
          f"test accuracy {acc:.3f}; fit {fit_time:.3f} s")

    from sklearn.neural_network import MLPClassifier
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        sk = MLPClassifier(hidden_layer_sizes=(100,), max_iter=200, random_state=0,
                           n_iter_no_change=1000).fit(X_train, y_train)
        sk_time = time.perf_counter() - t0
    print(f"scikit-learn MLPClassifier, the same network and recipe:")
    print(f"  test accuracy {sk.score(X_test, y_test):.3f}; fit {sk_time:.3f} s "
          f"(dagnet {sk_time / fit_time:.1f}x faster)")


def main():
    tour_nn()


if __name__ == "__main__":
    main()
