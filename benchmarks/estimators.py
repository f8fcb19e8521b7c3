"""dagnet's MLPClassifier and MLPRegressor beside scikit-learn's, measured in the same run.

    python benchmarks/estimators.py [--quick] [--threads 1 2] [--check-harness]

Prints, for each figure of dagnet, the same figure of scikit-learn and the
difference or ratio:
  - test accuracy on digits (raw pixels) and on breast_cancer (StandardScaler
    then the classifier in a Pipeline, for both), and the test R^2 of the
    regressor on diabetes (X and y standardised on the training split), with
    default parameters, a 75/25 train_test_split and seeds 0..4 (the seed
    gives both the split and random_state): mean [min-max] over the seeds;
  - seconds per fit on digits with default parameters, dagnet's n_threads and
    the threadpoolctl limit at each thread count, scikit-learn under the same
    limit;
  - samples per second of one epoch (max_iter=1) of a 784-512-256-10 ReLU
    network, adam, batch 128, on 60,000 synthetic samples;
  - the peak memory that one-epoch fit adds, measured in fresh processes.
Timings are medians [min-max] of several repeats after a warm-up; the two
libraries alternate repeat by repeat, in flipping order, with a 0.3 s pause
before each timed call, so that load from elsewhere on the machine falls on
both alike, and each ratio is the median of the per-repeat ratios.
--check-harness puts scikit-learn on both sides: every ratio should be near 1.
"""

import argparse
import os
import resource
import subprocess
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import stats, use_default_blas  # noqa: E402

if __name__ == "__main__":
    use_default_blas()

import numpy as np  # noqa: E402

from _quiet import wait_idle  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

SEEDS = range(5)
MLP_SIZES = (784, 512, 256, 10)
N_SAMPLES, BATCH = 60_000, 128
SIDES = ("dagnet", "sklearn")

# True: scikit-learn's estimators stand in for dagnet's (a check of the harness)
HARNESS_CHECK = False


def estimator(side, kind, threads=None, **params):
    """A fresh MLPClassifier (kind "clf") or MLPRegressor ("reg") of one side;
    threads is dagnet's n_threads (scikit-learn has none: use threadpool_limits)."""
    if side == "dagnet" and not HARNESS_CHECK:
        from dagnet.neural_network import MLPClassifier, MLPRegressor
        params["n_threads"] = threads
    else:
        from sklearn.neural_network import MLPClassifier, MLPRegressor
    return (MLPClassifier if kind == "clf" else MLPRegressor)(**params)


def quiet_fit(model, X, y):
    from sklearn.exceptions import ConvergenceWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def fmt(s, digits=1, scale=1.0):
    med, lo, hi = (x * scale for x in s)
    return f"{med:.{digits}f} [{lo:.{digits}f}-{hi:.{digits}f}]"


# --- accuracy -------------------------------------------------------------------

def digits_model(side, seed):
    return estimator(side, "clf", random_state=seed)


def cancer_model(side, seed):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    return make_pipeline(StandardScaler(), estimator(side, "clf", random_state=seed))


def diabetes_model(side, seed):
    # X scaled in a Pipeline, y by TransformedTargetRegressor, both fitted on
    # the training split; R^2 is the same on the standardised or original y
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    reg = make_pipeline(StandardScaler(), estimator(side, "reg", random_state=seed))
    return TransformedTargetRegressor(regressor=reg, transformer=StandardScaler())


def accuracy_tasks():
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
    return [
        ("digits, MLPClassifier, raw pixels", "accuracy %", 100.0,
         load_digits(return_X_y=True), digits_model),
        ("breast_cancer, Pipeline(StandardScaler, MLPClassifier)", "accuracy %", 100.0,
         load_breast_cancer(return_X_y=True), cancer_model),
        ("diabetes, MLPRegressor, X and y standardised", "R^2", 1.0,
         load_diabetes(return_X_y=True), diabetes_model),
    ]


def accuracy(data, build, side):
    """Test score of each seed: split and random_state both from the seed."""
    from sklearn.model_selection import train_test_split
    X, y = data
    out = []
    for seed in SEEDS:
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=seed)
        out.append(quiet_fit(build(side, seed), Xtr, ytr).score(Xte, yte))
    return np.asarray(out)


