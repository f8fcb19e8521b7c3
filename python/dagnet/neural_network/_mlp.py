"""MLPClassifier and MLPRegressor: scikit-learn's estimators on dagnet's core."""

import numpy as np
from scipy.special import expit, softmax, xlogy
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import column_or_1d, validate_data

from dagnet._validation import check_float32_range
from dagnet.neural_network._base import BaseMLP, store_params

_HIDDEN_DOC = """
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The ith element is the number of units of the ith hidden layer.
    activation : str, default='relu'
        Activation of the hidden layers: scikit-learn's 'identity', 'logistic',
        'tanh', 'relu', or any of dagnet's: 'sigmoid', 'leaky_relu', 'elu',
        'softplus', 'gelu', 'silu'."""

# the training parameters, shared with NeuralNetClassifier / NeuralNetRegressor
TRAINING_DOC = """
    solver : {'lbfgs', 'sgd', 'adam'}, default='adam'
        'lbfgs' runs scipy's L-BFGS-B on the loss and gradient that the core
        computes over the whole data set; 'sgd' and 'adam' train in minibatches,
        one core call per epoch.
    alpha : float, default=0.0001
        Strength of the L2 penalty, divided by the batch's total sample weight
        as in scikit-learn.
    batch_size : int or 'auto', default='auto'
        Minibatch size for 'sgd' and 'adam'; 'auto' is min(200, n_samples).
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Schedule for 'sgd' (and for 'adam' with ``schedule_adam=True``).
    learning_rate_init : float, default=0.001
    power_t : float, default=0.5
        Exponent of 'invscaling': lr = learning_rate_init / (t + 1) ** power_t.
    max_iter : int, default=200
        Epochs for 'sgd'/'adam', iterations for 'lbfgs'.
    shuffle : bool, default=True
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffles, dropout and the validation
        split. The same int gives the same model whatever the thread count.
    tol : float, default=1e-4
    verbose : bool or int, default=False
        Show a progress bar per epoch (tqdm when installed, else a line per
        epoch) with the loss, validation figures and time.
    warm_start : bool, default=False
    momentum : float, default=0.9
    nesterovs_momentum : bool, default=True
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, stop when the validation
        score (or loss, see ``early_stopping_metric``) stops improving and keep
        the best weights. dagnet also applies it to 'lbfgs'.
    validation_fraction : float, default=0.1
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's parameters.
    n_iter_no_change : int, default=10
    max_fun : int, default=15000
        Maximum number of loss evaluations of 'lbfgs'.
    early_stopping_metric : {'score', 'loss'}, default='score'
        What early stopping watches: scikit-learn's validation score, or the
        validation loss (dagnet's addition).
    schedule_adam : bool, default=False
        Apply ``learning_rate``'s schedule to 'adam' too (dagnet's addition).
    n_threads : int or None, default=None
        Threads of the core; None follows OMP_NUM_THREADS and threadpoolctl.
"""

_COMMON_DOC = _HIDDEN_DOC + TRAINING_DOC + """    dropout : float, default=0.0
        Dropout rate after each hidden layer (dagnet's addition).
    normalization : {None, 'batch', 'layer'}, default=None
        Batch or layer normalisation before each hidden activation (dagnet's
        addition).
"""

# how dagnet computes, shared with the NeuralNet estimators
FLOAT32_DOC = """
    dagnet computes in float32 (weights, activations, gradients), also for
    float64 X; values beyond float32's range are refused. Predictions and
    probabilities come back as float32 when X is float32 and the model was
    first fitted on float32 X, as float64 otherwise (scikit-learn's dtypes).
    A fit whose loss diverges stops and keeps the last weights before the
    divergence, with a ConvergenceWarning (a ValueError when the loss or the
    weights became NaN or infinite without early stopping).
"""

# the fitted attributes of training, shared with the NeuralNet estimators
TRAINING_ATTRS_DOC = """
    loss_ : float
        The loss at the end of fitting (with the L2 term).
    best_loss_ : float or None
        The lowest training loss ('sgd'/'adam' without early stopping).
    loss_curve_ : list of float
        The loss after each epoch (each L-BFGS iteration for 'lbfgs').
    validation_scores_ : list of float or None
        Validation score per epoch with early stopping (NaN for an epoch
        where training diverged).
    validation_loss_curve_ : list of float or None
        Validation loss per epoch with early stopping (dagnet's addition).
    best_validation_score_ : float or None
    t_ : int
        Training samples seen by the stochastic solvers.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Present when X had string column names.
    n_iter_ : int
    n_layers_ : int
    n_outputs_ : int
    out_activation_ : str
"""

_ATTRS_DOC = TRAINING_ATTRS_DOC + """    coefs_ : list of float32 ndarray
        Weight matrices, views of the core's parameters. Set on an
        unfitted estimator (with ``intercepts_``, or alone), they are the
        weights partial_fit, or fit with ``warm_start=True``, starts from.
    intercepts_ : list of float32 ndarray
        Bias vectors, views of the core's parameters.
"""


