"""Thread counts for the core, and BLAS pools kept quiet while it runs.

dagnet's core runs OpenMP threads. Their default number is what OpenMP
allows at the time of the call, so it follows ``OMP_NUM_THREADS`` and
``threadpoolctl.threadpool_limits(..., user_api="openmp")``. While the core
runs on more than one thread, the BLAS pools loaded in the process (numpy's
OpenBLAS, MKL) are limited to one thread: their idle workers otherwise spin
on the cores dagnet is using, which can make a short parallel call ten times
slower. The limit is lifted when the call returns.
"""

import contextlib
import numbers
import threading

from dagnet import _core

_controller = None
_MAX_THREADS = 4096  # the core counts threads in a C int; no machine has more


def resolve_threads(n_threads, name="n_threads"):
    """The thread count to run with: None for what OpenMP allows now, or a
    positive int (capped by nothing: more threads than cores oversubscribe)."""
    if n_threads is None:
        return max(1, _core.max_threads())
    if isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral) \
            or not 1 <= n_threads <= _MAX_THREADS:
        raise ValueError(f"{name} must be None or an int from 1 to {_MAX_THREADS}, got "
                         f"{n_threads!r}")
    return int(n_threads)


def _blas_controller():
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
            _controller = ThreadpoolController().select(user_api="blas")
        except Exception:  # threadpoolctl missing or unable to inspect
            _controller = False
    return _controller


_local = threading.local()


@contextlib.contextmanager
def quiet_blas(n_threads):
    """Limit the BLAS pools to one thread while the core runs n_threads > 1.
    Inside another quiet_blas of the same thread (a fit around its steps)
    it does nothing: asking the pools for their sizes costs microseconds a
    call, which a per-batch loop would pay at every step."""
    if n_threads <= 1 or getattr(_local, "depth", 0):
        yield
        return
    ctl = _blas_controller()
    _local.depth = 1
    try:
        if not ctl or all(lib.num_threads == 1 for lib in ctl.lib_controllers):
            yield
        else:
            with ctl.limit(limits=1):
                yield
    finally:
        _local.depth = 0
