"""scikit-learn's estimator checks on MLPClassifier and MLPRegressor, as
constructed without arguments and with other settings.

scikit-learn runs its own MLPs with max_iter=100 and lists no expected
failures for them; it runs check_sample_weight_equivalence_* with
solver='lbfgs' (classifier) and solver='sgd', tol=1e-2 (regressor) only,
because minibatches of weighted and of repeated rows differ. Those two
checks compare predictions at rtol=1e-7, which dagnet's float32 core misses
by one float32 rounding (the weighted and the repeated fits differ in the
order of their sums): they are expected failures here, and tests/test_mlp.py
checks the same equivalence, with scikit-learn's settings, at float32
tolerance.
"""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from dagnet import MLPClassifier, MLPRegressor

FLOAT32 = ("float32 core: weighted and repeated rows agree to float32 rounding, the check "
           "asks for rtol=1e-7; test_mlp.py checks the equivalence at float32 tolerance")

ESTIMATORS = [
    MLPClassifier(),
    MLPRegressor(),
    MLPClassifier(max_iter=100),
    MLPRegressor(max_iter=100),
    MLPClassifier(solver="lbfgs", activation="logistic", max_iter=100),
    MLPClassifier(max_iter=100, dropout=0.1, normalization="batch", activation="gelu"),
    MLPRegressor(max_iter=100, normalization="layer", activation="tanh", schedule_adam=True,
                 learning_rate="invscaling", power_t=0.1),
]


def expected_failures(estimator):
    return {"check_sample_weight_equivalence_on_dense_data": FLOAT32,
            "check_sample_weight_equivalence_on_sparse_data": FLOAT32}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failures)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS[:2], ids=lambda e: type(e).__name__)
def test_partial_fit_hidden_for_lbfgs(estimator):
    assert hasattr(estimator, "partial_fit")
    assert not hasattr(estimator.set_params(solver="lbfgs"), "partial_fit")
