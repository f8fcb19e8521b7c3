"""Distances between two sets of samples, for judging generative models.

``mmd`` is the maximum mean discrepancy with a Gaussian kernel; it needs no
model of either distribution. ``frechet_distance`` fits a Gaussian to each
set and measures the Frechet (2-Wasserstein) distance between the two, the
quantity of the Frechet Inception Distance (seed 004, section 8.9.2) when
the samples are features of a trained network.
"""

import numpy as np
import scipy.linalg
from scipy.spatial.distance import cdist

__all__ = ["frechet_distance", "mmd"]


def _two_sets(X, Y):
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    for name, A in (("X", X), ("Y", Y)):
        if A.ndim != 2:
            raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {A.shape}; "
                             f"reshape single features with reshape(-1, 1)")
        if A.shape[0] < 2:
            raise ValueError(f"{name} has {A.shape[0]} sample(s); give at least 2")
        if not np.all(np.isfinite(A)):
            raise ValueError(f"{name} contains NaN or infinity")
    if X.shape[1] != Y.shape[1]:
        raise ValueError(f"X has {X.shape[1]} features and Y has {Y.shape[1]}; give samples of "
                         f"the same space")
    return X, Y


def mmd(X, Y, bandwidth=None, biased=True):
    """Squared maximum mean discrepancy between the samples X and Y with the
    Gaussian kernel k(a, b) = exp(-||a - b||^2 / (2 bandwidth^2)).

    The biased estimator (a V-statistic, the default) averages the kernel
    over all pairs, the pairs of a point with itself included::

        MMD^2 = mean k(X, X) + mean k(Y, Y) - 2 mean k(X, Y)

    It is never negative and is exactly 0 when X and Y are the same set. The
    unbiased one (``biased=False``, a U-statistic) leaves out the pairs of a
    point with itself in the first two means; its expectation is the true
    MMD^2, and it can be slightly negative.

    Parameters
    ----------
    X : array-like of shape (n, n_features)
    Y : array-like of shape (m, n_features)
    bandwidth : float or None, default=None
        The kernel's width sigma. None uses the median heuristic: the median
        of the distances between distinct points of X and Y pooled.
    biased : bool, default=True

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from dagnet.metrics import mmd
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2))
    >>> mmd(X, X)
    0.0
    >>> near = mmd(X, rng.normal(size=(200, 2)))
    >>> far = mmd(X, rng.normal(2.0, size=(200, 2)))
    >>> bool(near < 0.02 < far)
    True
    """
    X, Y = _two_sets(X, Y)
    if bandwidth is None:
        Z = np.vstack([X, Y])
        d = cdist(Z, Z)[np.triu_indices(len(Z), k=1)]
        d = d[d > 0]
        bandwidth = float(np.median(d)) if d.size else 1.0
    if not (np.isfinite(bandwidth) and bandwidth > 0):
        raise ValueError(f"bandwidth must be a positive number, got {bandwidth!r}")
    g = -0.5 / float(bandwidth) ** 2
    kxx = np.exp(g * cdist(X, X, "sqeuclidean"))
    kyy = np.exp(g * cdist(Y, Y, "sqeuclidean"))
    kxy = np.exp(g * cdist(X, Y, "sqeuclidean"))
    n, m = len(X), len(Y)
    if biased:
        return float(kxx.mean() + kyy.mean() - 2.0 * kxy.mean())
    return float((kxx.sum() - n) / (n * (n - 1)) + (kyy.sum() - m) / (m * (m - 1))
                 - 2.0 * kxy.mean())


def frechet_distance(X, Y):
    """Frechet distance between Gaussians fitted to the samples X and Y
    (seed 004, section 8.9.2)::

        d^2 = ||mu_X - mu_Y||^2 + Tr(S_X + S_Y - 2 (S_X S_Y)^(1/2))

    with the sample means and covariances (divided by n - 1). This is the
    squared 2-Wasserstein distance between the two Gaussians. In one
    dimension it is (mu_X - mu_Y)^2 + (sigma_X - sigma_Y)^2: the seed prints
    a minus before the second term, an erratum. The matrix square root is
    scipy's ``sqrtm``, whose tiny imaginary part from rounding is dropped.

    Parameters
    ----------
    X : array-like of shape (n, n_features)
    Y : array-like of shape (m, n_features)

    Returns
    -------
    float
        The squared distance, >= 0 (a rounding residue below 0 is clipped).

    Examples
    --------
    >>> import numpy as np
    >>> from dagnet.metrics import frechet_distance
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 1))
    >>> X = (X - X.mean()) / X.std(ddof=1)     # mean 0, standard deviation 1
    >>> Y = 3.0 + 2.0 * X                       # mean 3, standard deviation 2
    >>> round(frechet_distance(X, Y), 6)        # (0 - 3)^2 + (1 - 2)^2
    10.0
    """
    X, Y = _two_sets(X, Y)
    mx, my = X.mean(axis=0), Y.mean(axis=0)
    sx = np.atleast_2d(np.cov(X, rowvar=False))
    sy = np.atleast_2d(np.cov(Y, rowvar=False))
    root = scipy.linalg.sqrtm(sx @ sy)
    root = np.real(root)
    d = float(np.sum((mx - my) ** 2) + np.trace(sx) + np.trace(sy) - 2.0 * np.trace(root))
    return max(d, 0.0)
