"""An autoencoder's training epoch in dagnet beside a plain torch loop,
measured in the same run.

    python benchmarks/autoencoder.py [--quick] [--rounds R] [--threads 1 2] [--torch-python PATH]

The network is the MNIST-sized 784-256-64-256-784 autoencoder (ReLU hidden
layers, linear 64-unit code, linear output, half the mean squared error,
Adam at 1e-3 without an L2 term, minibatches of 128, shuffled): the size the autoencoder
literature trains on images, large enough that the epoch is the layers'
arithmetic rather than per-call overhead (digits' 64 pixels would time the
Python loop). 20,000 synthetic samples in [0, 1]. dagnet runs
``Autoencoder.partial_fit`` (one core call per epoch); torch runs the same
layers, initialisation aside, in the usual loop (randperm, zero_grad,
forward, MSELoss, backward, step). The libraries take turns: R rounds
(--rounds, 3 by default) of dagnet then torch, each printing samples per
second for 1 and 2 threads, the median of several epochs after a warm-up
with min and max, and the ratio dagnet / torch; the median over the rounds
comes last. torch is never a dependency: give
--torch-python, the interpreter of a separate virtual environment with
torch==2.13.0, or run where torch imports (see benchmarks/compare.py).
"""

import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import bench, use_default_blas  # noqa: E402

if __name__ == "__main__":
    use_default_blas()

from compare import find_torch_python, torch_run  # noqa: E402
from _rounds import median_of, parser, print_ratios, rounds_of, take_turns  # noqa: E402

SIZES = (784, 256, 64)
N_SAMPLES, BATCH = 20_000, 128


def data():
    return np.random.default_rng(0).random((N_SAMPLES, SIZES[0]), dtype=np.float32)


def dagnet_epoch_fn(X, threads):
    """One epoch of Autoencoder.partial_fit on X, as a function."""
    from dagnet import Autoencoder
    # alpha=0: no L2 term, as the torch loop's Adam has none
    ae = Autoencoder(SIZES[1:], alpha=0.0, batch_size=BATCH, random_state=0, n_threads=threads)

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ae.partial_fit(X)
    return run


def dagnet_epoch(threads, repeats):
    return bench(dagnet_epoch_fn(data(), threads), repeats)


TORCH_SNIPPET = r"""
import json, os, sys, time
import numpy as np
import torch
sys.path.insert(0, os.environ["DAGNET_BENCH_DIR"])
from _timing import bench
threads, repeats, n, batch = (int(a) for a in sys.argv[1:5])
sizes = json.loads(sys.argv[5])
torch.set_num_threads(threads)
X = torch.from_numpy(np.random.default_rng(0).random((n, sizes[0]), dtype=np.float32))
widths = list(sizes) + list(sizes[-2::-1])
layers = []
for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
    layers.append(torch.nn.Linear(a, b))
    if i not in (len(sizes) - 2, len(widths) - 2):  # linear code and output
        layers.append(torch.nn.ReLU())
model = torch.nn.Sequential(*layers)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
lossf = torch.nn.MSELoss()
def epoch():
    perm = torch.randperm(n)
    for s in range(0, n, batch):
        xb = X[perm[s:s + batch]]
        opt.zero_grad(set_to_none=True)
        lossf(model(xb), xb).backward()
        opt.step()
print(json.dumps({"version": torch.__version__, "epoch": bench(epoch, repeats)}))
"""


def sps(s):
    """Samples per second from (median, min, max) seconds: median, low, high."""
    return N_SAMPLES / s[0], N_SAMPLES / s[2], N_SAMPLES / s[1]


def report(label, d, tr):
    print(f"\n{label}")
    print(f"  dagnet            {sps(d)[0]:9.0f}  ({sps(d)[1]:.0f}-{sps(d)[2]:.0f})")
    if tr:
        s = tr["epoch"]
        print(f"  torch {tr['version']:12s}{sps(s)[0]:9.0f}  ({sps(s)[1]:.0f}-{sps(s)[2]:.0f})"
              f"   dagnet / torch = {s[0] / d[0]:.2f}")


def main():
    args = parser(__doc__).parse_args()
    repeats = 3 if args.quick else 5
    rounds = rounds_of(args)
    torch_py = find_torch_python(args.torch_python)
    widths = "-".join(str(w) for w in SIZES + SIZES[-2::-1])
    print(f"autoencoder {widths}, ReLU, Adam, batch {BATCH}, {N_SAMPLES} samples: one epoch, "
          f"samples/s, median (low-high)")
    libs = {"dagnet": lambda t: dagnet_epoch(t, repeats),
            "torch": lambda t: torch_run(torch_py, [t, repeats, N_SAMPLES, BATCH, list(SIZES)],
                                         TORCH_SNIPPET)}
    runs = take_turns(args.threads, rounds, libs,
                      lambda label, r: report(label, r["dagnet"], r["torch"]))
    results = {}
    for t in args.threads:
        d = median_of(runs[t]["dagnet"])
        tr = None
        if runs[t]["torch"]:
            tr = {"version": runs[t]["torch"][0]["version"],
                  "epoch": median_of([x["epoch"] for x in runs[t]["torch"]])}
        results[t] = {"dagnet": d, "torch": tr}
        if rounds > 1:
            report(f"median of {rounds} rounds, {t} thread(s)", d, tr)
            if tr:
                print_ratios("", [x["epoch"] for x in runs[t]["torch"]], runs[t]["dagnet"])
    return results


if __name__ == "__main__":
    main()
