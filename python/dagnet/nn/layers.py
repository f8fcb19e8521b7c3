"""Layers: each emits nodes into the core's graph.

A layer is called on symbolic nodes (the functional builder) or stacked in a
``Sequential``; ``Model.build`` asks every layer to emit its core nodes in
order. Names of parameters are ``<layer name>.<weight|bias|gamma|beta|...>``.

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
    trainable : bool
        False freezes the layer's weights (see Layer).
    """

    _op = "linear"

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_scale=1.0, bias_scale=0.0, alpha=None, name=None, trainable=True):
        super().__init__(name, trainable)
        self.units = units
        self.activation = activation
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_scale = kernel_scale
        self.bias_scale = bias_scale
        self.alpha = alpha

    def emit(self, g, ids):
        if not _is_int(self.units) or self.units < 1:
            raise ValueError(f"{self.name}: units must be a positive int, got {self.units!r}")
        act = _check_activation(self.activation)
        alpha = self.alpha if self.alpha is not None else (1.0 if act == "elu" else 0.01)
        fused = act is None or (act in _core.act_names() and _core.act_fusable(act))
        lin = g.add_node(self._op, ids, units=self.units, use_bias=self.use_bias,
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
        if not (isinstance(self.rate, (int, float, np.integer, np.floating))
                and 0 <= self.rate < 1):
            raise ValueError(f"{self.name}: rate must be a number in [0, 1), got {self.rate!r}")
        return self._name(g, g.add_node("dropout", ids, rate=self.rate))


class BatchNorm(Layer):
    """Batch normalisation over every axis but ``axis`` of the full tensor
    (batch first), seed 000 section 8. The default 1 is the features of
    (n, f) data and the channels of NCHW images (axis 0 of a sample
    (C, H, W)): each channel is normalised over the batch, H and W. Batch
    statistics in training, running statistics at inference."""

    def __init__(self, axis=1, momentum=0.1, eps=1e-5, name=None, trainable=True):
        super().__init__(name, trainable)
        self.axis = axis
        self.momentum = momentum
        self.eps = eps

    def emit(self, g, ids):
        return self._name(g, g.add_node("batchnorm", ids, axis=self.axis,
                                        momentum=self.momentum, eps=self.eps))


class LayerNorm(Layer):
    """Layer normalisation over the last axis (seed 000, section 8)."""

    def __init__(self, eps=1e-5, name=None, trainable=True):
        super().__init__(name, trainable)
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
        self._split = None  # (name, sizes) of the Split this slice is a part of

    def _check_split(self, g, src):
        """The sizes of the Split this slice belongs to add up to the axis."""
        base, sizes = self._split
        shape, batched = g.infer_shape(src)
        full = (("batch",) if batched else ()) + tuple(shape)
        axis = self.axis + len(full) if self.axis < 0 else self.axis
        if not (batched and 1 <= axis < len(full)):
            return  # the slice itself says what is wrong with the axis
        if sum(sizes) != full[axis]:
            shown = "(" + ", ".join(map(str, full)) + ")"
            raise ValueError(f"{base}: the part sizes {list(sizes)} add up to {sum(sizes)}, but "
                             f"axis {self.axis} of the input {shown} has length {full[axis]}; "
                             f"give sizes that add up to {full[axis]}")

    def emit(self, g, ids):
        if getattr(self, "_split", None) is not None:
            self._check_split(g, ids[0])
        stop = (1 << 62) if self.stop is None else self.stop
        return self._name(g, g.add_node("slice", ids, axis=self.axis, start=self.start,
                                        stop=stop))


def Split(node, sizes, axis=-1, name=None):
    """Split a node along ``axis`` into consecutive parts of ``sizes``, which
    must add up to the axis' length (checked when the model is built);
    returns one node per part."""
    base = name or f"split_{next(_counter)}"
    sizes = _int_tuple(f"{base}: the part sizes", sizes, 1)
    out, start = [], 0
    for k, size in enumerate(sizes):
        part = Slice(start, start + size, axis=axis, name=f"{base}.{k}")
        part._split = (base, sizes)
        out.append(part(node))
        start += size
    return out


# --- images (NCHW: per-sample (channels, height, width)) ---------------------------------------

def _pair(name, layer, value):
    if isinstance(value, (int,)) and not isinstance(value, bool):
        value = (value, value)
    try:
        v = tuple(int(x) for x in value)
    except (TypeError, ValueError):
        v = ()
    if len(v) != 2 or min(v) < 1:
        raise ValueError(f"{layer}: {name} must be a positive int or a pair (h, w) of them, "
                         f"got {value!r}")
    return v


def _padding4(layer, padding):
    """An int, (h, w) or (top, bottom, left, right) as four ints >= 0."""
    if isinstance(padding, (int,)) and not isinstance(padding, bool):
        padding = (padding,) * 4
    try:
        v = tuple(int(x) for x in padding)
    except (TypeError, ValueError):
        v = ()
    if len(v) == 2:
        v = (v[0], v[0], v[1], v[1])
    if len(v) != 4 or min(v) < 0:
        raise ValueError(f"{layer}: padding must be 'valid', 'same', an int >= 0, (h, w) or "
                         f"(top, bottom, left, right), got {padding!r}")
    return v


def _same_padding(size, kernel, stride, dilation):
    """TensorFlow's 'same' along one axis: output ceil(size / stride), total
    padding max((ceil(size / stride) - 1) stride + (kernel - 1) dilation + 1
    - size, 0), the odd pixel at the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _conv_padding(layer, padding, kernel, stride, dilation, input_shape):
    """Keras' 'valid' (none) and 'same' (output size ceil(input size /
    stride), as TensorFlow pads; with a stride the amounts depend on the
    input's height and width, from ``input_shape()``) as explicit (top,
    bottom, left, right)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            shape = input_shape()
            if len(shape) != 3:
                return (0, 0, 0, 0)  # not an image: compiling says what is wrong
            return _same_padding(shape[1], kernel[0], stride[0], dilation[0]) + \
                _same_padding(shape[2], kernel[1], stride[1], dilation[1])
        raise ValueError(f"{layer}: padding must be 'valid', 'same' or ints, got {padding!r}")
    return _padding4(layer, padding)


