"""What the generative estimators (VAE, GAN) share: their networks as
``dagnet.nn`` models with named layers, latent draws from the core's
Philox generator, pickling by parameter values, and the watch over their
losses that stops a diverging fit; and, with the Autoencoder, encoders and
decoders given as layer stacks and the checks of their input."""

import numbers
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_array, validate_data

from dagnet import _core
from dagnet._validation import dense_float32
from dagnet.nn import Dense, Input, Model, Sequential
from dagnet.nn.base import InputLayer, Layer
from dagnet.neural_network._base import DIVERGENCE_FACTOR, _check_range

# --- input and output ------------------------------------------------------------------


def output_dtype(X):
    """The dtype of what an estimator computes from X: float32 for float32
    X, float64 otherwise (the core computes in float32 either way)."""
    return np.dtype(np.float32) if X.dtype == np.float32 else np.dtype(np.float64)


def validate_dense(est, X, y=None, reset=True):
    """X (and y) checked by scikit-learn's validate_data, dense or CSR/CSC
    sparse, then range-checked for float32 and made a C-contiguous float32
    array for the core. Returns (X, the dtype of outputs computed from X)
    and y after X when given."""
    kw = dict(reset=reset, accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32))
    if y is None:
        X = validate_data(est, X, **kw)
    else:
        X, y = validate_data(est, X, y, **kw)
    dtype = output_dtype(X)
    X = dense_float32(X, "X")
    return (X, dtype) if y is None else (X, dtype, y)


def check_codes(Z, width, what):
    """Latent points or codes (dense or sparse) of `width` values for
    inverse_transform: (float32 array, the dtype of the output)."""
    Z = check_array(Z, accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32))
    if Z.shape[1] != width:
        raise ValueError(f"inverse_transform takes {what} of shape (n_samples, {width}); got "
                         f"{Z.shape}")
    return dense_float32(Z, "X"), output_dtype(Z)


def check_n_samples(n_samples):
    """sample()'s n_samples: an int >= 1."""
    if not (isinstance(n_samples, numbers.Integral) and not isinstance(n_samples, bool)
            and n_samples >= 1):
        raise ValueError(f"n_samples is the number of rows to draw and must be an int >= 1; "
                         f"got {n_samples!r}")
    return int(n_samples)


# --- divergence ----------------------------------------------------------------------------


class DivergenceGuard:
    """Watches the losses of a fit: when one turns NaN or infinite, or grows
    beyond DIVERGENCE_FACTOR (the MLPs' factor) times its size at the start
    of training (or 1, whichever is larger), training stops and the
    estimator gets back the state of its last sound epoch; then, as the MLPs
    do, a loss that grew gives a ConvergenceWarning and a non-finite one a
    ValueError, each saying what to do.

    `save()` returns a copy of what training changes (parameters, optimiser
    state, counters) and `load(copy)` puts it back; `scale`: the size of the
    losses when training started (None: the first loss checked)."""

    def __init__(self, name, advice, save, load, scale=None):
        self.name, self.advice, self.save, self.load = name, advice, save, load
        self.scale = scale if scale is not None and np.isfinite(scale) else None
        self.kept = save()

    def sound(self, loss):
        if not np.isfinite(loss):
            return False
        if self.scale is None:
            self.scale = abs(float(loss))
        return abs(loss) <= DIVERGENCE_FACTOR * max(1.0, self.scale)

    def epoch_done(self):
        """The epoch was sound: it is the one to go back to."""
        self.kept = self.save()

    def give_up(self, epoch, loss):
        self.load(self.kept)
        start = "" if self.scale is None else f" (about {self.scale:.3g} at the start)"
        msg = (f"{self.name}: training diverged in epoch {epoch}: the loss reached {loss:.3g}"
               f"{start}. Training stopped and the model keeps the parameters of the last "
               f"sound epoch. {self.advice}")
        if not np.isfinite(loss):
            raise ValueError(msg)
        # the estimator's fit -> its training loop -> here
        warnings.warn(msg, ConvergenceWarning, stacklevel=4)


def check_sizes(name, sizes):
    """A tuple of positive ints from an int or a sequence of them."""
    sizes = (sizes,) if isinstance(sizes, (int, np.integer)) else sizes
    try:
        sizes = tuple(sizes)
    except TypeError:
        sizes = None
    if sizes is None or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool)
                                and s >= 1 for s in sizes):
        raise ValueError(f"{name} must be a sequence of positive ints, got {sizes!r}")
    return tuple(int(s) for s in sizes)


