"""Models: ``Sequential`` and the functional ``Model(inputs, outputs)``.

A model is built once (``build``), which emits its layers into the C core's
graph, infers every shape and initialises the parameters from
``random_state``. ``forward`` and ``backward`` run the graph for users and
tests; ``compile`` + ``fit`` train it, one C call per epoch.
"""

import time
import weakref

import numpy as np

from dagnet import _core
from dagnet._threads import quiet_blas, resolve_threads
from dagnet._validation import as_float32, check_sample_weight, seed_from
from dagnet.nn.augment import as_augment
from dagnet.nn.base import InputLayer, Node, Input, Layer, _copy_weights, _is_int

LOSSES = {
    "squared_error": "squared_error", "mse": "squared_error",
    "binary_cross_entropy": "binary_cross_entropy", "bce": "binary_cross_entropy",
    "softmax_cross_entropy": "softmax_cross_entropy",
    "categorical_cross_entropy": "softmax_cross_entropy",
    "poisson": "poisson",
}
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _positive_int(name, value):
    """value as an int, which must be >= 1 (bools and floats are refused)."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _sample_weight(sample_weight, n):
    """check_sample_weight's weights as an (n, 1) float32 column for the
    core's weight input."""
    return check_sample_weight(sample_weight, n).astype(np.float32).reshape(-1, 1)


def _topological_layers(outputs):
    """Nodes reachable from outputs, each after its inputs (iterative DFS)."""
    order, state = [], {}
    for root in outputs:
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            key = id(node)
            if expanded:
                if state.get(key) != 2:
                    state[key] = 2
                    order.append(node)
                continue
            if state.get(key) == 2:
                continue
            if state.get(key) == 1:
                raise ValueError(f"the layers form a cycle at {node.layer.name}")
            state[key] = 1
            stack.append((node, True))
            for parent in reversed(node.inputs):
                if state.get(id(parent)) != 2:
                    stack.append((parent, False))
    return order


