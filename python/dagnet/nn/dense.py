"""Dense layers and what acts on their units: ``Dense``, ``SpectralDense``,
``Activation`` and ``Dropout``.
"""

import numpy as np

from dagnet import _core
from dagnet.nn.base import Layer, _check_activation, _is_int


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
    supports_masking = True

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

    supports_masking = True

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

    supports_masking = True

    def __init__(self, rate, name=None):
        super().__init__(name)
        self.rate = rate

    def emit(self, g, ids):
        if not (isinstance(self.rate, (int, float, np.integer, np.floating))
                and 0 <= self.rate < 1):
            raise ValueError(f"{self.name}: rate must be a number in [0, 1), got {self.rate!r}")
        return self._name(g, g.add_node("dropout", ids, rate=self.rate))


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
