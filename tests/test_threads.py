"""Thread counts follow OpenMP's settings; BLAS pools are quiet while the
core runs several threads."""

import os
import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from dagnet import _core
from dagnet._threads import quiet_blas, resolve_threads
from dagnet.nn import Dense, Sequential


def test_default_follows_threadpoolctl_openmp_limit():
    if not _core.have_openmp():
        pytest.skip("built without OpenMP")
    with threadpool_limits(limits=1, user_api="openmp"):
        assert _core.max_threads() == 1
        assert resolve_threads(None) == 1
    assert resolve_threads(None) == _core.max_threads()


def test_default_follows_omp_num_threads():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    code = "from dagnet import _core; print(_core.max_threads())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "1"


@pytest.mark.parametrize("bad", [0, -2, 1.5, "2", True])
def test_invalid_thread_counts_are_value_errors(bad):
    with pytest.raises(ValueError, match="n_threads"):
        resolve_threads(bad)
    model = Sequential([Dense(2)]).build(input_shape=(3,), random_state=0)
    model.n_threads = bad
    with pytest.raises(ValueError, match="n_threads"):
        model.forward(np.ones((1, 3)))


def blas_threads():
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_blas_pools_limited_only_while_core_runs_threads():
    before = blas_threads()
    if not before or max(before) == 1:
        pytest.skip("no multi-threaded BLAS loaded")
    with quiet_blas(2):
        assert max(blas_threads()) == 1
    assert blas_threads() == before
    with quiet_blas(1):
        assert blas_threads() == before


def _mlp(sizes, seed=0):
    model = Sequential([Dense(u, activation="relu") for u in sizes[1:-1]] + [Dense(sizes[-1])])
    return model.build(input_shape=(sizes[0],), random_state=seed)


@pytest.mark.skipif(not _core.have_openmp(), reason="built without OpenMP")
def test_runs_too_small_to_split_use_one_thread():
    """The trim follows the GEMM's rule (about a million multiply-adds per
    thread for the largest product), and training gives the same bits with
    it on or off."""
    small, large = _mlp((64, 100, 10)), _mlp((784, 512, 10))
    previous = _core.set_thread_trim(True)
    try:
        assert small.graph.step_threads(200, 2) == 1      # 64 x 100 x 200 = 1.3M
        assert small.graph.step_threads(400, 2) == 2      # 2.6M
        assert large.graph.step_threads(128, 2) == 2
        assert large.graph.step_threads(2, 2) == 1
        assert small.graph.step_threads(200, 1) == 1
        _core.set_thread_trim(False)
        assert small.graph.step_threads(200, 2) == 2
    finally:
        _core.set_thread_trim(previous)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((600, 64)).astype(np.float32), rng.integers(0, 10, 600)
    weights = []
    for trim in (True, False):
        previous = _core.set_thread_trim(trim)
        try:
            model = _mlp((64, 100, 10)).compile("softmax_cross_entropy", "adam")
            model.n_threads = 2
            model.fit(X, y, epochs=2, batch_size=200)
            weights.append([p.copy() for p in model.parameters().values()])
        finally:
            _core.set_thread_trim(previous)
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)