class _ConvBase(Layer):
    op = None

    def __init__(self, filters, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 use_bias=True, activation=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_scale=1.0, bias_scale=0.0, alpha=None,
                 name=None, trainable=True):
        super().__init__(name, trainable)
        self.filters = filters
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        self.use_bias = use_bias
        self.activation = activation
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_scale = kernel_scale
        self.bias_scale = bias_scale
        self.alpha = alpha

    def _extra(self, kernel, stride, dilation, input_shape):
        return {}

    def emit(self, g, ids):
        if not _is_int(self.filters) or self.filters < 1:
            raise ValueError(f"{self.name}: filters must be a positive int, got {self.filters!r}")
        if not _is_int(self.groups) or self.groups < 1:
            raise ValueError(f"{self.name}: groups must be a positive int, got {self.groups!r}")
        kernel = _pair("kernel_size", self.name, self.kernel_size)
        stride = _pair("stride", self.name, self.stride)
        dilation = _pair("dilation", self.name, self.dilation)
        act = _check_activation(self.activation)
        alpha = self.alpha if self.alpha is not None else (1.0 if act == "elu" else 0.01)
        fused = act is None or (act in _core.act_names() and _core.act_fusable(act))
        node = g.add_node(self.op, ids, units=self.filters, kernel=kernel, stride=stride,
                          dilation=dilation, groups=self.groups, use_bias=self.use_bias,
                          act=act if (fused and act) else "identity", alpha=alpha,
                          w_init=self.kernel_initializer, w_scale=self.kernel_scale,
                          b_init=self.bias_initializer, b_scale=self.bias_scale,
                          **self._extra(kernel, stride, dilation,
                                        lambda: g.infer_shape(ids[0])[0]))
        self._name(g, node)
        if fused:
            return node
        return Activation(act, alpha=alpha, name=self.name + ".act").emit(g, [node])


