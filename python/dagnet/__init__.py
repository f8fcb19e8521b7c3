"""dagnet: neural networks for scikit-learn users, on a C/OpenMP core.

The core (``dagnet._core``) runs a network as a DAG of ops, forward and
backward, and trains it one epoch per call; ``dagnet.nn`` builds networks
from layers.
"""

from dagnet import _core

__version__ = "0.1.0"

__all__ = ["nn", "__version__"]


def __getattr__(name):
    if name == "nn":
        import dagnet.nn as nn
        return nn
    raise AttributeError(f"module 'dagnet' has no attribute {name!r}")
