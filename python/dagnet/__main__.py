"""The tour: ``python -m dagnet`` trains networks on a dataset that
scikit-learn ships and prints what it did, the score and the time; then
sequence models (dagnet/_tour_sequences.py) on digits read row by row, the
adding problem, Python's licence text and the Mackey-Glass series.

Every "N x faster" figure is the median of alternating rounds (dagnet, then
the reference, three times, after one untimed round of each) with the spread
of the rounds beside it, so that one slow run of either side does not make
the figure. With matplotlib
installed (``pip install ".[plot]"``) the tour saves its pictures in a folder,
``dagnet_tour/`` in the current directory unless ``--out`` names another.

    python -m dagnet [--out FOLDER]
"""

import argparse
import os
import time

import numpy as np

ROUNDS = 3
PLOT_HINT = 'pip install ".[plot]" adds matplotlib'


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


def _rounds(*fits):
    """Run the timed fits in turn, ROUNDS times over after one untimed round
    (the first call of each library pays for its threads and caches); each
    returns (fitted object, seconds). Returns the last fitted object of each
    and an array of seconds, one row per fit, one column per round."""
    for fit in fits:
        fit()
    fitted, times = [None] * len(fits), np.zeros((len(fits), ROUNDS))
    for r in range(ROUNDS):
        for i, fit in enumerate(fits):
            fitted[i], times[i, r] = fit()
    return fitted, times


def _fit_fresh(make, X, y):
    """A timed-fit callable for _rounds: a fresh estimator from make() each round."""
    def fit():
        est = make()
        return est, _timed_fit(est, X, y)
    return fit


def _speedup(t_ours, t_theirs):
    """'N.Nx faster' from per-round times: the median of the rounds' ratios,
    with their range."""
    ratios = np.asarray(t_theirs) / np.asarray(t_ours)
    return (f"{np.median(ratios):.1f}x faster (median of {len(ratios)} alternating rounds, "
            f"{ratios.min():.1f}x to {ratios.max():.1f}x)")


def tour_mlp(X_train, X_test, y_train, y_test):
    """The drop-in: scikit-learn's MLPClassifier and dagnet's, default
    parameters, side by side."""
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier

    from dagnet import MLPClassifier

    print("\nMLPClassifier() with default parameters (100 relu units, adam, batch 200):")
    (ours, theirs), t = _rounds(
        _fit_fresh(lambda: MLPClassifier(random_state=0), X_train, y_train),
        _fit_fresh(lambda: SkMLPClassifier(random_state=0), X_train, y_train))
    for name, est, ts in (("dagnet", ours, t[0]), ("scikit-learn", theirs, t[1])):
        print(f"  {name:13s} test accuracy {est.score(X_test, y_test):.3f}; "
              f"{est.n_iter_} epochs; fit {np.median(ts):.3f} s")
    print(f"  dagnet fits {_speedup(t[0], t[1])}")


def tour_nn(X_train, X_test, y_train, y_test):
    """The layers underneath: a Sequential model with the MLP's network and
    recipe, beside scikit-learn's MLPClassifier run for the same 200 epochs."""
    from sklearn.neural_network import MLPClassifier

    from dagnet.nn import Dense, Sequential

    def fit_model():
        model = Sequential([Dense(100, activation="relu"), Dense(10)])
        model.build(input_shape=(64,), random_state=0)
        model.compile("softmax_cross_entropy", optimizer="adam", learning_rate=1e-3)
        t0 = time.perf_counter()
        model.fit(X_train, y_train, epochs=200, batch_size=200)
        return model, time.perf_counter() - t0

    (model, sk), t = _rounds(
        fit_model,
        _fit_fresh(lambda: MLPClassifier(hidden_layer_sizes=(100,), max_iter=200,
                                          random_state=0, n_iter_no_change=1000),
                   X_train, y_train))
    acc = (model.predict(X_test).argmax(1) == y_test).mean()
    print(f"\ndagnet.nn Sequential 64-100(relu)-10, adam, batch 200, 200 epochs "
          f"(one C call per epoch)")
    print(f"  loss {model.history_[0]:.3f} -> {model.history_[-1]:.4f}; "
          f"test accuracy {acc:.3f}; fit {np.median(t[0]):.3f} s")
    print("scikit-learn MLPClassifier, the same network and recipe:")
    print(f"  test accuracy {sk.score(X_test, y_test):.3f}; fit {np.median(t[1]):.3f} s")
    print(f"  dagnet fits {_speedup(t[0], t[1])}")