def check_positive(est, **values):
    """Each value a real number > 0 (messages in scikit-learn's words)."""
    for name, value in values.items():
        try:
            _check_range(name, value, 0, None, low_closed=False)
        except ValueError as e:
            raise ValueError(str(e).format(est=type(est).__name__)) from None


def dense_stack(x, sizes, activation, prefix, layer=Dense):
    """x through Dense layers of `sizes` units named <prefix><i>."""
    for i, units in enumerate(sizes):
        x = layer(units, activation=activation, name=f"{prefix}{i}")(x)
    return x


def params_of(model):
    """{name: value copy} of a built model's parameters."""
    return {name: value.copy() for name, value in model.parameters().items()}


def load_params(model, values):
    """Write the values of the parameters model shares with `values` (by name)."""
    for name, value in model.parameters().items():
        if name in values:
            value[...] = values[name]


def build_model(inputs, outputs, seed, loss=None):
    """A Model built from seed; with `loss` (a callable adding loss nodes to
    the core graph), its graph trains that loss."""
    model = Model(inputs, outputs)
    model._seed = seed
    model._graph = model._emit(loss)
    return model


def normal_draws(seed, stream, offset, n, d):
    """(n, d) standard normals from the core's Philox stream at `offset`."""
    return _core.rng_normal(seed, stream, offset, n * d).reshape(n, d)


def decoder_like(layers, n_in):
    """A model applying `layers` (already used elsewhere: same names, so the
    same parameter names) to an input of n_in features."""
    z = Input((n_in,))
    h = z
    for layer in layers:
        h = layer(h)
    return z, h


def layer_list(name, spec, owner="the estimator"):
    """A list of dagnet.nn layers (a Sequential's layers) given as an
    encoder or a decoder of estimator `owner`."""
    if isinstance(spec, Sequential):
        spec = spec.layers
    ok = isinstance(spec, (list, tuple)) and len(spec) > 0 and all(
        isinstance(layer, Layer) and not isinstance(layer, InputLayer) for layer in spec)
    if not ok:
        raise ValueError(f"The '{name}' parameter of {owner} must be None or a non-empty list "
                         f"of dagnet.nn layers (or a Sequential). Got {spec!r} instead.")
    return list(spec)


def resolve_input_shape(shape, n_features):
    """input_shape with its -1 resolved for rows of n_features."""
    if shape is None:
        return (n_features,)
    shape = tuple(int(d) for d in shape)
    if -1 in shape:
        known = int(np.prod([d for d in shape if d != -1]))
        if n_features % known == 0:
            shape = tuple(n_features // known if d == -1 else d for d in shape)
    if int(np.prod(shape)) != n_features:
        raise ValueError(f"X has {n_features} features per sample, which cannot be reshaped "
                         f"to input_shape {shape}: give rows of {int(np.prod(shape))} "
                         f"features, or change input_shape")
    return shape


def check_layer_stacks(est):
    """The encoder_layers, decoder_layers and input_shape parameters of an
    estimator whose encoder may be a layer stack: decoder_layers and
    input_shape only with one. Returns whether the encoder is one."""
    shape = est.input_shape
    if shape is not None and not (
            isinstance(shape, (tuple, list)) and len(shape) > 0 and
            all(isinstance(d, numbers.Integral) and not isinstance(d, bool) and
                (d >= 1 or d == -1) for d in shape) and list(shape).count(-1) <= 1):
        raise ValueError(f"The 'input_shape' parameter of {type(est).__name__} must be None or "
                         f"a tuple of ints >= 1 (one of them may be -1), e.g. (1, 8, 8). Got "
                         f"{shape!r} instead.")
    if est.encoder_layers is None:
        if est.decoder_layers is not None or shape is not None:
            raise ValueError("decoder_layers and input_shape go with a layer stack given as "
                             "encoder_layers; without one, use hidden_layer_sizes and "
                             "decoder_layer_sizes")
        return False
    layer_list("encoder_layers", est.encoder_layers, type(est).__name__)
    if est.decoder_layers is not None:
        layer_list("decoder_layers", est.decoder_layers, type(est).__name__)
    return True


def check_decoder_output(shape, n_features):
    """A decoder's per-sample output shape must hold one row of X."""
    if int(np.prod(shape)) != n_features:
        raise ValueError(f"the decoder's output has shape {tuple(shape)}, {int(np.prod(shape))} "
                         f"values, but a row of X has {n_features}: end decoder_layers with as "
                         f"many outputs as the input has features")
