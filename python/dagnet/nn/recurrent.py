"""Recurrent layers and what feeds them: ``SimpleRNN``, ``LSTM``, ``GRU``
(``Bidirectional`` as in Keras), ``Embedding``, ``Masking`` and
``TimeDistributed``; ``decode`` runs an encoder-decoder's decoder token by
token.

Samples are sequences of shape (T, F), time first (Keras' and PyTorch's
``batch_first`` layout). Each recurrent layer runs the whole sequence in one
fused kernel of the core, forward and backward through time
(include/dagnet/ops.h, "Recurrent layers"; seed 003 chapter 8):

- ``SimpleRNN``: h(t) = act(x(t) W_x + h(t-1) W_h + b) (seed 003 section 8.2);
- ``LSTM``: gates i, f, g, o; c(t) = f c(t-1) + i g, h(t) = o tanh(c(t))
  (section 8.8), with the seeds' diagonal peepholes on c(t-1) as an option;
- ``GRU``: the seeds' form by default, the reset gate applied to h(t-1) before
  the recurrent product (section 8.7), PyTorch's and cuDNN's with
  ``reset_after=True``; the candidate's activation tanh or relu.

Padding: a ``Masking`` layer (or an ``Embedding`` with ``mask_zero=True``)
marks the steps whose features all equal its mask value; the mask travels
with the data to the recurrent layers, whose masked steps keep the state,
output zeros and get no gradient, so padded sequences are plain arrays.
Layers that act on each step alone (Dense, Activation, Dropout, LayerNorm,
TimeDistributed) pass the mask on, as does a recurrent layer returning
sequences.
"""

import copy

import numpy as np

from dagnet import _core
from dagnet.nn.base import Layer, Node, _is_int

_GATES = {"rnn": 1, "lstm": 4, "gru": 3}
_MERGE = ("concat", "sum", "mul", "ave")


def _seq_shape(g, node_id, who):
    shape, batched = g.infer_shape(node_id)
    if not batched or len(shape) != 2:
        raise ValueError(f"{who} reads sequences of shape (steps, features) per sample, got "
                         f"{tuple(shape)}; reshape the input, e.g. with input_shape=(T, F)")
    return shape