def tour_cnn(X_train, X_test, y_train, y_test):
    """NeuralNetClassifier's default network for images, a small CNN, on the
    digits as 1x8x8 images, beside MLPClassifier on the same rows."""
    from dagnet import MLPClassifier, NeuralNetClassifier

    cnn = NeuralNetClassifier(input_shape=(1, 8, 8), learning_rate_init=3e-3, batch_size=32,
                              max_iter=20, random_state=0)
    mlp = MLPClassifier(random_state=0)
    t_cnn = _timed_fit(cnn, X_train, y_train)
    t_mlp = _timed_fit(mlp, X_train, y_train)
    print("\nNeuralNetClassifier(input_shape=(1, 8, 8)): the rows as 1x8x8 images through "
          "its default CNN,\n  Conv2D(16, 3) relu, MaxPool2D(2), Conv2D(32, 3) relu, "
          "Dense(10); adam 3e-3, batch 32, 20 epochs:")
    for name, est, t in (("CNN", cnn, t_cnn), ("MLPClassifier", mlp, t_mlp)):
        print(f"  {name:13s} test accuracy {est.score(X_test, y_test):.3f}; "
              f"{est.n_iter_} epochs; fit {t:.3f} s")


def tour_rbm(X_train, X_test, out):
    """BernoulliRBM on binarised digits: fit time beside scikit-learn's, the
    AIS log-likelihood, and a picture of samples drawn from the model."""
    from sklearn.neural_network import BernoulliRBM as SkBernoulliRBM

    from dagnet import BernoulliRBM

    Xb_train, Xb_test = (X_train > 0.5).astype(np.float32), (X_test > 0.5).astype(np.float32)
    settings = dict(n_components=256, learning_rate=0.06, batch_size=10, n_iter=20,
                    random_state=0)
    print("\nBernoulliRBM(n_components=256, learning_rate=0.06, batch_size=10, n_iter=20) on "
          "binarised digits:")
    (rbm, _), t = _rounds(
        _fit_fresh(lambda: BernoulliRBM(ais_betas=3000, **settings), Xb_train, None),
        _fit_fresh(lambda: SkBernoulliRBM(**settings), Xb_train, None))
    print(f"  fit: dagnet {np.median(t[0]):.3f} s, scikit-learn {np.median(t[1]):.3f} s")
    print(f"  dagnet fits {_speedup(t[0], t[1])}")
    print(f"  log-likelihood per test image (log Z by annealed importance sampling): "
          f"{rbm.score(Xb_test):.2f} nats; pseudo-likelihood "
          f"{rbm.score_samples(Xb_test).mean():.2f}")
    samples = rbm.sample(32, n_steps=1000, mean=True)
    path = _save_digits(samples, "digits sampled from dagnet's BernoulliRBM (1000 Gibbs steps "
                        "each)", out, "rbm_samples.png")
    if path:
        print(f"  32 samples from the model (1000 Gibbs steps each, shown as p(v | h)): "
              f"saved to {path}")


