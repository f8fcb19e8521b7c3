"""Data augmentation: random image transforms inside the C training loop.

``Augment`` holds the settings; ``Model.compile(..., augment=Augment(...))``
switches it on for the model's first input, and every training epoch then
transforms each batch after it is gathered and before the forward pass
(never in ``forward`` or ``predict``). ``Augment.apply`` shows what an
epoch sees. include/dagnet/augment.h is the manual of the transforms.
"""

import numbers

import numpy as np

from dagnet import _core
from dagnet._validation import seed_from


class Augment:
    """Random shifts, horizontal flips and small rotations of NCHW images,
    drawn per sample in every training epoch (seed 000, section 6.6).

    In this order, each sample with its own draws:

    1. ``flip``: mirror left-right with probability 0.5;
    2. ``rotation``: turn counter-clockwise by an angle uniform in
       [-rotation, rotation] degrees about the image centre, by bilinear
       interpolation;
    3. ``shift``: move by integers (dy, dx), each uniform in [-shift, shift].

    Pixels brought in from outside the image take ``fill``. The draws are a
    function of (random_state, epoch, the sample's row in the data), so
    training stays deterministic for a ``random_state`` and does not depend
    on the number of threads or on the batch size.

    Parameters
    ----------
    shift : int, default 0
        Largest shift in pixels, smaller than the image's height and width.
    flip : bool, default False
    rotation : float, default 0
        Largest angle in degrees, in [0, 180].
    fill : float, default 0
        The value of pixels from outside the image.

    Examples
    --------
    >>> import numpy as np
    >>> from dagnet.nn import Augment, Sequential, Conv2D, Flatten, Dense
    >>> X = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    >>> Augment(shift=1).apply(X, random_state=0)[0, 0]  # moved up one row
    array([[ 4.,  5.,  6.,  7.],
           [ 8.,  9., 10., 11.],
           [12., 13., 14., 15.],
           [ 0.,  0.,  0.,  0.]], dtype=float32)
    >>> Augment(flip=True).apply(np.repeat(X, 3, axis=0), random_state=1)[:, 0, 0]
    array([[3., 2., 1., 0.],
           [0., 1., 2., 3.],
           [3., 2., 1., 0.]], dtype=float32)

    Training a small CNN with shifts of up to one pixel:

    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.random((64, 1, 8, 8)), rng.integers(0, 2, 64)
    >>> model = Sequential([Conv2D(4, 3, activation="relu"), Flatten(), Dense(2)])
    >>> model = model.build(input_shape=(1, 8, 8), random_state=0)
    >>> model = model.compile("softmax_cross_entropy", augment=Augment(shift=1))
    >>> len(model.fit(X, y, epochs=2).history_)
    2
    """

    def __init__(self, shift=0, flip=False, rotation=0.0, fill=0.0):
        self.shift = shift
        self.flip = flip
        self.rotation = rotation
        self.fill = fill

    def settings(self):
        """The checked settings as a dict (shift, flip, rotation, fill): the
        keywords of the core's Graph.set_augment and augment_images."""
        if isinstance(self.shift, bool) or not isinstance(self.shift, numbers.Integral) \
                or self.shift < 0:
            raise ValueError(f"Augment: shift must be an int >= 0 (pixels), got {self.shift!r}")
        if not isinstance(self.flip, (bool, np.bool_, numbers.Integral)) or self.flip not in (0, 1):
            raise ValueError(f"Augment: flip must be True or False, got {self.flip!r}")
        for name in ("rotation", "fill"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(f"Augment: {name} must be a number, got {value!r}")
        if not 0 <= self.rotation <= 180:
            raise ValueError(f"Augment: rotation must be in [0, 180] degrees, got "
                             f"{self.rotation!r}")
        return {"shift": int(self.shift), "flip": bool(self.flip),
                "rotation": float(self.rotation), "fill": float(self.fill)}

    def apply(self, X, random_state=0, epoch=0):
        """The images X (n_samples, C, H, W) as training epoch ``epoch`` of a
        model built with ``random_state`` sees them (row i of X drawn as
        row i of the training data)."""
        return _core.augment_images(X, seed=seed_from(random_state), epoch=int(epoch),
                                    **self.settings())

    def __repr__(self):
        return (f"Augment(shift={self.shift!r}, flip={self.flip!r}, "
                f"rotation={self.rotation!r}, fill={self.fill!r})")


def as_augment(augment):
    """None, an Augment or a dict of its parameters, as an Augment (or None)."""
    if augment is None or isinstance(augment, Augment):
        return augment
    if isinstance(augment, dict):
        unknown = set(augment) - {"shift", "flip", "rotation", "fill"}
        if unknown:
            raise ValueError(f"unknown augmentation settings {sorted(unknown)}; use shift, "
                             f"flip, rotation and fill")
        return Augment(**augment)
    raise TypeError(f"augment must be None, a dagnet.nn.Augment or a dict of its settings, "
                    f"got {type(augment).__name__}")