class _Recurrent(Layer):
    """The recurrent layers' shared machinery (see the module docstring).

    Parameters
    ----------
    units : int
        The size H of the hidden state.
    activation : str
        SimpleRNN: 'tanh' (default), 'relu' or 'sigmoid'; GRU: the
        candidate's, 'tanh' or 'relu'; LSTM: 'tanh' only (its g and tanh(c)).
    use_bias : bool
    return_sequences : bool
        True: the output is every step's state (T, D H); False: the last
        state (D H,), which under a mask is the state after the last real step.
    return_state : bool
        Calling the layer returns [output, final h, (final c)] per direction,
        as Keras does.
    go_backwards : bool
        Run from the last step to the first (the output sequence reversed).
    bidirectional : bool
        A second direction, with its own weights, from the last step to the
        first; ``merge_mode`` joins the two: 'concat' (D H columns), 'sum',
        'mul' or 'ave'.
    dropout : float
        Dropout on the layer's inputs (each element, in training).
    recurrent_dropout : float
        Dropout on h(t-1) where it enters the recurrent product, with one mask
        per sequence for all its steps (Gal and Ghahramani, 2016), in
        training.
    truncate : int
        Backpropagation through time truncated to chunks of this many steps
        (0: the whole sequence).
    kernel_initializer, recurrent_initializer, bias_initializer : str
        The input kernel's ('glorot_uniform'), the recurrent kernel's
        ('orthogonal', or any of dagnet.nn.INITIALIZERS) and the biases'.
    unit_forget_bias : bool
        LSTM: the forget gate's bias starts at 1 (Jozefowicz et al., 2015).
    trainable : bool

    The layer takes its initial states as further inputs: ``layer(x, h0)``
    or, for an LSTM, ``layer(x, h0, c0)``, each of D H values per sample.
    """

    supports_masking = True

    def __init__(self, units, activation="tanh", use_bias=True, return_sequences=False,
                 return_state=False, go_backwards=False, bidirectional=False,
                 merge_mode="concat", dropout=0.0, recurrent_dropout=0.0, truncate=0,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, name=None, trainable=True,
                 **cell_options):
        super().__init__(name, trainable)
        self.units = units
        self.activation = activation
        self.use_bias = use_bias
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.bidirectional = bidirectional
        self.merge_mode = merge_mode
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.truncate = truncate
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        self.unit_forget_bias = unit_forget_bias
        for key, value in cell_options.items():
            setattr(self, key, value)

    @property
    def _directions(self):
        return 2 if self.bidirectional else 1

    def _n_states(self):
        return 2 if self._cell == "lstm" else 1

    def __call__(self, *nodes):
        if len(nodes) == 1 and isinstance(nodes[0], (list, tuple)):
            nodes = tuple(nodes[0])
        if not 1 <= len(nodes) <= 1 + self._n_states():
            raise ValueError(f"{self.name} takes the sequence and at most {self._n_states()} "
                             f"initial state(s), got {len(nodes)} inputs")
        for x in nodes:
            if not isinstance(x, Node):
                raise TypeError(f"{self.name} must be called on nodes (from Input or another "
                                f"layer), got {type(x).__name__}")
        raw = Node(self, nodes)
        out = Node(_RecurrentPart(self, "output"), [raw])
        if not self.return_state:
            return out
        parts = [out]
        for d in range(self._directions):
            for k in ("h", "c")[:self._n_states()]:
                parts.append(Node(_RecurrentPart(self, k, d), [raw]))
        return parts

    def _check(self):
        who = self.name
        if not _is_int(self.units) or self.units < 1:
            raise ValueError(f"{who}: units must be a positive int, got {self.units!r}")
        acts = {"rnn": ("tanh", "relu", "sigmoid"), "gru": ("tanh", "relu"),
                "lstm": ("tanh",)}[self._cell]
        if self.activation not in acts:
            raise ValueError(f"{who}: activation must be one of {acts}, got {self.activation!r}")
        if self.merge_mode not in _MERGE:
            raise ValueError(f"{who}: merge_mode must be one of {_MERGE}, got "
                             f"{self.merge_mode!r}")
        if self.go_backwards and self.bidirectional:
            raise ValueError(f"{who}: go_backwards and bidirectional cannot be combined; a "
                             f"bidirectional layer already runs both ways")
        for what in ("dropout", "recurrent_dropout"):
            v = getattr(self, what)
            if not (isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1):
                raise ValueError(f"{who}: {what} must be in [0, 1), got {v!r}")
        if not _is_int(self.truncate) or self.truncate < 0:
            raise ValueError(f"{who}: truncate must be an int >= 0, got {self.truncate!r}")

    def _options(self):
        return {}

    def emit_masked(self, g, ids, masks):
        self._check()
        x = ids[0]
        _seq_shape(g, x, self.name)
        if self.dropout:
            x = g.add_node("dropout", [x], rate=float(self.dropout))
            g.set_name(x, self.name + ".dropout")
        mask = masks[0] if masks else None
        inputs = [x] + ([mask] if mask is not None else []) + list(ids[1:])
        r = g.add_node("recurrent", inputs, cell=self._cell, units=self.units,
                       act=self.activation, use_bias=self.use_bias,
                       directions=self._directions, go_backwards=self.go_backwards,
                       has_mask=mask is not None, truncate=self.truncate,
                       recurrent_dropout=float(self.recurrent_dropout),
                       w_init=self.kernel_initializer, b_init=self.bias_initializer,
                       **self._options())
        return self._name(g, r), mask

    def emit(self, g, ids):
        return self.emit_masked(g, ids, None)[0]

    def _init_weights(self, arrays, seed):
        """Fresh weights (the core drew both kernels from
        kernel_initializer): the recurrent kernel from recurrent_initializer,
        'orthogonal' giving each direction's (H, G H) orthonormal rows as
        Keras' initializer does, and the LSTM's forget bias."""
        H, D = self.units, self._directions
        G = _GATES[self._cell]
        wh = arrays[1].reshape(D, H, G * H)
        if self.recurrent_initializer == "orthogonal":
            rng = np.random.default_rng(seed)
            for d in range(D):
                q, r = np.linalg.qr(rng.standard_normal((G * H, H)))
                wh[d] = (q * np.where(np.diag(r) < 0, -1.0, 1.0)).T
        elif self.recurrent_initializer != self.kernel_initializer:
            wh[...] = _core.init_fill(wh.shape, self.recurrent_initializer, 1.0, H, G * H,
                                      seed=seed)
        if self._cell == "lstm" and self.unit_forget_bias and self.use_bias:
            arrays[2].reshape(D, G * H)[:, H:2 * H] += 1.0