def check_label_types(y, name="y"):
    """scikit-learn's error for labels that mix strings and numbers, which
    an object array would otherwise give as a TypeError from sorting."""
    y = np.asarray(y)
    if y.dtype == object and len({isinstance(v, str) for v in y.ravel()}) > 1:
        raise ValueError(f"Mix of label input types (string and number) in {name}; give labels "
                         f"of one type, e.g. {name}.astype(str)")


class BaseMLPClassifier(ClassifierMixin, BaseMLP):
    """The classifier side of the estimators: labels, class weights,
    probabilities. The network is BaseMLP's unless a class before this
    one in the bases builds another (NeuralNetClassifier)."""

    # --- what differs from the regressor -------------------------------------------

    def _check_extra_params(self):
        cw = self.class_weight
        if not (cw is None or isinstance(cw, dict) or (isinstance(cw, str) and cw == "balanced")):
            raise ValueError(f"The 'class_weight' parameter of {{est}} must be a dict, "
                             f"'balanced' or None. Got {cw!r} instead.")

    def _core_loss(self):
        return ("softmax_cross_entropy" if self._label_binarizer.y_type_ == "multiclass"
                else "binary_cross_entropy")

    def _out_activation(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _stratify_split(self):
        return self.n_outputs_ == 1 if hasattr(self, "n_outputs_") else True

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_label_types(y)
        self._fit_classes(y, incremental)
        return X, y

    def _fit_classes(self, y, incremental):
        """classes_ and the label binarizer from the labels y on a fresh fit;
        on warm_start or partial_fit, the checks that y keeps the classes."""
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
            return
        classes = unique_labels(y)
        if self.warm_start:
            if set(classes) != set(self.classes_):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as in the "
                    f"previous call to fit. Previously got {self.classes_}, `y` has {classes}")
        elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
            raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                             f"{self.classes_}. 'y' has {classes}.")

    def _apply_class_weight(self, y, sw):
        if self.class_weight is None:
            return sw
        if self._label_binarizer.y_type_.startswith("multilabel"):
            raise ValueError("class_weight is not supported for multi-label targets; give "
                             "sample_weight instead")
        if isinstance(self.class_weight, dict):
            unknown = set(self.class_weight) - set(self.classes_.tolist())
            if unknown:
                raise ValueError(f"class_weight has labels {sorted(unknown, key=str)} that are "
                                 f"not among the classes {self.classes_.tolist()}")
            cw = np.array([float(self.class_weight.get(c, 1.0)) for c in self.classes_])
            w = cw[np.searchsorted(self.classes_, y)]
        else:
            w = compute_sample_weight("balanced", y)
        return w if sw is None else sw * w

    def _targets(self, y):
        """The core's targets: class indices for multi-class (softmax
        cross-entropy takes them directly), 0/1 columns otherwise."""
        Y = self._label_binarizer.transform(y)
        self.n_outputs_ = Y.shape[1]
        if self._label_binarizer.y_type_ == "multiclass":
            return (np.argmax(Y, axis=1).astype(np.float32).reshape(-1, 1),
                    Y.shape[1], (1,))
        Y = np.ascontiguousarray(Y, dtype=np.float32)
        return Y, Y.shape[1], (Y.shape[1],)

    def _score_dense(self, X, y, sample_weight):
        """Accuracy on checked float32 X (validation during fit)."""
        return accuracy_score(y, self._predict_dense(X), sample_weight=sample_weight)

    # --- prediction -------------------------------------------------------------

    def _proba_dense(self, X):
        z = self._outputs(X)
        if self.out_activation_ == "softmax":
            return softmax(z, axis=1)
        return expit(z)

    def _predict_dense(self, X):
        p = self._proba_dense(X)
        if self.n_outputs_ == 1:
            p = p.ravel()
        return self._label_binarizer.inverse_transform(p)

    def predict(self, X):
        """Predict classes (an indicator matrix for multi-label targets).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        return self._predict_dense(self._check_fitted_X(X))

    def predict_proba(self, X):
        """Probability of each class, in the order of ``classes_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y_prob : ndarray of shape (n_samples, n_classes)
            float32 for float32 X to a model fitted on float32 X, else float64.
        """
        X, dtype = self._check_fitted_X(X, with_dtype=True)
        p = self._proba_dense(X)
        if self.n_outputs_ == 1:
            p = p.ravel()
            p = np.vstack([1 - p, p]).T
        return p.astype(dtype, copy=False)

    def predict_log_proba(self, X):
        """Logarithm of predict_proba.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        log_y_prob : ndarray of shape (n_samples, n_classes)
        """
        p = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(p, out=p)

    # --- fitting ----------------------------------------------------------------

    def fit(self, X, y, sample_weight=None):
        """Fit the model to X and y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels, or an indicator matrix for multi-label targets.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
        classes : array of shape (n_classes,), default=None
            Every class, needed on the first call only.

        Returns
        -------
        self : object
        """
        first = getattr(self, "classes_", None) is None
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if classes is not None:
            check_label_types(classes, "classes")
            if not first:
                if not np.array_equal(self.classes_, unique_labels(classes)):
                    raise ValueError(f"`classes={classes!r}` is not the same as on last call "
                                     f"to partial_fit, was: {self.classes_!r}")
            else:
                self.classes_ = unique_labels(classes)
                self._label_binarizer = LabelBinarizer()
                if type_of_target(y).startswith("multilabel"):
                    self._label_binarizer.fit(y)
                else:
                    self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPClassifier(BaseMLPClassifier):
    __doc__ = """Multi-layer perceptron classifier: scikit-learn's MLPClassifier on
    dagnet's core, with the same parameters, attributes and results, faster,
    plus dropout, normalisation, class weights, more activations, early
    stopping on the validation loss and a thread count.
