"""dagnet: neural networks for scikit-learn users, on a C/OpenMP core.

The core (``dagnet._core``) runs a network as a DAG of ops, forward and
backward, and trains it one epoch per call; ``dagnet.nn`` builds networks
from layers; the estimators (``MLPClassifier``, ``MLPRegressor``) are
scikit-learn's, on that core, and ``NeuralNetClassifier`` and
``NeuralNetRegressor`` train any ``dagnet.nn`` network the same way.
"""

import os

# libgomp reads its wait policy once, when it loads (with dagnet's core, just
# below, unless something loaded it before). Its default keeps a thread that
# waits at a barrier spinning for 300,000 pause instructions, milliseconds on
# recent x86 cores; when another process wants the core, the thread the
# spinner waits for queues behind that process and a 2-thread training step
# becomes many times slower than one thread. A short spin (1000 pauses,
# about 25 us) gives the core away soon when it is contended; on a quiet
# machine it costs little because the regions of a dense step follow each
# other within about 10 us (the small products of a step run on the team
# too, DN_RUN_MIN_FMA_PER_THREAD). A wait longer than the spin, when one
# core runs behind the other, still puts a thread to sleep: on a virtual
# machine whose idle cores wake slowly a 10x longer spin was up to 15-30 %
# faster there, and 1.5-2x slower beside a busy process
# (benchmarks/contention.py measures both). Users' own settings win.
if "GOMP_SPINCOUNT" not in os.environ and "OMP_WAIT_POLICY" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "1000"

from dagnet import _core  # noqa: E402

__version__ = "0.1.0"

__all__ = ["Autoencoder", "BernoulliRBM", "DBN", "DBNClassifier", "GAN", "GaussianBernoulliRBM",
           "MLPClassifier", "MLPRegressor", "NeuralNetClassifier", "NeuralNetRegressor", "VAE",
           "metrics", "nn", "__version__"]

_ESTIMATORS = {name: "dagnet.neural_network" for name in __all__
               if name not in ("metrics", "nn", "__version__")}


def __getattr__(name):
    if name == "nn":
        import dagnet.nn as nn
        return nn
    if name == "metrics":
        import dagnet.metrics as metrics
        return metrics
    if name in _ESTIMATORS:
        import importlib
        return getattr(importlib.import_module(_ESTIMATORS[name]), name)
    raise AttributeError(f"module 'dagnet' has no attribute {name!r}")


def __dir__():
    # the estimators load on first use (__getattr__); dir() and tab completion
    # list them all the same
    return sorted(set(globals()) | set(__all__))