class SimpleRNN(_Recurrent):
    """An Elman network's recurrent layer (seed 002 section 6, seed 003
    section 8.2): h(t) = act(x(t) W_x + h(t-1) W_h + b). Parameters as the
    other recurrent layers (see ``LSTM``).

    Examples
    --------
    >>> import numpy as np
    >>> from dagnet.nn import Sequential, SimpleRNN
    >>> model = Sequential([SimpleRNN(4, return_sequences=True)])
    >>> model.build(input_shape=(6, 3), random_state=0).forward(np.ones((2, 6, 3))).shape
    (2, 6, 4)
    """

    _cell = "rnn"


class LSTM(_Recurrent):
    """A long short-term memory layer (seed 003 section 8.8): gates i, f, o
    = sigmoid(x W_x + h(t-1) W_h + b [+ p c(t-1)]), g = tanh(...),
    c(t) = f c(t-1) + i g, h(t) = o tanh(c(t)). Weights: kernel (F, 4H),
    recurrent_kernel (H, 4H), bias (4H,) in gate order i, f, g, o (PyTorch's
    weight_ih_l0 and weight_hh_l0 transposed, b_ih + b_hh), with a leading
    axis of 2 when bidirectional; peepholes (3, H) for i, f and o.

    Parameters
    ----------
    peepholes : bool
        The seeds' diagonal peepholes: f, i and o each read c(t-1).
    Others as ``_Recurrent``'s: units, activation, use_bias,
    return_sequences, return_state, go_backwards, bidirectional, merge_mode,
    dropout, recurrent_dropout, truncate, the initializers, unit_forget_bias,
    trainable.

    Examples
    --------
    >>> import numpy as np
    >>> from dagnet.nn import Dense, Input, LSTM, Masking, Model
    >>> x = Input((5, 2))
    >>> h = LSTM(8)(Masking(0.0)(x))
    >>> model = Model(x, Dense(1)(h)).build(random_state=0)
    >>> X = np.random.default_rng(0).standard_normal((3, 5, 2))
    >>> X[0, 3:] = 0.0  # the first sequence has 3 steps, then padding
    >>> X2 = X.copy(); X2[0, 3:] = 0.0
    >>> bool(np.allclose(model.forward(X), model.forward(X2)))
    True
    """

    _cell = "lstm"

    def __init__(self, units, peepholes=False, **kw):
        super().__init__(units, peepholes=peepholes, **kw)

    def _options(self):
        return {"peepholes": bool(self.peepholes)}


class GRU(_Recurrent):
    """A gated recurrent unit layer, gates r, z and candidate n (seed 003
    section 8.7): r, z = sigmoid(x W_x + h(t-1) W_h + b); the seeds' form
    n = act(x W_xn + b_n + (r h(t-1)) W_hn), and with ``reset_after=True``
    (PyTorch's nn.GRU, Keras' default) n = act(x W_xn + b_n + r (h(t-1) W_hn +
    b_hn)); h(t) = z h(t-1) + (1 - z) n. z = 1 keeps the state. Weights:
    kernel (F, 3H), recurrent_kernel (H, 3H), bias (3H,), and with
    reset_after a recurrent_bias (3H,), in gate order r, z, n.

    Parameters
    ----------
    reset_after : bool
    activation : 'tanh' or 'relu'
        The candidate's (relu gives the seeds' leaky-integrator GRU).
    Others as ``LSTM``'s.
    """

    _cell = "gru"

    def __init__(self, units, reset_after=False, **kw):
        super().__init__(units, reset_after=reset_after, **kw)

    def _options(self):
        return {"reset_after": bool(self.reset_after)}


