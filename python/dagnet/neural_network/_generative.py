"""What the generative estimators (VAE, GAN) share: their networks as
``dagnet.nn`` models with named layers, latent draws from the core's
Philox generator, and pickling by parameter values."""

import numpy as np

from dagnet import _core
from dagnet.nn import Dense, Input, Model
from dagnet.neural_network._base import _check_range


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

