"""Echo state networks (seed 003, section 8.10): a fixed random reservoir of
leaky units and a linear readout fitted in closed form.

The reservoir follows the seed's column-vector convention. With x(t) the
input at step t (F values), U (N x F) the input weights, b (N) the input
bias, W (N x N) the sparse reservoir matrix and a the leak rate, the units
are, as seed 003 section 8.10 prints them (``leak_form="seed"``)::

    h(t) = (1 - a) h(t-1) + sigma(U x(t) + b + W h(t-1)),    h(0) = 0

with no ``a`` in front of sigma (a = 1 gives the standard recurrent unit;
the GRU quiz of section 8.7 relies on this form), or the form of Jaeger's
leaky ESNs and reservoirpy (``leak_form="scaled"``)::

    h(t) = (1 - a) h(t-1) + a sigma(U x(t) + b + W h(t-1))

The two are one model in two parametrisations: the seed form with (U, b, W)
gives the states of the scaled form with (U, b, W / a) divided by a (the
GRU quiz's "weights multiplied by 1/a"), so seed-form states reach 1/a in
magnitude under tanh. Only the readout V is trained: ridge regression, with
an intercept, of the targets on [h(t), x(t)] ("a linear combination of the
reservoir states (and the input)").

The echo state property: the state forgets h(0) (seed: "the effect of the
current state ... on a future state should vanish gradually"). W is scaled
to the chosen spectral radius rho, its largest |eigenvalue| (the seed's
"maximum eigenvalue" means its modulus). Linearised at h = 0, where tanh'
= 1, the update is h -> ((1 - a) I + c W) h with c = 1 in the seed form and
c = a in the scaled form; its eigenvalues are (1 - a) + c lambda, of modulus
at most (1 - a) + c rho. Below 1 is the usual criterion (Jaeger et al.
2007): the scaled form meets it for any rho < 1 at any a, the seed form
only for rho < a (its leak adds to sigma instead of sharing with it). It is
a criterion, not a guarantee either way; tanh's saturation makes larger
values forget too, often (tests/test_echo_state.py checks the forgetting).
"""

import contextlib
import numbers

import numpy as np
import scipy.linalg
import scipy.sparse
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import TransformerTags, check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.random import sample_without_replacement
from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d, validate_data

from dagnet._threads import _blas_controller

# --- parameter validation ------------------------------------------------------------------------
# _parameter_constraints maps every constructor parameter to the constraints one of which its
# value must meet, as scikit-learn's estimators declare theirs; the small classes below stand in
# for scikit-learn's, which live in a private module (sklearn.utils._param_validation).


class InvalidParameterError(ValueError, TypeError):
    """A constructor parameter with a value it cannot take (raised by fit).
    A ValueError and a TypeError, as scikit-learn's own."""


class _Real:
    """A real number (not a bool), finite, in an interval."""

    def __init__(self, low, high, closed="both", integral=False):
        self.low, self.high, self.closed, self.integral = low, high, closed, integral

    def is_satisfied_by(self, v):
        kind = numbers.Integral if self.integral else numbers.Real
        if isinstance(v, bool) or not isinstance(v, kind) or not np.isfinite(v):
            return False
        lo_ok = self.low is None or (v >= self.low if self.closed in ("both", "left")
                                     else v > self.low)
        hi_ok = self.high is None or (v <= self.high if self.closed in ("both", "right")
                                      else v < self.high)
        return lo_ok and hi_ok

    def __str__(self):
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        left = "[" if self.low is not None and self.closed in ("both", "left") else "("
        right = "]" if self.high is not None and self.closed in ("both", "right") else ")"
        return f"{'an int' if self.integral else 'a float'} in the range {left}{lo}, {hi}{right}"


class _Options:
    def __init__(self, *options):
        self.options = options

    def is_satisfied_by(self, v):
        return isinstance(v, str) and v in self.options

    def __str__(self):
        return "one of " + ", ".join(repr(o) for o in self.options)


class _Boolean:
    def is_satisfied_by(self, v):
        return isinstance(v, (bool, np.bool_))

    def __str__(self):
        return "a bool"


class _RandomState:
    def is_satisfied_by(self, v):
        if v is None or isinstance(v, np.random.RandomState):
            return True
        return isinstance(v, numbers.Integral) and not isinstance(v, bool) and 0 <= v <= 2**32 - 1

    def __str__(self):
        return "None, an int in [0, 2**32 - 1] or a numpy RandomState"


class _NonNegativeVector:
    """A 1-D array-like of finite numbers >= 0 (one per input feature)."""

    def is_satisfied_by(self, v):
        if isinstance(v, (str, bytes)) or not hasattr(v, "__len__"):
            return False
        try:
            a = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            return False
        return a.ndim == 1 and a.size > 0 and bool(np.all(np.isfinite(a))) and bool(np.all(a >= 0))

    def __str__(self):
        return "a 1-D array-like of finite values >= 0 (one per feature)"


