"""Deep belief networks (seed 000, 9.3): a stack of RBMs trained greedily
layer by layer, and a classifier that fine-tunes the pre-trained stack as an
MLP (seed 002, section 9)."""

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from dagnet import _core
from dagnet._validation import check_float32_range
from dagnet.neural_network._base import store_params
from dagnet.neural_network._mlp import MLPClassifier
from dagnet.neural_network._rbm import (BernoulliRBM, GaussianBernoulliRBM, _check_random_state,
                                        _diverged, _positive_int, _rollback)

_STREAM_DOWN = 0x444F574E  # "DOWN": the down pass of DBN.sample


def _layer_sizes(sizes):
    sizes = [sizes] if not hasattr(sizes, "__iter__") else list(sizes)
    if not sizes:
        raise ValueError("hidden_layer_sizes must name at least one layer")
    for s in sizes:
        _positive_int("each of hidden_layer_sizes", s)
    return sizes


class DBN(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Deep belief network: RBMs stacked and trained greedily, each on the
    hidden activation probabilities of the one below (seed 000, 9.3).

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(256, 128)
        Hidden units of each RBM, bottom first.
    visible : {'bernoulli', 'gaussian'}, default='bernoulli'
        Units of the bottom RBM's visible layer ('gaussian' for standardised
        real data); the layers above are Bernoulli.
    learning_rate, batch_size, n_iter, method, k, n_chains, momentum, weight_decay
        The training of every RBM (see BernoulliRBM).
    verbose : int, default=0
    random_state : int, RandomState instance or None, default=None
    n_threads : int or None, default=None

    Attributes
    ----------
    rbms_ : list of BernoulliRBM (the first a GaussianBernoulliRBM for
        visible='gaussian')
    n_features_in_ : int

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from dagnet import DBN
    >>> X = load_digits().data / 16
    >>> dbn = DBN(hidden_layer_sizes=(32, 16), n_iter=2, random_state=0).fit(X)
    >>> dbn.transform(X).shape, dbn.sample(2, n_steps=10).shape
    ((1797, 16), (2, 64))
    """

    def __init__(self, hidden_layer_sizes=(256, 128), *, visible="bernoulli", learning_rate=0.1,
                 batch_size=10, n_iter=10, method="pcd", k=1, n_chains=None, momentum=0.0,
                 weight_decay=0.0, verbose=0, random_state=None, n_threads=None):
        store_params(self, locals())

    def _check_params(self):
        _layer_sizes(self.hidden_layer_sizes)
        if self.visible not in ("bernoulli", "gaussian"):
            raise ValueError(f"visible must be 'bernoulli' or 'gaussian', got {self.visible!r}")
        _check_random_state(self.random_state)

    def _validate(self, X, reset):
        """X validated (dense or CSR, float64 or float32), its values within
        float32's range, which the RBMs compute in."""
        X = validate_data(self, X, reset=reset, accept_sparse="csr",
                          dtype=(np.float64, np.float32))
        return check_float32_range(X, "X")

    @property
    def _n_features_out(self):
        """Output features of transform, for get_feature_names_out."""
        return self.rbms_[-1].components_.shape[0]

    def _make_rbms(self):
        rng = check_random_state(self.random_state)
        rbms = []
        for i, units in enumerate(_layer_sizes(self.hidden_layer_sizes)):
            cls = GaussianBernoulliRBM if (i == 0 and self.visible == "gaussian") else BernoulliRBM
            lr = self.learning_rate * (0.1 if cls is GaussianBernoulliRBM else 1.0)
            rbms.append(cls(n_components=units, learning_rate=lr, batch_size=self.batch_size,
                            n_iter=self.n_iter, verbose=self.verbose,
                            random_state=int(rng.randint(0, 2**31 - 1)), method=self.method,
                            k=self.k, n_chains=self.n_chains, momentum=self.momentum,
                            weight_decay=self.weight_decay, n_threads=self.n_threads))
        return rbms

    def fit(self, X, y=None):
        """Train the RBMs bottom up, each on the activations of the one below.

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
            When the training of an RBM diverges. A fit that raises leaves
            the network as it was before the call.
        """
        return self._fit_weighted(X, None)

    def _fit_weighted(self, X, sample_weight):
        """fit, with every RBM's statistics weighted by sample_weight (see
        BernoulliRBM._fit_weighted)."""
        with _rollback(self):
            self._check_params()
            X = self._validate(X, reset=True)
            self._start()
            self._train_stack(X, lambda rbm, h: rbm._fit_weighted(h, sample_weight))
        return self

    def _start(self):
        self.rbms_ = self._make_rbms()
        self._seed = self.rbms_[0].random_state
        self._draws = 0

    def _train_stack(self, X, train):
        """Bottom up, train(rbm, h) each RBM on the activations h of the one
        below; a divergence is reported with the layer and the network's
        own parameters."""
        h = X
        for i, rbm in enumerate(self.rbms_):
            try:
                h = train(rbm, h).transform(h)
            except FloatingPointError as e:
                raise _diverged(f"the training of RBM {i} (0 is the bottom)",
                                "the network is left as it was before the call",
                                "learning_rate", self.learning_rate,
                                self.visible == "gaussian" and i == 0) from e

    def partial_fit(self, X, y=None):
        """One update of every RBM on X (a single minibatch), bottom up.

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
            When an update diverges. A call that raises, for this or any
            other reason, leaves the network exactly as it was.
        """
        with _rollback(self):
            self._check_params()
            first = not hasattr(self, "rbms_")
            X = self._validate(X, reset=first)
            if first:
                self._start()
            self._train_stack(X, lambda rbm, h: rbm.partial_fit(h))
        return self

    def transform(self, X):
        """Activation probabilities of the top hidden layer, computed in
        float32; returned in X's floating dtype (float64 for integers).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        h : ndarray of shape (n_samples, hidden_layer_sizes[-1])
        """
        check_is_fitted(self)
        h = self._validate(X, reset=False)
        for rbm in self.rbms_:
            h = rbm.transform(h)
        return h

    def sample(self, n_samples=1, n_steps=1000):
        """Samples from the network: ``n_steps`` of Gibbs sampling in the top
        RBM, then down the stack, each layer drawn from p(v | h) of the RBM
        below it (seed 000, 9.3). Returns the bottom layer's means (pixel
        intensities for images) given the sampled first hidden layer.

        Parameters
        ----------
        n_samples : int, default=1
        n_steps : int, default=1000

        Returns
        -------
        v : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        if len(self.rbms_) == 1:
            return self.rbms_[0].sample(n_samples, n_steps, mean=True)
        h = self.rbms_[-1].sample(n_samples, n_steps).astype(np.float32)
        for rbm in reversed(self.rbms_[:-1]):
            params = (rbm.components_, rbm.intercept_visible_, rbm.intercept_hidden_)
            mean = _core.rbm_visible_means(*params, h, visible=rbm._visible)
            if rbm is self.rbms_[0]:
                break
            h = _core.rbm_sample_bernoulli(mean, seed=self._seed, stream=_STREAM_DOWN,
                                           offset=self._draws)
            self._draws += mean.size
        return mean.astype(np.float64)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class DBNClassifier(MLPClassifier):
    """A deep belief network fine-tuned as a classifier: the stack of RBMs
    is pre-trained on X without labels, its weights and hidden biases become
    the hidden layers of an MLP (seed 002, section 9), and a softmax (or
    logistic) output layer is added; then the whole network trains as
    MLPClassifier does, with every option of it.

    Parameters
    ----------
    hidden_layer_sizes : sequence of int, default=(256,)
        The RBMs' hidden units, which are the MLP's hidden layers.
    activation : str, default='logistic'
        The RBMs' hidden units are logistic; keep it so the pre-trained
        weights mean what they meant.
    pretrain_learning_rate, pretrain_batch_size, pretrain_n_iter : float, int, int
        Training of each RBM (defaults 0.1, 10, 10).
    pretrain_method : {'pcd', 'cd'}, default='pcd'
    pretrain_k : int, default=1
    **MLPClassifier's other parameters**, with the same meanings.

    Attributes
    ----------
    dbn_ : DBN
        The pre-trained stack.
    The attributes of MLPClassifier.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from dagnet import DBNClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = DBNClassifier(hidden_layer_sizes=(64,), pretrain_n_iter=2, max_iter=50,
    ...                     random_state=0).fit(X / 16, y)
    >>> clf.score(X / 16, y) > 0.9
    True
    """

    def __init__(self, hidden_layer_sizes=(256,), activation="logistic", *,
                 pretrain_learning_rate=0.1, pretrain_batch_size=10, pretrain_n_iter=10,
                 pretrain_method="pcd", pretrain_k=1, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001,
                 power_t=0.5, max_iter=200, shuffle=True, random_state=None, tol=1e-4,
                 verbose=False, warm_start=False, momentum=0.9, nesterovs_momentum=True,
                 early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000, dropout=0.0,
                 normalization=None, class_weight=None, early_stopping_metric="score",
                 schedule_adam=False, n_threads=None):
        store_params(self, locals())

    def _fit(self, X, y, sample_weight=None, incremental=False):
        self._pretrain = (X, sample_weight)
        try:
            return super()._fit(X, y, sample_weight=sample_weight, incremental=incremental)
        finally:
            del self._pretrain

    def _initialize(self, hidden, n_features, n_out, tshape):
        super()._initialize(hidden, n_features, n_out, tshape)
        if self.normalization is not None:
            raise ValueError("DBNClassifier copies the RBMs into plain dense layers; use "
                             "normalization=None")
        self.dbn_ = DBN(hidden_layer_sizes=hidden, learning_rate=self.pretrain_learning_rate,
                        batch_size=self.pretrain_batch_size, n_iter=self.pretrain_n_iter,
                        method=self.pretrain_method, k=self.pretrain_k,
                        random_state=self._arch["seed"], n_threads=self.n_threads)
        try:
            self.dbn_._fit_weighted(*self._pretrain)
        except FloatingPointError as e:
            raise _diverged("the RBM pre-training", "the network is left untrained",
                            "pretrain_learning_rate", self.pretrain_learning_rate, False) from e
        # seed 002, 9: RBM i's W (hidden, visible) and hidden bias become
        # dense layer i's weight (inputs, units) = W^T and its bias
        for coef, intercept, rbm in zip(self.coefs_, self.intercepts_, self.dbn_.rbms_):
            coef[...] = rbm.components_.T
            intercept[...] = rbm.intercept_hidden_
