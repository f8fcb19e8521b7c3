"""Layers: each emits nodes into the core's graph.

A layer is called on symbolic nodes (the functional builder) or stacked in a
``Sequential``; ``Model.build`` asks every layer to emit its core nodes in
order. Names of parameters are ``<layer name>.<weight|bias|gamma|beta|...>``.
"""

import itertools

from dagnet import _core

_ACTIVATIONS = _core.act_names() + ["softmax", "log_softmax"]
_counter = itertools.count()


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
    ``emit`` adds the core nodes once the model is built."""

    n_inputs = 1  # -1: any number >= 2

    def __init__(self, name=None):
        kind = type(self).__name__.lower()
        self.name = name or f"{kind}_{next(_counter)}"

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

    def _name(self, g, node_id, suffix=""):
        g.set_name(node_id, self.name + suffix)
        return node_id

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


class InputLayer(Layer):
    n_inputs = 0

    def __init__(self, shape, name=None):
        super().__init__(name)
        self.shape = tuple(int(d) for d in shape)


def Input(shape, name=None):
    """A model input with per-sample ``shape`` (no batch dimension)."""
    if isinstance(shape, int):
        shape = (shape,)
    return Node(InputLayer(shape, name), [])


class Dense(Layer):
    """A fully connected layer ``y = activation(x W + b)``, W of shape
    (n_in, units), applied to the last axis.

    Parameters
    ----------
    units : int
    activation : str or None
        Any of dagnet's activations, 'softmax' or 'log_softmax'. Activations
        whose derivative follows from the output are fused into the GEMM.
    use_bias : bool
    kernel_initializer, bias_initializer : str
        'glorot_uniform', 'he_normal', 'lecun_uniform', 'zeros', ... (see
        ``dagnet.nn.INITIALIZERS``).
    alpha : float
        Slope of 'leaky_relu' (0.01) or alpha of 'elu' (1.0).
    """

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_scale=1.0, bias_scale=0.0, alpha=None, name=None):
        super().__init__(name)
        self.units = units
        self.activation = activation
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_scale = kernel_scale
        self.bias_scale = bias_scale
        self.alpha = alpha

    def emit(self, g, ids):
        if not isinstance(self.units, (int,)) or isinstance(self.units, bool) or self.units < 1:
            raise ValueError(f"{self.name}: units must be a positive int, got {self.units!r}")
        act = _check_activation(self.activation)
        alpha = self.alpha if self.alpha is not None else (1.0 if act == "elu" else 0.01)
        fused = act is None or (act in _core.act_names() and _core.act_fusable(act))
        lin = g.add_node("linear", ids, units=self.units, use_bias=self.use_bias,
                         act=act if (fused and act) else "identity", alpha=alpha,
                         w_init=self.kernel_initializer, w_scale=self.kernel_scale,
                         b_init=self.bias_initializer, b_scale=self.bias_scale)
        self._name(g, lin)
        if fused:
            return lin
        return Activation(act, alpha=alpha, name=self.name + ".act").emit(g, [lin])


class Activation(Layer):
    """An elementwise activation, or softmax / log_softmax over ``axis``."""

    def __init__(self, activation, alpha=None, axis=-1, name=None):
        super().__init__(name)
        self.activation = activation
        self.alpha = alpha
        self.axis = axis

    def emit(self, g, ids):
        act = _check_activation(self.activation, allow_none=False)
        if act in ("softmax", "log_softmax"):
            return self._name(g, g.add_node(act, ids, axis=self.axis))
        alpha = self.alpha if self.alpha is not None else (1.0 if act == "elu" else 0.01)
        return self._name(g, g.add_node("activation", ids, act=act, alpha=alpha))


class Dropout(Layer):
    """Inverted dropout: during training each unit is zeroed with probability
    ``rate`` and kept units are scaled by 1 / (1 - rate); at inference it is
    the identity. In expectation this equals scaling at inference (seed 000,
    section 6.4)."""

    def __init__(self, rate, name=None):
        super().__init__(name)
        self.rate = rate

    def emit(self, g, ids):
        if not 0 <= self.rate < 1:
            raise ValueError(f"{self.name}: rate must be in [0, 1), got {self.rate}")
        return self._name(g, g.add_node("dropout", ids, rate=self.rate))


class BatchNorm(Layer):
    """Batch normalisation over every axis but ``axis`` (1: features of
    (n, f) data and channels of NCHW images), seed 000 section 8. Batch
    statistics in training, running statistics at inference."""

    def __init__(self, axis=1, momentum=0.1, eps=1e-5, name=None):
        super().__init__(name)
        self.axis = axis
        self.momentum = momentum
        self.eps = eps

    def emit(self, g, ids):
        return self._name(g, g.add_node("batchnorm", ids, axis=self.axis,
                                        momentum=self.momentum, eps=self.eps))


class LayerNorm(Layer):
    """Layer normalisation over the last axis (seed 000, section 8)."""

    def __init__(self, eps=1e-5, name=None):
        super().__init__(name)
        self.eps = eps

    def emit(self, g, ids):
        return self._name(g, g.add_node("layernorm", ids, eps=self.eps))


class Reshape(Layer):
    """Reshape each sample to ``shape`` (one entry may be -1)."""

    def __init__(self, shape, name=None):
        super().__init__(name)
        self.shape = tuple(shape)

    def emit(self, g, ids):
        return self._name(g, g.add_node("reshape", ids, shape=self.shape))


class Flatten(Reshape):
    """Flatten each sample to one dimension."""

    def __init__(self, name=None):
        super().__init__((-1,), name)


class _Join(Layer):
    n_inputs = -1
    op = None

    def emit(self, g, ids):
        out = ids[0]
        for k, other in enumerate(ids[1:]):
            out = g.add_node(self.op, [out, other])
            self._name(g, out, "" if k == len(ids) - 2 else f".{k}")
        return out


class Add(_Join):
    """Elementwise sum of its inputs (numpy broadcasting)."""
    op = "add"


class Multiply(_Join):
    """Elementwise product of its inputs (numpy broadcasting)."""
    op = "mul"


class Subtract(Layer):
    """The first input minus the second (numpy broadcasting)."""
    n_inputs = 2

    def emit(self, g, ids):
        return self._name(g, g.add_node("sub", ids))


class Concat(Layer):
    """Join inputs along ``axis`` (not the batch axis)."""
    n_inputs = -1

    def __init__(self, axis=-1, name=None):
        super().__init__(name)
        self.axis = axis

    def emit(self, g, ids):
        return self._name(g, g.add_node("concat", ids, axis=self.axis))


class Slice(Layer):
    """Entries [start, stop) along ``axis`` (not the batch axis); negative
    indices count from the end, ``stop=None`` runs to the end."""

    def __init__(self, start, stop=None, axis=-1, name=None):
        super().__init__(name)
        self.start, self.stop, self.axis = start, stop, axis

    def emit(self, g, ids):
        stop = (1 << 62) if self.stop is None else self.stop
        return self._name(g, g.add_node("slice", ids, axis=self.axis, start=self.start,
                                        stop=stop))


def Split(node, sizes, axis=-1, name=None):
    """Split a node along ``axis`` into consecutive parts of ``sizes``;
    returns one node per part."""
    base = name or f"split_{next(_counter)}"
    out, start = [], 0
    for k, size in enumerate(sizes):
        if int(size) < 1:
            raise ValueError(f"{base}: part sizes must be >= 1, got {list(sizes)}")
        out.append(Slice(start, start + int(size), axis=axis, name=f"{base}.{k}")(node))
        start += int(size)
    return out
