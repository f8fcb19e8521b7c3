"""NeuralNetClassifier and NeuralNetRegressor: any dagnet.nn network under
scikit-learn's estimator API, trained by the MLPs' machinery.

The network is the layers given (a list, a function returning one, or a
functional ``dagnet.nn.Model`` whose output is the features) followed by the
output layer the estimator adds, a Dense layer named 'output' whose
activation is folded into the loss as in the MLPs. Rows of X are reshaped to
``input_shape`` (images (C, H, W) in a Pipeline), or X comes as (n, C, H, W).
The estimator builds from copies of the layers, so fit leaves them as given
and one layer list serves several estimators; the fitted copies, with their
weights, are ``layers_``. Giving ``layers_[:-1]`` of a fitted estimator to a
new one, with some of them in ``freeze``, is transfer learning: a network
pretrained on a related task keeps its features and a new head learns the
task at hand (seed 000, section 6.5; seed 002, section 5 for the
convolutional features).
"""

import copy
import numbers

import numpy as np
from sklearn.utils.validation import check_is_fitted

from dagnet.neural_network._base import LBFGS_NEEDS_DETERMINISTIC, store_params
from dagnet.neural_network._mlp import (FLOAT32_DOC, TRAINING_ATTRS_DOC, TRAINING_DOC,
                                        BaseMLPClassifier, BaseMLPRegressor)
from dagnet.nn.base import Input, InputLayer, Layer, node_shape
from dagnet.nn.convolution import Conv2D, MaxPool2D
from dagnet.nn.dense import Dense, Dropout
from dagnet.nn.normalization import BatchNorm
from dagnet.nn.reshaping import Flatten
from dagnet.nn.augment import as_augment
from dagnet.nn.model import Model, Sequential

HEAD = "output"  # the name of the output layer the estimator adds
# the output layer's initialisation: scikit-learn's MLP (glorot uniform, factor 6)
_SKLEARN_INIT = dict(kernel_initializer="sklearn", kernel_scale=6.0,
                     bias_initializer="sklearn", bias_scale=6.0)


def default_layers(sample_shape):
    """The hidden layers used when ``layers=None``: for images (C, H, W) a
    small convolutional network (seed 002, section 5), two 3x3 'same'
    convolutions of 16 and 32 ReLU filters with 2x2 max pooling between them
    (left out for images under 2x2), flattened; for flat
    rows one Dense layer of 100 ReLU units initialised as scikit-learn's MLP
    (so the network is MLPClassifier's default); other shapes are flattened
    first."""
    if len(sample_shape) == 3:
        _, height, width = sample_shape
        layers = [Conv2D(16, 3, padding="same", activation="relu", name="conv_0")]
        if height >= 2 and width >= 2:
            layers.append(MaxPool2D(2, name="pool_0"))
        return layers + [Conv2D(32, 3, padding="same", activation="relu", name="conv_1"),
                         Flatten(name="flatten")]
    dense = [Dense(100, activation="relu", name="dense_0", **_SKLEARN_INIT)]
    return dense if len(sample_shape) == 1 else [Flatten(name="flatten")] + dense


def _layer_type_error(what):
    return TypeError(f"layers must be a list of dagnet.nn layers (Dense, Conv2D, ...), a "
                     f"function returning one, or a dagnet.nn Model whose output is the "
                     f"features; got {what}")


