"""scikit-learn's neural-network estimators on dagnet's core."""

from dagnet.neural_network._mlp import MLPClassifier, MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
