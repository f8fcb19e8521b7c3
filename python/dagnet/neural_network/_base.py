"""The multi-layer perceptron shared by MLPClassifier and MLPRegressor.

The network is scikit-learn's (seed 000, sections 1-5): dense layers with
one hidden activation, an output layer whose activation is folded into the
loss (softmax with cross-entropy, the logistic function with binary
cross-entropy, identity with half the squared error, exp with the Poisson
deviance), weights and biases drawn from U(+-sqrt(factor / (fan_in +
fan_out))) with factor 6 (2 for logistic units), and the L2 penalty
alpha / (2 sum of the batch's sample weights) ||W||^2. The C core runs it:
one call per epoch for 'adam' and 'sgd', one call per loss-and-gradient
evaluation for 'lbfgs'.

The fitted weights live in the core's parameter arena: ``coefs_`` and
``intercepts_`` are float32 views of it, so writing into them changes the
model (assigning new arrays to them works too: they are copied in before the
next prediction). Pickling stores copies and rebuilds the network.

The core computes in float32: X and y are checked to fit float32's range
before the cast, and predictions come back in scikit-learn's dtypes
(float32 for float32 X given to a model fitted on float32 X, else float64).
A fit whose loss diverges (becomes non-finite, or grows more than
DIVERGENCE_FACTOR times the loss at the initial weights) stops, keeps the
last weights before the divergence (the best validation weights with early
stopping) and says so.
"""

import numbers
import warnings

import numpy as np
import scipy.optimize
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted, validate_data

from dagnet import _core
from dagnet._progress import EpochProgress
from dagnet._threads import quiet_blas, resolve_threads
from dagnet._validation import check_float32_range, check_sample_weight, dense_float32, seed_from
from dagnet.nn.dense import Activation, Dense, Dropout
from dagnet.nn.normalization import BatchNorm, LayerNorm

# scikit-learn's hidden activations, and the engine's under their own names
ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
ACTIVATIONS.update({name: name for name in _core.act_names()})
SOLVERS = ("lbfgs", "sgd", "adam")
SCHEDULES = ("constant", "invscaling", "adaptive")
NORMALIZATIONS = (None, "batch", "layer")
_STOCHASTIC = ("sgd", "adam")
_LBFGS_CHUNK = 4096  # samples per core call when L-BFGS evaluates the whole data set
# an epoch diverged when its loss is not finite, or its data term is more
# than this many times that of the weights the model started training from
DIVERGENCE_FACTOR = 1e4
NOT_FINITE_AT_START = ("the loss is not finite at the initial weights; scale the features (e.g. "
                       "with StandardScaler) and check y")
LBFGS_NEEDS_DETERMINISTIC = ("solver='lbfgs' minimises one deterministic objective over the "
                             "whole data set, which dropout and batch normalisation do not "
                             "have; use solver='adam' or 'sgd'")


def _is_int(x):
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _is_real(x):
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _check_range(name, value, low, high, low_closed=True, high_closed=True, integral=False):
    ok = _is_int(value) if integral else (_is_real(value) and np.isfinite(value))
    if ok:
        lo = low is None or (value >= low if low_closed else value > low)
        hi = high is None or (value <= high if high_closed else value < high)
        if lo and hi:
            return
    lb = "-inf" if low is None else low
    ub = "inf" if high is None else high
    interval = f"{'[' if low_closed and low is not None else '('}{lb}, " \
               f"{ub}{']' if high_closed and high is not None else ')'}"
    kind = "an int" if integral else "a real number"
    raise ValueError(f"The '{name}' parameter of {{est}} must be {kind} in the range "
                     f"{interval}. Got {value!r} instead.")


def _check_option(name, value, options):
    if value not in options:
        raise ValueError(f"The '{name}' parameter of {{est}} must be one of "
                         f"{sorted(map(repr, options))}. Got {value!r} instead.")


def store_params(estimator, params):
    """Set each constructor argument (``locals()`` of ``__init__``) as an
    attribute of the same name, as scikit-learn's convention asks."""
    for name, value in params.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


