"""Image layers (NCHW: per-sample (channels, height, width)): ``Conv2D``,
``Conv2DTranspose``, the poolings ``MaxPool2D``, ``AvgPool2D`` and
``GlobalAvgPool2D``, ``UpSampling2D``, and the functional builder's
``residual_block``.
"""

from dagnet import _core
from dagnet.nn.base import Layer, _check_activation, _counter, _is_int, node_shape
from dagnet.nn.dense import Activation
from dagnet.nn.merge import Add
from dagnet.nn.normalization import BatchNorm


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