class Conv2D(_ConvBase):
    """A 2-D convolution (cross-correlation, as the seeds and every framework
    compute it) of NCHW images: (C_in, H, W) -> (filters, Ho, Wo), weight
    ``<name>.weight`` of shape (filters, C_in / groups, KH, KW) and bias
    ``<name>.bias`` (filters). Ho = floor((H + pad_top + pad_bottom -
    dilation (KH - 1) - 1) / stride) + 1.

    Parameters
    ----------
    filters : int
    kernel_size, stride, dilation : int or (h, w)
    padding : 'valid', 'same', int, (h, w) or (top, bottom, left, right)
        'same' gives Ho = ceil(H / stride) and pads as TensorFlow does: in
        all max((Ho - 1) stride + dilation (KH - 1) + 1 - H, 0) rows, the
        odd one at the bottom (columns likewise, the odd one at the right).
    groups : int
        Input and output channels split into this many independent groups;
        groups = C_in = filters is a depthwise convolution.
    use_bias : bool
    activation : str or None
        Activations whose derivative follows from the output are fused into
        the convolution; others follow it as a separate node.
    kernel_initializer, bias_initializer : str
        As Dense's; fan_in = C_in / groups KH KW, fan_out = filters KH KW / groups.
    trainable : bool
        False freezes the layer's weights (see Layer).

    Examples
    --------
    >>> import numpy as np
    >>> from dagnet.nn import Sequential, Conv2D
    >>> m = Sequential([Conv2D(6, 5)]).build(input_shape=(3, 32, 32), random_state=0)
    >>> m.forward(np.zeros((2, 3, 32, 32))).shape
    (2, 6, 28, 28)
    """
    op = "conv2d"

    def __init__(self, filters, kernel_size, stride=1, padding="valid", dilation=1, groups=1,
                 use_bias=True, activation=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_scale=1.0, bias_scale=0.0, alpha=None,
                 name=None, trainable=True):
        super().__init__(filters, kernel_size, stride, padding, dilation, groups, use_bias,
                         activation, kernel_initializer, bias_initializer, kernel_scale,
                         bias_scale, alpha, name, trainable)

    def _extra(self, kernel, stride, dilation, input_shape):
        return {"pad": _conv_padding(self.name, self.padding, kernel, stride, dilation,
                                     input_shape)}


