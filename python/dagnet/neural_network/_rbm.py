"""Restricted Boltzmann machines on dagnet's core (seed 000, 9.2; seed 002,
section 8): BernoulliRBM, scikit-learn's estimator with more training
methods, sampling and likelihood estimates, and GaussianBernoulliRBM for
real-valued standardised data."""

import contextlib
import copy
import numbers
import time

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from dagnet import _core
from dagnet._threads import quiet_blas, resolve_threads
from dagnet._validation import FLOAT32_MAX, dense_float32
from dagnet.neural_network._base import store_params

# Exact log Z while the enumeration costs at most 2^24 (states times the units
# summed out in each): about half a second; annealed importance sampling beyond
_EXACT_LOG_Z_COST = 2**24
_STREAM_GIBBS = 0x4749424253  # "GIBBS": gibbs() and sample() draws, one block per call


def _positive_int(name, value, allow_none=False):
    if allow_none and value is None:
        return
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int{' or None' if allow_none else ''}, "
                         f"got {value!r}")


def _check_random_state(value):
    """Raise the ValueError of an invalid random_state before anything changes."""
    try:
        check_random_state(value)
    except (ValueError, OverflowError):
        raise ValueError(f"random_state must be None, an int in [0, 2**32 - 1] or a numpy "
                         f"RandomState; got {value!r}") from None


def _exact_log_z_cost(n_hidden, n_visible, visible):
    """States times units summed out in each, of the core's exact log Z: it
    enumerates the smaller layer, and always the hidden one under Gaussian
    visible units (those are integrated out)."""
    if visible == "gaussian" or n_hidden <= n_visible:
        return 2.0**n_hidden * n_visible
    return 2.0**n_visible * n_hidden


def _diverged(what, kept, lr_name, lr, gaussian):
    """The FloatingPointError for a training that diverged: what diverged,
    what state the estimator was left in, and what to do."""
    hint = (", and standardise X to zero mean and unit variance per feature (for example "
            "with StandardScaler)" if gaussian else "")
    return FloatingPointError(f"{what} diverged (its statistics or parameters stopped being "
                              f"finite); {kept}. Lower {lr_name} (now {lr}){hint}")


@contextlib.contextmanager
def _rollback(estimator):
    """Run a block that updates estimator; if it raises, put every attribute
    back exactly as it was (arrays updated in place, persistent chains,
    counters, random-number positions) and let the error through. The
    constructor's parameters are kept as the same objects; a RandomState
    among them gets its position back."""
    params = estimator.get_params(deep=False)
    saved = copy.deepcopy(estimator.__dict__, {id(v): v for v in params.values()})
    states = [(rs, rs.get_state()) for rs in params.values()
              if isinstance(rs, np.random.RandomState)]
    try:
        yield
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(saved)
        for rs, state in states:
            rs.set_state(state)
        raise


def _nonnegative_real(name, value, upper=None):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if not ok or value < 0 or (upper is not None and value >= upper):
        bound = f"in [0, {upper})" if upper is not None else ">= 0"
        raise ValueError(f"{name} must be a real number {bound}, got {value!r}")


