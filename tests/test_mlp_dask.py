"""Scaling out: dagnet.MLPClassifier.partial_fit under dask-ml's Incremental
on a local dask.distributed cluster.

The cluster runs in this process (processes=False) and talks over TCP bound
to 127.0.0.1 only, so the estimator goes through what a real cluster does to
it: it is pickled into the task graph, trained chunk after chunk by
partial_fit, and sent back pickled after every pass, then the next pass
starts from that copy. Skipped when dask-ml or distributed is not installed.
"""

import numpy as np
import pytest

pytest.importorskip("distributed")
pytest.importorskip("dask_ml")

import dask.array as da  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402
from dask_ml.wrappers import Incremental  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from dagnet.neural_network import MLPClassifier  # noqa: E402

PASSES = 4
CHUNK = 300


@pytest.fixture
def client():
    # no dashboard, no nanny, one worker with two threads: starts and stops
    # in well under a second and listens on the loopback interface alone
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
                      host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster) as c:
        yield c


def test_incremental_partial_fit_on_local_cluster(client):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, random_state=0)
    classes = np.arange(10)
    Xd = da.from_array(X_train, chunks=(CHUNK, -1))
    yd = da.from_array(y_train, chunks=CHUNK)
    assert Xd.numblocks[0] >= 4

    est = MLPClassifier(learning_rate_init=0.01, random_state=0)
    inc = Incremental(est, scoring="accuracy", shuffle_blocks=True, random_state=0)
    for _ in range(PASSES):
        inc.partial_fit(Xd, yd, classes=classes)

    model = inc.estimator_
    assert isinstance(model, MLPClassifier)
    assert model is not est and not hasattr(est, "classes_")  # the template stays unfitted
    np.testing.assert_array_equal(model.classes_, classes)
    np.testing.assert_array_equal(inc.classes_, classes)  # learned attributes copied over
    # every chunk of every pass was trained on, and the state carried across
    # the pickled copies instead of restarting
    assert model.t_ == PASSES * len(X_train)
    assert [c.shape for c in model.coefs_] == [(64, 100), (100, 10)]

    Xt = da.from_array(X_test, chunks=(CHUNK, -1))
    pred = inc.predict(Xt)
    assert isinstance(pred, da.Array)
    pred = pred.compute()
    acc = np.mean(pred == y_test)
    assert acc > 0.85, f"accuracy {acc:.3f} after {PASSES} passes"  # chance is 0.1
    np.testing.assert_array_equal(pred, model.predict(X_test))
    assert inc.score(Xt, y_test) == pytest.approx(acc)

    proba = inc.predict_proba(Xt).compute()
    assert proba.shape == (len(X_test), 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(classes[proba.argmax(axis=1)], pred)