class BaseMLP(BaseEstimator):
    """Fitting, prediction and persistence common to the MLPs and to the
    estimators of any network (NeuralNetClassifier, NeuralNetRegressor),
    which replace the methods that build the network: _check_network_params,
    _architecture, _make_graph, _bind_views, _sync_params and
    _check_same_network."""

    # the fitted attributes that view the core's memory (not pickled)
    _GRAPH_VIEWS = ("coefs_", "intercepts_", "_coef_views", "_intercept_views")
    # what a user may set on an unfitted estimator as the weights partial_fit,
    # or fit with warm_start=True, starts from
    _WEIGHT_ATTRS = ("coefs_", "intercepts_")

    # --- the parameters ----------------------------------------------------------

    def _check_params(self):
        """Check every constructor parameter; returns what the network is
        built from (see _check_network_params). Messages follow
        scikit-learn's InvalidParameterError."""
        try:
            net = self._check_network_params()
            _check_option("solver", self.solver, SOLVERS)
            _check_range("alpha", self.alpha, 0, None)
            if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
                _check_range("batch_size", self.batch_size, 1, None, integral=True)
            _check_option("learning_rate", self.learning_rate, SCHEDULES)
            _check_range("learning_rate_init", self.learning_rate_init, 0, None, low_closed=False)
            _check_range("power_t", self.power_t, 0, None)
            _check_range("max_iter", self.max_iter, 1, None, integral=True)
            _check_range("tol", self.tol, 0, None)
            _check_range("momentum", self.momentum, 0, 1)
            _check_range("validation_fraction", self.validation_fraction, 0, 1,
                         high_closed=False)
            _check_range("beta_1", self.beta_1, 0, 1, high_closed=False)
            _check_range("beta_2", self.beta_2, 0, 1, high_closed=False)
            _check_range("epsilon", self.epsilon, 0, None, low_closed=False)
            if not (self.n_iter_no_change == np.inf):
                _check_range("n_iter_no_change", self.n_iter_no_change, 1, None, integral=True)
            _check_range("max_fun", self.max_fun, 1, None, integral=True)
            for name in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping",
                         "schedule_adam"):
                if not isinstance(getattr(self, name), (bool, np.bool_)):
                    raise ValueError(f"The '{name}' parameter of {{est}} must be an instance of "
                                     f"'bool'. Got {getattr(self, name)!r} instead.")
            if not (_is_int(self.verbose) or isinstance(self.verbose, (bool, np.bool_))):
                raise ValueError(f"The 'verbose' parameter of {{est}} must be a bool or an int. "
                                 f"Got {self.verbose!r} instead.")
            _check_option("early_stopping_metric", self.early_stopping_metric, ("score", "loss"))
            resolve_threads(self.n_threads)
            self._check_extra_params()
        except ValueError as e:
            raise ValueError(str(e).replace("{est}", type(self).__name__)) from None
        return net

    def _check_network_params(self):
        """hidden_layer_sizes, activation, dropout and normalization; returns
        hidden_layer_sizes as a list."""
        hls = self.hidden_layer_sizes
        hls = [hls] if not hasattr(hls, "__iter__") else list(hls)
        if not all(_is_int(h) for h in hls):
            raise ValueError(f"The 'hidden_layer_sizes' parameter of {{est}} must be an int or "
                             f"an array-like of ints. Got {self.hidden_layer_sizes!r} instead.")
        if any(h <= 0 for h in hls):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {hls}.")
        _check_option("activation", self.activation, ACTIVATIONS)
        _check_range("dropout", self.dropout, 0, 1, high_closed=False)
        _check_option("normalization", self.normalization, NORMALIZATIONS)
        if self.solver == "lbfgs" and (self.dropout > 0 or self.normalization == "batch"):
            raise ValueError(LBFGS_NEEDS_DETERMINISTIC + ", or normalization='layer'")
        return hls

    def _check_extra_params(self):
        """Subclasses check their own parameters here."""

    # --- the network -------------------------------------------------------------

    def _architecture(self, hidden, sample_shape, n_out, target_shape, seed):
        """Everything the network is built from, kept with the fitted model."""
        return dict(n_features=int(sample_shape[0]), hidden=list(hidden),
                    activation=ACTIVATIONS[self.activation], n_out=n_out,
                    loss=self._core_loss(), target_shape=tuple(target_shape),
                    dropout=float(self.dropout), normalization=self.normalization,
                    factor=2.0 if self.activation == "logistic" else 6.0, seed=int(seed))

    @staticmethod
    def _make_graph(arch):
        """The core graph: X -> dense layers -> output, with the loss."""
        g = _core.Graph()
        x = g.add_input((arch["n_features"],))
        g.set_name(x, "X")
        init = dict(kernel_initializer="sklearn", kernel_scale=arch["factor"],
                    bias_initializer="sklearn", bias_scale=arch["factor"])
        h, act, norm = x, arch["activation"], arch["normalization"]
        for i, units in enumerate(arch["hidden"]):
            if norm is None:
                h = Dense(units, activation=act, name=f"dense_{i}", **init).emit(g, [h])
            else:
                h = Dense(units, name=f"dense_{i}", **init).emit(g, [h])
                layer = BatchNorm if norm == "batch" else LayerNorm
                h = layer(name=f"{norm}norm_{i}").emit(g, [h])
                h = Activation(act, name=f"activation_{i}").emit(g, [h])
            if arch["dropout"] > 0:
                h = Dropout(arch["dropout"], name=f"dropout_{i}").emit(g, [h])
        out = Dense(arch["n_out"], name=f"dense_{len(arch['hidden'])}", **init).emit(g, [h])
        g.set_outputs([out])
        t = g.add_input(arch["target_shape"])
        g.set_name(t, "y")
        w = g.add_input((1,))
        g.set_name(w, "sample_weight")
        g.set_name(g.add_node("loss", [out, t, w], loss=arch["loss"]), "loss")
        g.compile(arch["seed"])
        return g

    def _new_graph(self, runs=0):
        """The graph of self._arch, having made `runs` runs: the core draws
        dropout's masks from a stream keyed by the runs, so a graph rebuilt
        from a pickle is given the original's count and trains on as it
        would have."""
        g = self._make_graph(self._arch)
        g.run_count = runs
        return g

    def _bind_views(self):
        """coefs_ and intercepts_ as views of the core's parameters."""
        params = {name: value for name, _, value, _, _ in self._graph.params()}
        n = len(self._arch["hidden"]) + 1
        self._coef_views = [params[f"dense_{i}.weight"] for i in range(n)]
        self._intercept_views = [params[f"dense_{i}.bias"] for i in range(n)]
        self.coefs_ = list(self._coef_views)
        self.intercepts_ = list(self._intercept_views)
        self.n_layers_ = n + 1

    def _sync_params(self):
        """Copy in coefs_ / intercepts_ that were replaced by new arrays (or
        set before the first fit, see _given_weights), after checking them
        against the network's shapes."""
        for name, views in (("coefs_", self._coef_views), ("intercepts_", self._intercept_views)):
            mine = getattr(self, name)
            listed = isinstance(mine, (list, tuple))
            if listed and len(mine) == len(views) and all(a is v for a, v in zip(mine, views)):
                continue
            shapes = [v.shape for v in views]
            if not listed or len(mine) != len(views):
                got = f"{len(mine)} arrays" if listed else f"a {type(mine).__name__}"
                raise ValueError(f"{name} must be a list of {len(views)} arrays of shapes "
                                 f"{shapes}, one per layer; got {got}")
            mine = list(mine)
            for i, (a, v) in enumerate(zip(mine, views)):
                if a is v:
                    continue
                a = np.asarray(a)
                if a.shape != v.shape:
                    raise ValueError(f"{name}[{i}] has shape {a.shape}; the network needs "
                                     f"{v.shape} ({name} has shapes {shapes})")
                a = dense_float32(a, f"{name}[{i}]")
                if not np.isfinite(a.sum(dtype=np.float64)):
                    raise ValueError(f"{name}[{i}] holds NaN or infinity; give finite weights")
                v[...] = a
                mine[i] = v
            setattr(self, name, mine)

    def _given_weights(self, incremental):
        """The coefs_ / intercepts_ a user set on an unfitted estimator before
        partial_fit or a fit with warm_start=True: the training starts from
        them (scikit-learn continues from the coefs_ an estimator has)."""
        if hasattr(self, "_graph") or not (incremental or self.warm_start):
            return {}
        return {name: getattr(self, name) for name in self._WEIGHT_ATTRS if hasattr(self, name)}

    def _snapshot(self, into=None):
        """Copies of every parameter, written into the arrays of an earlier
        snapshot when given."""
        if into is None:
            return [value.copy() for _, _, value, _, _ in self._graph.params()]
        for (_, _, value, _, _), saved in zip(self._graph.params(), into):
            saved[...] = value
        return into

    def _params_finite(self):
        # a float64 sum of float32 values is finite exactly when every value is
        return all(np.isfinite(value.sum(dtype=np.float64))
                   for _, _, value, _, _ in self._graph.params())

    def _restore(self, snapshot):
        for (_, _, value, _, _), saved in zip(self._graph.params(), snapshot):
            value[...] = saved

    def _set_optimizer(self):
        """A fresh optimiser (as scikit-learn makes one per fit)."""
        if self.solver == "adam":
            name, kw = "adam", dict(beta1=self.beta_1, beta2=self.beta_2, eps=self.epsilon)
        elif self.momentum > 0:
            name = "nesterov" if self.nesterovs_momentum else "momentum"
            kw = dict(momentum=self.momentum)
        else:
            name, kw = "sgd", {}
        self._graph.set_optimizer(name, lr=self.learning_rate_init, l2=self.alpha,
                                  reg_per_sample=True, **kw)
        self._learning_rate = float(self.learning_rate_init)

    # --- data --------------------------------------------------------------------

    def _validate_X(self, X, reset):
        """X checked (numeric, finite, n_features_in_) and kept in float64 or
        float32 as scikit-learn keeps it; dense_float32 makes the core's copy
        after checking the values fit float32."""
        return validate_data(self, X, reset=reset, accept_sparse=["csr", "csc"],
                             dtype=(np.float64, np.float32))

    @staticmethod
    def _check_sample_weight(sample_weight, n):
        return check_sample_weight(sample_weight, n)

    def _nthreads(self):
        return resolve_threads(self.n_threads)

    def _outputs(self, X):
        """The network's output (logits, or predictions of the identity) for
        checked float32 X, as float64."""
        self._sync_params()
        nt = self._nthreads()
        with quiet_blas(nt):
            out = self._graph.predict([X, None, None], 0, chunk=1024, nthreads=nt)
        return out.astype(np.float64)

    # --- fitting -----------------------------------------------------------------

    def _fit(self, X, y, sample_weight=None, incremental=False):
        net = self._check_params()
        first_pass = not hasattr(self, "_graph") or (not self.warm_start and not incremental)
        given = self._given_weights(incremental)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        dtype = X.dtype
        X = dense_float32(X)
        n_samples = X.shape[0]
        sw = self._check_sample_weight(sample_weight, n_samples)
        sw = self._apply_class_weight(y, sw)
        T, n_out, tshape = self._targets(y)
        if first_pass:
            self._initialize(net, X.shape[1:], n_out, tshape)
            self._fit_dtype = dtype  # sets the dtype of predictions, see _check_fitted_X
            for name, value in given.items():
                setattr(self, name, value)  # copied in, shapes checked, by _sync_params
        else:
            self._check_same_network(net, X.shape[1:], n_out)
        W = None if sw is None else sw.astype(np.float32).reshape(-1, 1)
        self._sync_params()
        progress = EpochProgress(self.verbose, 1 if incremental else self.max_iter,
                                 type(self).__name__)
        # BLAS stays on one thread for the whole fit, not only during core
        # calls: its idle workers spin after each call (scipy's L-BFGS-B,
        # validation metrics) and would take the core's second thread away
        try:
            with quiet_blas(self._nthreads()):
                if self.solver in _STOCHASTIC:
                    self._fit_stochastic(X, y, T, W, incremental, progress)
                else:
                    self._fit_lbfgs(X, y, T, W, progress)
        finally:
            progress.close()
        if not all(np.all(np.isfinite(p)) for _, _, p, _, _ in self._graph.params()):
            raise ValueError("Solver produced non-finite parameter weights. The input data may"
                             " contain large values and need to be preprocessed.")
        return self

    def _check_same_network(self, hidden, sample_shape, n_out):
        if list(self._arch["hidden"]) != hidden or self._arch["n_out"] != n_out:
            raise ValueError(f"warm_start or partial_fit needs the same network: it has hidden "
                             f"layers {self._arch['hidden']} and {self._arch['n_out']} outputs, "
                             f"now {hidden} and {n_out}")

    def _initialize(self, net, sample_shape, n_out, tshape):
        self.n_iter_ = 0
        self.t_ = 0
        self.out_activation_ = self._out_activation()
        self._arch = self._architecture(net, sample_shape, n_out, tshape,
                                        seed_from(self.random_state))
        self._graph = self._new_graph()
        self._bind_views()
        self._has_optimizer = False
        self._initial_loss = None  # measured when training starts
        self.loss_curve_ = []
        self._no_improvement_count = 0
        self.validation_loss_curve_ = None
        if self.early_stopping:
            self.validation_scores_ = []
            self.validation_loss_curve_ = []
            self.best_validation_score_ = -np.inf
            self.best_validation_loss_ = np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_validation_loss_ = None

    def _split_validation(self, X, y, T, W):
        stratify = y if self._stratify_split() else None
        idx = np.arange(X.shape[0])
        rs = np.random.RandomState(self._arch["seed"] % (2**32))
        tr, va = train_test_split(idx, random_state=rs, test_size=self.validation_fraction,
                                  stratify=stratify)
        if va.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                             "or the size of your dataset.")
        tr.sort()
        va.sort()
        take = (lambda a, i: None if a is None else np.ascontiguousarray(a[i]))
        return ((X[tr], take(T, tr), take(W, tr)),
                (X[va], y[va], take(T, va), take(W, va)))

    def _batch_size(self, n):
        if self.batch_size == "auto":
            return min(200, n)
        if self.batch_size > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going "
                          "to be clipped")
        return int(np.clip(self.batch_size, 1, n))

    def _report_loss(self, data_loss, reg_loss):
        """The loss as scikit-learn reports it, from the core's data and
        regularisation parts (they differ for multi-output squared error,
        which scikit-learn averages over outputs, and for Poisson, whose
        deviance keeps a constant the core leaves out)."""
        return data_loss + reg_loss

    def _loss_constant(self, T, W):
        """A term of the reported loss without gradient, which the core
        leaves out."""
        return 0.0

    def _validation_loss(self, Xv, Tv, Wv, nt):
        value, _ = self._graph.objective([Xv, Tv, Wv], chunk=_LBFGS_CHUNK, grad=False,
                                         nthreads=nt)
        return self._report_loss(value + self._loss_constant(Tv, Wv), 0.0)

    def _record_validation(self, Xv, yv, swv, Tv, Wv, nt):
        """Score and loss on the validation set, appended to their curves."""
        score = self._score_dense(Xv, yv, swv)
        loss = self._validation_loss(Xv, Tv, Wv, nt)
        self.validation_scores_.append(score)
        self.validation_loss_curve_.append(loss)
        return score, loss

    def _fit_stochastic(self, X, y, T, W, incremental, progress):
        if not incremental or not self._has_optimizer:
            self._set_optimizer()
            self._has_optimizer = True
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early = self.early_stopping
        if early:
            (Xt, Tt, Wt), (Xv, yv, Tv, Wv) = self._split_validation(X, y, T, W)
            swv = None if Wv is None else Wv.ravel().astype(np.float64)
            if not hasattr(self, "_best_params"):
                self._best_params = self._snapshot()
        else:
            Xt, Tt, Wt = X, T, W
        n = Xt.shape[0]
        batch = self._batch_size(n)
        const = self._loss_constant(Tt, Wt)
        nt = self._nthreads()
        g = self._graph
        try:
            if getattr(self, "_initial_loss", None) is None:
                # the scale divergence is judged against: the loss of the
                # weights the model starts training from, on the first rows
                # (unweighted: their sample weights may all be 0)
                rows = slice(0, min(n, _LBFGS_CHUNK))
                self._initial_loss = self._validation_loss(Xt[rows], Tt[rows], None, nt)
                if not np.isfinite(self._initial_loss):
                    raise ValueError(NOT_FINITE_AT_START)
            # the weights at the start of the epoch with the lowest loss: what
            # a divergence goes back to (those at its end may be too large)
            good, good_loss, good_epoch, start = self._snapshot(), np.inf, 1, None
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                start = self._snapshot(into=start)
                failure = None
                try:  # under _fit's quiet_blas, as every core call of a fit
                    total = g.train_epoch([Xt, Tt, Wt], batch, shuffle=self.shuffle,
                                          nthreads=nt)
                except FloatingPointError as e:
                    # what happened, without the core's advice, which names
                    # options of dagnet.nn: _diverged gives the estimator's
                    total, failure = np.nan, str(e).split(" and training stopped")[0]
                reg = g.last_reg_loss if failure is None else 0.0
                data_loss = self._report_loss(total - reg + const, 0.0)
                self.n_iter_ += 1
                self.loss_ = self._report_loss(total - reg + const, reg)
                self.t_ += n
                self.loss_curve_.append(self.loss_)
                if failure is None and not self._params_finite():
                    failure = "the weights became NaN or infinite"
                grew = failure is None and data_loss > DIVERGENCE_FACTOR * self._initial_loss
                if grew:
                    failure = (f"the loss grew to {data_loss:.3g}, more than "
                               f"{DIVERGENCE_FACTOR:g} times its {self._initial_loss:.3g} at "
                               f"the initial weights")
                if failure is not None:
                    val_score = val_loss = np.nan if early else None
                    if early:  # the diverged epoch is not scored
                        self.validation_scores_.append(val_score)
                        self.validation_loss_curve_.append(val_loss)
                    progress.epoch(self.n_iter_, self.loss_, val_score, val_loss)
                    self._diverged(failure, grew, early, good, good_epoch)
                    break
                if data_loss < good_loss:
                    good, start, good_loss, good_epoch = start, good, data_loss, self.n_iter_
                val_score, val_loss = (self._record_validation(Xv, yv, swv, Tv, Wv, nt)
                                       if early else (None, None))
                progress.epoch(self.n_iter_, self.loss_, val_score, val_loss)
                self._update_no_improvement_count(early, val_score, val_loss)
                if self._schedules():
                    if self.learning_rate == "invscaling":
                        self._learning_rate = (float(self.learning_rate_init)
                                               / (self.t_ + 1) ** self.power_t)
                        g.set_lr(self._learning_rate)
                if self._no_improvement_count > self.n_iter_no_change:
                    what = (f"Validation {'score' if self.early_stopping_metric == 'score' else 'loss'}"
                            if early else "Training loss")
                    msg = (f"{what} did not improve more than tol={self.tol:f} for "
                           f"{self.n_iter_no_change} consecutive epochs.")
                    if self._schedules() and self.learning_rate == "adaptive":
                        if self._learning_rate <= 1e-6:
                            progress.message(msg + " Learning rate too small. Stopping.")
                            break
                        self._learning_rate /= 5.0
                        g.set_lr(self._learning_rate)
                        progress.message(msg + f" Setting learning rate to "
                                               f"{self._learning_rate:f}")
                        self._no_improvement_count = 0
                    else:
                        progress.message(msg + " Stopping.")
                        break
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn("Stochastic Optimizer: Maximum iterations (%d) reached and the "
                                  "optimization hasn't converged yet." % self.max_iter,
                                  ConvergenceWarning)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        finally:
            if early:
                self._restore(self._best_params)
                del self._best_params

    def _diverged(self, failure, finite, early, good, good_epoch):
        """Training diverged in the last epoch (failure says how; finite: the
        loss grew but stayed finite). Keep the best validation weights with
        early stopping (scikit-learn records the epoch, keeps them and goes
        on), else `good`, the weights at the start of epoch `good_epoch`,
        the lowest loss; warn, or raise for a non-finite loss or weights
        without early stopping, as scikit-learn does."""
        # the optimiser's state diverged too: a later partial_fit starts afresh
        self._has_optimizer = False
        if early:
            kept = ("the weights with the best validation score" if self.n_iter_ > 1 else
                    "the weights this fit started from")
        else:
            self._restore(good)
            kept = ("the weights this fit started from" if good_epoch == 1 else
                    f"the weights from the start of epoch {good_epoch}, the lowest loss")
        msg = (f"Training diverged in epoch {self.n_iter_}: {failure}. The model keeps {kept}. "
               f"Lower learning_rate_init (it is {self.learning_rate_init:g}), or scale the "
               f"data (e.g. with StandardScaler).")
        if early or finite:
            warnings.warn(msg, ConvergenceWarning)
        else:
            raise ValueError(msg)

    def _schedules(self):
        """Whether learning_rate's schedule applies (sgd, or adam with
        schedule_adam)."""
        return self.solver == "sgd" or self.schedule_adam

    def _update_no_improvement_count(self, early, val_score, val_loss):
        if early and self.early_stopping_metric == "score":
            if val_score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if val_score > self.best_validation_score_:
                self.best_validation_score_ = val_score
                self.best_validation_loss_ = min(self.best_validation_loss_, val_loss)
                self._best_params = self._snapshot()
        elif early:
            if val_loss > self.best_validation_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if val_loss < self.best_validation_loss_:
                self.best_validation_loss_ = val_loss
                self.best_validation_score_ = max(self.best_validation_score_, val_score)
                self._best_params = self._snapshot()
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _fit_lbfgs(self, X, y, T, W, progress):
        """scipy's L-BFGS-B on the loss and gradient the core computes over
        the whole data set in one call."""
        g = self._graph
        nt = self._nthreads()
        early = self.early_stopping
        if early:
            (Xt, Tt, Wt), (Xv, yv, Tv, Wv) = self._split_validation(X, y, T, W)
            swv = None if Wv is None else Wv.ravel().astype(np.float64)
            best = [np.inf, None]
        else:
            Xt, Tt, Wt = X, T, W
        views = [value for _, _, value, _, trainable in g.params() if trainable]
        spans = [(off, size) for off, size, trainable in g.param_offsets() if trainable]
        idx = np.concatenate([np.arange(o, o + s) for o, s in spans])

        def set_x(x):
            pos = 0
            for v in views:
                v[...] = x[pos:pos + v.size].reshape(v.shape)
                pos += v.size

        def fun(x):
            set_x(x)
            value, grad = g.objective([Xt, Tt, Wt], chunk=_LBFGS_CHUNK, l2=self.alpha,
                                      reg_per_sample=True, nthreads=nt)
            if not np.isfinite(value):
                return np.inf, np.zeros(x.shape)
            return value, grad[idx].astype(np.float64)

        no_improve = [0]

        total_w = Xt.shape[0] if Wt is None else float(Wt.sum(dtype=np.float64))
        const = self._loss_constant(Tt, Wt)

        x0 = np.concatenate([v.ravel() for v in views]).astype(np.float64)
        accepted = [x0]  # the last iterate L-BFGS-B accepted

        def callback(intermediate_result):
            x = intermediate_result.x
            accepted[0] = np.array(x, copy=True)
            set_x(x)
            self.loss_curve_.append(self._lbfgs_loss(intermediate_result.fun, total_w, const))
            val_score = val_loss = None
            if early:
                val_score, val_loss = self._record_validation(Xv, yv, swv, Tv, Wv, nt)
                metric = -val_score if self.early_stopping_metric == "score" else val_loss
                if metric < best[0] - self.tol:
                    no_improve[0] = 0
                else:
                    no_improve[0] += 1
                if metric < best[0]:
                    best[0], best[1] = metric, np.array(x, copy=True)
                    self.best_validation_score_ = max(self.best_validation_score_, val_score)
                    self.best_validation_loss_ = min(self.best_validation_loss_, val_loss)
                if no_improve[0] > self.n_iter_no_change:
                    raise StopIteration
            progress.epoch(len(self.loss_curve_), self.loss_curve_[-1], val_score, val_loss)

        if not np.isfinite(fun(x0)[0]):
            raise ValueError(NOT_FINITE_AT_START)
        try:
            res = scipy.optimize.minimize(fun, x0, method="L-BFGS-B", jac=True,
                                          callback=callback,
                                          options={"maxfun": self.max_fun,
                                                   "maxiter": self.max_iter, "gtol": self.tol})
            x_final, nit, status, message = res.x, res.nit, res.status, res.message
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
            x_final, nit, status, message = accepted[0], len(self.loss_curve_), 0, ""
        if early and best[1] is not None:
            x_final = best[1]
        set_x(x_final)
        if status != 0 and not (early and "callback" in str(message).lower()):
            warnings.warn(f"lbfgs failed to converge after {nit} iteration(s) (status={status}):"
                          f"\n{message}.\n\nIncrease the number of iterations to improve the "
                          f"convergence (max_iter={self.max_iter}).\nYou might also want to scale "
                          f"the data as shown in:\n    https://scikit-learn.org/stable/modules/"
                          f"preprocessing.html", ConvergenceWarning)
        self.n_iter_ = min(int(nit), self.max_iter)
        self.loss_ = self._lbfgs_loss(fun(x_final)[0], total_w, const)
        self.best_loss_ = None if early else min(self.loss_curve_ + [self.loss_])

    def _lbfgs_loss(self, value, total_w, const):
        """The reported loss from the objective's value at the current weights."""
        # the parameters the core decays: the weights of trainable layers
        sq = sum(float(np.dot(v.ravel(), v.ravel()))
                 for name, _, v, _, trainable in self._graph.params()
                 if trainable and name.endswith(".weight"))
        reg = 0.5 * self.alpha * sq / total_w if total_w > 0 else 0.0
        return self._report_loss(value - reg + const, reg)

    # --- persistence -------------------------------------------------------------

    def __getstate__(self):
        state = self.__dict__.copy()
        graph = state.pop("_graph", None)
        if graph is not None:  # (unfitted, coefs_ and intercepts_ are the user's)
            for key in self._GRAPH_VIEWS:
                state.pop(key, None)
            state["_graph_runs"] = graph.run_count
            self._sync_params()
            state["_saved_params"] = [value.copy() for _, _, value, _, _ in graph.params()]
            if state.get("_has_optimizer"):
                state["_saved_optimizer"] = (graph.optimizer_state().copy(), graph.step_count,
                                             graph.epoch_count)
        return state

    def __setstate__(self, state):
        saved = state.pop("_saved_params", None)
        optimizer = state.pop("_saved_optimizer", None)
        runs = state.pop("_graph_runs", 0)
        self.__dict__.update(state)
        if saved is None:
            return
        self._graph = self._new_graph(runs)
        self._restore(saved)
        self._bind_views()
        if optimizer is not None:
            self._set_optimizer()
            self._learning_rate = state.get("_learning_rate", self._learning_rate)
            self._graph.set_lr(self._learning_rate)
            values, steps, epochs = optimizer
            self._graph.optimizer_state()[...] = values
            self._graph.set_counters(steps, epochs)

    def _check_solver(self):
        if self.solver not in _STOCHASTIC:
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    def __sklearn_is_fitted__(self):
        return hasattr(self, "_graph")

    def _check_fitted_X(self, X, with_dtype=False):
        """X checked against the fitted model, as the core's float32; with
        with_dtype, also the dtype of the results: float32 for float32 X
        given to a model first fitted on float32 X, else float64 (the dtype
        scikit-learn's MLPs compute in)."""
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        if not with_dtype:
            return dense_float32(X)
        fitted = getattr(self, "_fit_dtype", np.float64)
        dtype = np.float32 if X.dtype == np.float32 and fitted == np.float32 else np.float64
        return dense_float32(X), dtype

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