""" + FLOAT32_DOC + """
    Parameters
    ----------""" + _COMMON_DOC + """    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes, multiplied into the sample weights (dagnet's
        addition; not for multi-label targets).

    Attributes
    ----------
    classes_ : ndarray or list of ndarray""" + _ATTRS_DOC + """
    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from dagnet import MLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPClassifier(random_state=0).fit(X / 16, y)
    >>> clf.score(X / 16, y) > 0.95
    True
    >>> clf.predict_proba(X[:2] / 16).shape
    (2, 10)
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dropout=0.0, normalization=None, class_weight=None,
                 early_stopping_metric="score", schedule_adam=False, n_threads=None):
        store_params(self, locals())


class BaseMLPRegressor(RegressorMixin, BaseMLP):
    """The regressor side of the estimators: targets, the squared error and
    Poisson losses. The network is BaseMLP's unless a class before this
    one in the bases builds another (NeuralNetRegressor)."""

    def _check_extra_params(self):
        if self.loss not in ("squared_error", "poisson"):
            raise ValueError(f"The 'loss' parameter of {{est}} must be one of 'poisson', "
                             f"'squared_error'. Got {self.loss!r} instead.")

    def _core_loss(self):
        return "poisson" if self.loss == "poisson" else "squared_error"

    def _out_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _stratify_split(self):
        return False

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             y_numeric=True, dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("Some value(s) of y are negative which is not allowed for "
                             "Poisson regression.")
        return X, y

    def _apply_class_weight(self, y, sw):
        return sw

    def _targets(self, y):
        Y = check_float32_range(np.asarray(y, dtype=np.float64), "y")
        Y = Y.reshape(-1, 1) if Y.ndim == 1 else Y
        self.n_outputs_ = Y.shape[1]
        return np.ascontiguousarray(Y, dtype=np.float32), Y.shape[1], (Y.shape[1],)

    def _report_loss(self, data_loss, reg_loss):
        """scikit-learn's reported loss: the squared error averaged over the
        outputs (the core sums them, as the gradient does)."""
        if self.loss == "poisson":
            return data_loss + reg_loss
        return data_loss / self.n_outputs_ + reg_loss

    def _loss_constant(self, T, W):
        """The Poisson deviance's term sum_j y log y - y, which the core
        leaves out (it has no gradient), as a weighted mean over samples."""
        if self.loss != "poisson":
            return 0.0
        Y = T.astype(np.float64)
        c = (xlogy(Y, Y) - Y).sum(axis=1)
        return float(np.average(c, weights=None if W is None else W.ravel()))

    def _score_dense(self, X, y, sample_weight):
        """R^2 on checked float32 X (validation during fit); NaN where the
        predictions are not finite, as scikit-learn scores them."""
        pred = self._predict_dense(X)
        if not np.isfinite(pred).all():
            return np.nan
        return r2_score(y, pred, sample_weight=sample_weight)

    def _predict_dense(self, X):
        out = self._outputs(X)
        if self.loss == "poisson":
            out = np.exp(out)
        return out.ravel() if out.shape[1] == 1 else out

    def predict(self, X):
        """Predict with the fitted network.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            float32 for float32 X to a model fitted on float32 X, else float64.
        """
        X, dtype = self._check_fitted_X(X, with_dtype=True)
        return self._predict_dense(X).astype(dtype, copy=False)

    def fit(self, X, y, sample_weight=None):
        """Fit the model to X and y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)


class MLPRegressor(BaseMLPRegressor):
    __doc__ = """Multi-layer perceptron regressor: scikit-learn's MLPRegressor on
    dagnet's core, with the same parameters, attributes and results, faster,
    plus dropout, normalisation, more activations, early stopping on the
    validation loss and a thread count.
""" + FLOAT32_DOC + """
    Parameters
    ----------
    loss : {'squared_error', 'poisson'}, default='squared_error'
        Half the squared error, or half the Poisson deviance with a log link
        (the output is exp of the last layer; y must be >= 0).""" + _COMMON_DOC + """
    Attributes
    ----------""" + _ATTRS_DOC + """
    Examples
    --------
    >>> import numpy as np
    >>> from dagnet import MLPRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((500, 3))
    >>> y = X[:, 0] - 2 * X[:, 1] ** 2
    >>> reg = MLPRegressor(hidden_layer_sizes=(64,), max_iter=500, random_state=0).fit(X, y)
    >>> reg.score(X, y) > 0.9
    True
    """

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dropout=0.0, normalization=None, early_stopping_metric="score",
                 schedule_adam=False, n_threads=None):
        store_params(self, locals())
