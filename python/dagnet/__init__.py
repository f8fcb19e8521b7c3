"""dagnet: neural networks for scikit-learn users, on a C/OpenMP core.

The core (``dagnet._core``) runs a network as a DAG of ops, forward and
backward, and trains it one epoch per call; ``dagnet.nn`` builds networks
from layers; the estimators (``MLPClassifier``, ``MLPRegressor``) are
scikit-learn's, on that core, and ``NeuralNetClassifier`` and
``NeuralNetRegressor`` train any ``dagnet.nn`` network the same way.
"""

# libgomp reads its wait policy once, when it loads (with dagnet's core, just
# below): a thread that waits for work spins GOMP_SPINCOUNT pause
# instructions, then sleeps, and waking a sleeping thread costs 75-250 us on
# the virtual machines measured, more than a 256 x 256 product on two threads
# (90 us). dagnet leaves libgomp's own default (300,000 pauses, milliseconds
# of spinning) in place. Shorter spins were tried and measured worse on Zen 5:
# with 10,000 pauses, series of 2-thread products called from Python after a
# pause ran 8 times slower in 20 of 24 series at n = 255 (770 against 90 us)
# and in 9 of 24 at n = 384, and none did with 100,000 or 300,000
# (the sweep's square products of benchmarks/sweep.py); a 2-thread MLP epoch, one C call, ran the same with
# any spin on a quiet machine (129-141k samples/s) and slowest with 10,000
# beside one busy process (31k, 38k with 300,000, 46k with 1000: one thread
# ran 67k there, so on a busy machine n_threads=1 is the remedy whatever the
# spin; benchmarks/contention.py). Users' own settings win.

from dagnet import _core

__version__ = "0.1.0"

__all__ = ["Autoencoder", "BernoulliRBM", "DBN", "DBNClassifier", "EchoStateClassifier",
           "EchoStateRegressor", "GAN", "GaussianBernoulliRBM",
           "MLPClassifier", "MLPRegressor", "NeuralNetClassifier", "NeuralNetRegressor", "VAE",
           "datasets", "metrics", "nn", "__version__"]

_ESTIMATORS = {name: "dagnet.neural_network" for name in __all__
               if name not in ("datasets", "metrics", "nn", "__version__")}


def __getattr__(name):
    if name == "nn":
        import dagnet.nn as nn
        return nn
    if name == "metrics":
        import dagnet.metrics as metrics
        return metrics
    if name == "datasets":
        import dagnet.datasets as datasets
        return datasets
    if name in _ESTIMATORS:
        import importlib
        return getattr(importlib.import_module(_ESTIMATORS[name]), name)
    raise AttributeError(f"module 'dagnet' has no attribute {name!r}")


def __dir__():
    # the estimators load on first use (__getattr__); dir() and tab completion
    # list them all the same
    return sorted(set(globals()) | set(__all__))