# --- speed ------------------------------------------------------------------------

def bench_pair(fit_d, fit_s, repeats, warmup=1):
    """Seconds per call of fit_d (dagnet) and fit_s (scikit-learn), alternating.

    Each call is preceded by a 0.3 s pause: OpenBLAS and OpenMP workers spin
    for a while after their last job and would take a core from the library
    measured next. The order flips every repeat (d s, s d, d s, ...) so that
    neither library always runs first. Returns (stats_d, stats_s, the median
    of the per-repeat ratios time_s / time_d, the last model of each): a
    ratio of neighbouring calls is steadier than the ratio of the medians
    when the machine's load changes during the run."""
    fns = (fit_d, fit_s)
    times = ([], [])
    models = [None, None]
    for r in range(warmup + repeats):
        for i in ((0, 1), (1, 0))[r % 2]:
            fn = fns[i]
            time.sleep(0.3)
            wait_idle()
            t0 = time.perf_counter()
            models[i] = fn()
            if r >= warmup:
                times[i].append(time.perf_counter() - t0)
    ratio = float(np.median(np.asarray(times[1]) / np.asarray(times[0])))
    return stats(times[0]), stats(times[1]), ratio, models


def limited(threads, fn):
    def run():
        with threadpool_limits(threads):
            return fn()
    return run


def digits_speed(threads, repeats):
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    fits = [limited(threads, lambda side=side: quiet_fit(
        estimator(side, "clf", threads=threads, random_state=0), X, y)) for side in SIDES]
    return bench_pair(*fits, repeats)


def mlp_data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_SAMPLES, MLP_SIZES[0]), dtype=np.float32)
    y = rng.integers(0, MLP_SIZES[-1], N_SAMPLES)
    return X, y


def epoch_model(side, threads):
    return estimator(side, "clf", threads=threads, hidden_layer_sizes=MLP_SIZES[1:-1],
                     solver="adam", batch_size=BATCH, max_iter=1, random_state=0)


def epoch_speed(X, y, threads, repeats):
    fits = [limited(threads, lambda side=side: quiet_fit(epoch_model(side, threads), X, y))
            for side in SIDES]
    return bench_pair(*fits, repeats)


# --- peak memory of the one-epoch fit, in fresh processes ------------------------

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak():
    """Start VmHWM again from the current RSS (Linux >= 4.0); False if refused."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss(was_reset):
    if was_reset:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    # the peak of the whole process: an overestimate only if something before
    # the fit went higher than the fit does
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


MEM_SNIPPET = r"""
import sys
sys.path[:0] = [sys.argv[1]]
import estimators as E
from threadpoolctl import threadpool_limits
side, threads = sys.argv[2], int(sys.argv[3])
E.HARNESS_CHECK = sys.argv[4] == "1"
X, y = E.mlp_data()
model = E.epoch_model(side, threads)  # imports the library before the baseline
with threadpool_limits(threads):
    was_reset = E.reset_peak()
    base = E.rss()
    E.quiet_fit(model, X, y)
    peak = E.peak_rss(was_reset)
