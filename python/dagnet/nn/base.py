"""What dagnet.nn's layers share: the base class ``Layer``, the functional
builder's ``Node``, ``Input`` and ``node_shape``, and the checks of their
settings and weights.

A layer emits nodes into the core's graph. It is called on symbolic nodes
(the functional builder) or stacked in a ``Sequential``; ``Model.build``
asks every layer to emit its core nodes in order. Names of parameters are
``<layer name>.<weight|bias|gamma|beta|...>``.

A layer holds its specification, and its weights once a model is built from
it: ``get_weights`` reads them from that model, ``set_weights`` writes them
there (or keeps them for the next build), and a copy or pickle of the layer
carries them, so layers taken from one trained network start another one
from where it stopped (transfer learning, seed 000 section 6.5). A layer
with ``trainable = False`` keeps its weights while the rest trains.

A layer called on several nodes of one model shares its weights between
them (each application reads them, and training adds the gradients of all),
so those nodes must have the same shape where the weights depend on it: a
``Dense`` layer's inputs the same width.

The layers themselves are in one module per family: ``dense``,
``normalization``, ``merge``, ``reshaping``, ``convolution``, ``recurrent``
and ``variational``; ``dagnet.nn`` exports them all.
"""

import itertools

import numpy as np

from dagnet import _core
from dagnet._validation import check_float32_range

_ACTIVATIONS = _core.act_names() + ["softmax", "log_softmax"]
_counter = itertools.count()


