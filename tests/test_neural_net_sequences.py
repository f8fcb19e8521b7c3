"""NeuralNetClassifier and NeuralNetRegressor on sequences: (n, T, F) float
arrays and (n, T) token ids with recurrent layers, targets per sequence and
per step (sequence labelling (n, T); regression (n, T) and (n, T, k)),
padding that never reaches predictions at real steps, the loss, its
gradient or the scores, scikit-learn's model selection over padded arrays,
and the MLPs' machinery (early stopping, schedules, warm_start,
partial_fit, weights, pickling, threads)."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler

from dagnet import NeuralNetClassifier, NeuralNetRegressor
from dagnet.nn import GRU, LSTM, Dense, Embedding, Input, Masking, Model, SimpleRNN

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def tokens(n=240, T=8, vocab=12, seed=0, pad_to=None):
    """Token ids 1..vocab-1 padded with 0 to T (lengths 2..T); the label of a
    token is 0 for 1-4, 1 for 5-8, 2 for 9-11, shifted by one when the token
    before is above 8 (so the network needs the step before). Padded steps
    get the label 7, which is no class: it must be ignored."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, size=(n, T))
    lengths = rng.integers(2, T + 1, size=n)
    real = np.arange(T)[None, :] < lengths[:, None]
    ids[~real] = 0
    base = (ids > 4).astype(int) + (ids > 8)
    prev = np.concatenate([np.zeros((n, 1), int), ids[:, :-1]], axis=1)
    y = (base + (prev > 8)) % 3
    y[~real] = 7
    if pad_to is not None:
        ids = np.concatenate([ids, np.zeros((n, pad_to - T), int)], axis=1)
        y = np.concatenate([y, np.full((n, pad_to - T), 7)], axis=1)
    return ids, y, real


