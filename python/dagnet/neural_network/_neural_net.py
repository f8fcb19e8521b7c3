"""NeuralNetClassifier and NeuralNetRegressor: any dagnet.nn network under
scikit-learn's estimator API, trained by the MLPs' machinery.

The network is the layers given (a list, a function returning one, or a
functional ``dagnet.nn.Model`` whose output is the features) followed by the
output layer the estimator adds, a Dense layer named 'output' whose
activation is folded into the loss as in the MLPs. Rows of X are reshaped to
``input_shape`` (images (C, H, W) or sequences (T, F) in a Pipeline), or X
comes as (n, C, H, W), (n, T, F), or (n, T) token ids for an Embedding.
The estimator builds from copies of the layers, so fit leaves them as given
and one layer list serves several estimators; the fitted copies, with their
weights, are ``layers_``. Giving ``layers_[:-1]`` of a fitted estimator to a
new one, with some of them in ``freeze``, is transfer learning: a network
pretrained on a related task keeps its features and a new head learns the
task at hand (seed 000, section 6.5; seed 002, section 5 for the
convolutional features).

Sequences: targets are per sequence (y (n,) or (n, k), the output layer
reading the flattened features), or per step when the features are a
sequence (T, units) (a recurrent layer with ``return_sequences=True`` last)
and y has T columns: labels (n, T) for the classifier (sequence labelling),
(n, T) or (n, T, k) for the regressor; the output layer then acts on each
step. The padded steps are those the network's mask marks (a ``Masking``
layer, or an ``Embedding`` with ``mask_zero=True``; the classifier also
skips steps labelled -1): their targets are never read, they add exactly
nothing to the loss and its gradient (the classifier gives the core the
label -1 there, which it skips; the regressor's loss reads the prediction
and the target times the mask), and they are left out of the scores.
"""

import copy
import numbers

import numpy as np
from scipy.special import softmax
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils import check_array, check_consistent_length
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted

from dagnet._threads import quiet_blas
from dagnet._validation import check_float32_range, dense_float32
from dagnet.neural_network._base import LBFGS_NEEDS_DETERMINISTIC, BaseMLP, store_params
from dagnet.neural_network._sequences import (HEAD, _check_token_ids, _feature_nodes,
                                              _inspect_network, _masked_loss, _shape_of,
                                              _token_layers, _weights_per_step)
from dagnet.neural_network._mlp import (FLOAT32_DOC, TRAINING_ATTRS_DOC, TRAINING_DOC,
                                        BaseMLPClassifier, BaseMLPRegressor, check_label_types)
