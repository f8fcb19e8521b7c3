"""Generative adversarial networks (seed 004, sections 8.7-8.10 and 8.17)
on dagnet's core: the generator and the discriminator (critic) are two
``dagnet.nn`` models; each step runs whole batches through them in C calls,
and the discriminator's gradient with respect to its input flows back into
the generator (Model.backward)."""

import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from dagnet import _core
from dagnet._progress import EpochProgress
from dagnet._threads import quiet_blas, resolve_threads
from dagnet._validation import seed_from
from dagnet.nn import Dense, Input, SpectralDense
from dagnet.neural_network._base import _check_option, _check_range, store_params
from dagnet.neural_network._generative import (DivergenceGuard, build_model, check_n_samples,
                                               check_positive, check_sizes, dense_stack,
                                               load_params, normal_draws, params_of,
                                               validate_dense)

_LOSSES = ("minimax", "non-saturating", "least-squares", "wasserstein")
_STREAM_LATENT = 0x4C4154454E  # "LATEN": latent draws of training and sample()
_STREAM_SHUFFLE = 0x4753485546  # "GSHUF": + epoch
_STREAM_LABELS = 0x4C41424C53  # "LABLS": sample()'s classes


def _sigmoid(s):
    return 0.5 * (1.0 + np.tanh(0.5 * s))


def _softplus(s):
    return np.logaddexp(0.0, s)


def critic_loss(loss, real, fake):
    """The discriminator's loss on scores (logits, or the critic's values)
    of real and fake batches, and its gradients with respect to them.
      minimax, non-saturating: BCE with 1 = real, 0 = fake (seed 004, 8.7)
      least-squares: 1/2 (s_r - 1)^2 + 1/2 s_f^2 on the linear output (8.7.1)
      wasserstein: mean s_f - mean s_r, the K-R dual (8.17)"""
    nr, nf = real.shape[0], fake.shape[0]
    if loss == "least-squares":
        value = 0.5 * np.mean((real - 1) ** 2) + 0.5 * np.mean(fake ** 2)
        return value, (real - 1) / nr, fake / nf
    if loss == "wasserstein":
        return (np.mean(fake) - np.mean(real), np.full_like(real, -1.0 / nr),
                np.full_like(fake, 1.0 / nf))
    value = np.mean(_softplus(-real)) + np.mean(_softplus(fake))
    return value, (_sigmoid(real) - 1) / nr, _sigmoid(fake) / nf


def generator_loss(loss, fake):
    """The generator's loss on the fake scores and its gradient:
      minimax: mean log(1 - D) = -mean softplus(s) (seed 004, 8.7)
      non-saturating: -mean log D = mean softplus(-s) [STD, Goodfellow 2014]
      least-squares: 1/2 mean (s - 1)^2 [STD, LSGAN]
      wasserstein: -mean s"""
    n = fake.shape[0]
    if loss == "minimax":
        return -np.mean(_softplus(fake)), -_sigmoid(fake) / n
    if loss == "non-saturating":
        return np.mean(_softplus(-fake)), (_sigmoid(fake) - 1) / n
    if loss == "least-squares":
        return 0.5 * np.mean((fake - 1) ** 2), (fake - 1) / n
    return -np.mean(fake), np.full_like(fake, -1.0 / n)


class _Adam:
    """Adam over a model's trainable parameters, one core call per step."""

    def __init__(self, model, **settings):
        trainable = [(v, g) for _, _, v, g, tr in model.graph.params() if tr]
        self.params = [v for v, _ in trainable]
        self.grads = [g for _, g in trainable]
        self.states = [[np.zeros_like(v), np.zeros_like(v)] for v in self.params]
        self.settings = settings  # set by GAN._configure
        self.t = 0

    def step(self, nthreads):
        self.t += 1
        _core.optim_step("adam", self.params, self.grads, self.states, self.t,
                         nthreads=nthreads, **self.settings)