class _RecurrentPart(Layer):
    """One output of a recurrent layer, cut from the core node's rows: the
    sequence (or the last state), or a final h or c of one direction."""

    supports_masking = True

    def __init__(self, layer, what, direction=0):
        suffix = what if what == "output" else f"{what}{direction}"
        super().__init__(f"{layer.name}.{suffix}")
        self.layer, self.what, self.direction = layer, what, direction

    def emit_masked(self, g, ids, masks):
        lay, raw = self.layer, ids[0]
        rows, cols = g.infer_shape(raw)[0]
        H, D = lay.units, lay._directions
        T = rows - lay._n_states()
        if self.what != "output":
            row = T + (1 if self.what == "c" else 0)
            return self._cut(g, raw, row, self.direction * H, H), None
        if lay.return_sequences:
            seq = self._name(g, g.add_node("slice", [raw], axis=1, start=0, stop=T), ".seq")
            return self._merge(g, seq, H, D, axis=2), (masks[0] if masks else None)
        last = self._cut(g, raw, T, 0, D * H)
        return self._merge(g, last, H, D, axis=1), None

    def _cut(self, g, raw, row, col, width):
        r = g.add_node("slice", [raw], axis=1, start=row, stop=row + 1)
        r = g.add_node("reshape", [r], shape=(-1,))
        if width == g.infer_shape(r)[0][0]:
            return self._name(g, r)
        return self._name(g, g.add_node("slice", [r], axis=1, start=col, stop=col + width))

    def _merge(self, g, x, H, D, axis):
        mode = self.layer.merge_mode
        if D == 1 or mode == "concat":
            return x
        a = g.add_node("slice", [x], axis=axis, start=0, stop=H)
        b = g.add_node("slice", [x], axis=axis, start=H, stop=2 * H)
        if mode == "mul":
            return self._name(g, g.add_node("mul", [a, b]))
        s = g.add_node("add", [a, b])
        if mode == "ave":
            s = g.add_node("scale", [s], scale=0.5)
        return self._name(g, s)

    def emit(self, g, ids):
        return self.emit_masked(g, ids, None)[0]


class Masking(Layer):
    """Marks padding: a step whose features all equal ``mask_value`` is
    masked, and its values are set to 0 (as Keras does); the recurrent layers
    after it skip masked steps.

    Examples
    --------
    >>> import numpy as np
    >>> from dagnet.nn import Masking, Sequential, SimpleRNN
    >>> model = Sequential([Masking(-1.0), SimpleRNN(3)]).build((4, 2), random_state=0)
    >>> X = np.ones((2, 4, 2))
    >>> X[1, 2:] = -1.0  # the second sequence: 2 steps, then padding
    >>> out = model.forward(X)
    >>> short = Sequential(model.layers[1:]).build((2, 2))  # the same weights, 2 steps
    >>> bool(np.allclose(out[1], short.forward(X[1:, :2])[0], atol=1e-6))
    True
    """

    def __init__(self, mask_value=0.0, name=None):
        super().__init__(name)
        self.mask_value = mask_value

    def emit_masked(self, g, ids, masks):
        x = ids[0]
        shape = _seq_shape(g, x, self.name)
        m = self._name(g, g.add_node("sequence_mask", [x], scale=float(self.mask_value)),
                       ".mask")
        col = g.add_node("reshape", [m], shape=(shape[0], 1))
        return self._name(g, g.add_node("mul", [x, col])), m

    def emit(self, g, ids):
        return self.emit_masked(g, ids, None)[0]


class Embedding(Layer):
    """Token ids (T,) per sample, as integers or floats, to vectors (T, dim):
    row id of a (vocab_size, dim) table. ``mask_zero=True`` masks the steps
    whose id is 0 (padding) for the recurrent layers after it. Ids must be
    whole numbers in [0, vocab_size).

    Examples
    --------
    >>> import numpy as np
    >>> from dagnet.nn import Embedding, Sequential
    >>> model = Sequential([Embedding(10, 4)]).build(input_shape=(3,), random_state=0)
    >>> model.forward(np.array([[1, 2, 2]])).shape
    (1, 3, 4)
    """

    def __init__(self, vocab_size, dim, mask_zero=False, embeddings_initializer="uniform",
                 embeddings_scale=0.05, name=None, trainable=True):
        super().__init__(name, trainable)
        self.vocab_size = vocab_size
        self.dim = dim
        self.mask_zero = mask_zero
        self.embeddings_initializer = embeddings_initializer
        self.embeddings_scale = embeddings_scale

    def emit_masked(self, g, ids, masks):
        for what, v in (("vocab_size", self.vocab_size), ("dim", self.dim)):
            if not _is_int(v) or v < 1:
                raise ValueError(f"{self.name}: {what} must be a positive int, got {v!r}")
        shape, batched = g.infer_shape(ids[0])
        if not batched or len(shape) != 1:
            raise ValueError(f"{self.name} reads token ids of shape (steps,) per sample, got "
                             f"{tuple(shape)}")
        e = g.add_node("embedding", ids, vocab=self.vocab_size, units=self.dim,
                       w_init=self.embeddings_initializer, w_scale=self.embeddings_scale)
        self._name(g, e)
        if not self.mask_zero:
            return e, None
        m = g.add_node("sequence_mask", ids, scale=0.0)
        return e, self._name(g, m, ".mask")

    def emit(self, g, ids):
        return self.emit_masked(g, ids, None)[0]


