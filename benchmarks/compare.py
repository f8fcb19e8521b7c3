"""dagnet beside its references, measured in the same run.

    python benchmarks/compare.py [--quick] [--threads 1 2] [--rounds R] [--torch-python PATH]

Prints, for 1 and 2 threads: SGEMM GFLOP/s of dagnet, numpy (OpenBLAS with its
own kernel choice: the script re-runs itself without OPENBLAS_CORETYPE) and
torch when available, with ratios; the samples per second of one training epoch
of a 784-512-256-10 ReLU network with Adam, batch 128, on 60,000 synthetic
samples, for dagnet, scikit-learn's MLPClassifier and a plain torch loop, in R
rounds (--rounds, 3 by default) in which the three take turns, with the ratios
of every round; and the peak memory each adds during that epoch (measured in
fresh processes). Every figure is the median of several repeats after a
warm-up, with min and max.
torch is never a dependency: give --torch-python, the interpreter of a separate
virtual environment with torch==2.13.0, or run where torch imports.
"""

import json
import os
import subprocess
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import bench, stats, use_default_blas  # noqa: E402

if __name__ == "__main__":
    use_default_blas()

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from _rounds import median_of, parser, print_ratios, rounds_of, take_turns  # noqa: E402

MLP_SIZES = (784, 512, 256, 10)
N_SAMPLES, BATCH = 60_000, 128


def mlp_data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_SAMPLES, MLP_SIZES[0]), dtype=np.float32)
    y = rng.integers(0, MLP_SIZES[-1], N_SAMPLES)
    return X, y


# --- the libraries ------------------------------------------------------------

def dagnet_gemm(n, threads, repeats):
    from dagnet import _core
    rng = np.random.default_rng(0)
    A = rng.standard_normal((n, n), dtype=np.float32)
    B = rng.standard_normal((n, n), dtype=np.float32)
    C = np.empty((n, n), np.float32)
    return bench(lambda: _core.sgemm(A, B, C, nthreads=threads), repeats)


# (M, N, K, trans_a, trans_b): the products of a 784-512-256-10 training step, batch 128
TRAIN_SHAPES = [(128, 512, 784, 0, 0), (128, 256, 512, 0, 0), (128, 10, 256, 0, 0),
                (784, 512, 128, 1, 0), (512, 256, 128, 1, 0), (128, 512, 256, 0, 1),
                (200, 100, 64, 0, 0), (64, 100, 200, 1, 0), (200, 64, 100, 0, 1)]


def shape_operands(M, N, K, ta, tb):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((K, M) if ta else (M, K), dtype=np.float32)
    B = rng.standard_normal((N, K) if tb else (K, N), dtype=np.float32)
    return A, B, np.empty((M, N), np.float32)


def dagnet_gemm_shape(shape, threads, repeats):
    from dagnet import _core
    A, B, C = shape_operands(*shape)
    ta, tb = shape[3], shape[4]
    return bench(lambda: _core.sgemm(A, B, C, trans_a=ta, trans_b=tb, nthreads=threads),
                 repeats * 5)


def numpy_gemm_shape(shape, threads, repeats):
    A, B, C = shape_operands(*shape)
    a = A.T if shape[3] else A
    b = B.T if shape[4] else B
    with threadpool_limits(threads):
        return bench(lambda: np.matmul(a, b, out=C), repeats * 5)


def numpy_gemm(n, threads, repeats):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((n, n), dtype=np.float32)
    B = rng.standard_normal((n, n), dtype=np.float32)
    C = np.empty((n, n), np.float32)
    with threadpool_limits(threads):
        return bench(lambda: np.matmul(A, B, out=C), repeats)


def dagnet_model():
    from dagnet.nn import Dense, Sequential
    layers = [Dense(u, activation="relu") for u in MLP_SIZES[1:-1]] + [Dense(MLP_SIZES[-1])]
    m = Sequential(layers).build(input_shape=(MLP_SIZES[0],), random_state=0)
    return m.compile("softmax_cross_entropy", "adam", learning_rate=1e-3)


def dagnet_epoch_fn(X, y, threads):
    """One epoch as fit runs it, as a function: the data checked and
    converted once (fit's first step), then one core call per epoch."""
    from dagnet._threads import quiet_blas
    m = dagnet_model()
    m.n_threads = threads
    g, arrays = m._prepare_training(X, y, BATCH, None)

    def run():
        with quiet_blas(threads):
            g.train_epoch(arrays, BATCH, shuffle=True, nthreads=threads)
    return run


def dagnet_epoch(X, y, threads, repeats):
    return bench(dagnet_epoch_fn(X, y, threads), repeats)


def sklearn_epoch(X, y, threads, repeats):
    from sklearn.neural_network import MLPClassifier
    from sklearn.exceptions import ConvergenceWarning

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            MLPClassifier(hidden_layer_sizes=MLP_SIZES[1:-1], batch_size=BATCH, max_iter=1,
                          random_state=0, shuffle=True).fit(X, y)
    with threadpool_limits(threads):
        return bench(run, repeats)