print((peak - base) / 1e6)
"""


def peak_memory(side, threads, repeats):
    """Median over fresh processes of the peak RSS added by one epoch, MB."""
    here = os.path.dirname(os.path.abspath(__file__))
    out = []
    for _ in range(repeats):
        r = subprocess.run([sys.executable, "-c", MEM_SNIPPET, here, side, str(threads),
                            "1" if HARNESS_CHECK else "0"], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"  ({side} memory run failed: {r.stderr.strip().splitlines()[-1:]})")
        out.append(float(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else np.nan)
    return float(np.median(out))


# --- report -----------------------------------------------------------------------

def main():
    global HARNESS_CHECK
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--check-harness", action="store_true",
                    help="scikit-learn on both sides: every ratio should be near 1")
    ap.add_argument("--skip", nargs="*", default=[],
                    choices=["accuracy", "digits", "mlp", "memory"])
    args = ap.parse_args()
    HARNESS_CHECK = args.check_harness
    rep_digits, rep_epoch, rep_mem = (3, 2, 1) if args.quick else (5, 5, 3)

    import sklearn
    import dagnet
    print(f"numpy {np.__version__} (OPENBLAS_CORETYPE unset), scikit-learn {sklearn.__version__}, "
          f"dagnet {dagnet.__version__}")
    if HARNESS_CHECK:
        print("HARNESS CHECK: scikit-learn's estimators stand in for dagnet's; "
              "every ratio should be near 1 and every difference near 0")
    name_d = "dagnet*" if HARNESS_CHECK else "dagnet"

    if "accuracy" not in args.skip:
        print(f"\nTest scores, train_test_split(test_size=0.25, random_state=seed), default "
              f"parameters with random_state=seed, seeds {SEEDS[0]}..{SEEDS[-1]}: "
              f"mean [min-max] over the seeds; breast_cancer is standardised (StandardScaler "
              f"in a Pipeline) for both libraries, as usual")
        print(f"  {'':55} {'':10} {name_d:>20} {'scikit-learn':>20} {'difference':>11}")
        for label, metric, scale, data, build in accuracy_tasks():
            d, s = (accuracy(data, build, side) * scale for side in SIDES)
            digits = 2 if scale > 1 else 3
            diff = f"{d.mean() - s.mean():+.{digits}f}" + (" pts" if scale > 1 else "")
            sd = f"{d.mean():.{digits}f} [{d.min():.{digits}f}-{d.max():.{digits}f}]"
            ss = f"{s.mean():.{digits}f} [{s.min():.{digits}f}-{s.max():.{digits}f}]"
            print(f"  {label:55} {metric:10} {sd:>20} {ss:>20} {diff:>11}")

    if "digits" not in args.skip:
        for t in args.threads:
            d, s, ratio, (md, ms) = digits_speed(t, rep_digits)
            print(f"\ndigits fit, MLPClassifier defaults (64-100-10 ReLU, adam, batch 200, "
                  f"max_iter 200, tol stop), random_state=0, {t} thread(s): "
                  f"seconds per fit median [min-max]")
            per_d, per_s = d[0] / md.n_iter_, s[0] / ms.n_iter_
            print(f"  {name_d:13} {fmt(d, 3):>22}   n_iter_ {md.n_iter_:3d}, "
                  f"{per_d * 1e3:.2f} ms/epoch")
            print(f"  {'scikit-learn':13} {fmt(s, 3):>22}   n_iter_ {ms.n_iter_:3d}, "
                  f"{per_s * 1e3:.2f} ms/epoch   scikit-learn / {name_d}: "
                  f"{ratio:.2f} per fit, {ratio * md.n_iter_ / ms.n_iter_:.2f} per epoch")

    if "mlp" not in args.skip:
        X, y = mlp_data()
        for t in args.threads:
            d, s, ratio, _ = epoch_speed(X, y, t, rep_epoch)
            print(f"\nMLP {'-'.join(map(str, MLP_SIZES))} ReLU, adam, batch {BATCH}, "
                  f"{N_SAMPLES} synthetic samples, one epoch (max_iter=1), {t} thread(s): "
                  f"samples/s median [min-max]")
            sps = lambda r: (N_SAMPLES / r[0], N_SAMPLES / r[2], N_SAMPLES / r[1])  # noqa: E731
            print(f"  {name_d:13} {fmt(sps(d), 1, 1e-3):>22} k")
            print(f"  {'scikit-learn':13} {fmt(sps(s), 1, 1e-3):>22} k   "
                  f"{name_d} / scikit-learn = {ratio:.2f}")

    if "memory" not in args.skip:
        t = args.threads[0]
        md, ms = (peak_memory(side, t, rep_mem) for side in SIDES)
        data_mb = N_SAMPLES * MLP_SIZES[0] * 4 / 1e6
        print(f"\nPeak RSS added by that one-epoch fit, {t} thread(s), median of {rep_mem} fresh "
              f"process(es) (the data, {data_mb:.0f} MB, exists before): "
              f"{name_d} {md:.1f} MB, scikit-learn {ms:.1f} MB, "
              f"{name_d} / scikit-learn = {md / ms:.2f}")


if __name__ == "__main__":
    main()
