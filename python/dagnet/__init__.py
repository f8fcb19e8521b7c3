"""dagnet: neural networks for scikit-learn users, on a C/OpenMP core.

The core (``dagnet._core``) runs a network as a DAG of ops, forward and
backward, and trains it one epoch per call; ``dagnet.nn`` builds networks
from layers; the estimators (``MLPClassifier``, ``MLPRegressor``) are
scikit-learn's, on that core, and ``NeuralNetClassifier`` and
``NeuralNetRegressor`` train any ``dagnet.nn`` network the same way.
"""

from dagnet import _core

__version__ = "0.1.0"

__all__ = ["BernoulliRBM", "DBN", "DBNClassifier", "GaussianBernoulliRBM", "MLPClassifier",
           "MLPRegressor", "NeuralNetClassifier", "NeuralNetRegressor", "nn", "__version__"]

_ESTIMATORS = {name: "dagnet.neural_network" for name in __all__[:8]}


def __getattr__(name):
    if name == "nn":
        import dagnet.nn as nn
        return nn
    if name in _ESTIMATORS:
        import importlib
        return getattr(importlib.import_module(_ESTIMATORS[name]), name)
    raise AttributeError(f"module 'dagnet' has no attribute {name!r}")
