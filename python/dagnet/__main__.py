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


def _timed_fit(estimator, X, y):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        estimator.fit(X, y)
        return time.perf_counter() - t0


def tour_mlp(X_train, X_test, y_train, y_test):
    """The drop-in: scikit-learn's MLPClassifier and dagnet's, default
    parameters, side by side."""
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier

    from dagnet import MLPClassifier

    print("\nMLPClassifier() with default parameters (100 relu units, adam, batch 200):")
    ours = MLPClassifier(random_state=0)
    theirs = SkMLPClassifier(random_state=0)
    t_ours = _timed_fit(ours, X_train, y_train)
    t_theirs = _timed_fit(theirs, X_train, y_train)
    for name, est, t in (("dagnet", ours, t_ours), ("scikit-learn", theirs, t_theirs)):
        print(f"  {name:13s} test accuracy {est.score(X_test, y_test):.3f}; "
              f"{est.n_iter_} epochs; fit {t:.3f} s")
    print(f"  dagnet fits {t_theirs / t_ours:.1f}x faster")


def tour_nn(X_train, X_test, y_train, y_test):
    from dagnet.nn import Dense, Sequential

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

    sk = MLPClassifier(hidden_layer_sizes=(100,), max_iter=200, random_state=0,
                       n_iter_no_change=1000)
    sk_time = _timed_fit(sk, X_train, y_train)
    print("scikit-learn MLPClassifier, the same network and recipe:")
    print(f"  test accuracy {sk.score(X_test, y_test):.3f}; fit {sk_time:.3f} s "
          f"(dagnet {sk_time / fit_time:.1f}x faster)")


def tour_rbm(X_train, X_test):
    """BernoulliRBM on binarised digits: fit time beside scikit-learn's, the
    AIS log-likelihood, and a picture of samples drawn from the model."""
    from sklearn.neural_network import BernoulliRBM as SkBernoulliRBM

    from dagnet import BernoulliRBM

    Xb_train, Xb_test = (X_train > 0.5).astype(np.float32), (X_test > 0.5).astype(np.float32)
    settings = dict(n_components=256, learning_rate=0.06, batch_size=10, n_iter=20,
                    random_state=0)
    print("\nBernoulliRBM(n_components=256, learning_rate=0.06, batch_size=10, n_iter=20) on "
          "binarised digits:")
    rbm = BernoulliRBM(ais_betas=3000, **settings)
    t_ours = _timed_fit(rbm, Xb_train, None)
    t_theirs = _timed_fit(SkBernoulliRBM(**settings), Xb_train, None)
    print(f"  fit: dagnet {t_ours:.3f} s, scikit-learn {t_theirs:.3f} s "
          f"(dagnet {t_theirs / t_ours:.1f}x faster)")
    print(f"  log-likelihood per test image (log Z by annealed importance sampling): "
          f"{rbm.score(Xb_test):.2f} nats; pseudo-likelihood "
          f"{rbm.score_samples(Xb_test).mean():.2f}")
    samples = rbm.sample(32, n_steps=1000, mean=True)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("  (pip install matplotlib, or dagnet[plot], to save a picture of samples)")
        return
    fig, axes = plt.subplots(4, 8, figsize=(8, 4.4))
    for ax, img in zip(axes.ravel(), samples):
        ax.imshow(img.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        ax.axis("off")
    fig.suptitle("digits sampled from dagnet's BernoulliRBM (1000 Gibbs steps each)")
    path = "dagnet_rbm_samples.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"  32 samples from the model (1000 Gibbs steps each, shown as p(v | h)): "
          f"saved to {path}")


def tour_autoencoder(X_train, X_test):
    """Autoencoder with a 16-unit code on standardised digits: held-out
    reconstruction error beside PCA's with 16 components, and a picture of
    test digits with their reconstructions."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    from dagnet import Autoencoder

    scaler = StandardScaler().fit(X_train)
    S_train, S_test = scaler.transform(X_train), scaler.transform(X_test)
    print("\nAutoencoder((128, 16), activation='tanh') on standardised digits, beside PCA(16):")
    ae = Autoencoder((128, 16), activation="tanh", max_iter=150, learning_rate_init=3e-3,
                     random_state=0)
    t = _timed_fit(ae, S_train, None)
    pca = PCA(16, random_state=0).fit(S_train)
    pca_mse = np.mean((pca.inverse_transform(pca.transform(S_test)) - S_test) ** 2)
    print(f"  held-out mean squared error: autoencoder {-ae.score(S_test):.3f}, PCA "
          f"{pca_mse:.3f} (fit {t:.2f} s, {ae.n_iter_} epochs)")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("  (pip install matplotlib, or dagnet[plot], to save a picture of reconstructions)")
        return
    shown = X_test[:12]
    rows = (shown, scaler.inverse_transform(ae.predict(S_test[:12])),
            scaler.inverse_transform(pca.inverse_transform(pca.transform(S_test[:12]))))
    fig, axes = plt.subplots(3, 12, figsize=(9, 2.8))
    for r, (images, label) in enumerate(zip(rows, ("test digits", "autoencoder", "PCA(16)"))):
        axes[r, 0].set_title(label, fontsize=8, loc="left")
        for ax, img in zip(axes[r], images):
            ax.imshow(np.clip(img, 0, 1).reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
            ax.axis("off")
    path = "dagnet_autoencoder.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"  12 test digits, their reconstructions from the 16-number code and PCA's: "
          f"saved to {path}")


def main():
    from dagnet import _core

    data = _digits()
    print(f"dagnet tour: digits, {len(data[0])} training and {len(data[1])} test images of "
          f"8x8 pixels, 10 classes")
    print(f"core: {_core.cpu_detect()} kernels, {_core.max_threads()} thread(s), OpenMP "
          f"{'on' if _core.have_openmp() else 'off'}")
    tour_mlp(*data)
    tour_nn(*data)
    tour_rbm(data[0], data[1])
    tour_autoencoder(data[0], data[1])


if __name__ == "__main__":
    main()