class _NeuralNet:
    """The network of NeuralNetClassifier and NeuralNetRegressor: placed
    before BaseMLPClassifier / BaseMLPRegressor in the bases, it replaces
    BaseMLP's dense network and keeps all of its training."""

    _GRAPH_VIEWS = ("model_", "layers_")
    _WEIGHT_ATTRS = ()  # the weights come with the layers (set_weights, layers_)

    # --- the parameters ----------------------------------------------------------

    def _check_network_params(self):
        """input_shape and freeze (layers is checked when the network is
        built, since a function given there is called then)."""
        shape = self.input_shape
        if shape is not None:
            ok = isinstance(shape, (tuple, list)) and len(shape) > 0 and all(
                isinstance(d, numbers.Integral) and not isinstance(d, bool) and
                (d >= 1 or d == -1) for d in shape)
            if not ok or list(shape).count(-1) > 1:
                raise ValueError(f"The 'input_shape' parameter of {{est}} must be None or a "
                                 f"tuple of ints >= 1 (one of them may be -1), e.g. (1, 8, 8). "
                                 f"Got {shape!r} instead.")
        freeze = self.freeze
        names = [freeze] if isinstance(freeze, str) else freeze
        if names is not None and not (isinstance(names, (list, tuple)) and
                                      all(isinstance(n, str) for n in names)):
            raise ValueError(f"The 'freeze' parameter of {{est}} must be None, a layer name or a "
                             f"list of layer names. Got {freeze!r} instead.")
        try:
            augment = as_augment(self.augment)
            if augment is not None:
                augment.settings()
        except (TypeError, ValueError) as e:
            raise ValueError(f"The 'augment' parameter of {{est}} must be None, a "
                             f"dagnet.nn.Augment or a dict of its settings: {e}") from None
        if augment is not None and self.solver == "lbfgs":
            raise ValueError("augment draws new images every epoch, which the full-batch "
                             "solver 'lbfgs' has no epochs for; use solver='adam' or 'sgd'")
        return list(names or [])

    def _declared_shape(self):
        """The sample shape asked for: input_shape, else the shape of a Model's
        input, else None (the data's)."""
        if self.input_shape is not None:
            return tuple(int(d) for d in self.input_shape)
        if isinstance(self.layers, Model) and self.layers.inputs:
            return self.layers.inputs[0].layer.shape
        return None

    # --- data --------------------------------------------------------------------

    @staticmethod
    def _rows(X):
        """X of more than 2 dimensions as rows (n, features), and the shape of
        its samples (None for other X)."""
        if isinstance(X, (list, tuple)):
            try:
                X = np.asarray(X)
            except ValueError:
                return X, None
        if isinstance(X, np.ndarray) and X.ndim > 2:
            return X.reshape(X.shape[0], -1), X.shape[1:]
        return X, None

    def _sample_shape(self, n_features, data_shape, reset):
        """The shape the network reads each row as."""
        if not reset:
            shape = self.input_shape_
        else:
            shape = self._declared_shape()
            if shape is None:
                shape = data_shape or (n_features,)
            elif -1 in shape:
                known = int(np.prod([d for d in shape if d != -1]))
                if n_features % known:
                    raise ValueError(f"X has {n_features} features per sample, which cannot be "
                                     f"reshaped to input_shape {shape}: give a multiple of "
                                     f"{known} features per sample, or change input_shape")
                shape = tuple(n_features // known if d == -1 else d for d in shape)
        if int(np.prod(shape)) != n_features:
            raise ValueError(f"X has {n_features} features per sample, which cannot be "
                             f"reshaped to input_shape {tuple(shape)}: give rows of "
                             f"{int(np.prod(shape))} features, or X of shape (n_samples, "
                             f"{', '.join(map(str, shape))}), or change input_shape")
        if data_shape is not None and tuple(data_shape) != tuple(shape):
            raise ValueError(f"X has samples of shape {tuple(data_shape)}; the network reads "
                             f"{tuple(shape)} (input_shape): reshape X or change input_shape")
        return tuple(int(d) for d in shape)

    def _as_samples(self, X, data_shape, reset):
        """Validated X (rows) as samples of the network's input shape, in its
        own dtype (the estimator makes the core's float32 copy after)."""
        if hasattr(X, "toarray"):
            X = X.toarray()
        shape = self._sample_shape(X.shape[1], data_shape, reset)
        if reset:
            self.input_shape_ = shape
        return X.reshape((X.shape[0],) + shape)

    def _validate_input(self, X, y, incremental, reset):
        X, data_shape = self._rows(X)
        X, y = super()._validate_input(X, y, incremental, reset)
        return self._as_samples(X, data_shape, reset), y

    def _validate_X(self, X, reset):
        X, data_shape = self._rows(X)
        return self._as_samples(super()._validate_X(X, reset), data_shape, reset)

    # --- the network -------------------------------------------------------------

    def _template(self, sample_shape):
        """Copies of the layers to build from: ("layers", list) or ("model",
        (input node, features node)) of a functional Model."""
        spec = self.layers
        if spec is None:
            return "layers", default_layers(sample_shape)
        if callable(spec) and not isinstance(spec, (Layer, Model)):
            spec = spec()
        if isinstance(spec, Sequential):
            spec = spec.layers
        if isinstance(spec, Model):
            if len(spec.inputs) != 1 or len(spec.outputs) != 1:
                raise ValueError(f"a Model given as layers needs one input and one output; it "
                                 f"has {len(spec.inputs)} and {len(spec.outputs)}")
            if spec.inputs[0].layer.shape != tuple(sample_shape):
                raise ValueError(f"the Model's input has shape {spec.inputs[0].layer.shape} but "
                                 f"the samples have shape {tuple(sample_shape)}: give "
                                 f"input_shape={spec.inputs[0].layer.shape} or reshape X")
            return "model", copy.deepcopy((spec.inputs[0], spec.outputs[0]))
        if not isinstance(spec, (list, tuple)):
            raise _layer_type_error(type(spec).__name__)
        for i, layer in enumerate(spec):
            if not isinstance(layer, Layer) or isinstance(layer, InputLayer):
                raise _layer_type_error(f"{type(layer).__name__} at layers[{i}]")
        return "layers", copy.deepcopy(list(spec))

    @staticmethod
    def _hidden_layers(template):
        kind, spec = template
        if kind == "layers":
            return list(spec)
        return Model(*spec)._layer_list()

    def _architecture(self, freeze, sample_shape, n_out, target_shape, seed):
        template = self._template(sample_shape)
        layers = self._hidden_layers(template)
        names = [layer.name for layer in layers]
        repeated = sorted({n for n in names if names.count(n) > 1} | ({HEAD} & set(names)))
        if repeated:
            raise ValueError(f"layer names must be unique and not {HEAD!r}, the name of the "
                             f"output layer the estimator adds; rename {repeated} (of a fitted "
                             f"estimator give layers_[:-1], without its output layer)")
        missing = [n for n in freeze if n not in names]
        if missing:
            raise ValueError(f"freeze names layers {missing} that the network does not have; "
                             f"its layers are {names}")
        for layer in layers:
            if layer.name in freeze:
                layer.trainable = False
        if self.solver == "lbfgs" and any(isinstance(layer, (Dropout, BatchNorm)) and
                                          layer.trainable for layer in layers):
            raise ValueError(LBFGS_NEEDS_DETERMINISTIC + ", or freeze those layers")
        return dict(template=template, sample_shape=tuple(sample_shape), n_out=n_out,
                    loss=self._core_loss(), target_shape=tuple(target_shape), seed=int(seed))

    def _make_graph(self, arch):
        """Build model_ (the layers, a Flatten where the features are not
        flat, the output layer) from copies of the template; returns its
        training graph."""
        kind, spec = copy.deepcopy(arch["template"])
        if kind == "layers":
            x = h = Input(arch["sample_shape"], name="X")
            for layer in spec:
                h = layer(h)
        else:
            x, h = spec
        if len(node_shape(h)) != 1:
            h = Flatten(name="flatten_features")(h)
        out = Dense(arch["n_out"], name=HEAD, **_SKLEARN_INIT)(h)
        model = Model(x, out)
        model._seed = arch["seed"]
        model._graph = model._emit(arch["loss"], arch["target_shape"])
        augment = as_augment(self.augment)
        if augment is not None:
            # the images of every training epoch, transformed in the C loop
            model._graph.set_augment(0, **augment.settings())
        self.model_ = model
        return model._graph

    def _bind_views(self):
        self.model_._graph = self._graph  # the estimator's graph, which counts its runs
        self.layers_ = self.model_._layer_list()
        self.n_layers_ = len(self.layers_) + 1

    def _sync_params(self):
        """The weights live in model_'s graph only."""

    def _check_same_network(self, freeze, sample_shape, n_out):
        if self._arch["sample_shape"] != tuple(sample_shape) or self._arch["n_out"] != n_out:
            raise ValueError(f"warm_start or partial_fit needs the same network: it reads "
                             f"samples of shape {self._arch['sample_shape']} and has "
                             f"{self._arch['n_out']} outputs, now {tuple(sample_shape)} and "
                             f"{n_out}")

    def get_layer(self, name):
        """The fitted layer called ``name`` (the output layer is 'output');
        its get_weights() are the fitted weights."""
        check_is_fitted(self)
        return self.model_.get_layer(name)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags


_NETWORK_DOC = """
    layers : list of dagnet.nn layers, callable, dagnet.nn Model or None, default=None
        The hidden layers; the estimator adds the output layer. A callable
        is called without arguments at fit and returns a list or a Model; a
        functional Model's output is the features (a Flatten is added where
        they are not flat). None: ``default_layers`` of the sample shape, a
        small convolutional network for images (C, H, W), one Dense layer of
        100 ReLU units for rows. fit works on copies; layers that carry
        weights (set_weights, or ``layers_`` of a fitted estimator) start
        from them.
    input_shape : tuple of int or None, default=None
        The shape each row of X is reshaped to, e.g. (1, 8, 8); one entry
        may be -1. None: the samples' own shape (rows, or X of shape
        (n_samples, C, H, W)), or the input shape of a Model given as layers.
    freeze : list of str or None, default=None
        Names of layers whose weights stay as they are while the rest
        trains (the layers of a pretrained network under a new head; they
        run as at inference, see dagnet.nn.Layer).
    augment : dagnet.nn.Augment, dict or None, default=None
        Data augmentation for image input (C, H, W): random shifts, flips
        and rotations drawn per sample and epoch in the C training loop,
        e.g. ``dict(shift=1)`` (seed 000, section 6.6). Predictions and
        validation see the images as they are."""

_NN_ATTRS_DOC = """    model_ : dagnet.nn.Model
        The fitted network, output layer included, on the core's weights.
    layers_ : list of dagnet.nn layers
        model_'s layers, the output layer last; get_weights() gives the
        fitted weights, and ``layers_[:-1]`` starts another estimator's
        network from them.
    input_shape_ : tuple of int
        The shape the network reads each sample as.
"""

_RECIPE = """
    Transfer learning (seed 000, section 6.5): fit on one task, keep the
    convolutional layers, freeze them, and train a new output layer on
    another:

    >>> first = NeuralNetClassifier(input_shape=(1, 8, 8), max_iter=5, random_state=0)
    >>> first = first.fit(X[y < 5], y[y < 5])
    >>> conv = first.layers_[:-1]
    >>> [layer.name for layer in conv]
    ['conv_0', 'pool_0', 'conv_1', 'flatten']
    >>> second = NeuralNetClassifier(conv, input_shape=(1, 8, 8), freeze=["conv_0", "conv_1"],
    ...                              max_iter=5, random_state=0).fit(X[y >= 5], y[y >= 5])
    >>> all((a == b).all() for a, b in zip(second.get_layer("conv_1").get_weights(),
    ...                                    conv[2].get_weights()))
    True
    """


class NeuralNetClassifier(_NeuralNet, BaseMLPClassifier):
    __doc__ = """A classifier of any dagnet.nn network (convolutional ones on
    images too), trained as MLPClassifier is, with its parameters and
    attributes: the network is ``layers`` followed by an output layer of one
    unit per class with softmax cross-entropy (one logistic unit per label
    for binary and multi-label targets).
""" + FLOAT32_DOC + """
    Parameters
    ----------""" + _NETWORK_DOC + TRAINING_DOC + """\
    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes, multiplied into the sample weights.

    Attributes
    ----------
    classes_ : ndarray or list of ndarray
""" + _NN_ATTRS_DOC + TRAINING_ATTRS_DOC + """
    Examples
    --------
    A small convolutional network on the digits as 1x8x8 images:

    >>> from sklearn.datasets import load_digits
    >>> from dagnet import NeuralNetClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> clf = NeuralNetClassifier(input_shape=(1, 8, 8), max_iter=10, random_state=0)
    >>> clf.fit(X, y).score(X, y) > 0.9
    True
    >>> from dagnet.nn import Conv2D, Flatten
    >>> layers = [Conv2D(8, 3, activation="relu"), Flatten()]
    >>> NeuralNetClassifier(layers, input_shape=(1, 8, 8), max_iter=3).fit(X, y).n_layers_
    4
    """ + _RECIPE

    def __init__(self, layers=None, *, input_shape=None, freeze=None, augment=None,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 class_weight=None, early_stopping_metric="score", schedule_adam=False,
                 n_threads=None):
        store_params(self, locals())


class NeuralNetRegressor(_NeuralNet, BaseMLPRegressor):
    __doc__ = """A regressor of any dagnet.nn network, trained as MLPRegressor
    is, with its parameters and attributes: the network is ``layers``
    followed by an output layer of one unit per target.
""" + FLOAT32_DOC + """
    Parameters
    ----------""" + _NETWORK_DOC + """
    loss : {'squared_error', 'poisson'}, default='squared_error'
        Half the squared error, or half the Poisson deviance with a log link
        (the output is exp of the last layer; y must be >= 0).""" + TRAINING_DOC + """
    Attributes
    ----------
""" + _NN_ATTRS_DOC + TRAINING_ATTRS_DOC + """
    Examples
    --------
    >>> import numpy as np
    >>> from dagnet import NeuralNetRegressor
    >>> from dagnet.nn import Dense
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((500, 3))
    >>> y = np.c_[X[:, 0] - 2 * X[:, 1] ** 2, X[:, 2]]
    >>> reg = NeuralNetRegressor([Dense(64, activation="tanh")], learning_rate_init=0.01,
    ...                          random_state=0)
    >>> reg.fit(X, y).score(X, y) > 0.9
    True
    """

    def __init__(self, layers=None, *, loss="squared_error", input_shape=None, freeze=None,
                 augment=None, solver="adam", alpha=0.0001, batch_size="auto",
                 learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 early_stopping_metric="score", schedule_adam=False, n_threads=None):
        store_params(self, locals())