class Model:
    """A network given by its input and output nodes (the functional builder).

    Examples
    --------
    >>> import numpy as np
    >>> from dagnet.nn import Input, Dense, Add, Model
    >>> x = Input((4,))
    >>> h = Dense(8, activation="relu")(x)
    >>> y = Dense(2)(Add()([h, Dense(8)(x)]))
    >>> model = Model(x, y).build(random_state=0)
    >>> model.forward(np.ones((3, 4))).shape
    (3, 2)
    """

    def __init__(self, inputs, outputs, name=None):
        self.inputs = _as_list(inputs)
        self.outputs = _as_list(outputs)
        for x in self.inputs:
            if not (isinstance(x, Node) and isinstance(x.layer, InputLayer)):
                raise TypeError("Model inputs must come from dagnet.nn.Input")
        if len({id(x) for x in self.inputs}) != len(self.inputs):
            raise ValueError("the same Input appears twice among the model's inputs; list each "
                             "input once")
        for y in self.outputs:
            if not isinstance(y, Node):
                raise TypeError("Model outputs must be nodes returned by layers")
        self.name = name
        self._init_state()

    def _init_state(self):
        self.n_threads = None
        self._graph = None
        self._loss = None
        self._optimizer = None
        self._augment = None
        self._train_graph = None
        self._target_shape = None
        self._seed = None
        self._layer_params = {}  # id(layer) -> names of its parameters in the graph
        self.history_ = []

    def __getstate__(self):
        """A copy or pickle holds the layers with their weights (see
        dagnet.nn.base), not the optimiser's state; a built model is built
        again when restored."""
        state = self.__dict__.copy()
        state["_built"] = self._graph is not None
        state.update(_graph=None, _train_graph=None, _layer_params={})
        return state

    def __setstate__(self, state):
        built = state.pop("_built")
        self.__dict__.update(state)
        if built:
            self._graph = self._emit()

    # --- building -----------------------------------------------------------

    def _emit(self, loss=None, target_shape=None):
        g = _core.Graph()
        ids = {}
        emitted = []  # (layer, the ids of the nodes it emitted)
        first_use = {}  # id(layer) -> the nodes its first application emitted
        masks = {}  # id(node) -> the core id of its mask of padded steps, or None
        for x in self.inputs:
            ids[id(x)] = g.add_input(x.layer.shape)
            g.set_name(ids[id(x)], x.layer.name)
        for node in _topological_layers(self.outputs):
            if id(node) in ids:
                continue
            if isinstance(node.layer, InputLayer):
                raise ValueError(f"{node.layer.name} is used by the outputs but is not one of "
                                 f"the model's inputs")
            first = g.n_nodes
            ids[id(node)], masks[id(node)] = node.layer.emit_masked(
                g, [ids[id(p)] for p in node.inputs], [masks.get(id(p)) for p in node.inputs])
            nodes = range(first, g.n_nodes)
            emitted.append((node.layer, nodes))
            self._share_weights(g, node.layer, nodes, first_use.setdefault(id(node.layer), nodes))
            if not node.layer.trainable:
                for v in range(first, g.n_nodes):
                    g.set_trainable(v, False)
        out_ids = [ids[id(y)] for y in self.outputs]
        g.set_outputs(out_ids)
        if callable(loss):  # it adds its own loss nodes (and their inputs)
            if getattr(loss, "takes_masks", False):
                # and reads the outputs' masks of padded steps (core ids, None where unmasked)
                loss(g, out_ids, [masks.get(id(y)) for y in self.outputs])
            else:
                loss(g, out_ids)
        elif loss is not None:
            if len(out_ids) != 1:
                raise ValueError("training needs a model with one output")
            t = g.add_input(target_shape)
            g.set_name(t, "target")
            w = g.add_input((1,))
            g.set_name(w, "sample_weight")
            lid = g.add_node("loss", [out_ids[0], t, w], loss=loss)
            g.set_name(lid, "loss")
        g.compile(self._seed)
        self._bind_layers(g, emitted)
        return g

    @staticmethod
    def _share_weights(g, layer, nodes, first):
        """A layer applied again uses the weights of its first application
        (compiling checks that the shapes agree: a dense layer's inputs must
        have the same width)."""
        if nodes is first:
            return
        if len(nodes) != len(first):
            raise ValueError(f"{layer.name} is applied more than once but not the same way each "
                             f"time; use a separate layer for each input")
        for v, src in zip(nodes, first):
            g.share_params(v, src)

    def _bind_layers(self, g, emitted):
        """Copy in the weights each layer carries (set_weights, or a copy of
        a trained layer) and make the layers read their weights from here."""
        by_node = {}
        for name, node, value, _, _ in g.params():
            by_node.setdefault(node, []).append((name, value))
        layer_params = {}
        for layer, nodes in emitted:
            if id(layer) in layer_params:
                continue  # applied again: the weights of its first application
            params = [p for v in nodes for p in by_node.get(v, [])]
            carried = layer._weights if layer._built_model() is None else layer.get_weights()
            if carried:
                _copy_weights(layer, [value for _, value in params], carried)
            elif params and hasattr(layer, "_init_weights"):
                # initialisers the core has not (orthogonal): from the model's
                # seed and the layer's place
                seed = np.random.SeedSequence([self._seed or 0, len(layer_params)])
                layer._init_weights([value for _, value in params],
                                    int(seed.generate_state(1)[0]))
            layer_params[id(layer)] = [name for name, _ in params]
        for layer, _ in emitted:
            layer._weights = None
            layer._model = weakref.ref(self)
        self._layer_params = layer_params

    def _layer_values(self, layer):
        """Views of a layer's parameters in the current graph."""
        params = self.parameters()
        return [params[name] for name in self._layer_params[id(layer)]]

    def _layer_list(self):
        """The model's layers (inputs aside), each after those it reads."""
        out, seen = [], set()
        for node in _topological_layers(self.outputs):
            if not isinstance(node.layer, InputLayer) and id(node.layer) not in seen:
                seen.add(id(node.layer))
                out.append(node.layer)
        return out

    def get_layer(self, name):
        """The layer called ``name``; its get_weights / set_weights read and
        write this model's weights once it is built.

        Examples
        --------
        >>> from dagnet.nn import Dense, Sequential
        >>> model = Sequential([Dense(4, name="hidden"), Dense(1, name="out")])
        >>> model = model.build(input_shape=(3,), random_state=0)
        >>> model.get_layer("hidden").get_weights()[0].shape
        (3, 4)
        """
        layers = self._layer_list()
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"the model has no layer {name!r}; its layers are "
                         f"{[layer.name for layer in layers]}")

    def build(self, input_shape=None, random_state=None):
        """Compile the graph: order, shapes (a mismatch raises ValueError naming
        both layers) and parameters initialised from ``random_state``.
        Returns self."""
        self._seed = seed_from(random_state)
        self._graph = self._emit()
        self._train_graph = None
        return self

    def _require_built(self):
        if self._graph is None:
            raise RuntimeError("call build() (or fit()) before using the model")

    @property
    def graph(self):
        """The core graph used by forward, backward and predict."""
        self._require_built()
        return self._graph

    def _nthreads(self):
        return resolve_threads(self.n_threads)

    # --- running ------------------------------------------------------------

    def _convert_inputs(self, X):
        xs = _as_list(X) if len(self.inputs) > 1 else [X]
        if len(xs) != len(self.inputs):
            raise ValueError(f"the model has {len(self.inputs)} inputs, got {len(xs)} arrays")
        conv = [as_float32(x, name=f"X[{i}]" if len(xs) > 1 else "X", shape=inp.layer.shape)
                for i, (x, inp) in enumerate(zip(xs, self.inputs))]
        n = {a.shape[0] for a in conv}
        if len(n) > 1:
            raise ValueError(f"inputs have different numbers of samples: {sorted(n)}")
        return conv

    def _pad_inputs(self, g, conv):
        return conv + [None] * (g.n_inputs - len(conv))

    def forward(self, X, training=False):
        """Outputs for X (an array, or a list for several inputs); a backward
        may follow. ``training`` turns on dropout and batch statistics."""
        self._require_built()
        conv = self._convert_inputs(X)
        nt = self._nthreads()
        with quiet_blas(nt):
            outs = self._graph.forward(self._pad_inputs(self._graph, conv), training=training,
                                       grad=True, nthreads=nt)
        return outs[0] if len(outs) == 1 else outs

    def backward(self, grad_output):
        """Gradients with respect to the inputs of the last forward, given the
        gradient of the output: an array of the shape forward returned (for
        several outputs, a list with one such array, or None for zero, per
        output). Parameter gradients go to gradients()."""
        self._require_built()
        n_out = len(self.outputs)
        gs = _as_list(grad_output) if n_out > 1 else [grad_output]
        if len(gs) != n_out:
            raise ValueError(f"the model has {n_out} outputs; give a list of {n_out} gradients "
                             f"(None for a zero one), got {len(gs)}")
        shapes = self._graph.grad_shapes
        if shapes is None:
            raise RuntimeError("call forward(X) before backward: backward takes the gradient of "
                               "the outputs of the forward just before it")
        for k, (g_, shape) in enumerate(zip(gs, shapes)):
            if g_ is None:
                continue
            name = "grad_output" if n_out == 1 else f"grad_output[{k}]"
            if np.shape(g_) != shape:
                raise ValueError(f"{name} must have shape {shape}, the shape of the output of "
                                 f"the last forward; got {np.shape(g_)}")
            # NaN passes: a diverging loss shows in its own value, which callers check
            gs[k] = as_float32(g_, name, allow_nan=True)
        nt = self._nthreads()
        with quiet_blas(nt):
            grads = self._graph.backward(gs, nthreads=nt)[:len(self.inputs)]
        return grads[0] if len(grads) == 1 else grads

    def predict(self, X, batch_size=1024):
        """Outputs for X in inference mode, computed in chunks of
        ``batch_size`` samples."""
        self._require_built()
        batch_size = _positive_int("batch_size", batch_size)
        conv = self._convert_inputs(X)
        ins = self._pad_inputs(self._graph, conv)
        nt = self._nthreads()
        with quiet_blas(nt):
            outs = [self._graph.predict(ins, k, chunk=batch_size, nthreads=nt)
                    for k in range(len(self.outputs))]
        return outs[0] if len(outs) == 1 else outs

    def parameters(self):
        """Dict of parameter name to a writable array in the core's memory;
        writes are seen by the next forward."""
        self._require_built()
        return {name: value for name, _, value, _, _ in self._graph.params()}

    def gradients(self):
        """Dict of trainable parameter name to its gradient from the last
        backward."""
        self._require_built()
        return {name: grad for name, _, _, grad, trainable in self._graph.params() if trainable}

    # --- training -----------------------------------------------------------

    def compile(self, loss, optimizer="adam", learning_rate=0.001, augment=None, **settings):
        """Choose the loss and the optimiser for fit(). ``loss``:
        'squared_error', 'binary_cross_entropy' (from logits),
        'softmax_cross_entropy' (from logits) or 'poisson' (log link);
        ``optimizer``: one of OPTIMIZERS; settings: momentum, beta1, beta2,
        eps, rho, weight_decay, l2, l1, max_norm, clip_norm. ``augment``
        (a dagnet.nn.Augment or a dict of its settings) transforms the
        images of the first input in every training epoch."""
        augment = as_augment(augment)
        if augment is not None:
            augment.settings()  # raises on a bad setting now rather than in fit
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; use one of {sorted(LOSSES)}")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; use one of {list(OPTIMIZERS)}")
        self._loss = LOSSES[loss]
        self._optimizer = (optimizer, dict(settings, lr=learning_rate))
        self._augment = augment
        self._train_graph = None
        return self

    def _training_graph(self, target_shape):
        if self._train_graph is not None and self._target_shape == target_shape:
            return self._train_graph
        old = self._graph
        g = self._emit(self._loss, target_shape)
        if old is not None:
            current = {name: value for name, _, value, _, _ in old.params()}
            for name, _, value, _, _ in g.params():
                value[...] = current[name]
        name, settings = self._optimizer
        g.set_optimizer(name, **settings)
        if self._augment is not None:
            g.set_augment(0, **self._augment.settings())
        self._graph = self._train_graph = g
        self._target_shape = target_shape
        return g

    def _format_target(self, y, n):
        shape, _ = self._graph.node_shape(self._graph.output_node(0))
        y = np.asarray(y)
        if y.shape[:1] != (n,):
            raise ValueError(f"y has {y.shape[0] if y.ndim else 0} samples, X has {n}")
        steps = tuple(shape[:-1])  # the rows of classes of one sample: () or (T,) ...
        if self._loss == "softmax_cross_entropy" and y.shape[1:] in (steps, steps + (1,)) \
                and (not steps or y.shape[1:] != tuple(shape)):
            # one class index per row; per-step labels (n, T) may hold -1 for steps
            # that count for nothing (padding), as the core skips any index outside
            # [0, classes)
            classes = shape[-1] if shape else 1
            lowest = -1 if steps else 0
            if y.dtype.kind not in "biuf" or (y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0)):
                raise ValueError("class labels for softmax_cross_entropy must be integers")
            if y.size and (y.min() < lowest or y.max() >= classes):
                allowed = f"[0, {classes})" + (" or -1 for a step to ignore" if steps else "")
                raise ValueError(f"class labels must be in {allowed}, got {y.min()}..{y.max()}")
            return as_float32(y.reshape(y.shape[:1] + steps + (1,)), "y"), steps + (1,)
        if y.ndim == 1 and shape == (1,):
            y = y.reshape(-1, 1)
        yt = as_float32(y, "y", shape=shape)
        low, high = (float(yt.min()), float(yt.max())) if yt.size else (0.0, 0.0)
        if self._loss == "binary_cross_entropy" and (low < 0 or high > 1):
            raise ValueError(f"binary_cross_entropy takes targets in [0, 1] (labels 0 and 1, or "
                             f"probabilities); y holds values from {low:g} to {high:g}")
        if self._loss == "poisson" and low < 0:
            raise ValueError(f"poisson takes targets >= 0 (counts or rates); y holds values down "
                             f"to {low:g}")
        if self._loss == "softmax_cross_entropy":
            sums = yt.sum(axis=-1, dtype=np.float64) if yt.size else np.ones(1)
            if low < 0 or high > 1 or np.abs(sums - 1).max() > 1e-3:
                raise ValueError(f"softmax_cross_entropy takes class labels of shape (n_samples,),"
                                 f" or one-hot rows or class probabilities: values in [0, 1] "
                                 f"that sum to 1 over the last axis; y holds values from "
                                 f"{low:g} to {high:g} with sums from {sums.min():g} to "
                                 f"{sums.max():g}")
        return yt, tuple(shape)

    def _prepare_training(self, X, y, batch_size, sample_weight):
        """Check and convert the training data once; returns the training
        graph and the arrays of its inputs."""
        if self._loss is None:
            raise RuntimeError("call compile(loss, optimizer) before training")
        if self._graph is None:
            raise RuntimeError("call build() before training")
        _positive_int("batch_size", batch_size)
        conv = self._convert_inputs(X)
        n = conv[0].shape[0]
        yt, tshape = self._format_target(y, n)
        w = None if sample_weight is None else _sample_weight(sample_weight, n)
        return self._training_graph(tshape), conv + [yt, w]

    def train_epoch(self, X, y, batch_size=32, shuffle=True, sample_weight=None):
        """One epoch (one call into the core); returns its mean loss."""
        g, arrays = self._prepare_training(X, y, batch_size, sample_weight)
        nt = self._nthreads()
        with quiet_blas(nt):
            return g.train_epoch(arrays, int(batch_size), shuffle=shuffle, nthreads=nt)

    def fit(self, X, y, epochs=1, batch_size=32, shuffle=True, sample_weight=None,
            verbose=False):
        """Train for ``epochs`` epochs (the data is checked and converted
        once); the loss of each is appended to ``history_``. Returns self."""
        epochs = _positive_int("epochs", epochs)
        if self._graph is None:
            self.build()
        g, arrays = self._prepare_training(X, y, batch_size, sample_weight)
        nt = self._nthreads()
        for epoch in range(epochs):
            t0 = time.perf_counter()
            with quiet_blas(nt):
                loss = g.train_epoch(arrays, int(batch_size), shuffle=shuffle, nthreads=nt)
            self.history_.append(loss)
            if verbose:
                print(f"epoch {epoch + 1}/{epochs}: loss {loss:.6f} "
                      f"({time.perf_counter() - t0:.2f} s)")
        return self

    def summary(self):
        """A text table of the core nodes with their shapes."""
        self._require_built()
        g = self._graph
        lines = []
        params = {}
        for name, node, value, _, _ in g.params():
            params[node] = params.get(node, 0) + value.size
        for v in g.order():
            shape, batched = g.node_shape(v)
            lines.append(f"{v:4d}  {str(('n',) + shape if batched else shape):24s} "
                         f"{params.get(v, 0):10d}")
        return "\n".join(lines)


