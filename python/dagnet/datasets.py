"""Sequence data sets generated on the spot: the Mackey-Glass series, the
standard benchmark of echo state networks, and the adding problem, the
long-term-dependency task of recurrent networks (seed 003, sections 8.7 and
8.10)."""

import numbers

import numpy as np
from scipy.signal import lfilter
from sklearn.utils import check_random_state

__all__ = ["adding_problem", "mackey_glass"]


def _whole(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _positive(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _whole_ratio(length, dt):
    ratio = length / dt
    steps = int(round(ratio))
    return steps if steps >= 1 and abs(ratio - steps) <= 1e-9 * max(1.0, ratio) else None


def _steps(name, length, dt, other):
    """length / dt as an int, or a ValueError saying why it must be one and
    which round dt (below the one given) divides both length and other."""
    steps = _whole_ratio(length, dt)
    if steps is None:
        fits = [c * 10.0 ** -j for j in range(7) for c in (5, 2, 1)
                if c * 10.0 ** -j <= dt and _whole_ratio(length, c * 10.0 ** -j)
                and _whole_ratio(other, c * 10.0 ** -j)]
        hint = f", for example dt={fits[0]:g}" if fits else ""
        raise ValueError(f"{name} / dt must be a whole number of integration steps (so that the "
                         f"values it needs fall on the grid); got {name}={length:g}, dt={dt:g}, "
                         f"{length / dt:.4g} steps. Pick dt as {name} divided by an integer"
                         f"{hint}")
    return steps


def mackey_glass(n_samples, tau=17, beta=0.2, gamma=0.1, n=10, dt=0.1, sample_step=1.0,
                 x0=1.2, discard=500, random_state=None):
    """The Mackey-Glass series, integrated from its delay differential equation.

    .. math::

        \\frac{dx}{dt} = \\beta \\frac{x(t - \\tau)}{1 + x(t - \\tau)^n} - \\gamma x(t)

    With the defaults (tau = 17, beta = 0.2, gamma = 0.1, n = 10, one sample
    per time unit, x0 = 1.2) the series is the chaotic one of the echo state
    network literature, and these are the settings of reservoirpy's
    ``datasets.mackey_glass`` (its a, b are beta, gamma here, its h is
    ``sample_step``).

    Integration: the classical fourth-order Runge-Kutta method with step
    ``dt``, which must divide ``tau`` and ``sample_step``. The delayed values
    at the stage times t - tau, t - tau + dt/2 and t - tau + dt fall on the
    grid or half way between two of its points; the half-way value comes
    from cubic Hermite interpolation of the stored values and slopes, whose
    error (dt^4) matches the method's order: halving dt divides the error
    by about 16, and dt = 0.1 is within 1e-8 of dt = 0.025 over the first
    200 time units. reservoirpy instead takes one simplified Runge-Kutta
    step per sample (h = 1) with the delayed value held fixed over it, a
    coarser scheme: from the same constant history its series is 0.05 away
    from this one within 50 time units and unrelated after about 200, as any
    two integrations of a chaotic system become, but both trace the same
    attractor (over 5000 samples their minimum, maximum, mean and standard
    deviation agree to 2-3 digits: 0.42, 1.32, 0.930, 0.226).

    Over one delay the delayed term is a known function of time, so the
    equation is linear there: x' = -gamma x + g(t). Runge-Kutta on it is the
    recurrence x[k+1] = A x[k] + B[k] with A = 1 + z + z^2/2 + z^3/6 +
    z^4/24 (z = -gamma dt), and each stretch of tau / dt steps runs as one
    linear filter (``scipy.signal.lfilter``), the same numbers as the
    step-by-step loop but without a Python loop per step.

    Parameters
    ----------
    n_samples : int
        Number of samples returned.
    tau : float, default=17
        The delay. 17 gives the usual mildly chaotic series, 30 a more
        chaotic one.
    beta, gamma : float, default=0.2, 0.1
        Production and decay rates.
    n : float, default=10
        The exponent of the nonlinearity.
    dt : float, default=0.1
        Integration step; tau / dt and sample_step / dt must be whole numbers.
    sample_step : float, default=1.0
        Time between two returned samples.
    x0 : float, default=1.2
        x(0), and the value of the initial history x(t), -tau <= t < 0.
    discard : int, default=500
        Samples integrated and dropped at the start, so that the series
        starts on the attractor rather than in the transient from the
        initial history.
    random_state : None, int or RandomState, default=None
        None keeps the history constant, x(t) = x0 for t <= 0, Mackey and
        Glass's initial function, and the series is the same at every call.
        An int or a RandomState adds U(-0.1, 0.1) noise to the history at
        each integration step of [-tau, 0) (as reservoirpy does at each
        sample), which gives another trajectory on the same attractor for
        each seed.

    Returns
    -------
    x : ndarray of shape (n_samples,)
        The series, float64. One-step-ahead prediction is
        ``X, y = x[:-1, None], x[1:]``.

    Examples
    --------
    >>> from dagnet.datasets import mackey_glass
    >>> x = mackey_glass(2000)
    >>> x.shape
    (2000,)
    >>> bool(0.2 < x.min() < x.max() < 1.4)
    True
    >>> X, y = x[:-1, None], x[1:]   # one step ahead: a (T, 1) series and its next values
    >>> X.shape, y.shape
    ((1999, 1), (1999,))
    """
    n_samples = _whole("n_samples", n_samples, 1)
    discard = _whole("discard", discard, 0)
    tau, dt, sample_step = _positive("tau", tau), _positive("dt", dt), \
        _positive("sample_step", sample_step)
    beta, gamma, n = _positive("beta", beta), _positive("gamma", gamma), _positive("n", n)
    if isinstance(x0, bool) or not isinstance(x0, numbers.Real) or not np.isfinite(x0) or x0 < 0:
        raise ValueError(f"x0 must be a finite number >= 0 (the equation models a "
                         f"concentration), got {x0!r}")
    m = _steps("tau", tau, dt, sample_step)
    s = _steps("sample_step", sample_step, dt, tau)
    K = (discard + n_samples - 1) * s  # integration steps after t = 0

    # x and its slope on the grid t = (i - m) dt, i = 0 .. m + K; x(0) sits at index m
    x = np.empty(m + K + 1)
    d = np.empty(m + K + 1)
    x[m] = x0
    if random_state is None:
        x[:m] = x0
        d[:m + 1] = 0.0
    else:
        rng = check_random_state(random_state)
        x[:m] = x0 + 0.2 * (rng.random_sample(m) - 0.5)
        d[:m + 1] = np.gradient(x[:m + 1], dt)

    def g(z):
        return beta * z / (1.0 + z ** n)

    c = -gamma
    z = c * dt
    A = 1.0 + z + z * z / 2 + z ** 3 / 6 + z ** 4 / 24
    for k0 in range(0, K, m):
        k1 = min(k0 + m, K)
        # step k (t_k -> t_k+1) needs x and its slope at t_k - tau (index k) and
        # t_k+1 - tau (index k + 1 <= k0 + m, the last point known: x(t_k0))
        left, right = x[k0:k1], x[k0 + 1:k1 + 1]
        mid = 0.5 * (left + right) + dt / 8 * (d[k0:k1] - d[k0 + 1:k1 + 1])
        g0, gm, g1 = g(left), g(mid), g(right)
        # the stages of classical RK4 with x = 0: B[k], what the forcing adds
        s1 = g0
        s2 = c * dt / 2 * s1 + gm
        s3 = c * dt / 2 * s2 + gm
        s4 = c * dt * s3 + g1
        B = dt / 6 * (s1 + 2 * s2 + 2 * s3 + s4)
        # x[k+1] = A x[k] + B[k], from x[k0] on
        x[m + k0 + 1:m + k1 + 1] = lfilter([1.0], [1.0, -A], B, zi=[A * x[m + k0]])[0]
        d[m + k0 + 1:m + k1 + 1] = c * x[m + k0 + 1:m + k1 + 1] + g(x[k0 + 1:k1 + 1])
        if k0 == 0:
            # x' jumps at t = 0 where the history meets the solution: the first stretch
            # interpolated the history on [-dt, 0] with the history's slope, the later
            # ones interpolate the solution on [0, dt] with the equation's
            d[m] = c * x[m] + g(x[0])
    return x[m + discard * s::s][:n_samples].copy()


def adding_problem(n_samples, T, random_state=None):
    """The adding problem: sum the two marked numbers of a sequence.

    The long-term-dependency task of Hochreiter and Schmidhuber (1997) in the
    form of Le, Jaitly and Hinton (2015) and Arjovsky et al. (2016): each
    sequence has T steps of two channels; channel 0 holds numbers drawn from
    U(0, 1), channel 1 is 0 except at two steps marked with 1, one drawn
    uniformly in the first half (t < T // 2) and one in the second half. The
    target is the sum of the two marked numbers, so it depends on inputs up
    to T steps back. Always predicting 1 (the mean) gives a mean squared
    error of 1/6, the baseline a model must beat.

    Parameters
    ----------
    n_samples : int
        Number of sequences.
    T : int
        Length of each sequence, >= 2.
    random_state : None, int or RandomState, default=None
        Seeds the numbers and the marker positions.

    Returns
    -------
    X : ndarray of shape (n_samples, T, 2)
        The sequences, float64: numbers in channel 0, markers in channel 1.
    y : ndarray of shape (n_samples,)
        The sum of the two marked numbers of each sequence.

    Examples
    --------
    >>> from dagnet.datasets import adding_problem
    >>> X, y = adding_problem(4, T=50, random_state=0)
    >>> X.shape, y.shape
    ((4, 50, 2), (4,))
    >>> X[:, :, 1].sum(axis=1)        # two markers per sequence
    array([2., 2., 2., 2.])
    >>> bool(np.allclose(y, (X[:, :, 0] * X[:, :, 1]).sum(axis=1)))
    True
    """
    n_samples = _whole("n_samples", n_samples, 1)
    T = _whole("T", T, 2)
    rng = check_random_state(random_state)
    X = np.zeros((n_samples, T, 2))
    X[:, :, 0] = rng.uniform(0.0, 1.0, size=(n_samples, T))
    rows = np.arange(n_samples)
    first = rng.randint(0, T // 2, size=n_samples)
    second = rng.randint(T // 2, T, size=n_samples)
    X[rows, first, 1] = 1.0
    X[rows, second, 1] = 1.0
    y = X[rows, first, 0] + X[rows, second, 0]
    return X, y
