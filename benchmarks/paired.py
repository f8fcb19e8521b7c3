"""Two builds of dagnet (or one build under two environments) timed in pairs
of training epochs, for changes smaller than the machine's own swings.

    python benchmarks/paired.py A B [--model mlp|autoencoder] [--threads T]
                                [--pairs P] [--samples N] [--a-env V=X ...] [--b-env V=X ...]

A and B are import paths: folders that hold a ``dagnet`` package (an install's
site-packages, or a folder with python/dagnet and its built _core copied in);
"-" means the dagnet this interpreter imports. --a-env and --b-env set
environment variables for one side only (GOMP_SPINCOUNT=10000, say), so one
build can be set against itself.

On a shared machine an epoch's time moves by 10-30 % from one minute to the
next, more than most changes to a kernel. Timing A for a while and then B
measures the machine as much as the change. Here each side trains in its own
process, built and warmed up once, and the two take turns epoch by epoch
(A B, then B A, and so on), so both meet nearly the same machine in every
pair. The figure is the median over the pairs of B's samples per second
divided by A's, with its quartiles; a change is real when the quartiles
stay on one side of 1. Set a build against itself first: the spread of that
run is what a change has to beat.

The models are compare.py's 784-512-256-10 MLP (Adam, batch 128) and
autoencoder.py's 784-256-64-256-784 autoencoder, on their synthetic data
(--samples of it, 30,000 by default).
"""

import argparse
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _timing import BLAS_OVERRIDES  # noqa: E402


def worker(model, threads, samples):
    """One side: build the model, train one epoch to warm up, say "ready"
    and where its dagnet lies, then time one epoch per line read and print
    its seconds. The epoch is the one compare.py or autoencoder.py times."""
    sys.path.insert(0, HERE)
    import dagnet
    if model == "mlp":
        import compare
        compare.N_SAMPLES = samples
        epoch = compare.dagnet_epoch_fn(*compare.mlp_data(), threads)
    else:
        import autoencoder
        autoencoder.N_SAMPLES = samples
        epoch = autoencoder.dagnet_epoch_fn(autoencoder.data(), threads)
    epoch()
    print("ready", os.path.dirname(os.path.dirname(dagnet.__file__)), flush=True)
    for _ in sys.stdin:
        t0 = time.perf_counter()
        epoch()
        print(time.perf_counter() - t0, flush=True)


def side_env(path, assignments):
    if path != "-" and not os.path.isdir(os.path.join(path, "dagnet")):
        sys.exit(f"paired.py: {path} holds no dagnet package; give the folder that holds it")
    env = dict(os.environ)
    for k in BLAS_OVERRIDES:  # as compare.py runs (it re-runs itself without them)
        env.pop(k, None)
    if path != "-":
        env["PYTHONPATH"] = os.path.abspath(path)
    for a in assignments:
        name, sep, value = a.partition("=")
        if not sep or not name:
            sys.exit(f"paired.py: an environment setting is NAME=VALUE, got {a!r}")
        env[name] = value
    return env


def start(args, env):
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", args.model,
                          str(args.threads), str(args.samples)], env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().split(maxsplit=1)
    if not line or line[0] != "ready":
        p.kill()
        sys.exit(f"paired.py: a side failed to start (it said {' '.join(line)!r}); run it "
                 f"alone to see why")
    return p, line[1].strip()


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a", help="import path of side A ('-': this interpreter's dagnet)")
    ap.add_argument("b", help="import path of side B")
    ap.add_argument("--model", choices=["mlp", "autoencoder"], default="mlp")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--samples", type=int, default=30_000)
    ap.add_argument("--a-env", nargs="*", default=[], metavar="NAME=VALUE")
    ap.add_argument("--b-env", nargs="*", default=[], metavar="NAME=VALUE")
    args = ap.parse_args()
    if args.pairs < 1 or args.samples < 1 or args.threads < 1:
        sys.exit("paired.py: --pairs, --samples and --threads must be at least 1")
    procs, where = {}, {}
    for name, path, settings in (("A", args.a, args.a_env), ("B", args.b, args.b_env)):
        procs[name], where[name] = start(args, side_env(path, settings))
    times = {"A": [], "B": []}
    try:
        for k in range(args.pairs):
            for name in ("AB" if k % 2 == 0 else "BA"):
                p = procs[name]
                p.stdin.write("go\n")
                p.stdin.flush()
                times[name].append(float(p.stdout.readline()))
    finally:
        for p in procs.values():
            p.stdin.close()
            p.wait()
    a, b = np.array(times["A"]), np.array(times["B"])
    ratio = a / b  # B's samples per second / A's
    print(f"{args.model}, {args.threads} thread(s), {args.pairs} pairs of epochs of "
          f"{args.samples} samples: samples/s median (min-max)")
    for name, t, settings in (("A", a, args.a_env), ("B", b, args.b_env)):
        sps = args.samples / t
        print(f"  {name}  {np.median(sps):9.0f}  ({sps.min():.0f}-{sps.max():.0f})   dagnet from "
              f"{where[name]}" + (f", {' '.join(settings)}" if settings else ""))
    q1, q2, q3 = np.percentile(ratio, [25, 50, 75])
    print(f"  B / A per pair: median {q2:.3f}, quartiles {q1:.3f}-{q3:.3f}")


if __name__ == "__main__":
    main()
