"""The variational autoencoder (seed 004, section 7.2.1; seed 003, chapter
14) as a scikit-learn transformer on dagnet's core."""

import copy
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from dagnet._progress import EpochProgress
from dagnet._threads import quiet_blas, resolve_threads
from dagnet._validation import seed_from
from dagnet.nn import Activation, Dense, Flatten, GaussianKL, Input, Reparameterize, Reshape
from dagnet.nn.base import node_shape
from dagnet.neural_network._base import _check_option, _check_range, store_params
from dagnet.neural_network._generative import (DivergenceGuard, build_model, check_codes,
                                               check_decoder_output, check_layer_stacks,
                                               check_n_samples, check_positive, check_sizes,
                                               decoder_like, dense_stack, layer_list,
                                               load_params, normal_draws, params_of,
                                               resolve_input_shape, validate_dense)

_DECODERS = {"bernoulli": "binary_cross_entropy", "gaussian": "squared_error"}
_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
_STREAM_PRIOR = 0x5052494F52  # "PRIOR": sample()'s latent draws


class VAE(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Variational autoencoder: a Gaussian encoder q(z|x) = N(mu(x),
    diag exp(logvar(x))), the reparameterisation z = mu + exp(logvar / 2) eps
    drawn in the core, and a Bernoulli or Gaussian decoder p(x|z), trained
    with Adam on the negative ELBO
    ``-log p(x|z) + beta KL(q(z|x) || N(0, I))`` with the closed-form KL
    (the corrected signs of the seed 004 checklist, errata 13 and 14).

    The core computes in float32: X may be float32 or float64 (or ints),
    dense or scipy.sparse (densified), with values within float32's range;
    transform, inverse_transform and sample return float32 for float32 data
    and float64 otherwise (sample: the dtype of the data of the last fit),
    score_samples float64.

    A fit whose loss grows by orders of magnitude stops with a
    ConvergenceWarning, one whose loss turns NaN or infinite with a
    ValueError; either way the model keeps the parameters of its last sound
    epoch. A pickled VAE continues training (partial_fit) exactly as the
    original.

    Parameters
    ----------
    n_components : int, default=2
        Latent dimensions.
    hidden_layer_sizes : tuple of int, default=(100,)
        The encoder's hidden layers.
    decoder_layer_sizes : tuple of int or None, default=None
        The decoder's hidden layers; None mirrors the encoder's.
    encoder_layers, decoder_layers : list of dagnet.nn layers, or None
        Layer stacks instead of the dense layers, for instance
        convolutions: the encoder reads each row reshaped to input_shape,
        and its output (flattened) feeds the Dense layers of mu and logvar;
        the decoder maps z (n_components values) to as many values as a row
        has, its last layer linear. decoder_layers=None: the dense decoder
        of decoder_layer_sizes (hidden_layer_sizes reversed when None).
    input_shape : tuple of int or None, default=None
        The shape each row is read as by the encoder layers, e.g. (1, 8, 8)
        (one entry may be -1); None: the rows as they are.
    activation : {'identity', 'logistic', 'tanh', 'relu'}, default='relu'
    decoder : {'gaussian', 'bernoulli'}, default='gaussian'
        'gaussian': unit-variance Gaussian p(x|z) (squared error), for any
        real data (standardise it); 'bernoulli': sigmoid means and binary
        cross-entropy, for data in [0, 1].
    beta : float, default=1.0
        Weight of the KL term (beta-VAE); 1 is the ELBO.
    learning_rate_init, beta_1, beta_2, epsilon : float
        Adam's settings (0.001, 0.9, 0.999, 1e-8).
    batch_size : int or 'auto', default='auto'
        min(200, n_samples) for 'auto'.
    max_iter : int, default=200
        Epochs.
    shuffle : bool, default=True
    tol : float, default=1e-4
    n_iter_no_change : int, default=10
        Training stops when the loss (or with early_stopping the validation
        ELBO) has not improved by tol for this many epochs.
    early_stopping : bool, default=False
        Hold out validation_fraction of the data, record its mean ELBO each
        epoch in ``validation_scores_`` and keep the best epoch's weights.
    validation_fraction : float, default=0.1
    random_state : int, RandomState or None
        Seeds the weights, the shuffles, the reparameterisation draws and
        sample(); for a fixed value, fit, transform, score_samples and the
        sequence of sample() calls repeat exactly, for any n_threads.
    n_threads : int or None
        Threads of the core (None: what threadpoolctl and OMP_NUM_THREADS
        allow).
    verbose : int, default=0

    Attributes
    ----------
    loss_curve_ : list of float
        Mean negative ELBO of each epoch's training batches.
    validation_scores_ : list of float or None
        Mean ELBO of the validation set after each epoch (early_stopping).
    n_iter_ : int
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from dagnet import VAE
    >>> X = np.random.RandomState(0).rand(200, 8)
    >>> vae = VAE(n_components=2, hidden_layer_sizes=(16,), decoder="bernoulli",
    ...           max_iter=5, random_state=0).fit(X)
    >>> vae.transform(X).shape, vae.sample(3).shape, vae.score_samples(X[:4]).shape
    ((200, 2), (3, 8), (4,))
    """

    def __init__(self, n_components=2, *, hidden_layer_sizes=(100,), decoder_layer_sizes=None,
                 encoder_layers=None, decoder_layers=None, input_shape=None, activation="relu", decoder="gaussian", beta=1.0, learning_rate_init=0.001,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, batch_size="auto", max_iter=200,
                 shuffle=True, tol=1e-4, n_iter_no_change=10, early_stopping=False,
                 validation_fraction=0.1, random_state=None, n_threads=None, verbose=0):
        store_params(self, locals())

    # --- checks ----------------------------------------------------------------

    def _check_params(self):
        name = type(self).__name__
        try:
            for p in ("n_components", "max_iter", "n_iter_no_change"):
                _check_range(p, getattr(self, p), 1, None, integral=True)
            _check_option("activation", self.activation, _ACTIVATIONS)
            _check_option("decoder", self.decoder, _DECODERS)
            _check_range("beta", self.beta, 0, None)
            _check_range("tol", self.tol, 0, None)
            _check_range("beta_1", self.beta_1, 0, 1, high_closed=False)
            _check_range("beta_2", self.beta_2, 0, 1, high_closed=False)
            _check_range("validation_fraction", self.validation_fraction, 0, 1, False, False)
            if self.batch_size != "auto":
                _check_range("batch_size", self.batch_size, 1, None, integral=True)
        except ValueError as e:
            raise ValueError(str(e).format(est=name)) from None
        check_positive(self, learning_rate_init=self.learning_rate_init, epsilon=self.epsilon)
        resolve_threads(self.n_threads)
        check_layer_stacks(self)
        hidden = check_sizes("hidden_layer_sizes", self.hidden_layer_sizes)
        dec = hidden[::-1] if self.decoder_layer_sizes is None else \
            check_sizes("decoder_layer_sizes", self.decoder_layer_sizes)
        return hidden, dec

    def _validate(self, X, reset):
        """(X as float32 for the core, the dtype of outputs computed from X)."""
        X32, dtype = validate_dense(self, X, reset=reset)
        if self.decoder == "bernoulli" and X32.size and (X32.min() < 0 or X32.max() > 1):
            raise ValueError("decoder='bernoulli' needs data in [0, 1] (its values are the "
                             "probabilities of binary pixels); scale X (e.g. MinMaxScaler) or "
                             "use decoder='gaussian'")
        return X32, dtype

    def _nthreads(self):
        return resolve_threads(self.n_threads)

    # --- the networks ------------------------------------------------------------

    def _build(self, hidden, dec, n_features, seed):
        """The training network (outputs mu, logvar, the decoder's output for
        z, the KL per sample; the loss is the negative ELBO) and the decoder
        alone, which shares its layers' names and so its parameters."""
        act = _ACTIVATIONS[self.activation]
        J = self.n_components
        x = Input((n_features,), name="x")
        if self.encoder_layers is None:
            h = dense_stack(x, hidden, act, "encoder")
        else:
            h, shape = x, resolve_input_shape(self.input_shape, n_features)
            if shape != (n_features,):
                h = Reshape(shape, name="image")(h)
            for layer in copy.deepcopy(layer_list("encoder_layers", self.encoder_layers)):
                h = layer(h)
            if len(node_shape(h)) != 1:
                h = Flatten(name="encoder_features")(h)
        mu = Dense(J, name="mu")(h)
        logvar = Dense(J, name="logvar")(h)
        z = Reparameterize(name="z")([mu, logvar])
        kl = GaussianKL(name="kl")([mu, logvar])
        if self.decoder_layers is None:
            dec_layers = [Dense(u, activation=act, name=f"decoder{i}")
                          for i, u in enumerate(dec)]
            dec_layers.append(Dense(n_features, name="reconstruction"))
        else:
            dec_layers = copy.deepcopy(layer_list("decoder_layers", self.decoder_layers))
        out = z
        for layer in dec_layers:
            out = layer(out)
        shape = node_shape(out)
        check_decoder_output(shape, n_features)
        if len(shape) != 1:
            dec_layers.append(Flatten(name="reconstruction"))
            out = dec_layers[-1](out)
        loss, beta = _DECODERS[self.decoder], float(self.beta)

        def add_loss(g, ids):  # vae_loss(reconstruction, x, sample_weight, kl)
            t, w = g.add_input((n_features,)), g.add_input((1,))
            g.add_node("vae_loss", [ids[2], t, w, ids[3]], loss=loss, scale=beta)

        self._net = build_model(x, [mu, logvar, out, kl], seed, loss=add_loss)
        zin, xout = decoder_like(dec_layers, J)
        if self.decoder == "bernoulli":
            xout = Activation("sigmoid", name="mean")(xout)
        self._decoder = build_model(zin, xout, seed)
        self._net.graph.set_optimizer("adam", lr=self.learning_rate_init, beta1=self.beta_1,
                                      beta2=self.beta_2, eps=self.epsilon)

    def _constant(self):
        """The Gaussian decoder's log-density constant, d/2 log(2 pi), which
        the core's squared error leaves out."""
        d = self.n_features_in_
        return 0.5 * d * np.log(2 * np.pi) if self.decoder == "gaussian" else 0.0

    # --- fitting -----------------------------------------------------------------

    def fit(self, X, y=None):
        """Train on X for up to max_iter epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self
        """
        for attr in ("_net", "n_iter_"):
            self.__dict__.pop(attr, None)
        return self._fit(X, incremental=False)

    def partial_fit(self, X, y=None):
        """One epoch on X (the first call builds the model).

        Returns
        -------
        self
        """
        return self._fit(X, incremental=True)

    def _fit(self, X, incremental):
        hidden, dec = self._check_params()
        first = not hasattr(self, "_net")
        if first and incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True; use fit, or "
                             "set early_stopping=False")
        X, self._fit_dtype = self._validate(X, reset=first)
        if first:
            self._seed = seed_from(self.random_state)
            self._build(hidden, dec, X.shape[1], self._seed)
            self._n_features_out = self.n_components
            self._draws = 0
            self.n_iter_ = 0
            self.loss_curve_ = []
            self.validation_scores_ = [] if self.early_stopping else None
        Xt, Xv = X, None
        if self.early_stopping:
            Xt, Xv = train_test_split(X, test_size=self.validation_fraction,
                                      random_state=self._seed % (2**32))
        n = Xt.shape[0]
        batch = min(200, n) if self.batch_size == "auto" else min(int(self.batch_size), n)
        g, nt, const = self._net.graph, self._nthreads(), self._constant()
        if first:  # the loss at the initial weights, the scale divergence is measured on
            self._loss_scale = abs(g.objective([Xt[:batch], Xt[:batch], None], grad=False,
                                               nthreads=nt)[0])
        guard = DivergenceGuard("VAE", f"Lower learning_rate_init (now "
                                f"{self.learning_rate_init:g}), or standardise X (e.g. with "
                                f"StandardScaler).", self._state, self._set_state,
                                self._loss_scale)
        epochs = 1 if incremental else self.max_iter
        progress = EpochProgress(self.verbose, epochs, "VAE")
        best, stall, best_params = np.inf, 0, None
        try:
            with quiet_blas(nt):
                for _ in range(epochs):
                    try:
                        core = g.train_epoch([Xt, Xt, None], batch, shuffle=self.shuffle,
                                             nthreads=nt)
                    except FloatingPointError:
                        core = np.nan
                    if not guard.sound(core):
                        guard.give_up(self.n_iter_ + 1, core)
                        break
                    guard.epoch_done()
                    loss = core + const
                    self.n_iter_ += 1
                    self.loss_curve_.append(loss)
                    val = None
                    if Xv is not None:
                        val = float(np.mean(self._elbo(Xv)))
                        self.validation_scores_.append(val)
                    progress.epoch(self.n_iter_, loss, val_score=val)
                    current = -val if Xv is not None else loss
                    stall = stall + 1 if current > best - self.tol else 0
                    if current < best:
                        best = current
                        if Xv is not None:
                            best_params = params_of(self._net)
                    if stall > self.n_iter_no_change:
                        break
                else:
                    if not incremental:
                        warnings.warn(f"VAE: maximum iterations ({self.max_iter}) reached and "
                                      f"the optimisation has not converged yet.",
                                      ConvergenceWarning)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        finally:
            progress.close()
        if best_params is not None:
            load_params(self._net, best_params)
        load_params(self._decoder, params_of(self._net))
        return self

    # --- using the model ---------------------------------------------------------

    def _outputs(self, X):
        with quiet_blas(self._nthreads()):
            return self._net.graph.forward([X, None, None], nthreads=self._nthreads())

    def transform(self, X):
        """The posterior means mu(x).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components)
            float32 for float32 X, float64 otherwise.
        """
        check_is_fitted(self)
        X, dtype = self._validate(X, reset=False)
        return self._outputs(X)[0].astype(dtype)

    def inverse_transform(self, X):
        """Decode latent points: the means of p(x|z) (probabilities for the
        Bernoulli decoder).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_components)

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            float32 for float32 X, float64 otherwise.
        """
        check_is_fitted(self)
        Z, dtype = check_codes(X, self._n_features_out, "latent points")
        return self._decode(Z, dtype)

    def _decode(self, Z, dtype):
        with quiet_blas(self._nthreads()):
            return self._decoder.predict(Z).astype(dtype)

    def sample(self, n_samples=1):
        """New data: the decoder's means at fresh draws z ~ N(0, I) (from the
        core's generator: each call draws anew, and the sequence of calls
        repeats for a fixed random_state).

        Parameters
        ----------
        n_samples : int >= 1, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            In the dtype of the data of the last fit: float32 for float32
            data, float64 otherwise.
        """
        check_is_fitted(self)
        n_samples = check_n_samples(n_samples)
        J = self._n_features_out
        Z = normal_draws(self._seed, _STREAM_PRIOR, self._draws, n_samples, J)
        self._draws += 2 * ((n_samples * J + 1) // 2)
        return self._decode(np.ascontiguousarray(Z, dtype=np.float32), self._fit_dtype)

    def _elbo(self, X):
        mu, logvar, out, kl = self._outputs(X)
        out, X = out.astype(np.float64), X.astype(np.float64)
        if self.decoder == "bernoulli":  # log p(x|z) = sum x a - softplus(a)
            loglik = np.sum(X * out - np.logaddexp(0.0, out), axis=1)
        else:  # unit-variance Gaussian
            loglik = -0.5 * np.sum((X - out) ** 2, axis=1) - self._constant()
        return loglik - self.beta * kl[:, 0]

    def score_samples(self, X):
        """Per-sample ELBO, log p(x|z) - beta KL(q(z|x) || N(0, I)), with one
        draw z from q(z|x) that is fixed for the fitted model: the same
        numbers on every call, whatever the other samples of X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        elbo : ndarray of shape (n_samples,)
            float64, whatever the dtype of X.
        """
        check_is_fitted(self)
        return self._elbo(self._validate(X, reset=False)[0])

    def score(self, X, y=None):
        """Mean ELBO of X."""
        return float(np.mean(self.score_samples(X)))

    # --- persistence -------------------------------------------------------------

    def _state(self):
        """A copy of what training changes: parameters, the optimiser's
        state and its counters."""
        g = self._net.graph
        return params_of(self._net), g.optimizer_state().copy(), g.step_count, g.epoch_count

    def _set_state(self, saved):
        values, opt, steps, epochs = saved
        load_params(self._net, values)
        load_params(self._decoder, values)
        g = self._net.graph
        g.optimizer_state()[...] = opt
        g.set_counters(steps, epochs)

    def __getstate__(self):
        state = self.__dict__.copy()
        net = state.pop("_net", None)
        state.pop("_decoder", None)
        if net is not None:
            state["_saved"] = self._state() + (net.graph.run_count,)
        return state

    def __setstate__(self, state):
        saved = state.pop("_saved", None)
        self.__dict__.update(state)
        if saved is None:
            return
        for key, value in (("_n_features_out", self.n_components), ("_loss_scale", None),
                           ("_fit_dtype", np.dtype(np.float64))):  # pickles of older versions
            self.__dict__.setdefault(key, value)
        self._build(*self._check_params(), self.n_features_in_, self._seed)
        self._set_state(saved[:4])
        # the core keys the training draws by the graph's runs
        self._net.graph.run_count = saved[4] if len(saved) > 4 else 0

    def __sklearn_is_fitted__(self):
        return hasattr(self, "_net")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.non_deterministic = False
        return tags