def _pyplot():
    """matplotlib's pyplot on a file backend, or None without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _save(fig, out, name):
    """Save a figure as out/name (making the folder) and close it; returns the path."""
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, name)
    fig.savefig(path, dpi=80)
    _pyplot().close(fig)
    return path


def _save_digits(images, title, out, name, rows=4, cols=8):
    """A grid of 8x8 images in [0, 1] saved as out/name; returns the path, or
    None without matplotlib."""
    plt = _pyplot()
    if plt is None:
        return None
    fig, axes = plt.subplots(rows, cols, figsize=(cols, rows * 1.1))
    for ax, img in zip(axes.ravel(), images):
        ax.imshow(np.reshape(img, (8, 8)), cmap="gray_r", vmin=0, vmax=1)
        ax.axis("off")
    fig.suptitle(title)
    return _save(fig, out, name)


def tour_vae(X_train, X_test, out):
    """A VAE on digits: the held-out ELBO after each epoch, and new digits
    drawn from the prior."""
    from dagnet import VAE

    print("\nVAE(n_components=8, hidden_layer_sizes=(128,), decoder='bernoulli') on digits:")
    vae = VAE(n_components=8, hidden_layer_sizes=(128,), decoder="bernoulli", max_iter=30,
              early_stopping=True, n_iter_no_change=30, random_state=0)
    t = _timed_fit(vae, X_train, None)
    curve = ", ".join(f"{v:.1f}" for v in vae.validation_scores_[:6])
    print(f"  validation ELBO per image over the first epochs: {curve}, ... "
          f"{vae.validation_scores_[-1]:.1f} after {vae.n_iter_}")
    print(f"  test ELBO per image {vae.score(X_test):.2f} nats; fit {t:.2f} s")
    path = _save_digits(vae.sample(32), "digits decoded from z ~ N(0, I) by dagnet's VAE",
                        out, "vae_samples.png")
    if path:
        print(f"  32 samples (decoder means of z drawn from the prior): saved to {path}")


def tour_gan(out):
    """A GAN on a ring of 8 Gaussians: how many modes its samples cover."""
    from dagnet import GAN

    std, k = 0.05, np.arange(8) * np.pi / 4
    centers = 2 * np.c_[np.cos(k), np.sin(k)]
    rng = np.random.RandomState(0)
    X = centers[rng.randint(8, size=2000)] + std * rng.randn(2000, 2)
    print("\nGAN(loss='non-saturating') on a ring of 8 Gaussians (std 0.05, radius 2):")
    gan = GAN(max_iter=60, random_state=0)
    t = _timed_fit(gan, X, None)
    S = gan.sample(2000)
    d = np.linalg.norm(S[:, None] - centers[None], axis=2)
    near = d.min(axis=1) < 3 * std
    modes = len(np.unique(d.argmin(axis=1)[near]))
    print(f"  {modes} of 8 modes covered; {near.mean():.0%} of 2000 samples within 3 std of "
          f"a mode; fit {t:.2f} s")
    plt = _pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(X[:, 0], X[:, 1], s=2, alpha=0.3, label="data")
    ax.scatter(S[:, 0], S[:, 1], s=2, alpha=0.3, label="GAN samples")
    ax.set_aspect("equal")
    ax.legend(loc="upper right", markerscale=5)
    ax.set_title("dagnet's GAN on a ring of 8 Gaussians")
    print(f"  data and samples: saved to {_save(fig, out, 'gan_ring.png')}")


def tour_autoencoder(X_train, X_test, out):
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
    plt = _pyplot()
    if plt is None:
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
    print(f"  12 test digits, their reconstructions from the 16-number code and PCA's: "
          f"saved to {_save(fig, out, 'autoencoder.png')}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dagnet", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="dagnet_tour",
                        help="folder for the pictures (default: dagnet_tour in the current "
                             "directory); made when the first picture is saved")
    out = parser.parse_args(argv).out

    from dagnet import _core

    data = _digits()
    print(f"dagnet tour: digits, {len(data[0])} training and {len(data[1])} test images of "
          f"8x8 pixels, 10 classes")
    print(f"core: {_core.cpu_detect()} kernels, {_core.max_threads()} thread(s), OpenMP "
          f"{'on' if _core.have_openmp() else 'off'}")
    if _pyplot() is None:
        print(f"pictures: none, matplotlib is not installed ({PLOT_HINT})")
    else:
        print(f"pictures: saved in {os.path.abspath(out)}")
    tour_mlp(*data)
    tour_nn(*data)
    tour_cnn(*data)
    tour_rbm(data[0], data[1], out)
    tour_autoencoder(data[0], data[1], out)
    tour_vae(data[0], data[1], out)
    tour_gan(out)
    from dagnet._tour_sequences import tour_sequences
    tour_sequences(data)


if __name__ == "__main__":
    main()
