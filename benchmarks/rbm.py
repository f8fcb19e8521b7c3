"""dagnet's BernoulliRBM beside scikit-learn's, measured in the same run.

    python benchmarks/rbm.py [--quick] [--threads 1 2]

On digits scaled to [0, 1], with the same settings for both (n_components=256,
learning_rate=0.06, batch_size=10, n_iter=20) and seeds 0..4, prints:
  - the mean pseudo-likelihood of the data, computed exactly over all
    features from each fitted model's parameters by the same function;
  - the test accuracy of Pipeline(BernoulliRBM, LogisticRegression) (75/25
    splits of digits drawn with each seed, LogisticRegression(C=6000) as in
    scikit-learn's example);
  - seconds per fit, medians of alternating repeats (see estimators.py), and
    the ratio, at each thread count;
  - dagnet's estimated log-likelihood (AIS) of the data, which scikit-learn
    has no counterpart for.
"""

import argparse
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import use_default_blas  # noqa: E402

if __name__ == "__main__":
    use_default_blas()

from estimators import bench_pair, fmt, limited  # noqa: E402

import numpy as np  # noqa: E402

SETTINGS = dict(n_components=256, learning_rate=0.06, batch_size=10, n_iter=20)
SEEDS = range(5)


def rbm(side, seed, threads=None):
    if side == "dagnet":
        from dagnet import BernoulliRBM
        return BernoulliRBM(random_state=seed, n_threads=threads, **SETTINGS)
    from sklearn.neural_network import BernoulliRBM
    return BernoulliRBM(random_state=seed, **SETTINGS)


def exact_pseudo_likelihood(model, X):
    """Mean over samples of sum_i log p(v_i | v_-i), in float64 numpy from
    the fitted parameters: the same function for both libraries."""
    W = model.components_.astype(np.float64)
    b = model.intercept_visible_.astype(np.float64)
    c = model.intercept_hidden_.astype(np.float64)
    pre = X @ W.T + c
    free = -X @ b - np.logaddexp(0, pre).sum(1)
    total = np.zeros(len(X))
    for i in range(X.shape[1]):
        delta = 1 - 2 * X[:, i]  # the change of v_i when flipped
        pre_f = pre + np.outer(delta, W[:, i])
        free_f = free - delta * b[i] - np.logaddexp(0, pre_f).sum(1) \
            + np.logaddexp(0, pre).sum(1)
        total += -np.logaddexp(0, -(free_f - free))
    return float(total.mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer seeds and repeats")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    import sklearn
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline

    import dagnet
    seeds = SEEDS[:1] if args.quick else SEEDS
    repeats = 3 if args.quick else 5
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    print(f"numpy {np.__version__}, scikit-learn {sklearn.__version__}, dagnet "
          f"{dagnet.__version__}; digits / 16, {SETTINGS}")

    pl = {side: [exact_pseudo_likelihood(rbm(side, s).fit(X), X) for s in seeds]
          for side in ("dagnet", "sklearn")}
    print(f"\nmean exact pseudo-likelihood per sample (seeds {list(seeds)}; higher is better)")
    for side in pl:
        print(f"  {side:13s} {np.mean(pl[side]):9.3f}  {np.round(pl[side], 3).tolist()}")
    print(f"  difference    {np.mean(pl['dagnet']) - np.mean(pl['sklearn']):+9.3f}")

    acc = {"dagnet": [], "sklearn": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for s in seeds:  # the seed gives the split and both random_states
            Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=s)
            for side in acc:
                pipe = make_pipeline(rbm(side, s), LogisticRegression(C=6000, max_iter=1000))
                acc[side].append(pipe.fit(Xtr, ytr).score(Xte, yte))
    print("\nPipeline(BernoulliRBM, LogisticRegression(C=6000)) test accuracy %")
    for side in acc:
        print(f"  {side:13s} {100 * np.mean(acc[side]):7.2f}  "
              f"{np.round(100 * np.asarray(acc[side]), 2).tolist()}")
    print(f"  difference    {100 * (np.mean(acc['dagnet']) - np.mean(acc['sklearn'])):+7.2f} pts")

    for t in args.threads:
        fits = [limited(t, lambda side=side: rbm(side, 0, t).fit(X)) for side in
                ("dagnet", "sklearn")]
        d, s, ratio, _ = bench_pair(*fits, repeats)
        print(f"\nfit, {t} thread(s): seconds per fit median [min-max]")
        print(f"  dagnet        {fmt(d, 3)}")
        print(f"  scikit-learn  {fmt(s, 3)}   scikit-learn / dagnet: {ratio:.2f}")

    model = rbm("dagnet", 0).fit(X)
    Xb = (X > 0.5).astype(float)
    print(f"\ndagnet only: AIS log-likelihood of digits / 16 per sample {model.score(X):.2f} "
          f"nats (log Z {model.log_partition():.2f}); of the binarised digits "
          f"{rbm('dagnet', 0).fit(Xb).score(Xb):.2f} nats")


if __name__ == "__main__":
    main()