def digits_fit(threads, repeats):
    """200 epochs of scikit-learn's MLPClassifier defaults on digits, and the
    same network and recipe in dagnet (early stopping off in both)."""
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier
    from dagnet.nn import Dense, Sequential

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)

    def run_dagnet():
        m = Sequential([Dense(100, activation="relu"), Dense(10)])
        m.build(input_shape=(64,), random_state=0).n_threads = threads
        m.compile("softmax_cross_entropy", "adam", learning_rate=1e-3, l2=1e-4,
                  reg_per_sample=True)
        m.fit(X, y, epochs=200, batch_size=200)

    def run_sklearn():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            MLPClassifier(max_iter=200, n_iter_no_change=1000, random_state=0).fit(X, y)

    d = bench(run_dagnet, repeats)
    with threadpool_limits(threads):
        s = bench(run_sklearn, repeats)
    return d, s


TORCH_SNIPPET = r"""
import json, os, sys, time
import numpy as np
import torch
sys.path.insert(0, os.environ["DAGNET_BENCH_DIR"])
from _timing import bench
what, threads, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
if what == "gemm":
    res = {}
    for n in json.loads(sys.argv[4]):
        g = torch.Generator().manual_seed(0)
        A = torch.randn(n, n, generator=g); B = torch.randn(n, n, generator=g)
        C = torch.empty(n, n)
        res[str(n)] = bench(lambda: torch.mm(A, B, out=C), repeats)
    print(json.dumps(res))
else:
    sizes = json.loads(sys.argv[4]); n, batch = int(sys.argv[5]), int(sys.argv[6])
    rng = np.random.default_rng(0)
    X = torch.from_numpy(rng.standard_normal((n, sizes[0]), dtype=np.float32))
    y = torch.from_numpy(rng.integers(0, sizes[-1], n))
    layers = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers, torch.nn.Linear(sizes[-2], sizes[-1]))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lossf = torch.nn.CrossEntropyLoss()
    def epoch():
        perm = torch.randperm(n)
        for s in range(0, n, batch):
            idx = perm[s:s + batch]
            opt.zero_grad(set_to_none=True)
            loss = lossf(model(X[idx]), y[idx])
            loss.backward()
            opt.step()
    print(json.dumps(bench(epoch, repeats)))
"""


def torch_run(python, args, snippet=None):
    """Run a torch snippet (TORCH_SNIPPET by default) in the interpreter
    `python` with args; returns its JSON output, or None without torch."""
    if python is None:
        return None
    env = dict(os.environ)
    env.update(MALLOC_MMAP_THRESHOLD_="33554432", MALLOC_TRIM_THRESHOLD_="4294967296",
               DAGNET_BENCH_DIR=os.path.dirname(os.path.abspath(__file__)))
    try:
        r = subprocess.run([python, "-c", snippet or TORCH_SNIPPET] + [str(a) for a in args],
                           capture_output=True, text=True, env=env)
    except OSError as e:
        print(f"  (torch could not be run with {python}: {e})")
        return None
    if r.returncode != 0:
        print(f"  (torch failed: {r.stderr.strip().splitlines()[-1:]})")
        return None
    return json.loads(r.stdout)


def find_torch_python(given):
    if given:
        return given
    try:
        import torch  # noqa: F401
        return sys.executable
    except ImportError:
        return None


# --- peak memory of one epoch, in fresh processes --------------------------------

MEM_SNIPPET = r"""
import resource, sys, warnings
sys.path[:0] = [sys.argv[2]]
import numpy as np
import compare
X, y = compare.mlp_data()
def rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * 4096
lib = sys.argv[1]
if lib == 'dagnet':
    m = compare.dagnet_model()
    base = rss()
    m.train_epoch(X, y, batch_size=compare.BATCH)
elif lib == 'sklearn':
    from sklearn.neural_network import MLPClassifier
    base = rss()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        MLPClassifier(hidden_layer_sizes=compare.MLP_SIZES[1:-1], batch_size=compare.BATCH,
                      max_iter=1, random_state=0).fit(X, y)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print((peak - base) / 1e6)
"""