class _BaseRBM(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Training, conditionals, sampling and likelihoods shared by both RBMs."""

    _visible = "bernoulli"

    # --- checks ------------------------------------------------------------------

    def _check_params(self):
        _positive_int("n_components", self.n_components)
        if not (isinstance(self.learning_rate, numbers.Real) and self.learning_rate > 0
                and self.learning_rate <= FLOAT32_MAX):
            raise ValueError(f"learning_rate must be a positive number within float32's "
                             f"range, got {self.learning_rate!r}")
        _positive_int("batch_size", self.batch_size)
        _positive_int("n_iter", self.n_iter)
        if self.method not in ("pcd", "cd"):
            raise ValueError(f"method must be 'pcd' or 'cd', got {self.method!r}")
        _positive_int("k", self.k)
        _positive_int("n_chains", self.n_chains, allow_none=True)
        _nonnegative_real("momentum", self.momentum, upper=1)
        _nonnegative_real("weight_decay", self.weight_decay)
        _positive_int("ais_runs", self.ais_runs)
        if self.ais_runs < 2:
            raise ValueError(f"ais_runs must be >= 2, got {self.ais_runs}")
        _positive_int("ais_betas", self.ais_betas)
        _check_random_state(self.random_state)
        resolve_threads(self.n_threads)

    def _validate(self, X, reset, name="X"):
        """X as the core's dense float32 rows, and X's floating dtype (float64
        for integers), which the results are returned in."""
        X = validate_data(self, X, reset=reset, accept_sparse="csr",
                          dtype=(np.float64, np.float32))
        return dense_float32(X, name), X.dtype

    def _nthreads(self):
        return resolve_threads(self.n_threads)

    def _sklearn_recipe(self):
        """PCD-1 with one chain per batch row, batches in order, both terms
        divided by the batch's rows: scikit-learn's BernoulliRBM."""
        return self.method == "pcd" and self.n_chains is None

    def _params(self):
        return self.components_, self.intercept_visible_, self.intercept_hidden_

    @property
    def _n_features_out(self):
        """Output features of transform, for get_feature_names_out."""
        return self.components_.shape[0]

    # --- fitting -----------------------------------------------------------------

    def _set_base_rate(self, X):
        """The base-rate model AIS starts from (Salakhutdinov and Murray,
        2008): no hidden units, visible biases matching the data's marginals
        (their logits for Bernoulli units, their means for Gaussian ones)."""
        mean = X.mean(axis=0, dtype=np.float64)
        if self._visible == "bernoulli":
            p = np.clip(mean, 1e-3, 1 - 1e-3)
            mean = np.log(p / (1 - p))
        self._base_b = mean.astype(np.float32)

    def _initialize(self, n_features):
        self.random_state_ = check_random_state(self.random_state)
        self._seed = int(self.random_state_.randint(0, 2**31 - 1))
        rng = np.random.RandomState(self._seed)
        # scikit-learn's start: W ~ N(0, 0.01), zero biases, chains at 0
        self.components_ = np.ascontiguousarray(
            rng.normal(0, 0.01, (self.n_components, n_features)), dtype=np.float32)
        self.intercept_hidden_ = np.zeros(self.n_components, dtype=np.float32)
        self.intercept_visible_ = np.zeros(n_features, dtype=np.float32)
        chains = self.batch_size if self.n_chains is None else self.n_chains
        self.h_samples_ = np.zeros((chains, self.n_components), dtype=np.float32)
        self._velocities = tuple(np.zeros_like(p) for p in
                                 (self.components_, self.intercept_visible_,
                                  self.intercept_hidden_))
        self._epoch = 0
        self._draws = 0
        self._log_z = None

    def _train(self, X, batch_size, sample_weight=None):
        """One epoch over X, updating the model in place. Raises
        FloatingPointError with advice when the training diverges; the caller
        restores the model (see _rollback)."""
        try:
            _, self._epoch = _core.rbm_train_epoch(
                *self._params(), X, method=self.method, k=self.k, batch_size=batch_size,
                learning_rate=self.learning_rate, momentum=self.momentum,
                l2=self.weight_decay, shuffle=False, neg_per_batch=self._sklearn_recipe(),
                seed=self._seed, chains=self.h_samples_ if self.method == "pcd" else None,
                velocities=self._velocities if self.momentum > 0 else None,
                epoch=self._epoch, visible=self._visible, sample_weight=sample_weight,
                nthreads=self._nthreads())
            if not all(np.isfinite(p).all() for p in self._params()):
                raise FloatingPointError("the weights or biases are no longer finite")
        except FloatingPointError as e:
            raise _diverged(f"{type(self).__name__}'s training",
                            "the model keeps its parameters from before the failed update",
                            "learning_rate", self.learning_rate,
                            self._visible == "gaussian") from e
        self._log_z = None

    def fit(self, X, y=None):
        """Fit the model to X, ``n_iter`` epochs of CD-k or PCD-k.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self

        Raises
        ------
        FloatingPointError
            When the training diverges; the model keeps the parameters of the
            last epoch that finished.
        """
        return self._fit_weighted(X, None)

    def _fit_weighted(self, X, sample_weight):
        """fit, with each batch's statistics weighted by sample_weight (used
        by DBNClassifier's pre-training; scikit-learn's RBM API has no
        weights, so fit does not take them)."""
        self._check_params()
        X, _ = self._validate(X, reset=True)
        self._initialize(X.shape[1])
        self._set_base_rate(X)
        nt = self._nthreads()
        with quiet_blas(nt):
            for it in range(1, self.n_iter + 1):
                t0 = time.perf_counter()
                with _rollback(self):
                    self._train(X, self.batch_size, sample_weight=sample_weight)
                if self.verbose:
                    print(f"[{type(self).__name__}] Iteration {it}, "
                          f"{self._progress_figure(X)}, time = {time.perf_counter() - t0:.2f}s")
        return self

    def partial_fit(self, X, y=None):
        """One update on X as a single minibatch, as scikit-learn's.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self

        Raises
        ------
        FloatingPointError
            When the update diverges. A call that raises, for this or any
            other reason, leaves the model exactly as it was.
        """
        with _rollback(self):
            self._check_params()
            first = not hasattr(self, "components_")
            X, _ = self._validate(X, reset=first)
            if first:
                self._initialize(X.shape[1])
                self._set_base_rate(X)
            with quiet_blas(self._nthreads()):
                self._train(X, X.shape[0])
        return self

    # --- the conditionals --------------------------------------------------------

    def transform(self, X):
        """Hidden activation probabilities p(h = 1 | v), computed in float32;
        returned in X's floating dtype (float64 for integers).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        h : ndarray of shape (n_samples, n_components)
        """
        check_is_fitted(self)
        X, dtype = self._validate(X, reset=False)
        h = _core.rbm_hidden_probs(*self._params(), X, visible=self._visible,
                                   nthreads=self._nthreads())
        return h.astype(dtype, copy=False)

    def gibbs(self, v):
        """One Gibbs step v -> h -> v, computed in float32.

        Parameters
        ----------
        v : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        v_new : ndarray of shape (n_samples, n_features)
            bool for Bernoulli visible units, as scikit-learn's BernoulliRBM
            returns; real values in v's floating dtype for Gaussian ones.
        """
        check_is_fitted(self)
        v, dtype = self._validate(v, reset=False, name="v")
        v_new = self._gibbs_from(v, 1, from_hidden=False)
        return v_new.astype(bool if self._visible == "bernoulli" else dtype, copy=False)

    def _gibbs_from(self, start, steps, from_hidden, mean=False):
        """Block Gibbs from start; every call draws fresh numbers (the next
        positions of the model's stream), so the sequence of calls repeats
        for a fixed random_state. mean: return E[v | h] of the last step
        instead of its draw."""
        v, _, vm, _, used = _core.rbm_gibbs(*self._params(), start, k=steps,
                                           from_hidden=from_hidden, visible=self._visible,
                                           seed=self._seed, stream=_STREAM_GIBBS,
                                           offset=self._draws, nthreads=self._nthreads())
        self._draws += int(used)
        return vm if mean else v

    def sample(self, n_samples=1, n_steps=1000, mean=False):
        """Fresh samples from the model: ``n_steps`` of block Gibbs sampling
        from random hidden states (a different draw on every call; the
        sequence of calls repeats for a fixed random_state).

        Parameters
        ----------
        n_samples : int, default=1
        n_steps : int, default=1000
        mean : bool, default=False
            Return E[v | h] given the last hidden draw (probabilities for
            Bernoulli units: smoother pictures) instead of the visible draw.

        Returns
        -------
        v : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        _positive_int("n_samples", n_samples)
        _positive_int("n_steps", n_steps)
        start = _core.rbm_sample_bernoulli(np.full((n_samples, self.n_components), 0.5,
                                                   dtype=np.float32),
                                           seed=self._seed, stream=_STREAM_GIBBS + 1,
                                           offset=self._draws)
        self._draws += n_samples * self.n_components
        return self._gibbs_from(start, n_steps, from_hidden=True, mean=mean).astype(np.float64)

    # --- likelihoods -------------------------------------------------------------

    def log_partition(self):
        """log Z: exact where enumerating is cheap (2^n states of the
        enumerated layer, times the units of the other, at most 2^24; the
        enumerated layer is the smaller one, always the hidden one under
        Gaussian visible units), else estimated by annealed importance
        sampling from a base-rate model (``ais_runs`` runs of ``ais_betas``
        intermediate distributions). Cached until the model changes."""
        check_is_fitted(self)
        if self._log_z is None:
            m = self._params()
            nt = self._nthreads()
            if _exact_log_z_cost(*self.components_.shape, self._visible) <= _EXACT_LOG_Z_COST:
                self._log_z = _core.rbm_log_z_exact(*m, visible=self._visible, nthreads=nt)
            else:
                res = _core.rbm_log_z_ais(*m, visible=self._visible, n_runs=self.ais_runs,
                                          n_betas=self.ais_betas, base_b=self._base_b,
                                          seed=self._seed, nthreads=nt)
                self._log_z = res["log_z"]
        return self._log_z

    def _log_likelihood(self, X):
        """log p(v) per sample in float64, and X's floating dtype."""
        check_is_fitted(self)
        X, dtype = self._validate(X, reset=False)
        fe = _core.rbm_free_energy(*self._params(), X, visible=self._visible,
                                   nthreads=self._nthreads())
        return -fe - self.log_partition(), dtype

    def log_likelihood(self, X):
        """log p(v) = -F(v) - log Z per sample (log Z from log_partition),
        computed from float32 parameters; returned in X's floating dtype."""
        ll, dtype = self._log_likelihood(X)
        return ll.astype(dtype, copy=False)

    def score(self, X, y=None):
        """Mean log-likelihood of X under the model, with log Z exact for
        small models and estimated by AIS beyond (see log_partition)."""
        return float(np.mean(self._log_likelihood(X)[0]))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


_COMMON_PARAMS_DOC = """
    n_components : int, default=256
        Number of hidden units.
    learning_rate : float
    batch_size : int, default=10
    n_iter : int, default=10
        Epochs.
    verbose : int, default=0
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights and every draw; results are the same for
        any thread count.
    method : {'pcd', 'cd'}, default='pcd'
        Persistent or plain contrastive divergence (seed 000, 9.2.1-9.2.2).
    k : int, default=1
        Gibbs steps per update.
    n_chains : int or None, default=None
        Persistent chains of 'pcd'; None keeps scikit-learn's recipe (one
        chain per batch row, both phases divided by the batch size).
    momentum : float, default=0.0
    weight_decay : float, default=0.0
        L2 penalty on the weights.
    ais_runs, ais_betas : int, default=100, 10000
        Annealed importance sampling settings of log_partition and score.
    n_threads : int or None, default=None
"""


class BernoulliRBM(_BaseRBM):
    __doc__ = """Bernoulli restricted Boltzmann machine: scikit-learn's BernoulliRBM
    (same parameters, attributes and default training, PCD-1) on dagnet's
    core, with CD-k and PCD-k, momentum, weight decay, sampling and the
    log-likelihood by annealed importance sampling.

    Parameters
    ----------""" + _COMMON_PARAMS_DOC.replace("learning_rate : float",
                                               "learning_rate : float, default=0.1") + """
    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
    intercept_hidden_ : ndarray of shape (n_components,)
    intercept_visible_ : ndarray of shape (n_features,)
    h_samples_ : ndarray of shape (n_chains, n_components)
        Hidden states of the persistent chains.
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    Examples
    --------
    >>> import numpy as np
    >>> from dagnet import BernoulliRBM
    >>> X = np.array([[0, 0, 0], [0, 1, 1], [1, 0, 1], [1, 1, 1]])
    >>> rbm = BernoulliRBM(n_components=2, n_iter=20, random_state=0).fit(X)
    >>> rbm.transform(X).shape, rbm.sample(5, n_steps=10).shape
    ((4, 2), (5, 3))
    """

    def __init__(self, n_components=256, *, learning_rate=0.1, batch_size=10, n_iter=10,
                 verbose=0, random_state=None, method="pcd", k=1, n_chains=None,
                 momentum=0.0, weight_decay=0.0, ais_runs=100, ais_betas=10000,
                 n_threads=None):
        store_params(self, locals())

    def score_samples(self, X):
        """Log pseudo-likelihood of each sample, exact over all features:
        sum_i log p(v_i | v_-i). scikit-learn's estimates the same sum from
        one randomly flipped feature; this one has no randomness. Computed
        in float32; returned in X's floating dtype.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        pseudo_likelihood : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X, dtype = self._validate(X, reset=False)
        pl = _core.rbm_pseudo_likelihood(*self._params(), X, nthreads=self._nthreads())
        return pl.astype(dtype, copy=False)

    def _progress_figure(self, X):
        return f"pseudo-likelihood = {self.score_samples(X).mean():.2f}"


class GaussianBernoulliRBM(_BaseRBM):
    __doc__ = """Restricted Boltzmann machine with Gaussian visible units of unit
    variance and Bernoulli hidden units, for real-valued data standardised to
    zero mean and unit variance per feature (scale it with StandardScaler).

    Parameters
    ----------""" + _COMMON_PARAMS_DOC.replace("learning_rate : float",
                                               "learning_rate : float, default=0.01") + """
    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
    intercept_hidden_ : ndarray of shape (n_components,)
    intercept_visible_ : ndarray of shape (n_features,)
    h_samples_ : ndarray of shape (n_chains, n_components)
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from dagnet import GaussianBernoulliRBM
    >>> X = np.random.default_rng(0).standard_normal((200, 4))
    >>> rbm = GaussianBernoulliRBM(n_components=8, random_state=0).fit(X)
    >>> rbm.transform(X[:3]).shape
    (3, 8)
    """

    _visible = "gaussian"

    def __init__(self, n_components=256, *, learning_rate=0.01, batch_size=10, n_iter=10,
                 verbose=0, random_state=None, method="pcd", k=1, n_chains=None,
                 momentum=0.0, weight_decay=0.0, ais_runs=100, ais_betas=10000,
                 n_threads=None):
        store_params(self, locals())

    def score_samples(self, X):
        """Log-likelihood of each sample, log p(v) = -F(v) - log Z (see
        log_partition), computed from float32 parameters; returned in X's
        floating dtype.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,)
        """
        return self.log_likelihood(X)

    def _progress_figure(self, X):
        fe = _core.rbm_free_energy(*self._params(), X, visible="gaussian",
                                   nthreads=self._nthreads())
        return f"mean free energy = {fe.mean():.2f}"