def _is_int(value):
    """An int or a numpy integer (not a bool, not a float)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _int_tuple(what, values, low):
    """values (an int, or a sequence of ints) as a tuple of ints >= low."""
    try:
        items = (values,) if _is_int(values) else tuple(values)
    except TypeError:
        items = (None,)
    if not all(_is_int(d) and d >= low for d in items):
        raise ValueError(f"{what} must be an int or a tuple of ints >= {low}, got {values!r}")
    return tuple(int(d) for d in items)


def _check_activation(name, allow_none=True):
    if name is None and allow_none:
        return None
    if name not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; use one of {_ACTIVATIONS}")
    return name


class Node:
    """A symbolic tensor of the functional builder: the output of a layer
    applied to other nodes. Its ``shape`` excludes the batch dimension."""

    def __init__(self, layer, inputs):
        self.layer = layer
        self.inputs = list(inputs)

    def __repr__(self):
        return f"<Node of {self.layer.name}>"


class Layer:
    """Base class: ``__call__`` on nodes records the layer in the graph;
    ``emit`` adds the core nodes once the model is built.

    ``trainable = False`` (an attribute, or the constructor argument of the
    layers with weights) freezes the layer in the models built after: its
    weights get no gradient, no update and no weight decay, and it runs as at
    inference (BatchNorm uses and keeps its running statistics, as in Keras).
    Changed on a built model, it takes effect at the next build or compile().
    """

    n_inputs = 1  # -1: any number >= 2

    def __init__(self, name=None, trainable=True):
        kind = type(self).__name__.lower()
        self.name = name or f"{kind}_{next(_counter)}"
        self.trainable = trainable
        self._weights = None  # arrays to copy in at the next build
        self._model = None    # a weak reference to the model last built with the layer

    def _built_model(self):
        model = self._model() if self._model is not None else None
        return model if model is not None and model._graph is not None else None

    def get_weights(self):
        """The layer's parameters as float32 arrays, in the order the layer
        declares them (weight, bias; gamma, beta, running_mean,
        running_var): copies from the model last built with it, else those
        given to set_weights, else [].

        Examples
        --------
        >>> from dagnet.nn import Dense, Sequential
        >>> dense = Dense(3, name="d")
        >>> _ = Sequential([dense]).build(input_shape=(2,), random_state=0)
        >>> [w.shape for w in dense.get_weights()]
        [(2, 3), (3,)]
        """
        model = self._built_model()
        if model is not None:
            return [w.copy() for w in model._layer_values(self)]
        return [w.copy() for w in self._weights] if self._weights is not None else []

    def set_weights(self, weights):
        """Set the layer's parameters (arrays in get_weights' order): in the
        model last built with it, else kept and copied in at the next build
        (their shapes are checked then)."""
        arrays = _weight_arrays(self, weights)
        model = self._built_model()
        if model is None:
            self._weights = arrays
            return
        _copy_weights(self, model._layer_values(self), arrays)

    def __getstate__(self):
        """A copy or pickle carries the current weights, not the model."""
        state = self.__dict__.copy()
        model = self._built_model()
        if model is not None:
            state["_weights"] = self.get_weights() or None
        state["_model"] = None
        return state

    def __call__(self, *nodes):
        if len(nodes) == 1 and isinstance(nodes[0], (list, tuple)):
            nodes = tuple(nodes[0])
        for x in nodes:
            if not isinstance(x, Node):
                raise TypeError(f"{self.name} must be called on nodes (from Input or another "
                                f"layer), got {type(x).__name__}")
        if self.n_inputs > 0 and len(nodes) != self.n_inputs:
            raise ValueError(f"{self.name} takes {self.n_inputs} input(s), got {len(nodes)}")
        if self.n_inputs < 0 and len(nodes) < 2:
            raise ValueError(f"{self.name} joins at least 2 inputs, got {len(nodes)}")
        return Node(self, nodes)

    def emit(self, g, ids):
        """Add this layer's core nodes reading from node ids; return the id of
        its output."""
        raise NotImplementedError

    #: The layer acts on each step of a sequence alone, so the mask of padded
    #: steps (dagnet.nn.recurrent) passes through it.
    supports_masking = False

    def emit_masked(self, g, ids, masks):
        """emit, with the masks of the inputs (a core node id of (T,) per
        sample, or None each); returns (output id, its mask or None). Layers
        that make or read masks override it."""
        out = self.emit(g, ids)
        return out, (masks[0] if self.supports_masking and masks else None)

    def _name(self, g, node_id, suffix=""):
        g.set_name(node_id, self.name + suffix)
        return node_id

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


class InputLayer(Layer):
    n_inputs = 0

    def __init__(self, shape, name=None):
        super().__init__(name)
        self.shape = _int_tuple("an Input's shape (of one sample, without the batch dimension)",
                                shape, 0)


def _weight_arrays(layer, weights):
    """The arrays given to set_weights as float32 copies, each checked to hold
    finite numbers within float32's range."""
    if not isinstance(weights, (list, tuple)):
        raise TypeError(f"layer {layer.name!r}: set_weights takes a list of arrays in the order "
                        f"of get_weights(), got {type(weights).__name__}")
    arrays = []
    for k, w in enumerate(weights):
        name = f"weights[{k}] of layer {layer.name!r}"
        a = np.asarray(w)
        if a.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold numbers, got dtype {a.dtype}")
        a = np.array(check_float32_range(a, name), dtype=np.float32)
        if not np.isfinite(a).all():
            raise ValueError(f"{name} holds NaN or infinite values; give finite weights")
        arrays.append(a)
    return arrays


def _copy_weights(layer, targets, arrays):
    """Write arrays into a layer's parameter views, checking their shapes."""
    want = [t.shape for t in targets]
    got = [a.shape for a in arrays]
    if want != got:
        raise ValueError(f"layer {layer.name!r} has weights of shapes {want}; got {got}. Give "
                         f"arrays in the order and shapes of get_weights()")
    for t, a in zip(targets, arrays):
        t[...] = a


def Input(shape, name=None):
    """A model input with per-sample ``shape`` (no batch dimension)."""
    return Node(InputLayer(shape, name), [])


def node_shape(node):
    """The per-sample shape of a node of the functional builder (a graph of
    its ancestors is built to infer it)."""
    from dagnet.nn.model import _topological_layers
    g = _core.Graph()
    ids = {}
    masks = {}
    for n in _topological_layers([node]):
        if isinstance(n.layer, InputLayer):
            ids[id(n)] = g.add_input(n.layer.shape)
        else:
            ids[id(n)], masks[id(n)] = n.layer.emit_masked(
                g, [ids[id(p)] for p in n.inputs], [masks.get(id(p)) for p in n.inputs])
    g.set_outputs([ids[id(node)]])
    g.compile(0)
    return g.node_shape(ids[id(node)])[0]