def Bidirectional(layer, merge_mode="concat"):
    """Keras' wrapper, for code written against it: a copy of the recurrent
    ``layer`` (SimpleRNN, LSTM or GRU, not yet used) with
    ``bidirectional=True`` and ``merge_mode``; the second direction gets its
    own weights. The same as giving the layer those arguments.

    Examples
    --------
    >>> import numpy as np
    >>> from dagnet.nn import LSTM, Bidirectional, Sequential
    >>> model = Sequential([Bidirectional(LSTM(4, return_sequences=True))])
    >>> model.build(input_shape=(5, 3), random_state=0).forward(np.ones((2, 5, 3))).shape
    (2, 5, 8)
    """
    if not isinstance(layer, _Recurrent):
        raise TypeError(f"Bidirectional wraps a SimpleRNN, LSTM or GRU, got "
                        f"{type(layer).__name__}")
    if layer.bidirectional:
        raise ValueError(f"{layer.name} is bidirectional already")
    if layer._built_model() is not None or layer._weights is not None:
        raise ValueError(f"{layer.name} has weights for one direction; wrap a new layer")
    twin = copy.copy(layer)
    twin.bidirectional = True
    twin.merge_mode = merge_mode
    return twin


class TimeDistributed(Layer):
    """Apply a layer to every step of a sequence: ``TimeDistributed(Dense(k))``
    gives per-step outputs (T, k), the head of sequence labelling. dagnet's
    Dense, Activation, Dropout and LayerNorm already act on the last axis, so
    this wraps one of those (a clear error for others) and passes the mask
    on."""

    supports_masking = True
    _PER_STEP = ("Dense", "Activation", "Dropout", "LayerNorm", "SpectralDense")

    def __init__(self, layer, name=None):
        super().__init__(name or f"time_distributed_{getattr(layer, 'name', 'layer')}",
                         trainable=getattr(layer, "trainable", True))
        self.layer = layer

    def emit(self, g, ids):
        if type(self.layer).__name__ not in self._PER_STEP:
            raise ValueError(f"{self.name}: TimeDistributed applies {', '.join(self._PER_STEP)}; "
                             f"got {type(self.layer).__name__}")
        _seq_shape(g, ids[0], self.name)
        return self.layer.emit(g, ids)


def decode(step_model, states, start, steps, temperature=None, random_state=None):
    """Run a decoder one token at a time (seed 003 section 8.5, seed 004
    section 6.1): ``step_model`` maps [tokens (n, 1), *states] to [logits
    (n, 1, vocab), *new states], the decoder of an encoder-decoder model
    rebuilt for one step with the trained layers. ``states`` starts it (the
    encoder's final states), ``start`` is the first input token (an int, or
    one per sequence). Greedy (the most likely token) without a
    ``temperature``; with one, each token is drawn from softmax(logits /
    temperature). Returns the tokens (n, steps).

    Examples
    --------
    >>> import numpy as np
    >>> from dagnet.nn import GRU, Dense, Embedding, Input, Model, decode
    >>> x, h0 = Input((1,)), Input((8,))
    >>> gru, head = GRU(8, return_sequences=True, return_state=True), Dense(5)
    >>> out, h = gru(Embedding(5, 4)(x), h0)
    >>> step = Model([x, h0], [head(out), h]).build(random_state=0)
    >>> decode(step, [np.zeros((3, 8))], start=1, steps=4).shape
    (3, 4)
    """
    from dagnet._validation import seed_from

    states = [np.asarray(s, dtype=np.float32) for s in states]
    n = len(states[0])
    tok = np.broadcast_to(np.asarray(start, dtype=np.float32).reshape(-1, 1), (n, 1)).copy()
    rng = np.random.default_rng(seed_from(random_state)) if temperature else None
    out = np.empty((n, int(steps)), dtype=np.int64)
    for t in range(int(steps)):
        logits, *states = step_model.forward([tok] + states)
        z = np.asarray(logits, dtype=np.float64).reshape(n, -1)
        if temperature:
            z = (z - z.max(axis=1, keepdims=True)) / float(temperature)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            choice = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
        else:
            choice = z.argmax(axis=1)
        out[:, t] = choice
        tok = choice.astype(np.float32).reshape(n, 1)
    return out