def peak_memory(lib, repeats=3):
    """Median over fresh processes of the peak RSS added by one epoch, MB."""
    here = os.path.dirname(os.path.abspath(__file__))
    out = []
    for _ in range(repeats):
        r = subprocess.run([sys.executable, "-c", MEM_SNIPPET, lib, here], capture_output=True,
                           text=True)
        out.append(float(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else np.nan)
    return float(np.median(out))


# --- report -----------------------------------------------------------------------

def fmt(s, scale=1.0):
    med, lo, hi = (v * scale for v in s)
    return f"{med:8.1f} [{lo:.1f}-{hi:.1f}]"


def mlp_rounds(args, torch_py):
    """The training epoch: dagnet, scikit-learn and torch take turns, round
    after round (the machine's speed drifts by more than the differences
    measured), each round printed; then the round with the median time of
    each library and the ratios of every round."""
    X, y = mlp_data()
    rep_e = 3 if args.quick else 5
    rounds = rounds_of(args)
    sps = lambda r: (N_SAMPLES / r[0] / 1e3, N_SAMPLES / r[2] / 1e3, N_SAMPLES / r[1] / 1e3)

    def report(label, d, s, tr):
        print(f"\nMLP {'-'.join(map(str, MLP_SIZES))} ReLU, Adam, batch {BATCH}, "
              f"{N_SAMPLES} samples, one epoch, {label}: samples/s median [min-max]")
        print(f"  dagnet        {fmt(sps(d))} k")
        print(f"  scikit-learn  {fmt(sps(s))} k   dagnet / scikit-learn = {s[0] / d[0]:.2f}")
        if tr:
            print(f"  torch         {fmt(sps(tr))} k   dagnet / torch = {tr[0] / d[0]:.2f}")

    libs = {"dagnet": lambda t: dagnet_epoch(X, y, t, rep_e),
            "sklearn": lambda t: sklearn_epoch(X, y, t, rep_e),
            "torch": lambda t: torch_run(torch_py, ["mlp", t, rep_e, json.dumps(MLP_SIZES),
                                                    N_SAMPLES, BATCH])}
    runs = take_turns(args.threads, rounds, libs,
                      lambda label, r: report(label, r["dagnet"], r["sklearn"], r["torch"]))
    if rounds == 1:
        return
    for t in args.threads:
        rt = runs[t]
        report(f"median of {rounds} rounds, {t} thread(s)", median_of(rt["dagnet"]),
               median_of(rt["sklearn"]), median_of(rt["torch"]) if rt["torch"] else None)
        print_ratios("", rt["sklearn"], rt["dagnet"], ref="scikit-learn")
        if rt["torch"]:
            print_ratios("", rt["torch"], rt["dagnet"])


def main():
    ap = parser(__doc__)
    ap.add_argument("--skip", nargs="*", default=[], choices=["gemm", "digits", "mlp", "memory"])
    args = ap.parse_args()
    torch_py = find_torch_python(args.torch_python)
    sizes = [128, 512, 1024] if args.quick else [128, 256, 512, 1024, 2048]
    rep = 3 if args.quick else 7
    print(f"numpy {np.__version__} (OPENBLAS_CORETYPE unset), torch: "
          f"{'yes' if torch_py else 'not available'}")

    if "gemm" not in args.skip:
        for t in args.threads:
            print(f"\nSGEMM, square n, {t} thread(s): GFLOP/s median [min-max]")
            tr = torch_run(torch_py, ["gemm", t, rep, json.dumps(sizes)])
            print(f"{'n':>6} {'dagnet':>22} {'numpy':>22} {'ratio':>6}"
                  + (f" {'torch':>22} {'ratio':>6}" if tr else ""))
            for n in sizes:
                flop = 2.0 * n ** 3 / 1e9
                d = dagnet_gemm(n, t, rep)
                npy = numpy_gemm(n, t, rep)
                gd = (flop / d[0], flop / d[2], flop / d[1])
                gn = (flop / npy[0], flop / npy[2], flop / npy[1])
                line = f"{n:6d} {fmt(gd):>22} {fmt(gn):>22} {gd[0] / gn[0]:6.2f}"
                if tr:
                    s = tr[str(n)]
                    gt = (flop / s[0], flop / s[2], flop / s[1])
                    line += f" {fmt(gt):>22} {gd[0] / gt[0]:6.2f}"
                print(line)

    if "gemm" not in args.skip:
        for t in args.threads:
            print(f"\nSGEMM, the shapes of minibatch training, {t} thread(s): GFLOP/s median")
            print(f"{'M x N x K, op':>24} {'dagnet':>8} {'numpy':>8} {'ratio':>6}")
            for shape in TRAIN_SHAPES:
                M, N, K, ta, tb = shape
                flop = 2.0 * M * N * K / 1e9
                d = dagnet_gemm_shape(shape, t, rep)
                npy = numpy_gemm_shape(shape, t, rep)
                op = ("A^T" if ta else "A") + ("B^T" if tb else "B")
                print(f"{f'{M} x {N} x {K}, {op}':>24} {flop / d[0]:8.1f} {flop / npy[0]:8.1f} "
                      f"{npy[0] / d[0]:6.2f}")

    if "digits" not in args.skip:
        for t in args.threads:
            d, s_ = digits_fit(t, 3 if args.quick else 5)
            print(f"\ndigits, MLPClassifier defaults (64-100-10 ReLU, adam, batch 200), 200 epochs, "
                  f"{t} thread(s): seconds per fit median [min-max]")
            print(f"  dagnet        {fmt(d)}")
            print(f"  scikit-learn  {fmt(s_)}   scikit-learn / dagnet = {s_[0] / d[0]:.2f}")

    if "mlp" not in args.skip:
        mlp_rounds(args, torch_py)

    if "memory" not in args.skip:
        md, ms = peak_memory("dagnet"), peak_memory("sklearn")
        data_mib = N_SAMPLES * MLP_SIZES[0] * 4 / 2**20
        print(f"\npeak memory added by one epoch (data {data_mib:.0f} MiB): "
              f"dagnet {md:.1f} MB, scikit-learn {ms:.1f} MB")


if __name__ == "__main__":
    main()
