"""Timing shared by the benchmarks and by the torch snippets they run in
another interpreter (which has numpy but not dagnet): the reference BLAS as a
user's machine runs it, and the median of timed calls on a quiet machine.

Only numpy and _quiet are imported here, so a snippet can import this module
from DAGNET_BENCH_DIR."""

import os
import sys
import time

from _quiet import wait_idle

# Set in this workplace's environment: the first forces OpenBLAS onto its
# AVX2 kernels (about half speed on AVX-512 machines), the second changes its
# blocking. A user's machine sets neither.
BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def use_default_blas():
    """Re-run this script without BLAS_OVERRIDES, before numpy loads
    OpenBLAS, so that numpy runs the kernels OpenBLAS picks for this CPU.
    Call it first thing under ``if __name__ == "__main__"``."""
    if any(k in os.environ for k in BLAS_OVERRIDES):
        env = {k: v for k, v in os.environ.items() if k not in BLAS_OVERRIDES}
        os.execve(sys.executable, [sys.executable] + sys.argv, env)


def stats(times):
    """(median, min, max) of a list of seconds."""
    import numpy as np

    t = np.asarray(times, dtype=float)
    return float(np.median(t)), float(t.min()), float(t.max())


def bench(fn, repeats, warmup=1):
    """stats() of `repeats` timed calls of fn after `warmup` untimed ones.

    It first lets the thread pools of the library measured before go idle
    (OpenBLAS and OpenMP workers spin for a while after their last job and
    would take the second core from the library measured now), and waits for
    other processes to leave the cores alone."""
    time.sleep(0.3)
    wait_idle()
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return stats(out)


def best_rate(fn, work, repeats=5):
    """work per second of fn's fastest of a few runs after a warm-up (the
    asv classes' figure: dagnet alone, no reference)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return work / best
