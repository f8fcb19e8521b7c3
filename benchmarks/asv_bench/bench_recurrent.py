"""asv benchmarks of the recurrent layers of benchmarks/recurrent.py: one
layer's forward and backward (the gradient of its whole output given; the
gradients of the parameters and of the input) on each cell and shape,
dagnet alone (asv has no cross-library reference: the ratios to torch's
nn.LSTM, nn.GRU and nn.RNN, the share of the FMA peak and the bars are
recurrent.py's). The cells, the shapes and the layer are recurrent.py's,
imported."""

import os
import sys

# numpy's idle OpenBLAS threads would spin on the cores dagnet uses (effective
# when numpy is not loaded yet; setup limits the pool as well)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import recurrent  # noqa: E402  (imports no reference library and never re-runs the process)
from _timing import best_rate  # noqa: E402

SHAPES = {recurrent.shape_name(s): s for s in recurrent.SHAPES}


class RecurrentLayer:
    """forward(training, grad) + backward of a one-node "recurrent" graph
    on the shape's batch: LSTM, GRU (reset_after, torch's form), GRU (the
    seeds' form) and SimpleRNN (tanh)."""
    params = (list(recurrent.CELLS), list(SHAPES), [1, 2])
    param_names = ["cell", "shape", "threads"]
    timeout = 300

    def setup(self, cell, shape, threads):
        try:
            from threadpoolctl import threadpool_limits
            self._blas = threadpool_limits(1, user_api="blas")
        except ImportError:
            self._blas = None
        s = SHAPES[shape]
        g, X, G = recurrent.dagnet_layer(cell, s)
        self.step = recurrent.dagnet_step(g, X, G, threads)
        self.flop = recurrent.flop(cell, s)
        self.sequences = len(X)
        self.step()

    def teardown(self, cell, shape, threads):
        if self._blas is not None:
            self._blas.restore_original_limits()

    def time_forward_backward(self, cell, shape, threads):
        self.step()

    def track_gflops(self, cell, shape, threads):
        """counting 6 T B G H (I + H), as recurrent.py does"""
        return best_rate(self.step, self.flop / 1e9)

    track_gflops.unit = "GFLOP/s"

    def track_sequences_per_second(self, cell, shape, threads):
        return best_rate(self.step, self.sequences)

    track_sequences_per_second.unit = "sequences/s"