class Sequential(Model):
    """A stack of layers, each reading the previous one's output.

    Examples
    --------
    >>> import numpy as np
    >>> from dagnet.nn import Sequential, Dense
    >>> model = Sequential([Dense(16, activation="relu"), Dense(3)])
    >>> model.build(input_shape=(5,), random_state=0).forward(np.zeros((2, 5))).shape
    (2, 3)
    """

    def __init__(self, layers=(), name=None):
        self.layers = list(layers)
        for layer in self.layers:
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential takes layers, got {type(layer).__name__}")
        self.name = name
        self._init_state()
        self.inputs = self.outputs = None

    def fit(self, X, y, *args, **kwargs):
        """As Model.fit; an unbuilt Sequential is built for X's sample shape
        (without a fixed random_state)."""
        if self._graph is None:
            self.build(input_shape=np.shape(X)[1:])
        return super().fit(X, y, *args, **kwargs)

    def _layer_list(self):
        return list(self.layers)

    def add(self, layer):
        if self._graph is not None:
            raise RuntimeError("layers cannot be added after build()")
        self.layers.append(layer)
        return self

    def build(self, input_shape=None, random_state=None):
        if input_shape is None:
            raise ValueError("Sequential.build needs input_shape, the shape of one sample "
                             "(without the batch dimension), e.g. (784,)")
        if isinstance(input_shape, int):
            input_shape = (input_shape,)
        if not self.layers:
            raise ValueError("a Sequential model needs at least one layer")
        x = Input(input_shape)
        h = x
        for layer in self.layers:
            h = layer(h)
        self.inputs, self.outputs = [x], [h]
        return super().build(random_state=random_state)
