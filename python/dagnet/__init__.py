"""dagnet: neural networks for scikit-learn users, on a C/OpenMP core.

The core (``dagnet._core``) runs a network as a DAG of ops, forward and
backward, and trains it one epoch per call; ``dagnet.nn`` builds networks
from layers; the estimators (``MLPClassifier``, ``MLPRegressor``) are
scikit-learn's, on that core, and ``NeuralNetClassifier`` and
``NeuralNetRegressor`` train any ``dagnet.nn`` network the same way.
"""

import os

# libgomp reads its wait policy once, when it loads (with dagnet's core, just
# below, unless something loaded it before): a thread that waits for work
# spins GOMP_SPINCOUNT pause instructions, then sleeps, and waking a sleeping
# thread costs 75-250 us on the virtual machines measured (an idle core is
# halted), more than a whole 256 x 256 product on two threads (85 us).
# libgomp's own 300,000 pauses keep a thread spinning for milliseconds; a
# former default of 1000 (20-50 us on Zen 5) let the worker thread fall
# asleep between products called from Python and between the regions of a
# step, so a mid-size product on 2 threads ran at one thread's speed or
# below, or not, from run to run (n = 192-640 at 0.4-0.6x numpy), and a
# 2-thread MLP epoch ran at 0.6-0.95x of its speed with 10,000. 10,000
# pauses (100-200 us) keep the worker awake across such gaps: 2-thread
# products of n = 256 ran at 385-400 GFLOP/s for gaps up to 100 us between
# calls, against 270-390 with 1000 (benchmarks/sweep.py). The price is paid
# beside a busy process, where a spinning thread holds the core that the
# thread it waits for needs: there a 2-thread epoch ran 16-22k samples/s
# with 10,000 pauses and 43-61k with 1000, and one thread ran 68-70k, faster
# than two with any setting (benchmarks/contention.py, Zen 5). So on a busy
# machine n_threads=1 is the remedy, whatever the spin. Users' own settings
# win.
if "GOMP_SPINCOUNT" not in os.environ and "OMP_WAIT_POLICY" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "10000"

from dagnet import _core  # noqa: E402

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
