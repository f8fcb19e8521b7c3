"""Input checks shared by the nn API and the estimators: every array is
converted once to C-contiguous float32 and checked for shape and finite
values, with messages that say what was expected."""

import numpy as np

FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_float32_range(X, name="X"):
    """Raise ValueError if X (dense or sparse) holds finite values beyond
    float32's range, which dagnet's core computes in: cast, they would become
    infinities. NaN and infinities are left to the finiteness checks.
    Returns X unchanged."""
    data = getattr(X, "data", X) if hasattr(X, "tocsr") else X
    data = np.asarray(data)
    if data.size == 0 or data.dtype.kind not in "fiu" or data.dtype.itemsize < 4 \
            or data.dtype == np.float32:
        return X
    # max and min separately: no temporary array as large as X
    with np.errstate(invalid="ignore"):
        top = max(float(np.max(data)), -float(np.min(data)))
        if np.isnan(top) or np.isinf(top):
            finite = data[np.isfinite(data)]
            top = max(float(np.max(finite)), -float(np.min(finite))) if finite.size else 0.0
    if top > FLOAT32_MAX:
        raise ValueError(
            f"{name} holds values up to {top:.3g} in magnitude, which exceed float32's range "
            f"(about 3.4e38), the precision dagnet computes in; scale the data, for example "
            f"with StandardScaler")
    return X


def dense_float32(X, name="X"):
    """X (validated: finite, numeric, dense or sparse) as a C-contiguous float32
    array, after checking that its values fit float32's range; sparse X is
    densified (the core's kernels are dense)."""
    check_float32_range(X, name)
    if hasattr(X, "toarray"):
        X = X.toarray()
    return np.ascontiguousarray(X, dtype=np.float32)


def as_float32(X, name="X", shape=None, allow_nan=False):
    """Return X as a C-contiguous float32 array of shape (n_samples,) + shape.

    Accepts lists, float64, integer, Fortran-ordered and read-only arrays.
    Raises ValueError for a wrong number of dimensions, a wrong per-sample
    shape, an empty batch when one is not allowed, or NaN/inf values.
    """
    if isinstance(X, np.ndarray) and X.dtype == object:
        raise TypeError(f"{name} has dtype object; pass numbers")
    try:
        arr = np.asarray(X)
    except Exception as e:  # ragged lists and the like
        raise ValueError(f"{name} could not be turned into an array: {e}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers (got dtype {arr.dtype})")
    if shape is not None:
        shape = tuple(int(d) for d in shape)
        want = "(n_samples" + "".join(f", {d}" for d in shape) + ")"
        if arr.ndim != len(shape) + 1:
            raise ValueError(f"{name} must have {len(shape) + 1} dimensions, shape {want}; "
                             f"got {arr.ndim} dimensions with shape {arr.shape}")
        if tuple(arr.shape[1:]) != shape:
            raise ValueError(f"{name} must have shape {want}; got {arr.shape}")
    check_float32_range(arr, name)
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    # a float64 sum of float32 values is finite exactly when every value is,
    # and it needs no temporary array as large as X
    if not allow_nan and arr.size and not np.isfinite(arr.sum(dtype=np.float64)):
        raise ValueError(f"{name} contains NaN or infinity; remove or impute those values first")
    return arr


def check_sample_weight(sample_weight, n):
    """One finite weight >= 0 per sample (a scalar weighs them all), not all
    zero and within float32's range, as a float64 array of shape (n,); None
    stays None."""
    if sample_weight is None:
        return None
    try:
        sw = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"sample_weight must hold numbers, got {sample_weight!r}") from None
    if sw.ndim == 0:
        sw = np.full(n, float(sw))
    if sw.ndim != 1 or sw.shape[0] != n:
        raise ValueError(f"sample_weight must hold one weight per sample, shape ({n},); got "
                         f"shape {sw.shape}")
    if not np.all(np.isfinite(sw)):
        raise ValueError("sample_weight contains NaN or infinity; give finite weights")
    if np.any(sw < 0):
        raise ValueError(f"sample_weight has negative values (the lowest is {sw.min():g}); "
                         f"give weights >= 0 (a weight of 0 leaves a sample out)")
    if n and not np.any(sw > 0):
        raise ValueError("sample_weight is all zero, which leaves nothing to train on; give at "
                         "least one positive weight")
    return check_float32_range(sw, "sample_weight")


def seed_from(random_state):
    """A 64-bit seed for the core from None, an int or a RandomState."""
    from sklearn.utils import check_random_state

    if random_state is None:
        return int(np.random.randint(0, 2**31 - 1))
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        # scikit-learn's range for an integer seed (numpy's RandomState)
        if not 0 <= random_state <= 2**32 - 1:
            raise ValueError(f"random_state must be None, an int in [0, 2**32 - 1] or a "
                             f"numpy RandomState; got {random_state}")
        return int(random_state)
    rs = check_random_state(random_state)
    return int(rs.randint(0, 2**31 - 1))