def _validate_params(estimator):
    params = estimator.get_params(deep=False)
    for name, constraints in estimator._parameter_constraints.items():
        value = params[name]
        if not any(c.is_satisfied_by(value) for c in constraints):
            what = " or ".join(str(c) for c in constraints)
            raise InvalidParameterError(
                f"The {name!r} parameter of {type(estimator).__name__} must be {what}; got "
                f"{value!r}. Pass a value of that kind (see the class docstring).")


# --- the pieces of a reservoir -------------------------------------------------------------------

def _tanh(z):
    np.tanh(z, out=z)


def _relu(z):
    np.maximum(z, 0.0, out=z)


def _logistic(z):
    expit(z, out=z)


def _identity(z):
    pass


# sigma, applied in place
ACTIVATIONS = {"tanh": _tanh, "relu": _relu, "logistic": _logistic, "identity": _identity}

# Spectral radius: LAPACK's eigenvalues of the dense matrix up to this size, ARPACK beyond, both
# to machine precision. On one core of the 2-core development machine, medians of 20 reservoirs:
#   N = 301: LAPACK 0.025 s, ARPACK 0.016-0.032 s;  N = 500: 0.080-0.104 s / 0.033-0.097 s;
#   N = 1000: 0.45-0.51 s / 0.08-0.49 s (densities 0.02-0.5).
# ARPACK must be asked for more than the one eigenvalue wanted: with k=1 and its default 3
# Lanczos vectors (reservoirpy's call) it converged to another eigenvalue than the largest in 4
# of 8 random 500-unit reservoirs and 4 of 8 of 1000 units (5.82 for 5.89); with k=6, 40 vectors
# and tol=0 it found the largest, to 1e-10 or better, in all 204 reservoirs tried (N = 300,
# 301, 500, 1000; densities 0.02, 0.1, 0.5; 20 seeds each, and 24 more). tol=1e-13 instead of
# 0 (machine precision) gives the same radius to 1e-14 in 60-70% of the time (500 units: 41
# against 59 ms; 1000: 56 against 95 ms).
_DENSE_EIG_MAX = 300
# The eigenvalues and the readout's Cholesky factorisation run on one BLAS thread: on the shared
# 2-core development machine, two threads took 0.27 s for the eigenvalues of N = 500 (one:
# 0.08 s), 3.3 s for N = 1000 (one: 0.57 s), and 18-100 ms for the Cholesky factor of a 202 x 202
# Gram matrix while other jobs ran (one: 0.15 ms); their threads wait on each other at every
# block of these small factorisations. The larger products (U x for a block of steps, the Gram
# matrix, W times many states) keep the BLAS's own threading.
# Dense steps smaller than this many multiply-adds (N * N * n_sequences) run on one BLAS thread
# too: a fit of 100 units on 200 sequences of 30 steps took 0.05-0.40 s with two threads while
# other jobs ran, 0.018-0.031 s with one (two threads meet at every step's small product).
_THREADED_STEP = 1 << 24
# A reservoir step multiplies W by the states: dense (BLAS) up to this many units or from this
# density up, scipy.sparse below. Measured on the development machine (float64, us per step):
#   one state,  N = 100, d = 0.1: sparse 4.9, dense 2.3;   N = 500, d = 0.1: 18.7 / 26.7;
#               N = 1000, d = 0.1: 50 / 56-94;             N = 500, d = 0.3: 41 / 31
#   64 states,  N = 300, d = 0.1: 117 / 150;               N = 500, d = 0.3: 1015 / 426
_DENSE_UNITS = 200
_DENSE_DENSITY = 0.2
# Time steps per block of states: 128 k float64 values (1 MB), one buffer that each block
# overwrites, so the memory of fit and predict does not grow with T and the states stay in cache.
# A fresh 32 MB block per call cost 45 ms of page faults in a 170 ms fit (N = 500, T = 4000).
_BLOCK_VALUES = 1 << 17


@contextlib.contextmanager
def _one_blas_thread():
    ctl = _blas_controller()
    if not ctl:
        yield
        return
    with ctl.limit(limits=1):
        yield


def spectral_radius(W):
    """The largest |eigenvalue| of a square matrix (dense or scipy.sparse):
    LAPACK on the dense matrix up to 300 rows, ARPACK (6 eigenvalues of
    largest modulus, 40 Lanczos vectors, tolerance 1e-13) beyond."""
    N = W.shape[0]
    if N <= _DENSE_EIG_MAX:
        A = W.toarray() if scipy.sparse.issparse(W) else np.asarray(W, dtype=np.float64)
        with _one_blas_thread():
            return float(np.max(np.abs(scipy.linalg.eigvals(A, check_finite=False))))
    from scipy.sparse.linalg import eigs
    k = min(6, N - 2)
    v0 = np.random.RandomState(0).uniform(-1.0, 1.0, N)  # a fixed start: the same radius each time
    vals = eigs(scipy.sparse.csr_matrix(W), k=k, which="LM", ncv=min(N - 1, max(40, 2 * k + 1)),
                tol=1e-13, maxiter=100 * N, v0=v0, return_eigenvectors=False)
    return float(np.max(np.abs(vals)))


