"""dagnet's convolution kernels beside torch's, measured in the same run.

    python benchmarks/conv.py [--quick] [--rounds R] [--threads 1 2] [--torch-python PATH]

A batch of 64 images 3x32x32 goes through conv 3->32 3x3 pad 1, ReLU, 2x2 max
pool, conv 32->64 3x3 pad 1, ReLU, 2x2 max pool, forward and backward of the
loss 1/2 mean_n sum (flattened output)^2 (gradients of every parameter, none
of the images). Prints images per second of dagnet, torch with its default
NCHW tensors and torch with channels_last, for 1 and 2 threads, and the
ratios dagnet / torch. Every figure is the median of several repeats after a
warm-up, with min and max. The machine is shared and its speed drifts, so the
libraries take turns: R rounds of dagnet then torch, each round printed, and
the median over the rounds last. torch is never a dependency: give --torch-python,
the interpreter of a separate virtual environment with torch==2.13.0, or run
where torch imports (see benchmarks/compare.py).
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import bench, use_default_blas  # noqa: E402

if __name__ == "__main__":
    use_default_blas()

from compare import find_torch_python, torch_run  # noqa: E402
from _rounds import median_of, parser, print_ratios, rounds_of, take_turns  # noqa: E402

BATCH, SHAPE = 64, (3, 32, 32)


def images():
    return np.random.default_rng(0).standard_normal((BATCH,) + SHAPE, dtype=np.float32)


def dagnet_step(threads, repeats):
    from dagnet import _core
    g = _core.Graph()
    x = g.add_input(SHAPE)
    h = g.add_node("conv2d", [x], units=32, kernel=3, pad=1, act="relu")
    h = g.add_node("maxpool2d", [h], kernel=2)
    h = g.add_node("conv2d", [h], units=64, kernel=3, pad=1, act="relu")
    h = g.add_node("maxpool2d", [h], kernel=2)
    out = g.add_node("reshape", [h], shape=(-1,))
    g.set_outputs([out])
    t = g.add_input((64 * 8 * 8,))
    w = g.add_input((1,))
    g.add_node("loss", [out, t, w], loss="squared_error")
    g.compile(0)
    X = images()
    T = np.zeros((BATCH, 64 * 8 * 8), np.float32)
    # one chunk of the whole batch: forward and backward of the loss
    return bench(lambda: g.objective([X, T, None], chunk=BATCH, nthreads=threads), repeats,
                 warmup=2)


TORCH_SNIPPET = r"""
import json, os, sys, time
import numpy as np
import torch
sys.path.insert(0, os.environ["DAGNET_BENCH_DIR"])
from _timing import bench
threads, repeats, batch = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
res = {"version": torch.__version__}
X0 = torch.from_numpy(np.random.default_rng(0).standard_normal((batch, 3, 32, 32), dtype=np.float32))
for fmt in ("nchw", "channels_last"):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2))
    X = X0
    if fmt == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        X = X0.contiguous(memory_format=torch.channels_last)
    def step():
        for p in model.parameters():
            p.grad = None
        out = model(X).flatten(1)
        loss = 0.5 * (out * out).sum(1).mean()
        loss.backward()
    res[fmt] = bench(step, repeats, warmup=2)
print(json.dumps(res))
"""


def ips(s):
    """images per second (median, from min time, from max time)"""
    return BATCH / s[0], BATCH / s[2], BATCH / s[1]


def report(label, d, tr):
    print(f"\n{label}")
    print(f"  dagnet                {ips(d)[0]:8.0f}  ({ips(d)[1]:.0f}-{ips(d)[2]:.0f})")
    if tr:
        for fmt in ("nchw", "channels_last"):
            s = tr[fmt]
            print(f"  torch {tr['version']} {fmt:14s}{ips(s)[0]:8.0f}  ({ips(s)[1]:.0f}-"
                  f"{ips(s)[2]:.0f})   dagnet / torch = {s[0] / d[0]:.2f}")


def main():
    args = parser(__doc__).parse_args()
    repeats = 7 if args.quick else 21
    rounds = rounds_of(args)
    torch_py = find_torch_python(args.torch_python)
    print(f"batch {BATCH} of {SHAPE}: conv 3->32 3x3 pad 1, ReLU, maxpool 2, conv 32->64 3x3 "
          f"pad 1, ReLU, maxpool 2; forward + backward; images/s, median (min-max time)")
    libs = {"dagnet": lambda t: dagnet_step(t, repeats),
            "torch": lambda t: torch_run(torch_py, [t, repeats, BATCH], TORCH_SNIPPET)}
    runs = take_turns(args.threads, rounds, libs,
                      lambda label, r: report(label, r["dagnet"], r["torch"]))
    results = {}
    for t in args.threads:
        d = median_of(runs[t]["dagnet"])
        tr = None
        if runs[t]["torch"]:
            tr = {"version": runs[t]["torch"][0]["version"]}
            for fmt in ("nchw", "channels_last"):
                tr[fmt] = median_of([x[fmt] for x in runs[t]["torch"]])
        results[t] = {"dagnet": d, "torch": tr}
        if rounds > 1:
            report(f"median of {rounds} rounds, {t} thread(s)", d, tr)
            for fmt in ("nchw", "channels_last") if tr else ():
                print_ratios(f" {fmt}", [x[fmt] for x in runs[t]["torch"]], runs[t]["dagnet"])
    return results


if __name__ == "__main__":
    main()
