"""asv benchmarks over the grid of benchmarks/sweep.py: square SGEMM, the
small-M SGEMM shapes and the conv blocks, dagnet alone (asv has no
cross-library reference: the ratios to numpy and torch, and the bars, are
sweep.py's). The shape lists are sweep.py's, imported."""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import sweep  # noqa: E402  (imports no reference library and never re-runs the process)
from _timing import best_rate  # noqa: E402

from dagnet import _core  # noqa: E402

SMALL = {sweep.shape_name(s): s for s in sweep.SMALL}
BLOCKS = {sweep.block_name(b): b for b in sweep.BLOCKS}


class _Gemm:
    """C = op(A) op(B) through _core.sgemm; subclasses set params and
    shape(param) -> (M, N, K, trans_a, trans_b)."""
    param_names = ["shape", "threads"]

    def setup(self, p, threads):
        M, N, K, ta, tb = self.shape(p)
        rng = np.random.default_rng(0)
        self.A = rng.standard_normal((K, M) if ta else (M, K), dtype=np.float32)
        self.B = rng.standard_normal((N, K) if tb else (K, N), dtype=np.float32)
        self.C = np.empty((M, N), np.float32)
        self.flop = 2.0 * M * N * K
        self.call = lambda: _core.sgemm(self.A, self.B, self.C, trans_a=ta, trans_b=tb,
                                        nthreads=threads)

    def time_sgemm(self, p, threads):
        self.call()

    def track_gflops(self, p, threads):
        return best_rate(self.call, self.flop / 1e9)

    track_gflops.unit = "GFLOP/s"


class SquareGemm(_Gemm):
    params = (sweep.SQUARE, [1, 2])
    param_names = ["n", "threads"]

    def shape(self, n):
        return n, n, n, 0, 0


class SmallMGemm(_Gemm):
    params = (list(SMALL), [1, 2])

    def shape(self, name):
        return SMALL[name][:5]


class ConvBlock:
    """forward + backward of a conv block of sweep.BLOCKS (gradients of the
    parameters) on its batch, as one chunk."""
    params = (list(BLOCKS), [1, 2])
    param_names = ["block", "threads"]
    timeout = 120

    def setup(self, name, threads):
        g, X, T = sweep.dagnet_block(BLOCKS[name])
        self.step = sweep.dagnet_block_step(g, X, T, threads)
        self.batch = len(X)
        self.step()

    def time_step(self, name, threads):
        self.step()

    def track_images_per_second(self, name, threads):
        return best_rate(self.step, self.batch)

    track_images_per_second.unit = "images/s"