from dagnet.nn.base import InputLayer, Layer, node_shape
from dagnet.nn.convolution import Conv2D, MaxPool2D
from dagnet.nn.dense import Dense, Dropout
from dagnet.nn.normalization import BatchNorm
from dagnet.nn.reshaping import Flatten
from dagnet.nn.augment import as_augment
from dagnet.nn.model import Model, Sequential

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
        own dtype (the estimator makes the core's float32 copy after), with
        the token ids of an Embedding reading X checked. A fit (reset) makes
        the copies of the layers it builds from here (see _fit_network)."""
        if hasattr(X, "toarray"):
            X = X.toarray()
        shape = self._sample_shape(X.shape[1], data_shape, reset)
        if reset:
            self.input_shape_ = shape
            template = self._fit_network(shape)["template"]
        else:
            template = self._arch["template"]
        X = X.reshape((X.shape[0],) + shape)
        _check_token_ids(X, _token_layers(template))
        return X

    def _fit_network(self, shape):
        """What this fit builds the network from, made once per fit: the
        template (copies of the layers) and, once asked for, the features'
        shape and mask graph (_inspect_network); _architecture takes it."""
        net = self.__dict__.get("_fit_net")
        if net is None or net["shape"] != shape:
            net = self._fit_net = {"shape": shape, "template": self._template(shape)}
        return net

    def _validate_input(self, X, y, incremental, reset):
        X, data_shape = self._rows(X)
        if reset:  # nothing from an earlier fit
            self.__dict__.pop("_fit_net", None)
            self._steps = None
        if len(_shape_of(y)) >= 2 or (not reset and self._fitted_steps() is not None):
            samples = self._as_samples(BaseMLP._validate_X(self, X, reset), data_shape, reset)
            steps = self._target_steps(y, reset)
            if steps is not None:
                if reset:
                    self._steps = steps
                return samples, self._validate_step_target(samples, y, incremental, reset)
            # targets per sequence with several columns: the MLPs' checks
        X, y = super()._validate_input(X, y, incremental, reset)
        return self._as_samples(X, data_shape, reset), y

    def _validate_X(self, X, reset):
        X, data_shape = self._rows(X)
        return self._as_samples(super()._validate_X(X, reset), data_shape, reset)

    # --- per-step targets ----------------------------------------------------------

    def _fitted_steps(self):
        """T for a model fitted on per-step targets, else None."""
        arch = getattr(self, "_arch", None)
        return arch.get("steps") if arch is not None and hasattr(self, "_graph") else None

    def _target_steps(self, y, reset):
        """T when y holds per-step targets for sequences of T steps, None when
        it holds per-sequence ones; ValueError for a y that fits neither."""
        shape = _shape_of(y)
        if not reset:
            steps = self._fitted_steps()
            if steps is None:
                if len(shape) > 2:
                    raise ValueError(f"y has shape {shape}, but the estimator was fitted on "
                                     f"targets per sequence; fit it again (warm_start=False) "
                                     f"for per-step targets")
                return None
            if not (2 <= len(shape) <= self._STEP_NDIM and shape[1] == steps):
                raise ValueError(f"y has shape {shape}, but the estimator was fitted on "
                                 f"per-step targets of {steps} steps, {self._step_shapes(steps)}")
            return steps
        net = self._fit_network(self.input_shape_)
        if "features" not in net:
            net["features"], net["mask_graph"] = _inspect_network(net["template"], net["shape"])
        features = net["features"]
        steps = features[0] if len(features) == 2 else None
        if steps is not None and 2 <= len(shape) <= self._STEP_NDIM and shape[1] == steps:
            return steps
        if len(shape) > 2 or self._looks_per_step(y):
            raise ValueError(f"y has shape {shape}: per-step targets "
                             f"{self._step_shapes('T')} need a network whose features (the "
                             f"output of its layers, before the output layer the estimator "
                             f"adds) are a sequence of T steps, shape (T, units), and the "
                             f"features have shape {features}. Give the last recurrent layer "
                             f"return_sequences=True, and y one column per step of X's "
                             f"sequences")
        return None

    def _step_mask(self, X, reset=False):
        """The real steps (True) of samples X, (n, T) bool, as the network's
        mask marks them (all True without one)."""
        if reset:
            g, steps = self._fit_net["mask_graph"], self._steps
        else:
            g, steps = self._fitted_mask_graph(), self._fitted_steps()
        if g is None:
            return np.ones((X.shape[0], steps), dtype=bool)
        nt = self._nthreads()
        with quiet_blas(nt):
            mask = g.predict([dense_float32(X)], 0, chunk=4096, nthreads=nt)
        return mask > 0.5

    def _fitted_mask_graph(self):
        """The fitted network's mask graph (None without a mask), built when
        first needed and kept beside _arch (not pickled)."""
        cache = self.__dict__.get("_mask_cache")
        if cache is None or cache[0] is not self._arch:
            _, g = _inspect_network(self._arch["template"], self._arch["sample_shape"])
            cache = self._mask_cache = (self._arch, g)
        return cache[1]

    def step_mask(self, X):
        """The real steps of X's sequences (True) and the padded ones
        (False), as the network's Masking layer or Embedding(mask_zero=True)
        marks them, for an estimator fitted on per-step targets; all True
        without such a layer. (Steps labelled -1 are the user's to mark.)

        Parameters
        ----------
        X : array-like of shape (n_samples, T, F), (n_samples, T) or rows

        Returns
        -------
        mask : ndarray of bool, shape (n_samples, T)
        """
        check_is_fitted(self)
        if self._fitted_steps() is None:
            raise ValueError("step_mask is for an estimator fitted on per-step targets (y with "
                             "one column per step); this one was fitted on targets per sequence")
        return self._step_mask(self._check_fitted_X(X))

    def __getstate__(self):
        state = super().__getstate__()
        for key in ("_mask_cache", "_fit_net"):  # core graphs: rebuilt when needed
            state.pop(key, None)
        return state

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
        net = self.__dict__.pop("_fit_net", None)
        if net is None or net["shape"] != tuple(sample_shape):
            net = {"template": self._template(sample_shape)}
        template = net["template"]
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
        steps = getattr(self, "_steps", None)
        arch = dict(template=template, sample_shape=tuple(sample_shape), n_out=n_out,
                    loss=self._core_loss(), target_shape=tuple(target_shape), seed=int(seed),
                    steps=steps, step_ndim=getattr(self, "_step_ndim", 2) if steps else None)
        if "mask_graph" in net:
            self._mask_cache = (arch, net["mask_graph"])
        return arch

    def _make_graph(self, arch):
        """Build model_ (the layers, a Flatten where the features are not
        flat, the output layer) from copies of the template; returns its
        training graph."""
        x, h = _feature_nodes(arch["template"], arch["sample_shape"])
        steps = arch.get("steps")
        if steps is None and len(node_shape(h)) != 1:
            h = Flatten(name="flatten_features")(h)
        # per-step targets: the output layer acts on each step of the features
        out = Dense(arch["n_out"], name=HEAD, **_SKLEARN_INIT)(h)
        model = Model(x, out)
        model._seed = arch["seed"]
        loss = arch["loss"]
        if steps is not None and loss != "softmax_cross_entropy":
            # (the classifier's padded steps have the label -1, which the core skips)
            loss = _masked_loss(loss, arch["target_shape"])
        model._graph = model._emit(loss, arch["target_shape"])
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
        The shape each row of X is reshaped to, e.g. (1, 8, 8) for images
        or (T, F) for sequences; one entry may be -1. None: the samples' own
        shape (rows, or X of shape (n_samples, C, H, W) or (n_samples, T,
        F)), or the input shape of a Model given as layers.
    freeze : list of str or None, default=None
        Names of layers whose weights stay as they are while the rest
        trains (the layers of a pretrained network under a new head; they
        run as at inference, see dagnet.nn.Layer).
    augment : dagnet.nn.Augment, dict or None, default=None
        Data augmentation for image input (C, H, W): random shifts, flips
        and rotations drawn per sample and epoch in the C training loop,
        e.g. ``dict(shift=1)`` (seed 000, section 6.6). Predictions and
        validation see the images as they are."""

_DATA_DOC = """
    X is rows (n_samples, n_features), each reshaped to ``input_shape``, or
    samples: images (n_samples, C, H, W), sequences (n_samples, T, F), or
    token ids (n_samples, T) for a first layer ``Embedding`` (whole numbers
    in [0, vocab_size), integers or floats; others raise a ValueError
    naming the layer). Padded sequences are plain arrays: a ``Masking``
    layer, or ``Embedding(mask_zero=True)``, marks the padded steps, so
    they work in GridSearchCV, cross_val_score and Pipelines (where a
    scikit-learn transformer reads rows: give flat rows and input_shape=(T,
    F), with a transformer that keeps the mask value, e.g. MaxAbsScaler for
    padding with 0).
"""

_CLF_STEPS_DOC = """
    Sequence labelling: when the network's features are a sequence (T,
    units) (its last recurrent layer has ``return_sequences=True``), y of
    shape (n_samples, T) holds a label per step, and the output layer acts
    on each step, one softmax per step (also for two classes). The steps
    the network's mask marks as padding, and steps labelled -1, count for
    nothing: their labels are never read (any value), they add exactly
    nothing to the loss or its gradient, classes_ come from the other
    steps, and score is the accuracy over those. predict gives (n_samples,
    T) labels and predict_proba (n_samples, T, n_classes); at a padded step,
    what the network gives every padded step (``step_mask(X)`` tells the
    real steps). The loss of a sequence is the sum of its steps' losses;
    sample_weight weighs sequences, class_weight each step by its label
    ('balanced' counting the real steps). (A y of T columns is read per step
    whenever the features are a sequence of T steps; other 2-D y is
    multi-label, one target per sequence.)
"""

_REG_STEPS_DOC = """
    Targets per step: when the network's features are a sequence (T,
    units) (its last recurrent layer has ``return_sequences=True``), y of
    shape (n_samples, T) or (n_samples, T, n_targets) holds targets per
    step, and the output layer acts on each step. The steps the network's
    mask marks as padding count for nothing: their targets are never read
    (any value, NaN too), and the loss reads the prediction and the target
    times the mask, so they add exactly nothing to it or its gradient
    (loss='poisson' is refused for a network with a mask). predict gives
    (n_samples, T) or (n_samples, T, n_targets) as y was in fit; at a
    padded step, what the network gives every padded step (``step_mask(X)``
    tells the real steps); score is R^2 over the real steps. The loss of a
    sequence is the sum of its steps' losses; sample_weight weighs
    sequences. (A y of T columns is read per step whenever the features are
    a sequence of T steps; other 2-D y is several targets per sequence.)
"""

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
""" + _DATA_DOC + _CLF_STEPS_DOC + FLOAT32_DOC + """
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

    Sequence labelling: token ids padded with 0 (every other sequence has
    4 tokens), a label per token (whether it is above 4), and any label at
    the padding:

    >>> import numpy as np
    >>> from dagnet.nn import GRU, Embedding
    >>> rng = np.random.default_rng(0)
    >>> tokens = rng.integers(1, 10, size=(200, 6))
    >>> tokens[::2, 4:] = 0
    >>> labels = np.where(tokens > 4, "big", "small")
    >>> tagger = NeuralNetClassifier([Embedding(10, 8, mask_zero=True),
    ...                               GRU(16, return_sequences=True)],
    ...                              learning_rate_init=0.02, max_iter=30, random_state=0)
    >>> tagger.fit(tokens, labels).score(tokens, labels) > 0.95
    True
    >>> tagger.predict(tokens).shape, tagger.predict_proba(tokens).shape
    ((200, 6), (200, 6, 2))
    >>> tagger.step_mask(tokens[:1])
    array([[ True,  True,  True,  True, False, False]])
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

    # --- per-step labels (sequence labelling) -------------------------------------

    _STEP_NDIM = 2  # y of per-step labels: (n, T)

    @staticmethod
    def _step_shapes(steps):
        return f"labels of shape (n_samples, {steps})"

    @staticmethod
    def _looks_per_step(y):
        """y (n, m) of more than two values in some column is no multi-label
        indicator: it is per-step labels."""
        try:
            return len(_shape_of(y)) == 2 and type_of_target(y) == "multiclass-multioutput"
        except ValueError:
            return False

    def _step_labels(self, X, y, reset=False):
        """Per-step labels y (n, T) as an array, and its real steps: those the
        network's mask keeps whose label is not -1."""
        y = check_array(y, ensure_2d=False, dtype=None, ensure_all_finite=False, input_name="y")
        check_consistent_length(X, y)
        steps = self._steps if reset else self._fitted_steps()
        if y.ndim != 2 or y.shape[1] != steps:
            raise ValueError(f"y has shape {y.shape}; per-step labels for these sequences have "
                             f"shape (n_samples, {steps})")
        real = self._step_mask(X, reset)
        if y.dtype.kind in "biuf":
            real &= y != -1
            if y.dtype.kind == "f" and not np.isfinite(y[real]).all():
                raise ValueError("y holds NaN or infinity at real steps; give every real step "
                                 "a label (padded steps, and those labelled -1, may hold "
                                 "anything)")
        return y, real

    def _validate_step_target(self, X, y, incremental, reset):
        """Per-step labels as a masked array whose mask is the steps that count
        for nothing; classes_ are the labels of the real steps."""
        y, real = self._step_labels(X, y, reset)
        labels = y[real]
        if labels.size == 0:
            raise ValueError("y has no step to learn from: every step is padding (as the "
                             "network's mask marks it) or labelled -1")
        check_label_types(labels)
        check_classification_targets(labels)
        self._fit_classes(labels, incremental)
        self._step_reset = reset
        return np.ma.masked_array(y, mask=~real)

    def _step_class_weights(self, idx):
        """The weight of each class (indices idx of the real steps' labels):
        class_weight's, or 'balanced' over the real steps as
        compute_sample_weight weighs samples."""
        n_classes = len(self.classes_)
        if isinstance(self.class_weight, dict):
            unknown = set(self.class_weight) - set(self.classes_.tolist())
            if unknown:
                raise ValueError(f"class_weight has labels {sorted(unknown, key=str)} that are "
                                 f"not among the classes {self.classes_.tolist()}")
            return np.array([float(self.class_weight.get(c, 1.0)) for c in self.classes_])
        counts = np.bincount(idx, minlength=n_classes).astype(np.float64)
        present = counts > 0
        weights = np.ones(n_classes)
        weights[present] = idx.size / (present.sum() * counts[present])
        return weights

    def _apply_class_weight(self, y, sw):
        if isinstance(y, np.ma.MaskedArray):
            return sw  # per-step class weights weigh the targets (see _targets)
        return super()._apply_class_weight(y, sw)

    def _targets(self, y):
        """Per-step labels: the class index of each step, -1 at the steps that
        count for nothing (the core skips it), shape (n, T, 1); with
        class_weight, rows (n, T, n_classes) holding the class's weight at its
        label's index and 0 elsewhere, which make softmax cross-entropy that
        weight times the step's loss (0 at padded steps, all-zero rows)."""
        if not isinstance(y, np.ma.MaskedArray):
            return super()._targets(y)
        real = ~np.ma.getmaskarray(y)
        n, steps = y.shape
        n_classes = len(self.classes_)
        self.n_outputs_ = n_classes
        idx = np.searchsorted(self.classes_, y.data[real])
        if self.class_weight is None:
            T = np.full((n, steps, 1), -1.0, dtype=np.float32)
            T[real, 0] = idx
        else:
            T = np.zeros((n, steps, n_classes), dtype=np.float32)
            rows, cols = np.nonzero(real)
            T[rows, cols, idx] = self._step_class_weights(idx)[idx]
        tshape = T.shape[1:]
        if not self._step_reset and tuple(self._arch["target_shape"]) != tshape:
            raise ValueError("warm_start and partial_fit keep the targets of the first fit: "
                             "class_weight must stay None, or stay given, as it was then")
        return T, n_classes, tshape

    def _core_loss(self):
        if getattr(self, "_steps", None) is not None:
            return "softmax_cross_entropy"  # one softmax per step, also for two classes
        return super()._core_loss()

    def _out_activation(self):
        return "softmax" if getattr(self, "_steps", None) is not None else \
            super()._out_activation()

    def _stratify_split(self):
        return getattr(self, "_steps", None) is None and super()._stratify_split()

    def _step_accuracy(self, X, y, real, sample_weight):
        if not real.any():
            raise ValueError("y has no real step to score: every step is padding or -1")
        pred = self._predict_dense(X)
        return float(accuracy_score(y[real], pred[real],
                                    sample_weight=_weights_per_step(sample_weight, real)))

    def _score_dense(self, X, y, sample_weight):
        if isinstance(y, np.ma.MaskedArray):
            return self._step_accuracy(X, y.data, ~np.ma.getmaskarray(y), sample_weight)
        return super()._score_dense(X, y, sample_weight)

    def _proba_dense(self, X):
        if self._fitted_steps() is None:
            return super()._proba_dense(X)
        return softmax(self._outputs(X), axis=-1)

    def _predict_dense(self, X):
        if self._fitted_steps() is None:
            return super()._predict_dense(X)
        return self.classes_[np.argmax(self._outputs(X), axis=-1)]

    def predict(self, X):
        """Predict classes.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features), or
            samples of shape (n_samples, *input_shape_)

        Returns
        -------
        y : ndarray of shape (n_samples,), (n_samples, n_classes) for
            multi-label targets, or (n_samples, T) for per-step labels (at
            a padded step, the class the network gives every padded step;
            ``step_mask(X)`` tells the real steps)
        """
        return super().predict(X)

    def predict_proba(self, X):
        """Probability of each class, in the order of ``classes_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features), or
            samples of shape (n_samples, *input_shape_)

        Returns
        -------
        y_prob : ndarray of shape (n_samples, n_classes), or (n_samples, T,
            n_classes) for per-step labels
            float32 for float32 X to a model fitted on float32 X, else float64.
        """
        if self._fitted_steps() is None:
            return super().predict_proba(X)
        X, dtype = self._check_fitted_X(X, with_dtype=True)
        return self._proba_dense(X).astype(dtype, copy=False)

    def score(self, X, y, sample_weight=None):
        """Mean accuracy on X and y: over the samples, or over the real steps
        for per-step labels (padded steps and those labelled -1 left out;
        each step weighs its sequence's sample_weight).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or samples
        y : array-like of shape (n_samples,), (n_samples, n_outputs) or
            (n_samples, T)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        if self._fitted_steps() is None:
            return super().score(X, y, sample_weight=sample_weight)
        X = self._check_fitted_X(X)
        y, real = self._step_labels(X, y)
        return self._step_accuracy(X, y, real, sample_weight)


class NeuralNetRegressor(_NeuralNet, BaseMLPRegressor):
    __doc__ = """A regressor of any dagnet.nn network, trained as MLPRegressor
    is, with its parameters and attributes: the network is ``layers``
    followed by an output layer of one unit per target.
""" + _DATA_DOC + _REG_STEPS_DOC + FLOAT32_DOC + """
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

    Targets per step, the running sum of sequences, a third of them 3 steps
    long and padded with -1 to 5 steps (their targets there are NaN):

    >>> from dagnet.nn import LSTM, Masking
    >>> X = rng.uniform(0, 1, size=(300, 5, 1))
    >>> Y = np.cumsum(X[:, :, 0], axis=1)
    >>> X[:100, 3:] = -1.0
    >>> Y[:100, 3:] = np.nan
    >>> reg = NeuralNetRegressor([Masking(-1.0), LSTM(16, return_sequences=True)],
    ...                          learning_rate_init=0.02, max_iter=50, random_state=0)
    >>> reg.fit(X, Y).score(X, Y) > 0.9
    True
    >>> reg.predict(X).shape
    (300, 5)
    """

    def __init__(self, layers=None, *, loss="squared_error", input_shape=None, freeze=None,
                 augment=None, solver="adam", alpha=0.0001, batch_size="auto",
                 learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 early_stopping_metric="score", schedule_adam=False, n_threads=None):
        store_params(self, locals())

    # --- per-step targets ------------------------------------------------------------

    _STEP_NDIM = 3  # y of per-step targets: (n, T) or (n, T, k)

    @staticmethod
    def _step_shapes(steps):
        return f"of shape (n_samples, {steps}) or (n_samples, {steps}, n_targets)"

    @staticmethod
    def _looks_per_step(y):
        return False  # y (n, m) is m targets per sequence

    def _step_values(self, X, y, reset=False):
        """Per-step targets as an array (n, T, k) and its real steps (n, T),
        those the network's mask keeps; the padded steps may hold anything,
        NaN included."""
        y = check_array(y, ensure_2d=False, allow_nd=True, dtype=np.float64,
                        ensure_all_finite=False, input_name="y")
        check_consistent_length(X, y)
        steps = self._steps if reset else self._fitted_steps()
        if y.ndim not in (2, 3) or y.shape[1] != steps:
            raise ValueError(f"y has shape {y.shape}; per-step targets for these sequences have "
                             f"shape (n_samples, {steps}) or (n_samples, {steps}, n_targets)")
        y3 = y.reshape(y.shape[:2] + (-1,))
        real = self._step_mask(X, reset)
        values = y3[real]
        if not np.isfinite(values).all():
            raise ValueError("y holds NaN or infinity at real steps; give every real step a "
                             "finite target (padded steps may hold anything)")
        check_float32_range(values, "y")
        return y3, real

    def _validate_step_target(self, X, y, incremental, reset):
        """Per-step targets as a masked array (n, T, k) whose mask is the
        padded steps."""
        ndim = len(_shape_of(y))
        y3, real = self._step_values(X, y, reset)
        if reset:
            self._step_ndim = ndim
        if self.loss == "poisson":
            if (self._fit_net["mask_graph"] if reset else self._fitted_mask_graph()) is not None:
                raise ValueError("loss='poisson' is not available for padded sequences (a network "
                                 "with Masking or Embedding(mask_zero=True)) with per-step "
                                 "targets; use loss='squared_error', or give unpadded sequences "
                                 "without a mask")
            if np.any(y3[real] < 0):
                raise ValueError("Some value(s) of y are negative which is not allowed for "
                                 "Poisson regression.")
        mask = np.repeat(~real[:, :, None], y3.shape[2], axis=2)
        return np.ma.masked_array(y3, mask=mask)

    def _targets(self, y):
        """Per-step targets (n, T, k), 0 at the padded steps (the loss reads
        them times the mask anyway)."""
        if not isinstance(y, np.ma.MaskedArray):
            return super()._targets(y)
        T = np.ascontiguousarray(y.filled(0.0), dtype=np.float32)
        self.n_outputs_ = T.shape[2]
        return T, T.shape[2], T.shape[1:]

    def _loss_constant(self, T, W):
        if T is not None and T.ndim > 2:  # per-step targets: a sum over steps and targets
            T = T.reshape(T.shape[0], -1)
        return super()._loss_constant(T, W)

    def _step_outputs(self, X):
        out = self._outputs(X)
        return np.exp(out) if self.loss == "poisson" else out

    def _predict_dense(self, X):
        if self._fitted_steps() is None:
            return super()._predict_dense(X)
        out = self._step_outputs(X)
        return out[:, :, 0] if self._arch.get("step_ndim") == 2 else out

    def _step_r2(self, X, y3, real, sample_weight):
        if not real.any():
            raise ValueError("y has no real step to score: every step is padding")
        pred = self._step_outputs(X)[real]
        if not np.isfinite(pred).all():
            return np.nan
        return float(r2_score(y3[real], pred, sample_weight=_weights_per_step(sample_weight,
                                                                                real)))

    def _score_dense(self, X, y, sample_weight):
        if isinstance(y, np.ma.MaskedArray):
            return self._step_r2(X, y.data, ~np.ma.getmaskarray(y)[:, :, 0], sample_weight)
        return super()._score_dense(X, y, sample_weight)

    def predict(self, X):
        """Predict with the fitted network.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features), or
            samples of shape (n_samples, *input_shape_)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs), or per
            step (n_samples, T) or (n_samples, T, n_outputs) as y was in fit
            (at a padded step, what the network gives every padded step;
            ``step_mask(X)`` tells the real steps)
            float32 for float32 X to a model fitted on float32 X, else float64.
        """
        return super().predict(X)

    def score(self, X, y, sample_weight=None):
        """R^2 of the predictions: over the samples, or over the real steps
        for per-step targets (padded steps left out; each step weighs its
        sequence's sample_weight; several targets per step are averaged).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or samples
        y : array-like of shape (n_samples,), (n_samples, n_outputs), or per
            step (n_samples, T) or (n_samples, T, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        if self._fitted_steps() is None:
            return super().score(X, y, sample_weight=sample_weight)
        X = self._check_fitted_X(X)
        y3, real = self._step_values(X, y)
        return self._step_r2(X, y3, real, sample_weight)
