"""Training speed when another process wants the same cores.

    python benchmarks/contention.py [--busy 0 1] [--samples 12800] [--torch-python PATH]

A user's machine is rarely idle. When a CPU-bound process shares the cores
with a 2-thread training run, an OpenMP thread that spins at a barrier keeps
its core while the thread it waits for queues behind the other process, and
every barrier can cost a scheduler time slice. This prints the samples per
second of one epoch of compare.py's 784-512-256-10 network (Adam, batch 128)
on 2 threads, quiet and beside `--busy` spinning processes, for:
  - dagnet as imported (libgomp's own spin count, 300000: see dagnet/__init__.py),
  - dagnet with shorter spins (GOMP_SPINCOUNT=10000 and 1000, its former defaults),
  - dagnet with OMP_WAIT_POLICY=passive (threads sleep at once),
  - dagnet on one thread (n_threads=1, the remedy on a busy machine),
  - a plain torch loop (when --torch-python or an importable torch is given).
Each runs in a fresh process (libgomp reads its settings when it loads), and
each figure is the median of several epochs; the busy processes start before
and stop after each measurement.
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _timing import use_default_blas  # noqa: E402

if __name__ == "__main__":
    use_default_blas()

from compare import BATCH, MLP_SIZES, TORCH_SNIPPET, find_torch_python  # noqa: E402
from _quiet import wait_idle  # noqa: E402

DAGNET_SNIPPET = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import compare
n, repeats, threads = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
compare.N_SAMPLES = n
X, y = compare.mlp_data()
print(json.dumps(compare.dagnet_epoch(X, y, threads, repeats)))
"""

# name: (environment, threads)
SETTINGS = {
    "dagnet (its default)": ({}, 2),
    "dagnet, GOMP_SPINCOUNT=10000": ({"GOMP_SPINCOUNT": "10000"}, 2),
    "dagnet, GOMP_SPINCOUNT=1000": ({"GOMP_SPINCOUNT": "1000"}, 2),
    "dagnet, OMP_WAIT_POLICY=passive": ({"OMP_WAIT_POLICY": "passive"}, 2),
    "dagnet on 1 thread": ({}, 1),
}


def spinner():
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def run(cmd, env_extra):
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    env.update(env_extra, DAGNET_BENCH_DIR=HERE)
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        return None, r.stderr.strip().splitlines()[-1:]
    return json.loads(r.stdout.strip().splitlines()[-1]), None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--busy", type=int, nargs="+", default=[0, 1],
                    help="numbers of competing spinning processes to measure beside")
    ap.add_argument("--samples", type=int, default=12_800)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--torch-python", default=None)
    args = ap.parse_args()
    torch_python = find_torch_python(args.torch_python)

    print(f"one epoch of {'-'.join(map(str, MLP_SIZES))}, Adam, batch {BATCH}, "
          f"{args.samples} samples, 2 threads unless said: samples/s, median (min-max) of {args.repeats}")
    jobs = [(name, [sys.executable, "-c", DAGNET_SNIPPET, HERE], env, threads)
            for name, (env, threads) in SETTINGS.items()]
    if torch_python:
        jobs.append(("torch", [torch_python, "-c", TORCH_SNIPPET, "mlp", 2], {}, 2))
    for busy in args.busy:
        print(f"\n{busy} competing process(es):")
        for name, cmd, env, threads in jobs:
            wait_idle()
            procs = [spinner() for _ in range(busy)]
            try:
                if name == "torch":
                    full = cmd + [args.repeats, json.dumps(MLP_SIZES), args.samples, BATCH]
                else:
                    full = cmd + [args.samples, args.repeats, threads]
                # both sides' benchmarks skip waiting for idle cores (_quiet.py)
                busy_env = {"DAGNET_BENCH_BUSY": "1"} if busy else {}
                res, err = run([str(a) for a in full], dict(env, **busy_env))
            finally:
                for p in procs:
                    p.kill()
                    p.wait()
            if res is None:
                print(f"  {name:52s} failed: {err}")
                continue
            med, lo, hi = (args.samples / t for t in res)
            print(f"  {name:52s} {med:9.0f}  ({hi:.0f}-{lo:.0f})")


if __name__ == "__main__":
    main()