def running_sums(n=200, T=6, k=1, seed=0, pad=-5.0, pad_to=None):
    """Sequences (n, T, 2) of lengths 2..T padded with `pad`; the targets per
    step are the running sum of the first feature (and, for k=2, of the
    second); padded steps hold NaN."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, T, 2))
    Y = np.cumsum(X[:, :, :k], axis=1)
    lengths = rng.integers(2, T + 1, size=n)
    real = np.arange(T)[None, :] < lengths[:, None]
    X[~real] = pad
    Y[~real] = np.nan
    if pad_to is not None:
        X = np.concatenate([X, np.full((n, pad_to - T, 2), pad)], axis=1)
        Y = np.concatenate([Y, np.full((n, pad_to - T, k), np.nan)], axis=1)
    return X, (Y[..., 0] if k == 1 else Y), real


def token_clf(**kw):
    params = dict(learning_rate_init=0.02, max_iter=30, random_state=0)
    params.update(kw)
    return NeuralNetClassifier([Embedding(12, 8, mask_zero=True), GRU(16, return_sequences=True)],
                               **params)


def seq_reg(pad=-5.0, **kw):
    params = dict(learning_rate_init=0.02, max_iter=40, random_state=0)
    params.update(kw)
    return NeuralNetRegressor([Masking(pad), LSTM(16, return_sequences=True)], **params)


def weights(est):
    return [w for layer in est.layers_ for w in layer.get_weights()]


def assert_same_weights(a, b):
    wa, wb = weights(a), weights(b)
    assert len(wa) == len(wb)
    for u, v in zip(wa, wb):
        np.testing.assert_array_equal(u, v)


# --- sequence labelling -----------------------------------------------------------

def test_token_labelling_with_embedding_mask_zero():
    ids, y, real = tokens()
    test_ids, test_y, test_real = tokens(seed=1)
    clf = token_clf().fit(ids, y)
    # the classes come from the real steps: 7, the padding's label, is none
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.n_outputs_ == 3 and clf.out_activation_ == "softmax"
    np.testing.assert_array_equal(clf.step_mask(test_ids), test_real)
    pred = clf.predict(test_ids)
    assert pred.shape == test_y.shape
    accuracy = (pred[test_real] == test_y[test_real]).mean()
    assert accuracy > 0.9, accuracy
    # score: accuracy over the real steps only (7 at padding would count as wrong)
    assert clf.score(test_ids, test_y) == pytest.approx(accuracy)
    proba = clf.predict_proba(test_ids)
    assert proba.shape == (len(test_ids), 8, 3)
    np.testing.assert_allclose(proba.sum(axis=-1), 1, rtol=1e-6)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=-1)], pred)
    np.testing.assert_allclose(clf.predict_log_proba(test_ids), np.log(proba), rtol=1e-6)


def test_string_labels_and_user_marked_steps():
    ids, y, real = tokens(n=120)
    names = np.array(["noun", "verb", "other"])
    labels = np.where(real, names[np.minimum(y, 2)], "pad")  # "pad": padded, ignored
    clf = token_clf(max_iter=3).fit(ids, labels)
    np.testing.assert_array_equal(clf.classes_, ["noun", "other", "verb"])
    assert clf.predict(ids).dtype.kind == "U"
    # numeric labels: -1 marks a real step to ignore, as padding is
    y_marked = y.copy()
    y_marked[:, 0] = -1
    a = token_clf(max_iter=3).fit(ids, y_marked)
    y_other = y_marked.copy()
    y_other[:, 0] = -1
    y_other[~real] = -1
    b = token_clf(max_iter=3).fit(ids, y_other)
    assert_same_weights(a, b)


def test_int_ids_reach_the_network_exactly():
    ids, y, _ = tokens(n=60)
    clf = token_clf(max_iter=2).fit(ids, y)
    logits = clf.model_.predict(ids.astype(np.float32))  # the network on the raw ids
    np.testing.assert_allclose(np.log(clf.predict_proba(ids)),
                               logits - np.log(np.exp(logits).sum(-1, keepdims=True)),
                               rtol=1e-5, atol=1e-6)
    for same in (ids.astype(np.float64), ids.astype(np.int32), ids.tolist()):
        np.testing.assert_array_equal(clf.predict_proba(same), clf.predict_proba(ids))


def test_sequence_labelling_of_float_sequences_needs_memory():
    # label of step t: whether the running sum of the first feature is positive
    X, _, real = running_sums(n=300, T=6)
    y = (np.cumsum(np.where(real, X[..., 0], 0), axis=1) > 0).astype(int)
    clf = NeuralNetClassifier([Masking(-5.0), GRU(16, return_sequences=True)],
                              learning_rate_init=0.02, max_iter=60, random_state=0)
    clf.fit(X[:240], y[:240])
    assert clf.score(X[240:], y[240:]) > 0.9
    # two classes per step: softmax over both (the padded steps' labels, 0 here, ignored)
    assert clf.n_outputs_ == 2 and clf.predict_proba(X[:3]).shape == (3, 6, 2)


# --- per-step regression ------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 2])
def test_per_step_regression(k):
    X, Y, real = running_sums(n=240, T=6, k=k)
    reg = seq_reg().fit(X[:200], Y[:200])  # NaN at the padded steps: never read
    assert reg.n_outputs_ == k
    pred = reg.predict(X[200:])
    assert pred.shape == Y[200:].shape
    assert reg.score(X[200:], Y[200:]) > 0.9
    Yt = Y[200:].reshape(40, 6, k)
    err = ((pred.reshape(40, 6, k) - Yt)[real[200:]] ** 2).mean()
    assert err < 0.1 * Yt[real[200:]].var()
    np.testing.assert_array_equal(reg.step_mask(X[200:]), real[200:])


def test_per_step_targets_through_time_distributed_head_and_bidirectional():
    X, Y, real = running_sums(n=120, T=5)
    reg = NeuralNetRegressor([Masking(-5.0), GRU(8, return_sequences=True, bidirectional=True),
                              Dense(8, activation="tanh")], max_iter=3, random_state=0)
    assert reg.fit(X, Y).predict(X).shape == (120, 5)


# --- padding never leaks ------------------------------------------------------------------

def test_padding_never_leaks_into_the_classifier():
    X, _, real = running_sums(n=120, T=6, pad=-1.0)
    y = (X[..., 0] > 0).astype(int)

    def fit(X, y, pad):
        return NeuralNetClassifier([Masking(pad), LSTM(8, return_sequences=True)], max_iter=5,
                                   learning_rate_init=0.01, random_state=3).fit(X, y)

    a = fit(X, np.where(real, y, -1), -1.0)
    # another mask value at the padded steps, and other labels there: the same fit, bit for bit
    X2 = np.where(real[..., None], X, 99.0)
    rng = np.random.default_rng(0)
    b = fit(X2, np.where(real, y, rng.integers(0, 2, y.shape)), 99.0)
    assert_same_weights(a, b)
    np.testing.assert_array_equal(a.predict_proba(X)[real], b.predict_proba(X2)[real])
    # more padding: the same sequences padded to 9 steps train the same network
    X3 = np.concatenate([X, np.full((120, 3, 2), -1.0)], axis=1)
    c = fit(X3, np.concatenate([y, np.zeros((120, 3), int)], axis=1), -1.0)
    np.testing.assert_allclose(c.predict_proba(X3)[:, :6][real], a.predict_proba(X)[real],
                               rtol=1e-4, atol=1e-5)


def test_padding_never_leaks_into_the_regressor():
    X, Y, real = running_sums(n=120, T=6)
    a = seq_reg(max_iter=8).fit(X, Y)
    # other values at the padded steps' targets: the same fit, bit for bit
    b = seq_reg(max_iter=8).fit(X, np.where(real, Y, 1e3))
    assert_same_weights(a, b)
    # more padding: without the mask in the loss, the output layer's bias (what the
    # network gives a padded step) would be pulled towards the padded targets
    X9, Y9, _ = running_sums(n=120, T=6, pad_to=9)
    c = seq_reg(max_iter=8).fit(X9, np.where(np.isnan(Y9), 50.0, Y9))
    np.testing.assert_allclose(c.predict(X9)[:, :6][real], a.predict(X)[real],
                               rtol=1e-4, atol=1e-4)
    for u, v in zip(weights(a), weights(c)):
        np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-5)


def test_padded_tokens_leave_their_embedding_row_untouched():
    ids, y, _ = tokens(n=120)

    def fit(**kw):
        return NeuralNetClassifier([Embedding(12, 4, mask_zero=True, name="emb"),
                                    GRU(8, return_sequences=True)], alpha=0.0, random_state=0,
                                   **kw).fit(ids, y)

    first = fit(max_iter=1, learning_rate_init=1e-30)  # (an update of 1e-30 rounds away)
    last = fit(max_iter=5, learning_rate_init=0.05)
    start, trained = (est.get_layer("emb").get_weights()[0] for est in (first, last))
    # the row of id 0 is read only at padded steps: it gets no gradient
    np.testing.assert_array_equal(trained[0], start[0])
    assert np.abs(trained[1:] - start[1:]).min(axis=1).max() > 1e-3


# --- weights ---------------------------------------------------------------------------

def test_class_weights_per_step():
    ids, y, real = tokens(n=120)
    # 'balanced' counts the real steps' labels (not the padding's 7)
    idx = y[real]
    counts = np.bincount(idx, minlength=3)
    balanced = {c: idx.size / (3 * counts[c]) for c in range(3)}
    a = token_clf(max_iter=3, class_weight="balanced").fit(ids, y)
    b = token_clf(max_iter=3, class_weight=balanced).fit(ids, y)
    assert_same_weights(a, b)
    # each step's loss is weighed by its class's weight
    kw = dict(max_iter=1, learning_rate_init=1e-9, alpha=0.0)
    plain = token_clf(**kw).fit(ids, y)
    tripled = token_clf(class_weight={0: 3.0, 1: 3.0, 2: 3.0}, **kw).fit(ids, y)
    assert tripled.loss_ == pytest.approx(3 * plain.loss_, rel=1e-4)
    with pytest.raises(ValueError, match="not among the classes"):
        token_clf(max_iter=1, class_weight={7: 2.0}).fit(ids, y)


def test_sample_weight_per_sequence():
    X, Y, _ = running_sums(n=80, T=5)
    sw = np.r_[np.ones(40), np.zeros(40)]
    kw = dict(solver="lbfgs", max_iter=15)
    a = seq_reg(**kw).fit(X, Y, sample_weight=sw)
    b = seq_reg(**kw).fit(X[:40], Y[:40])
    np.testing.assert_allclose(a.predict(X[:40]), b.predict(X[:40]), rtol=1e-3, atol=1e-3)
    ids, y, _ = tokens(n=60)
    clf = token_clf(max_iter=2).fit(ids, y, sample_weight=np.arange(60) % 3)
    assert 0 <= clf.score(ids, y, sample_weight=np.arange(60) % 3) <= 1


# --- model selection, pipelines, pickling -------------------------------------------------

def test_grid_search_and_cross_validation_over_padded_arrays():
    X, Y, _ = running_sums(n=90, T=5)
    search = GridSearchCV(seq_reg(max_iter=15), {"learning_rate_init": [0.001, 0.02]}, cv=3)
    search.fit(X, Y)
    assert search.best_params_ == {"learning_rate_init": 0.02}
    assert search.predict(X).shape == Y.shape
    ids, y, _ = tokens(n=90)
    scores = cross_val_score(token_clf(max_iter=5), ids, y, cv=3)  # KFold: y is 2-D
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))
    # targets per sequence of padded 3-D arrays: stratified folds, plain accuracy
    seq_y = (np.nansum(Y, axis=1) > 0).astype(int)
    per_seq = NeuralNetClassifier([Masking(-5.0), GRU(8)], max_iter=5, random_state=0)
    assert cross_val_score(per_seq, X, seq_y, cv=3).shape == (3,)


def test_pipeline_on_flat_rows_with_input_shape():
    # a scikit-learn transformer reads rows: (T, F) = (6, 2) flattened to 12 columns;
    # MaxAbsScaler keeps the padding's 0 a 0, the mask value
    X, _, real = running_sums(n=150, T=6, pad=0.0)
    y = (X[..., 0] > 0).astype(int)
    pipe = make_pipeline(MaxAbsScaler(), NeuralNetClassifier(
        [Masking(0.0), GRU(12, return_sequences=True)], input_shape=(6, 2),
        learning_rate_init=0.02, max_iter=40, random_state=0))
    pipe.fit(X.reshape(150, 12) * 3, y)
    assert pipe.predict(X.reshape(150, 12)).shape == (150, 6)
    assert pipe.score(X.reshape(150, 12) * 3, y) > 0.9
    clf = pipe[-1]
    assert clf.input_shape_ == (6, 2)
    np.testing.assert_array_equal(clf.step_mask(X.reshape(150, 12)), real)


def test_pickling_round_trip_and_training_on():
    ids, y, _ = tokens(n=80)
    clf = token_clf(max_iter=3).fit(ids, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(ids), clf.predict_proba(ids))
    np.testing.assert_array_equal(again.step_mask(ids), clf.step_mask(ids))
    # the optimiser's state comes along: one more epoch gives the same weights
    clf.partial_fit(ids, y)
    again.partial_fit(ids, y)
    assert_same_weights(clf, again)
    X, Y, _ = running_sums(n=60, T=5)
    reg = seq_reg(max_iter=3).fit(X, Y)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(reg)).predict(X), reg.predict(X))


# --- the MLPs' machinery --------------------------------------------------------------------

def test_early_stopping_on_sequences():
    ids, y, _ = tokens(n=200)
    clf = token_clf(early_stopping=True, max_iter=200, n_iter_no_change=3,
                    validation_fraction=0.2).fit(ids, y)
    assert clf.n_iter_ < 200
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    X, Y, _ = running_sums(n=100, T=5)
    reg = seq_reg(early_stopping=True, early_stopping_metric="loss", max_iter=200,
                  n_iter_no_change=2, learning_rate_init=0.05).fit(X, Y)
    assert reg.n_iter_ < 200 and len(reg.validation_loss_curve_) == reg.n_iter_


def test_schedules_warm_start_partial_fit_and_threads(capsys):
    ids, y, _ = tokens(n=80)
    sgd = token_clf(solver="sgd", learning_rate="adaptive", learning_rate_init=0.1,
                    n_iter_no_change=1, tol=10.0, max_iter=20, verbose=True).fit(ids, y)
    out = capsys.readouterr()
    assert "Setting learning rate to" in out.out + out.err
    assert sgd._learning_rate < 0.1
    inv = token_clf(solver="sgd", learning_rate="invscaling", max_iter=2).fit(ids, y)
    assert inv._learning_rate < inv.learning_rate_init
    # warm_start trains on from the fitted weights
    warm = token_clf(max_iter=3, warm_start=True).fit(ids, y)
    first_loss = warm.loss_
    warm.fit(ids, y)
    assert warm.loss_ < first_loss
    with pytest.raises(ValueError, match="same classes"):
        warm.fit(ids, np.where(y == 2, 0, y))
    # partial_fit: classes given on the first call
    part = token_clf()
    for _ in range(3):
        part.partial_fit(ids, y, classes=[0, 1, 2])
    assert part.t_ == 3 * len(ids) and part.predict(ids).shape == y.shape
    with pytest.raises(ValueError, match="not in `self.classes_`"):
        part.partial_fit(ids, np.where(y == 2, 5, y))
    # the same random_state gives the same weights whatever the thread count
    assert_same_weights(token_clf(max_iter=3, n_threads=1).fit(ids, y),
                        token_clf(max_iter=3, n_threads=2).fit(ids, y))


def test_functional_model_and_targets_per_sequence_still_work():
    ids, y, real = tokens(n=80)
    x = Input((8,))
    h = GRU(8, return_sequences=True)(Embedding(12, 4, mask_zero=True)(x))
    clf = NeuralNetClassifier(Model(x, h), max_iter=3, random_state=0).fit(ids, y)
    assert clf.predict(ids).shape == y.shape
    # targets per sequence: the sequence features are flattened, as before
    seq = NeuralNetClassifier([Embedding(12, 4, mask_zero=True), SimpleRNN(8)], max_iter=3,
                              random_state=0).fit(ids, real.sum(axis=1) > 4)
    assert seq.predict(ids).shape == (80,)
    with pytest.raises(ValueError, match="per-step targets"):
        seq.step_mask(ids)


# --- errors -------------------------------------------------------------------------------

def test_clear_errors_for_bad_shapes_and_tokens():
    ids, y, _ = tokens(n=40)
    # per-step labels for a network whose output is the last state
    with pytest.raises(ValueError, match="return_sequences=True"):
        NeuralNetClassifier([Embedding(12, 4), GRU(8)], max_iter=1).fit(ids, y)
    X, Y, _ = running_sums(n=40, T=5, k=2)
    with pytest.raises(ValueError, match="return_sequences=True"):
        NeuralNetRegressor([Masking(-5.0), GRU(8)], max_iter=1).fit(X, Y)
    with pytest.raises(ValueError, match="return_sequences=True"):
        NeuralNetClassifier([Masking(-5.0), GRU(8, return_sequences=True)],
                            max_iter=1).fit(X, np.zeros((40, 5, 2)))
    # per-step y of the wrong length after fitting on per-step targets
    clf = token_clf(max_iter=1).fit(ids, y)
    with pytest.raises(ValueError, match=r"\(n_samples, 8\)"):
        clf.score(ids, y[:, :5])
    with pytest.raises(ValueError, match="per-step targets of 8 steps"):
        clf.partial_fit(ids, y[:, 0])
    # token ids out of range, or not whole, at fit and at predict, naming the layer
    with pytest.raises(ValueError, match=r"'tok' \(Embedding\) takes whole numbers in \[0, 10\)"):
        NeuralNetClassifier([Embedding(10, 4, name="tok"), GRU(4, return_sequences=True)],
                            max_iter=1).fit(ids, y)
    with pytest.raises(ValueError, match="Embedding"):
        clf.predict(ids + 20)
    with pytest.raises(ValueError, match="not all whole numbers"):
        clf.predict(ids + 0.5)
    with pytest.raises(ValueError, match="Embedding"):
        clf.predict(-ids)
    # nothing to learn from
    with pytest.raises(ValueError, match="no step to learn from"):
        token_clf(max_iter=1).fit(ids, np.full_like(y, -1))
    # NaN at a real step
    Xr, Yr, _ = running_sums(n=40, T=5)
    Yr[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity at real steps"):
        seq_reg(max_iter=1).fit(Xr, Yr)
    # Poisson on padded sequences
    with pytest.raises(ValueError, match="poisson"):
        seq_reg(max_iter=1, loss="poisson").fit(Xr, np.abs(np.nan_to_num(Yr)))
    # a mask computed by layers with weights cannot be read from X
    with pytest.raises(ValueError, match="before any layer with weights"):
        NeuralNetClassifier([Dense(3), Masking(0.0), GRU(4, return_sequences=True)],
                            max_iter=1).fit(Xr, (Xr[..., 0] > 0).astype(int))


def test_poisson_per_step_without_padding():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, size=(60, 4, 2))
    Y = rng.poisson(np.exp(X[..., :1] + X[..., 1:]))
    reg = NeuralNetRegressor([GRU(8, return_sequences=True)], loss="poisson", max_iter=20,
                             learning_rate_init=0.02, random_state=0).fit(X, Y)
    assert reg.predict(X).shape == (60, 4, 1) and (reg.predict(X) > 0).all()
    assert np.isfinite(reg.loss_)


def test_no_warnings_from_validation():
    ids, y, _ = tokens(n=40)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ConvergenceWarning)
        token_clf(max_iter=2).fit(ids, y).score(ids, y)
