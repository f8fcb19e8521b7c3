"""scikit-learn's estimator checks on NeuralNetClassifier and
NeuralNetRegressor: as constructed without arguments and with max_iter=100
(the default network, one Dense layer for rows), and
small convolutional networks reading each row as an image of -1 channels of
1x1 pixels (the checks' data has from 1 to 20-odd features, so input_shape
leaves the channel count to the data).

The expected failures are the MLPs' (tests/test_mlp_sklearn_checks.py): the
two checks that compare weighted with repeated rows at rtol=1e-7 miss by
float32 rounding; tests/test_mlp.py checks that equivalence at float32
tolerance on the same training code.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks
from test_mlp_sklearn_checks import expected_failures

from dagnet import NeuralNetClassifier, NeuralNetRegressor
from dagnet.nn import Conv2D, Flatten

ESTIMATORS = [
    NeuralNetClassifier(),
    NeuralNetRegressor(),
    NeuralNetClassifier(max_iter=100),
    NeuralNetRegressor(max_iter=100),
    NeuralNetClassifier(input_shape=(-1, 1, 1), max_iter=20, learning_rate_init=0.01),
    NeuralNetRegressor([Conv2D(64, 1, activation="relu"), Flatten()], input_shape=(-1, 1, 1),
                       max_iter=50, learning_rate_init=0.01),
]


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failures)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)