def _reservoir_matrix(n, density, radius, rng):
    """W: round(density n^2) nonzeros (at least one) at uniformly drawn
    places, values U(-1, 1), scaled so that its spectral radius is `radius`.
    A draw whose radius is 0 (no cycle in its graph: too sparse) is drawn
    again, up to 10 times."""
    nnz = max(1, int(round(density * n * n)))
    for _ in range(10):
        flat = sample_without_replacement(n * n, nnz, random_state=rng)
        flat.sort()
        values = rng.uniform(-1.0, 1.0, nnz)
        W = scipy.sparse.csr_matrix((values, (flat // n, flat % n)), shape=(n, n))
        rho = spectral_radius(W)
        if rho > 1e-12:
            W.data *= radius / rho
            return W
    raise ValueError(
        f"10 random reservoirs of {n} units with density={density:g} ({nnz} connections) all had "
        f"spectral radius 0 (their connections form no cycle), so W cannot be scaled to "
        f"spectral_radius={radius:g}; raise density or n_reservoir")


def _washout_message(washout, T):
    return (f"washout={washout} drops every one of the {T} time steps of the series (its rows, "
            f"n_samples = {T}), leaving nothing to fit the readout to; lower washout below {T} "
            f"or give a longer series")


# --- the estimators ------------------------------------------------------------------------------

_LAYOUT_DOC = """
    Data layouts (decided by X's number of dimensions):

    - ``X`` of shape (n_sequences, T, n_features): independent sequences of
      the same length, run as one batch from h(0) = 0. ``y`` is either one
      target per sequence, shape (n_sequences,) or (n_sequences, k), read
      out from the state after the last step, [h(T), x(T)] (``washout`` does
      not apply), or one target per step, shape (n_sequences, T) or
      (n_sequences, T, k), read out at every step after the first
      ``washout`` of each sequence. ``targets`` settles the case k == T.
    - ``X`` of shape (T, n_features): ONE long series whose rows are time
      steps, run from h(0) = 0; ``y`` has one target per step, shape (T,)
      or (T, k). The readout is fitted on the steps after the first
      ``washout``. One-step-ahead prediction is ``y`` = the next value:
      ``X, y = s[:-1, None], s[1:]``.

    predict and transform always start from h(0) = 0 and return a value for
    every step, the washout's included (those come from the transient the
    readout was not fitted on; give some context steps before the ones you
    need). score leaves out the first ``washout`` steps of each series or
    sequence.
"""

_PARAMS_DOC = """
    n_reservoir : int, default=200
        N, the number of reservoir units (the seed: hundreds to thousands).
    spectral_radius : float, default=0.9
        W is scaled so that its largest |eigenvalue| equals this, computed
        to machine precision (LAPACK up to 300 units; ARPACK beyond, asked
        for the 6 largest, which found the largest in all 204 random
        reservoirs it was checked on). The usual echo state criterion,
        (1 - a) + c * spectral_radius < 1 (c = 1 in the seed form, a in the
        scaled one), holds in the scaled form for any value below 1 and in
        the seed form only below a (module docstring).
    density : float, default=0.1
        Fraction of W's N^2 entries that are nonzero, drawn uniformly at
        random places with values U(-1, 1) before the scaling (the seed:
        sparse, uniform random connections). W is held as a scipy.sparse
        matrix; runs multiply with it dense when that is faster (N <= 200 or
        density >= 0.2).
    input_scaling : float or array-like of shape (n_features,), default=1.0
        U is dense (the seed: so that no input is lost), with values
        U(-1, 1) times this (per feature when an array).
    bias_scaling : float, default=1.0
        The input bias b has values U(-1, 1) times this (the weights of a
        constant input 1); 0 leaves the units without a bias.
    leak_rate : float, default=1.0
        a in (0, 1]; 1 gives standard recurrent units in both forms.
    leak_form : {"seed", "scaled"}, default="seed"
        "seed": h = (1 - a) h + sigma(.), seed 003 section 8.10 exactly;
        "scaled": h = (1 - a) h + a sigma(.), Jaeger's and reservoirpy's.
        The seed form with spectral_radius a * rho has the scaled form's
        states with rho, divided by a.
    activation : {"tanh", "relu", "logistic", "identity"}, default="tanh"
        sigma.
    washout : int, default=0
        Time steps dropped, at the start of each series or sequence, from
        the readout's fit (and from score) while the state forgets h(0).
    alpha : float, default=1e-6
        Ridge penalty of the readout (the intercept is not penalised);
        0 gives least squares (minimum norm when singular).
    include_input : bool, default=True
        Whether the readout sees x(t) beside h(t).
    targets : {"auto", "per_step", "per_sequence"}, default="auto"
        For 3-D X: whether y holds one target per step or per sequence.
        "auto" reads it from y's shape: (n, T) and (n, T, k) are per step,
        (n,) and (n, k) with k != T per sequence.
    random_state : int, RandomState instance or None, default=None
        Seeds U, b and W; fits with the same seed build the same reservoir.
"""

_ATTRS_DOC = """
    input_weights_ : ndarray of shape (n_reservoir, n_features_in_)
        U.
    input_bias_ : ndarray of shape (n_reservoir,)
        b.
    reservoir_weights_ : scipy.sparse.csr_matrix of shape (n_reservoir, n_reservoir)
        W, scaled to ``spectral_radius``.
    target_layout_ : {"per_step", "per_sequence"}
        How y was read at fit.
    n_features_in_ : int
        F, the number of input features (per time step).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features of a DataFrame X; defined only then.
"""


class _BaseEchoState(BaseEstimator):
    """The reservoir, its runs and the ridge readout, shared by both estimators."""

    _parameter_constraints = {
        "n_reservoir": [_Real(1, None, integral=True)],
        "spectral_radius": [_Real(0, None)],
        "density": [_Real(0, 1, closed="right")],
        "input_scaling": [_Real(0, None), _NonNegativeVector()],
        "bias_scaling": [_Real(0, None)],
        "leak_rate": [_Real(0, 1, closed="right")],
        "leak_form": [_Options("seed", "scaled")],
        "activation": [_Options(*ACTIVATIONS)],
        "washout": [_Real(0, None, integral=True)],
        "alpha": [_Real(0, None)],
        "include_input": [_Boolean()],
        "targets": [_Options("auto", "per_step", "per_sequence")],
        "random_state": [_RandomState()],
    }

    def __init__(self, n_reservoir=200, *, spectral_radius=0.9, density=0.1, input_scaling=1.0,
                 bias_scaling=1.0, leak_rate=1.0, leak_form="seed", activation="tanh", washout=0,
                 alpha=1e-6, include_input=True, targets="auto", random_state=None):
        self.n_reservoir = n_reservoir
        self.spectral_radius = spectral_radius
        self.density = density
        self.input_scaling = input_scaling
        self.bias_scaling = bias_scaling
        self.leak_rate = leak_rate
        self.leak_form = leak_form
        self.activation = activation
        self.washout = washout
        self.alpha = alpha
        self.include_input = include_input
        self.targets = targets
        self.random_state = random_state

    # --- input checks ----------------------------------------------------------------------------

    def _check_X(self, X, reset):
        """X as float64 (n, T, F), and whether it was one long 2-D series."""
        ndim = self._ndim(X)
        if ndim == 3:
            X3 = check_array(X, allow_nd=True, dtype=np.float64, input_name="X")
            n, T, F = X3.shape
            if T < 1 or F < 1:
                raise ValueError(f"X of shape {X3.shape} has no time steps or no features; "
                                 f"pass sequences of shape (n_sequences, T >= 1, n_features >= 1)")
            # n_features_in_ and feature names (none for an array) from one (1, F) row
            validate_data(self, X3[0, :1, :], reset=reset, skip_check_array=True)
            return X3, False
        if ndim is not None and ndim > 3:
            raise ValueError(f"X must have 2 dimensions (one series: time steps, features) or 3 "
                             f"(sequences, time steps, features); got {ndim} dimensions")
        X2 = validate_data(self, X, reset=reset, dtype=np.float64)
        return X2[np.newaxis], True

    def _check_X_y(self, X, y, what, **series_kw):
        """X as float64 (n, T, F), whether it was one 2-D series, and y:
        checked against a series by scikit-learn's validate_data (series_kw),
        as given for sequences (the layout decides its shape). The
        parameters are checked first, as fit's first step."""
        _validate_params(self)
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y "
                             f"is None; give the {what} to fit the readout to")
        ndim = self._ndim(X)
        if ndim == 2:
            X2, y = validate_data(self, X, y, reset=True, **series_kw)
            return X2[np.newaxis], True, y
        X3, series = self._check_X(X, reset=True)
        if not hasattr(y, "shape"):
            y = np.asarray(y)
        if what == "targets":
            y = check_array(y, ensure_2d=False, allow_nd=True, dtype=np.float64, input_name="y")
        return X3, series, y

    @staticmethod
    def _ndim(X):
        ndim = getattr(X, "ndim", None)
        if ndim is None and not scipy.sparse.issparse(X):
            try:
                ndim = np.asarray(X).ndim
            except Exception:  # ragged lists: let check_array say what is wrong
                ndim = 2
        return ndim

    def _layout_of(self, X3, series, y):
        """'per_step' or 'per_sequence' for y, checking its shape against X."""
        n, T = X3.shape[:2]
        y = np.asarray(y) if not hasattr(y, "shape") else y
        if series:
            if self.targets == "per_sequence":
                raise ValueError("targets='per_sequence' needs X of shape (n_sequences, T, "
                                 "n_features); a 2-D X is one series with a target per time step")
            return "per_step"
        if y.ndim == 0 or y.shape[0] != n:
            raise ValueError(f"y must have one entry per sequence of X, {n}, along its first "
                             f"axis; got y of shape {y.shape} for X of shape {X3.shape}")
        if self.targets != "auto":
            layout = self.targets
        elif y.ndim == 1 or (y.ndim == 2 and y.shape[1] != T):
            layout = "per_sequence"
        else:
            layout = "per_step"
        if layout == "per_step" and (y.ndim < 2 or y.shape[1] != T):
            raise ValueError(f"per-step targets for X of shape {X3.shape} must have shape "
                             f"({n}, {T}) or ({n}, {T}, k); got {y.shape}")
        if layout == "per_step" and self.washout >= T:
            raise ValueError(f"washout={self.washout} drops every one of the {T} time steps "
                             f"of each sequence; lower washout below {T}")
        return layout

    def _input_scaling(self, n_features):
        """input_scaling as a float or one value per feature."""
        scaling = self.input_scaling
        if not isinstance(scaling, numbers.Real):
            scaling = np.asarray(scaling, dtype=np.float64)
            if scaling.shape != (n_features,):
                raise ValueError(f"input_scaling has {scaling.size} values but X has "
                                 f"{n_features} features; give one value per feature or a "
                                 f"single float")
        return scaling

    # --- the reservoir ---------------------------------------------------------------------------

    def _build(self, n_features):
        scaling = self._input_scaling(n_features)
        rng = check_random_state(self.random_state)
        N = self.n_reservoir
        # drawn in a fixed order (U, b, W), so a seed gives the same reservoir every time
        self.input_weights_ = rng.uniform(-1.0, 1.0, (N, n_features)) * scaling
        self.input_bias_ = rng.uniform(-1.0, 1.0, N) * self.bias_scaling
        self.reservoir_weights_ = _reservoir_matrix(N, self.density, self.spectral_radius, rng)

    def _states(self, X3, h0=None):
        """Yield (t0, S): the states of steps t0 .. t0 + L - 1 of every
        sequence, S of shape (L, N, n) (columns are sequences, the seed's
        column vectors), block after block. S is one buffer, overwritten by
        the next block: copy what you keep. h0: (N,) or (N, n), default 0."""
        n, T, F = X3.shape
        U, b, W = self.input_weights_, self.input_bias_, self.reservoir_weights_
        N = U.shape[0]
        act = ACTIVATIONS[self.activation]
        a = float(self.leak_rate)
        keep = 1.0 - a
        prev = np.zeros((N, n)) if h0 is None else np.array(
            np.broadcast_to(np.asarray(h0, dtype=np.float64).reshape(N, -1), (N, n)))
        # The scaled form runs as the seed form on g = h / a with a W (module docstring):
        # g(t) = (1 - a) g(t-1) + sigma(U x(t) + b + a W g(t-1)), one product fewer per step;
        # each block of states is multiplied by a when it is done
        scale = a if self.leak_form == "scaled" and a != 1.0 else None
        if scale is not None:
            W = W * scale
            prev /= scale
        if N <= _DENSE_UNITS or self.density >= _DENSE_DENSITY:
            W, dense = W.toarray(), True
        else:
            dense = False
        small = dense and N * N * n < _THREADED_STEP
        if n == 1:  # one sequence: states as vectors (matrix-vector products)
            prev = prev[:, 0]
        tmp = np.empty_like(prev)
        leak_tmp = np.empty_like(prev)
        block = min(T, max(1, _BLOCK_VALUES // (N * n)))
        buf = np.empty((block, N, n))
        for t0 in range(0, T, block):
            L = min(block, T - t0)
            S = buf[:L]
            # U x(t) + b for the whole block in one product
            np.matmul(U, X3[:, t0:t0 + L, :].transpose(1, 2, 0), out=S)
            S += b[:, None]
            with _one_blas_thread() if small else contextlib.nullcontext():
                for row in (S[:, :, 0] if n == 1 else S):
                    if dense:
                        np.matmul(W, prev, out=tmp)
                        row += tmp
                    else:
                        row += W @ prev
                    act(row)
                    if keep:
                        np.multiply(prev, keep, out=leak_tmp)
                        row += leak_tmp
                    prev = row
            prev = prev.copy()  # the last state, before S is scaled and then overwritten
            if scale is not None:
                S *= scale
            yield t0, S

    @staticmethod
    def _rows(S, rows=slice(None)):
        """The states of a block as rows, (n * L, N), sequence-major (a view
        for one sequence, a copy for several)."""
        S = S[rows]
        if S.shape[2] == 1:
            return S[:, :, 0]
        return S.transpose(2, 0, 1).reshape(-1, S.shape[1])

    def _final_features(self, X3):
        """[h(T), x(T)] of every sequence, (n, D)."""
        for t0, S in self._states(X3):
            pass
        Z = S[-1].T  # (n, N)
        if self.include_input:
            Z = np.hstack([Z, X3[:, -1, :]])
        return np.ascontiguousarray(Z)

    # --- the readout -----------------------------------------------------------------------------

    def _fit_readout(self, X3, Y, layout):
        """Ridge with intercept of Y on the readout features z = [h, x], in
        closed form: the centred normal equations (Z'Z - m mu mu' + alpha I)
        V' = Z'Y - m mu ybar', the intercept ybar - V mu. Y: (n, k) per
        sequence or (n, T, k) per step. Per step, Z'Z and Z'Y are summed
        block by block, in their [h, x] parts (no copy of Z is made)."""
        N = self.n_reservoir
        if layout == "per_sequence":
            Z = self._final_features(X3)
            G, ZY = Z.T @ Z, Z.T @ Y
            z_sum, y_sum, m = Z.sum(0), Y.sum(0), Z.shape[0]
        else:
            F = X3.shape[2] if self.include_input else 0
            k = Y.shape[2]
            G, ZY = np.zeros((N + F, N + F)), np.zeros((N + F, k))
            z_sum, y_sum, m = np.zeros(N + F), np.zeros(k), 0
            w = self.washout
            for t0, S in self._states(X3):
                t1 = t0 + S.shape[0]
                if t1 <= w:
                    continue
                start = max(w, t0)
                H = self._rows(S, slice(start - t0, None))
                Yb = Y[:, start:t1].reshape(-1, k)
                G[:N, :N] += H.T @ H
                ZY[:N] += H.T @ Yb
                z_sum[:N] += H.sum(0)
                if F:
                    Xb = X3[:, start:t1].reshape(-1, F)
                    G[:N, N:] += H.T @ Xb
                    G[N:, N:] += Xb.T @ Xb
                    ZY[N:] += Xb.T @ Yb
                    z_sum[N:] += Xb.sum(0)
                y_sum += Yb.sum(0)
                m += H.shape[0]
            G[N:, :N] = G[:N, N:].T
        mu, ybar = z_sum / m, y_sum / m
        G -= m * np.outer(mu, mu)
        ZY -= m * np.outer(mu, ybar)
        G.flat[::G.shape[0] + 1] += self.alpha
        with _one_blas_thread():
            try:
                coef = scipy.linalg.cho_solve(scipy.linalg.cho_factor(G, check_finite=False), ZY,
                                              check_finite=False)
                if not np.all(np.isfinite(coef)):
                    raise np.linalg.LinAlgError
            except (np.linalg.LinAlgError, ValueError):
                # not positive definite (alpha = 0 and rank-deficient states): minimum-norm
                coef = scipy.linalg.lstsq(G, ZY, check_finite=False)[0]
        self._coef = coef.T  # (k, D)
        self._intercept = ybar - coef.T @ mu

    def _outputs(self, X3, layout):
        """Readout outputs: (n, k) per sequence, (n, T, k) per step."""
        V, c = self._coef, self._intercept
        if layout == "per_sequence":
            return self._final_features(X3) @ V.T + c
        N = self.n_reservoir
        n, T, _ = X3.shape
        out = np.empty((n, T, V.shape[0]))
        for t0, S in self._states(X3):
            L = S.shape[0]
            o = (self._rows(S) @ V[:, :N].T).reshape(n, L, -1)
            if self.include_input:
                o += X3[:, t0:t0 + L] @ V[:, N:].T
            out[:, t0:t0 + L] = o + c
        return out

    # --- shared public methods -------------------------------------------------------------------

    def _check_predict_X(self, X):
        check_is_fitted(self)
        X3, series = self._check_X(X, reset=False)
        if series and self.target_layout_ == "per_sequence":
            raise ValueError(
                "this model was fitted with one target per sequence, so it predicts from "
                "sequences: pass X of shape (n_sequences, T, n_features) (one series of shape "
                "(T, n_features) is X[np.newaxis])")
        return X3, series

    def transform(self, X):
        """The reservoir states h(t), which do not depend on y.

        Parameters
        ----------
        X : array-like of shape (T, n_features) or (n_sequences, T, n_features)

        Returns
        -------
        H : ndarray of shape (T, n_reservoir) or (n_sequences, T, n_reservoir)
            float64, every step (the washout's included), from h(0) = 0.
        """
        check_is_fitted(self)
        X3, series = self._check_X(X, reset=False)
        n, T, _ = X3.shape
        H = np.empty((n, T, self.n_reservoir))
        for t0, S in self._states(X3):
            H[:, t0:t0 + S.shape[0]] = S.transpose(2, 0, 1)
        return H[0] if series else H

    def fit_transform(self, X, y):
        """fit(X, y), then the states of X (see transform): what a Pipeline
        calls when the network is one of its intermediate steps."""
        return self.fit(X, y).transform(X)

    def _scored(self, X, y, pred):
        """y and the predictions of the steps score counts: all of them per
        sequence; per step, those after each series' washout, flattened."""
        X3, series = self._check_predict_X(X)
        y = np.asarray(y)
        if self.target_layout_ == "per_sequence":
            return y, pred
        w = self.washout
        T = X3.shape[1]
        if w >= T:
            raise ValueError(f"washout={w} leaves none of the {T} time steps to score; score "
                             f"longer series")
        if series:
            return y[w:], pred[w:]
        tail = y.shape[2:]
        return y[:, w:].reshape((-1,) + tail), pred[:, w:].reshape((-1,) + tail)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        # transform returns the states in float64 whatever X's dtype
        tags.transformer_tags = TransformerTags(preserves_dtype=["float64"])
        return tags


class EchoStateRegressor(RegressorMixin, _BaseEchoState):
    __doc__ = f"""Echo state network regressor (seed 003, section 8.10).

    A fixed random sparse reservoir of N leaky units, scaled to a chosen
    spectral radius, and a linear readout of [h(t), x(t)] fitted by ridge
    regression in closed form. The units follow the seed's form by default,
    h(t) = (1 - a) h(t-1) + sigma(U x(t) + b + W h(t-1)), and the common
    h(t) = (1 - a) h(t-1) + a sigma(.) with ``leak_form="scaled"`` (see the
    module docstring of ``dagnet.neural_network._echo_state``).
    {_LAYOUT_DOC}
    Parameters
    ----------{_PARAMS_DOC}
    Attributes
    ----------
    coef_ : ndarray of shape (n_readout,) or (n_targets, n_readout)
        V, the readout weights of [h, x] (n_readout = n_reservoir, plus
        n_features_in_ with ``include_input``), 1-D when y had no target axis.
    intercept_ : float or ndarray of shape (n_targets,)
{_ATTRS_DOC}
    Examples
    --------
    One-step-ahead prediction of the Mackey-Glass series, fitted on the
    first 1000 steps and scored on the next 500 (after a washout of 100):

    >>> from dagnet import EchoStateRegressor
    >>> from dagnet.datasets import mackey_glass
    >>> s = mackey_glass(1501)
    >>> X, y = s[:-1, None], s[1:]
    >>> esn = EchoStateRegressor(300, washout=100, random_state=0).fit(X[:1000], y[:1000])
    >>> esn.predict(X[1000:]).shape
    (500,)
    >>> esn.score(X[1000:], y[1000:]) > 0.999
    True
    """

    def fit(self, X, y):
        """Build the reservoir, run it over X and fit the readout to y.

        Parameters
        ----------
        X : array-like of shape (T, n_features) or (n_sequences, T, n_features)
        y : array-like of shape (T,), (T, k), (n_sequences,), (n_sequences, k),
            (n_sequences, T) or (n_sequences, T, k)
            See the layouts in the class docstring.

        Returns
        -------
        self
        """
        X3, series, y = self._check_X_y(X, y, "targets", dtype=np.float64, multi_output=True,
                                        y_numeric=True)
        layout = self._layout_of(X3, series, y)
        if series and self.washout >= X3.shape[1]:
            raise ValueError(_washout_message(self.washout, X3.shape[1]))
        self._single = y.ndim == (1 if series or layout == "per_sequence" else 2)
        if series:
            Y = y.reshape(1, y.shape[0], -1)
        elif layout == "per_sequence":
            Y = y.reshape(y.shape[0], -1)
        else:
            Y = y.reshape(y.shape[0], y.shape[1], -1)
        if Y.shape[-1] == 0:
            raise ValueError(f"y of shape {y.shape} has no targets; give at least one")
        self._build(X3.shape[2])
        self.target_layout_ = layout
        self._fit_readout(X3, Y, layout)
        if self._single:
            self.coef_, self.intercept_ = self._coef[0], float(self._intercept[0])
        else:
            self.coef_, self.intercept_ = self._coef, self._intercept
        return self

    def predict(self, X):
        """The readout's outputs.

        Parameters
        ----------
        X : array-like of shape (T, n_features) or (n_sequences, T, n_features)

        Returns
        -------
        y : ndarray, float64
            (T,) or (T, k) for a series; (n_sequences,) or (n_sequences, k)
            per sequence; (n_sequences, T) or (n_sequences, T, k) per step.
        """
        X3, series = self._check_predict_X(X)
        out = self._outputs(X3, self.target_layout_)
        if series:
            out = out[0]
        return out[..., 0] if self._single else out

    def score(self, X, y, sample_weight=None):
        """R^2 of the predictions, over the steps after each washout
        (all sequences' for per-sequence targets; one R^2 per target,
        averaged, as scikit-learn's r2_score)."""
        pred = self.predict(X)
        y_true, y_pred = self._scored(X, y, pred)
        return float(r2_score(y_true, y_pred, sample_weight=sample_weight))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class EchoStateClassifier(ClassifierMixin, _BaseEchoState):
    __doc__ = f"""Echo state network classifier (seed 003, section 8.10).

    The reservoir of :class:`EchoStateRegressor` and a ridge readout
    trained as scikit-learn's ``RidgeClassifier`` is: the labels are coded
    +1 / -1 (one column per class, one column for two classes), the readout
    is fitted to the codes in closed form, ``decision_function`` returns its
    outputs and ``predict`` takes the class of the largest one (the sign for
    two classes). There is no ``predict_proba``: ridge outputs are not
    probabilities (wrap the estimator in ``CalibratedClassifierCV`` for
    them, with sequences as samples).
    {_LAYOUT_DOC}
    Labels go where targets go: one per sequence, shape (n_sequences,), or
    one per step, (n_sequences, T) for sequences and (T,) for one series.

    Parameters
    ----------{_PARAMS_DOC}
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (1, n_readout) or (n_classes, n_readout)
        V (n_readout = n_reservoir, plus n_features_in_ with ``include_input``).
    intercept_ : ndarray of shape (1,) or (n_classes,)
{_ATTRS_DOC}
    Examples
    --------
    Telling a slow sine from a fast one, whatever their phase, from
    sequences of 30 steps:

    >>> import numpy as np
    >>> from dagnet import EchoStateClassifier
    >>> rng = np.random.RandomState(0)
    >>> y = rng.randint(0, 2, 200)
    >>> t = np.arange(30)
    >>> X = np.sin(np.where(y, 0.9, 0.3)[:, None] * t + rng.uniform(0, 6.3, (200, 1)))[..., None]
    >>> clf = EchoStateClassifier(100, random_state=0).fit(X[:150], y[:150])
    >>> clf.predict(X[150:]).shape
    (50,)
    >>> clf.score(X[150:], y[150:]) > 0.9
    True
    """

    def fit(self, X, y):
        """Build the reservoir, run it over X and fit the readout to y's
        +1 / -1 codes.

        Parameters
        ----------
        X : array-like of shape (T, n_features) or (n_sequences, T, n_features)
        y : array-like of shape (T,), (n_sequences,) or (n_sequences, T)
            Labels, one per step of a series, per sequence or per step of
            each sequence.

        Returns
        -------
        self
        """
        X3, series, y = self._check_X_y(X, y, "labels", dtype=np.float64)
        if not series:
            y = check_array(y, ensure_2d=False, dtype=None, input_name="y")
            if y.ndim == 2 and y.shape[1] == 1 and self.targets != "per_step" \
                    and X3.shape[1] != 1:
                y = column_or_1d(y, warn=True)
        layout = self._layout_of(X3, series, y)
        if series and self.washout >= X3.shape[1]:
            raise ValueError(_washout_message(self.washout, X3.shape[1]))
        if not series and y.ndim != (1 if layout == "per_sequence" else 2):
            raise ValueError(f"{type(self).__name__} takes one label per sequence, shape "
                             f"({X3.shape[0]},), or per step, shape {X3.shape[:2]}; got y of "
                             f"shape {y.shape}")
        labels = y.ravel()
        check_classification_targets(labels)
        self._binarizer = LabelBinarizer(pos_label=1, neg_label=-1).fit(labels)
        self.classes_ = self._binarizer.classes_
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes in y; "
                             f"got only one class: {self.classes_[0]!r}")
        codes = self._binarizer.transform(labels).astype(np.float64)
        if series:
            Y = codes.reshape(1, y.shape[0], -1)
        elif layout == "per_sequence":
            Y = codes
        else:
            Y = codes.reshape(y.shape[0], y.shape[1], -1)
        self._build(X3.shape[2])
        self.target_layout_ = layout
        self._fit_readout(X3, Y, layout)
        self.coef_, self.intercept_ = self._coef, self._intercept
        return self

    def decision_function(self, X):
        """The readout's outputs: (n,) for two classes (> 0 is classes_[1]),
        (n, n_classes) beyond, where n is T for a series, n_sequences per
        sequence, and (n_sequences, T) per step."""
        X3, series = self._check_predict_X(X)
        out = self._outputs(X3, self.target_layout_)
        if series:
            out = out[0]
        return out[..., 0] if len(self.classes_) == 2 else out

    def predict(self, X):
        """The class of the largest output (the output's sign for two classes)."""
        d = self.decision_function(X)
        if len(self.classes_) == 2:
            return self.classes_[(d > 0).astype(int)]
        return self.classes_[np.argmax(d, axis=-1)]

    def score(self, X, y, sample_weight=None):
        """Accuracy over the labels after each washout (all sequences' for
        per-sequence labels)."""
        pred = self.predict(X)
        y_true, y_pred = self._scored(X, y, pred)
        return float(accuracy_score(np.ravel(y_true), np.ravel(y_pred),
                                    sample_weight=sample_weight))