class GAN(BaseEstimator):
    """Generative adversarial network: a generator G(z) and a discriminator
    (critic) D(x) trained in alternation, ``n_critic`` discriminator steps
    per generator step (seed 004, section 8.7); conditional on the class
    when ``y`` is given to fit: its one-hot is concatenated to G's latent
    input and to D's input (section 8.10).

    The core computes in float32: X may be float32 or float64 (or ints),
    dense or scipy.sparse (densified), with values within float32's range;
    sample returns the dtype of the data of the last fit (float32 for
    float32 data, float64 otherwise).

    A fit whose losses grow by orders of magnitude (a learning rate too
    large for the data) stops with a ConvergenceWarning, one whose losses
    turn NaN or infinite with a ValueError; either way the model keeps the
    parameters of its last sound epoch. A pickled GAN continues training
    (fit with warm_start=True) exactly as the original.

    Parameters
    ----------
    generator, discriminator : list of dagnet.nn layers or None
        The hidden layers of each network; the output layers (n_features
        linear units for G, one score for D) are added. None: Dense layers
        of hidden_layer_sizes, ReLU in G and leaky ReLU in D
        (SpectralDense with spectral_norm). Convolutions read rows as
        images through a Reshape layer, e.g. discriminator=[Reshape((1, 8,
        8)), Conv2D(8, 3, padding='same', activation='leaky_relu'),
        Flatten()].
    hidden_layer_sizes : tuple of int, default=(128, 128)
    latent_dim : int, default=8
    loss : {'non-saturating', 'minimax', 'least-squares', 'wasserstein'}
        'non-saturating' (the default) and 'minimax' train D with binary
        cross-entropy and differ in G's loss; 'least-squares' is the notes'
        remedy for saturation; 'wasserstein' trains a critic, kept Lipschitz
        by weight clipping (clip_value) or spectral normalisation. The
        critic's losses learn slowly at this scale: on the ring of 8
        Gaussians, 100 epochs with n_critic=5 reach all 8 modes but leave
        only 2-8 % of the samples within 3 standard deviations of one,
        where the default loss puts 77-90 % there.
    clip_value : float or None, default=None
        With 'wasserstein' and no spectral_norm: clip the critic's
        parameters to [-clip_value, clip_value] after each step (None:
        0.01, Arjovsky et al.).
    spectral_norm : bool, default=False
        The default discriminator and its output layer use SpectralDense.
    n_critic : int, default=1
    learning_rate_init, beta_1, beta_2 : float
        Adam for both networks (0.001, 0.5, 0.999: beta_1 0.5 is the usual
        for GANs). DCGAN's 0.0002 suits image convnets trained for many
        steps; on small tabular data it undertrains: on the ring of 8
        Gaussians, 100 epochs of 2,000 points leave 8-26 % of the samples
        near a mode at 0.0002, against 77-90 % at 0.001.
    batch_size : int, default=64
    max_iter : int, default=100
        Epochs: passes of D over the data.
    warm_start : bool, default=False
        fit continues training the fitted networks, with their optimisers'
        state, for max_iter more epochs (on data of as many features, and
        of the classes of the first fit) instead of starting anew; the
        learning rate and Adam's betas are read at each fit.
    random_state, n_threads, verbose :
        As the other estimators; for a fixed random_state, fit and the
        sequence of sample() calls repeat exactly, for any n_threads.

    Attributes
    ----------
    generator_loss_curve_, discriminator_loss_curve_ : list of float
        Each epoch's mean loss of the generator's and the discriminator's
        steps (over all fits of a warm start).
    classes_ : ndarray or None
        The classes of a conditional GAN.
    n_iter_ : int
        Epochs trained (over all fits of a warm start).
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from dagnet import GAN
    >>> X = np.random.RandomState(0).normal(size=(256, 2))
    >>> gan = GAN(max_iter=2, random_state=0).fit(X)
    >>> gan.sample(5).shape, len(gan.generator_loss_curve_)
    ((5, 2), 2)
    """

    def __init__(self, generator=None, discriminator=None, *, hidden_layer_sizes=(128, 128),
                 latent_dim=8, loss="non-saturating", clip_value=None, spectral_norm=False,
                 n_critic=1, learning_rate_init=0.001, beta_1=0.5, beta_2=0.999,
                 batch_size=64, max_iter=100, warm_start=False, random_state=None,
                 n_threads=None, verbose=0):
        store_params(self, locals())

    def _check_params(self):
        try:
            for p in ("latent_dim", "n_critic", "batch_size", "max_iter"):
                _check_range(p, getattr(self, p), 1, None, integral=True)
            _check_option("loss", self.loss, _LOSSES)
            _check_range("beta_1", self.beta_1, 0, 1, high_closed=False)
            _check_range("beta_2", self.beta_2, 0, 1, high_closed=False)
        except ValueError as e:
            raise ValueError(str(e).format(est="GAN")) from None
        check_positive(self, learning_rate_init=self.learning_rate_init)
        if self.clip_value is not None:
            check_positive(self, clip_value=self.clip_value)
        if not isinstance(self.warm_start, (bool, np.bool_)):
            raise ValueError(f"The 'warm_start' parameter of GAN must be an instance of 'bool'. "
                             f"Got {self.warm_start!r} instead.")
        resolve_threads(self.n_threads)
        for name in ("generator", "discriminator"):
            layers = getattr(self, name)
            if layers is not None and not isinstance(layers, (list, tuple)):
                raise ValueError(f"{name} must be a list of dagnet.nn layers or None, got "
                                 f"{type(layers).__name__}")
        return check_sizes("hidden_layer_sizes", self.hidden_layer_sizes)

    def _nthreads(self):
        return resolve_threads(self.n_threads)

    def _clip(self):
        if self.loss != "wasserstein" or self.spectral_norm:
            return 0.0
        return 0.01 if self.clip_value is None else float(self.clip_value)

    def _build(self, hidden, n_features, n_classes, seed):
        z = Input((self.latent_dim + n_classes,), name="latent")
        h = (dense_stack(z, hidden, "relu", "generator") if self.generator is None
             else _stack(z, self.generator))
        self._g = build_model(z, Dense(n_features, name="generated")(h), seed)
        x = Input((n_features + n_classes,), name="x")
        layer = SpectralDense if self.spectral_norm else Dense
        h = (dense_stack(x, hidden, "leaky_relu", "critic", layer) if self.discriminator is None
             else _stack(x, self.discriminator))
        self._d = build_model(x, layer(1, name="score")(h), seed + 1)
        self._g_opt, self._d_opt = _Adam(self._g), _Adam(self._d)
        self._network = self._network_key(hidden, n_features, n_classes)
        self._configure()

    def _network_key(self, hidden, n_features, n_classes):
        """What a warm start must find unchanged."""
        return (hidden, self.latent_dim, n_features, n_classes, bool(self.spectral_norm),
                self.generator is None, self.discriminator is None)

    def _configure(self):
        """The settings a fit reads anew: threads and the optimisers'."""
        for m in (self._g, self._d):
            m.n_threads = self.n_threads
        adam = dict(lr=self.learning_rate_init, beta1=self.beta_1, beta2=self.beta_2)
        self._g_opt.settings = adam
        self._d_opt.settings = dict(adam, clip_value=self._clip())

    # --- fitting -----------------------------------------------------------------

    def fit(self, X, y=None):
        """Train for max_iter epochs; conditional on the classes of y when
        given.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or None

        Returns
        -------
        self
        """
        hidden = self._check_params()
        warm = self.warm_start and hasattr(self, "_g")
        if y is None:
            X, self._fit_dtype = validate_dense(self, X, reset=not warm)
            classes, codes = None, np.zeros(X.shape[0], dtype=np.int64)
        else:
            X, self._fit_dtype, y = validate_dense(self, X, y, reset=not warm)
            classes, codes = np.unique(y, return_inverse=True)
        if warm:
            k = 0 if self.classes_ is None else len(self.classes_)
            codes = self._warm_codes(hidden, X, classes, codes, k)
        else:
            self.classes_ = classes
            k = 0 if classes is None else len(classes)
            self._seed = seed_from(self.random_state)
            self._build(hidden, X.shape[1], k, self._seed)
            self._draws = 0
            self._loss_scale = None
            self.generator_loss_curve_, self.discriminator_loss_curve_ = [], []
            self.n_iter_ = 0
        self._configure()
        self._class_freq = np.bincount(codes, minlength=k) / len(codes) if k else None
        onehot = _one_hot(codes, k)
        n, B = X.shape[0], min(int(self.batch_size), X.shape[0])
        guard = DivergenceGuard(
            "GAN", f"Lower learning_rate_init (now {self.learning_rate_init:g}) or standardise X "
            f"(e.g. with StandardScaler); loss='least-squares' or spectral_norm=True can also "
            f"steady training.", self._state, self._set_state, self._loss_scale)
        progress = EpochProgress(self.verbose, self.max_iter, "GAN")
        nt = self._nthreads()
        try:
            with quiet_blas(nt):
                for _ in range(self.max_iter):
                    losses = self._epoch(X, onehot, n, B, nt, guard)
                    if losses is None:
                        break
                    self.n_iter_ += 1
                    self.discriminator_loss_curve_.append(losses[0])
                    self.generator_loss_curve_.append(losses[1])
                    progress.epoch(self.n_iter_, losses[1], val_loss=losses[0])
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        finally:
            progress.close()
        self._loss_scale = guard.scale
        return self

    def _warm_codes(self, hidden, X, classes, codes, k):
        """The class codes of a warm start's data, which must fit the network
        and the classes of the first fit."""
        if self._network != self._network_key(hidden, X.shape[1], k):
            raise ValueError("warm_start=True continues the fitted networks, which the "
                             "parameters now describe differently (hidden_layer_sizes, "
                             "latent_dim, spectral_norm, generator or discriminator); set them "
                             "back, or fit with warm_start=False")
        if (classes is None) != (self.classes_ is None) or (
                classes is not None and not np.all(np.isin(classes, self.classes_))):
            fitted = ("without y" if self.classes_ is None
                      else f"on the classes {list(self.classes_)}")
            raise ValueError(f"warm_start=True continues a GAN fitted {fitted}; give y the "
                             f"same way, or fit with warm_start=False")
        return codes if classes is None else np.searchsorted(self.classes_, classes)[codes]

    def _epoch(self, X, onehot, n, B, nt, guard):
        """One pass of D over the data: (D's mean loss, G's mean loss), or
        None when a loss diverged (the guard has restored the last sound
        epoch)."""
        perm = _core.rng_permutation(self._seed, _STREAM_SHUFFLE + self.n_iter_, n)
        d_losses, g_losses = [], []
        for b, start in enumerate(range(0, n, B)):
            idx = perm[start:start + B]
            c = onehot[idx]
            step = [self._critic_step(X[idx], c, nt)]
            d_losses.append(step[0])
            if (b + 1) % self.n_critic == 0:
                step.append(self._generator_step(c, nt))
                g_losses.append(step[1])
            for loss in step:
                if not guard.sound(loss):
                    guard.give_up(self.n_iter_ + 1, loss)
                    return None
        guard.epoch_done()
        return float(np.mean(d_losses)), float(np.mean(g_losses)) if g_losses else np.nan

    def _latent(self, c):
        """Fresh latent draws for the rows of c (the one-hot conditions)."""
        z = normal_draws(self._seed, _STREAM_LATENT, self._draws, c.shape[0], self.latent_dim)
        self._draws += 2 * ((z.size + 1) // 2)
        return np.hstack([z, c]) if c.shape[1] else z

    def _critic_step(self, xr, c, nt):
        """One discriminator step on a real batch and as many fakes (with the
        real batch's conditions); returns its loss."""
        fake = self._g.forward(self._latent(c), training=True)
        both = np.vstack([xr, fake])
        if c.shape[1]:
            both = np.hstack([both, np.vstack([c, c])])
        s = self._d.forward(both, training=True).astype(np.float64)
        m = xr.shape[0]
        value, g_real, g_fake = critic_loss(self.loss, s[:m], s[m:])
        self._d.backward(np.vstack([g_real, g_fake]))
        self._d_opt.step(nt)
        return value

    def _generator_step(self, c, nt):
        """One generator step: D's gradient with respect to its input, the
        fake batch, is G's output gradient; returns G's loss."""
        fake = self._g.forward(self._latent(c), training=True)
        x = np.hstack([fake, c]) if c.shape[1] else fake
        s = self._d.forward(x, training=True).astype(np.float64)
        value, g_s = generator_loss(self.loss, s)
        gx = self._d.backward(g_s)
        self._g.backward(np.ascontiguousarray(gx[:, :fake.shape[1]]))
        self._g_opt.step(nt)
        return value

    # --- sampling ----------------------------------------------------------------

    def sample(self, n_samples=1, y=None):
        """New data from the generator. Each call draws anew; the sequence of
        calls repeats for a fixed random_state.

        Parameters
        ----------
        n_samples : int >= 1, default=1
        y : array-like of shape (n_samples,) or None
            The classes to generate (conditional GAN); None draws them with
            the training data's class frequencies.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            In the dtype of the data of the last fit: float32 for float32
            data, float64 otherwise.
        """
        check_is_fitted(self)
        n_samples = check_n_samples(n_samples)
        k = 0 if self.classes_ is None else len(self.classes_)
        if k and y is None:
            u = _core.rng_uniform(self._seed, _STREAM_LABELS, self._draws, n_samples)
            codes = np.minimum(np.searchsorted(np.cumsum(self._class_freq), u, side="right"),
                               k - 1)
        elif k:
            y = np.asarray(y).reshape(-1)
            if y.shape[0] != n_samples or not np.all(np.isin(y, self.classes_)):
                raise ValueError(f"y must hold n_samples={n_samples} labels among the classes "
                                 f"seen in fit: {list(self.classes_)}")
            codes = np.searchsorted(self.classes_, y)
        else:
            if y is not None:
                raise ValueError("this GAN was fitted without y; call sample without y")
            codes = np.zeros(n_samples, dtype=np.int64)
        z = self._latent(_one_hot(codes, k))
        with quiet_blas(self._nthreads()):
            return self._g.predict(z).astype(self._fit_dtype)

    # --- persistence -------------------------------------------------------------

    def _nets(self):
        return ((self._g, self._g_opt), (self._d, self._d_opt))

    def _state(self):
        """A copy of what training changes: both networks' parameters, their
        optimisers' state and step counts, and the latent draws' position."""
        return ([(params_of(m), [[a.copy() for a in pair] for pair in opt.states], opt.t)
                 for m, opt in self._nets()], self._draws)

    def _set_state(self, saved):
        nets, self._draws = saved
        for (values, states, t), (m, opt) in zip(nets, self._nets()):
            load_params(m, values)
            for mine, theirs in zip(opt.states, states):
                for a, b in zip(mine, theirs):
                    a[...] = b
            opt.t = t

    def __getstate__(self):
        state = self.__dict__.copy()
        for key in ("_g", "_d", "_g_opt", "_d_opt"):
            state.pop(key, None)
        if hasattr(self, "_g"):
            state["_saved"] = self._state()
            state["_runs"] = [m.graph.run_count for m, _ in self._nets()]
        return state

    def __setstate__(self, state):
        saved = state.pop("_saved", None)
        runs = state.pop("_runs", (0, 0))
        self.__dict__.update(state)
        if saved is None:
            return
        self.__dict__.setdefault("_fit_dtype", np.dtype(np.float64))  # older pickles
        k = 0 if self.classes_ is None else len(self.classes_)
        self._build(self._check_params(), self.n_features_in_, k, self._seed)
        if isinstance(saved, list):  # older pickles: the networks' part only
            saved = (saved, self._draws)
        self._set_state(saved)
        for (m, _), r in zip(self._nets(), runs):  # the draws are keyed by the runs
            m.graph.run_count = r

    def __sklearn_is_fitted__(self):
        return hasattr(self, "_g")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.required = False
        return tags


def _one_hot(codes, k):
    """(n, k) one-hot rows; (n, 0) without classes."""
    out = np.zeros((len(codes), k), dtype=np.float32)
    if k:
        out[np.arange(len(codes)), codes] = 1
    return out


def _stack(x, layers):
    for layer in layers:
        x = layer(x)
    return x
