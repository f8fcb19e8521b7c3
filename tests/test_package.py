"""The package as a user meets it: what dir() lists, and the checks every
estimator shares (seeds, float32's range)."""

import numpy as np
import pytest

import dagnet
from dagnet._validation import as_float32, check_float32_range, dense_float32, seed_from


def test_dir_lists_the_estimators():
    # the estimators load lazily; dir() (and so tab completion) lists them anyway
    names = dir(dagnet)
    for name in dagnet.__all__:
        assert name in names
    assert "MLPClassifier" in names and "GaussianBernoulliRBM" in names


@pytest.mark.parametrize("bad", [2**64, 2**32, -1])
def test_seed_out_of_range_is_a_value_error(bad):
    with pytest.raises(ValueError, match=r"random_state must be None, an int in \[0, 2\*\*32 - 1\]"):
        seed_from(bad)


def test_seed_range_edges():
    assert seed_from(0) == 0 and seed_from(2**32 - 1) == 2**32 - 1
    assert seed_from(np.int64(7)) == 7
    assert 0 <= seed_from(np.random.RandomState(0)) < 2**31


@pytest.mark.parametrize("value", [1e39, -1e39, 1e308])
def test_values_beyond_float32_are_named(value):
    X = np.array([[0.0, 1.0], [value, 2.0]])
    with pytest.raises(ValueError, match=r"values up to .* exceed float32's range.*StandardScaler"):
        as_float32(X)
    with pytest.raises(ValueError, match="exceed float32's range"):
        dense_float32(X)
    import scipy.sparse
    with pytest.raises(ValueError, match="exceed float32's range"):
        dense_float32(scipy.sparse.csr_matrix(X))


def test_range_check_passes_what_float32_holds():
    X = np.array([[3.0e38, -3.0e38]])
    assert check_float32_range(X) is X
    np.testing.assert_array_equal(dense_float32(X), X.astype(np.float32))
    # infinities and NaN are left to the finiteness check, which names them
    with pytest.raises(ValueError, match="NaN or infinity"):
        as_float32(np.array([[np.inf, 1.0]]))
    assert as_float32(np.array([[np.nan, 1.0]]), allow_nan=True).dtype == np.float32
    with pytest.raises(ValueError, match="exceed float32's range"):
        as_float32(np.array([[np.nan, 1e39]]), allow_nan=True)