class Conv2DTranspose(_ConvBase):
    """The transposed convolution: the gradient of a Conv2D with respect to
    its input, as a layer (seed 004: each input pixel scatters input x
    kernel into the output at stride offsets). Weight (C_in, filters /
    groups, KH, KW) as in PyTorch; Ho = (H - 1) stride - pad_top -
    pad_bottom + dilation (KH - 1) + output_padding + 1.

    padding (int, (h, w) or (top, bottom, left, right)) cuts rows and
    columns off the output; output_padding (< stride or < dilation) adds
    them at the bottom and right. padding='same' gives Ho = H stride, as
    TensorFlow's (the gradient of a 'same' Conv2D of an H stride input):
    with c = dilation (KH - 1) + 1 - stride it cuts c rows when c > 0, the
    odd one at the bottom, and adds -c rows at the bottom when c < 0;
    'valid' cuts none.

    Examples
    --------
    >>> import numpy as np
    >>> from dagnet.nn import Sequential, Conv2DTranspose
    >>> m = Sequential([Conv2DTranspose(4, 3, stride=2, padding=1, output_padding=1)])
    >>> m.build(input_shape=(8, 5, 5), random_state=0).forward(np.zeros((1, 8, 5, 5))).shape
    (1, 4, 10, 10)
    """
    op = "conv2d_transpose"

    def __init__(self, filters, kernel_size, stride=1, padding=0, output_padding=0, dilation=1,
                 groups=1, use_bias=True, activation=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_scale=1.0, bias_scale=0.0, alpha=None,
                 name=None, trainable=True):
        super().__init__(filters, kernel_size, stride, padding, dilation, groups, use_bias,
                         activation, kernel_initializer, bias_initializer, kernel_scale,
                         bias_scale, alpha, name, trainable)
        self.output_padding = output_padding

    def _extra(self, kernel, stride, dilation, input_shape):
        op = self.output_padding
        op = (op, op) if isinstance(op, int) else tuple(op)
        if len(op) != 2 or min(op) < 0:
            raise ValueError(f"{self.name}: output_padding must be an int >= 0 or a pair, got "
                             f"{self.output_padding!r}")
        if self.padding == "same":
            if op != (0, 0):
                raise ValueError(f"{self.name}: padding='same' sets the output padding itself; "
                                 f"leave output_padding at 0 (got {self.output_padding!r})")
            c = [dilation[k] * (kernel[k] - 1) + 1 - stride[k] for k in range(2)]
            cut = [max(ck, 0) for ck in c]
            return {"pad": (cut[0] // 2, cut[0] - cut[0] // 2, cut[1] // 2, cut[1] - cut[1] // 2),
                    "out_pad": (max(-c[0], 0), max(-c[1], 0))}
        pad = (0, 0, 0, 0) if self.padding == "valid" else _padding4(self.name, self.padding)
        return {"pad": pad, "out_pad": op}


class _Pool(Layer):
    op = None

    def __init__(self, pool_size=2, stride=None, padding=0, name=None):
        super().__init__(name)
        self.pool_size = pool_size
        self.stride = stride
        self.padding = padding

    def _attrs(self):
        kernel = _pair("pool_size", self.name, self.pool_size)
        stride = kernel if self.stride is None else _pair("stride", self.name, self.stride)
        return dict(kernel=kernel, stride=stride, pad=_padding4(self.name, self.padding))

    def emit(self, g, ids):
        return self._name(g, g.add_node(self.op, ids, **self._attrs()))


class MaxPool2D(_Pool):
    """The maximum over windows of ``pool_size`` moved by ``stride`` (default:
    the window) on each channel; padding (< the window) never wins. The
    gradient goes to the first maximum of each window."""
    op = "maxpool2d"


class AvgPool2D(_Pool):
    """The mean over windows of ``pool_size`` moved by ``stride`` (default: the
    window). With padding, ``count_include_pad=True`` (PyTorch's default)
    divides by the whole window, False by its real pixels."""
    op = "avgpool2d"

    def __init__(self, pool_size=2, stride=None, padding=0, count_include_pad=True, name=None):
        super().__init__(pool_size, stride, padding, name)
        self.count_include_pad = count_include_pad

    def _attrs(self):
        return dict(super()._attrs(), count_pad=bool(self.count_include_pad))


class GlobalAvgPool2D(Layer):
    """The mean of each channel: (C, H, W) -> (C)."""

    def emit(self, g, ids):
        return self._name(g, g.add_node("global_avgpool2d", ids))


class UpSampling2D(Layer):
    """Nearest-neighbour upsampling by integer factors ``size`` (int or
    (h, w)): (C, H, W) -> (C, H fh, W fw)."""

    def __init__(self, size=2, name=None):
        super().__init__(name)
        self.size = size

    def emit(self, g, ids):
        return self._name(g, g.add_node("upsample2d", ids,
                                        factor=_pair("size", self.name, self.size)))


def node_shape(node):
    """The per-sample shape of a node of the functional builder (a graph of
    its ancestors is built to infer it)."""
    from dagnet.nn.model import _topological_layers
    g = _core.Graph()
    ids = {}
    for n in _topological_layers([node]):
        if isinstance(n.layer, InputLayer):
            ids[id(n)] = g.add_input(n.layer.shape)
        else:
            ids[id(n)] = n.layer.emit(g, [ids[id(p)] for p in n.inputs])
    g.set_outputs([ids[id(node)]])
    g.compile(0)
    return g.node_shape(ids[id(node)])[0]


def residual_block(x, filters, stride=1, name=None):
    """A residual block of the functional builder (He et al.'s basic block;
    seed 000 section 9.5 names ResNet): two 3x3 convolutions with batch
    normalisation, ReLU after the first, joined with the shortcut by Add
    and followed by ReLU. The shortcut is ``x`` itself when the shapes
    agree, else a 1x1 convolution with ``stride`` and batch normalisation
    (a projection).

    Examples
    --------
    >>> import numpy as np
    >>> from dagnet.nn import Input, Model, residual_block
    >>> x = Input((8, 6, 6))
    >>> y = residual_block(residual_block(x, 8), 16, stride=2)
    >>> Model(x, y).build(random_state=0).forward(np.zeros((2, 8, 6, 6))).shape
    (2, 16, 3, 3)
    """
    base = name or f"residual_{next(_counter)}"
    h = Conv2D(filters, 3, stride=stride, padding=1, use_bias=False, name=f"{base}.conv1")(x)
    h = BatchNorm(name=f"{base}.bn1")(h)
    h = Activation("relu", name=f"{base}.relu1")(h)
    h = Conv2D(filters, 3, padding=1, use_bias=False, name=f"{base}.conv2")(h)
    h = BatchNorm(name=f"{base}.bn2")(h)
    shortcut = x
    if stride != 1 or node_shape(x)[0] != filters:
        shortcut = Conv2D(filters, 1, stride=stride, use_bias=False, name=f"{base}.proj")(x)
        shortcut = BatchNorm(name=f"{base}.proj_bn")(shortcut)
    h = Add(name=f"{base}.add")([h, shortcut])
    return Activation("relu", name=f"{base}.relu2")(h)


class SpectralDense(Dense):
    """A dense layer whose weight is divided by its largest singular value,
    estimated by one power-iteration step per training forward from a
    persistent vector (the non-trainable parameter ``<name>.u``): spectral
    normalisation (Miyato et al., 2018), which keeps the layer 1-Lipschitz,
    as a WGAN critic needs. Samples must be vectors (n_in,). Parameters as
    ``Dense``.

    Examples
    --------
    >>> import numpy as np
    >>> from dagnet.nn import Sequential, SpectralDense
    >>> model = Sequential([SpectralDense(3)]).build(input_shape=(4,), random_state=0)
    >>> for _ in range(50):  # each training forward refines the estimate
    ...     _ = model.forward(np.eye(4), training=True)
    >>> bool(np.isclose(np.linalg.norm(model.forward(np.eye(4)), 2), 1.0, atol=1e-3))
    True
    """

    _op = "spectral_linear"


class Reparameterize(Layer):
    """z = mu + exp(logvar / 2) * eps, eps ~ N(0, I) drawn in the core: a new
    draw in every training run; at inference one fixed draw shared by all
    samples, so results are a deterministic function of each sample. Called
    on ``[mu, logvar]`` (the VAE's reparameterisation, seed 004 7.2.1)."""

    n_inputs = 2

    def emit(self, g, ids):
        return self._name(g, g.add_node("reparameterize", ids))


class GaussianKL(Layer):
    """Per sample, KL(N(mu, diag exp(logvar)) || N(0, I)) =
    0.5 sum(mu^2 + exp(logvar) - logvar - 1), shape (1,). Called on
    ``[mu, logvar]``."""

    n_inputs = 2

    def emit(self, g, ids):
        return self._name(g, g.add_node("gaussian_kl", ids))
