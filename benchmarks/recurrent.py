"""dagnet's recurrent layers beside torch's nn.LSTM, nn.GRU and nn.RNN, measured in the same run.

    python benchmarks/recurrent.py [--quick] [--rounds R] [--threads 1 2] [--torch-python PATH]
                                   [--json PATH]

One layer, forward and backward, on a batch: dagnet's fused "recurrent" op
(a one-node graph; forward(training, grad) then backward with the gradient
of its whole output) against torch 2.13's modules (batch_first, one layer,
bias on; y, _ = m(X), then backward of (y * G).sum()). Both sides get the
same float32 X (batch, T, input) and the same G (batch, T, hidden) for the
hidden-state rows, drawn once from numpy's default_rng(0); dagnet's state
rows after the sequence (final h, and c for an LSTM) get zero gradient, as
torch's h_n and c_n do. Both compute every parameter's gradient and the
input's (dagnet's backward always returns it; torch's X requires grad).

Cells, on each shape and thread count:

LSTM       cell="lstm"                     against nn.LSTM (oneDNN on this CPU)
GRU        cell="gru", reset_after=True    against nn.GRU: the same computation
           (the candidate reads r (.) (h W_hn + b_hn), PyTorch's and cuDNN's form)
GRU seeds  cell="gru", dagnet's default form (the candidate reads (r (.) h) W_hn),
           against nn.GRU too: an extra row, a different computation, no bar
SimpleRNN  cell="rnn", act="tanh"         against nn.RNN (tanh)

Shapes (T, batch, input, hidden): (50, 32, 64, 256), the issue's and
the project's reference shape, and (200, 64, 64, 512), a long sequence of a
wider layer. The operation count is 6 T B G H (I + H), G = 4, 3, 1 gates:
forward's X W_x and h W_h (2 T B G H (I + H)) and backward's dX, dh(t-1),
dW_x and dW_h (twice that); the cells' elementwise work is not counted.

The libraries take turns: R rounds (--rounds, 3 by default, 1 with --quick)
in which dagnet, then torch, time every cell and shape, each a median of
repeats after a warm-up (5-7; 3 with --quick) that first waits for idle
cores (_quiet.py; DAGNET_BENCH_BUSY=1 skips the wait). A row's ratio is the
median over the rounds of (torch's time / dagnet's time): above 1, dagnet is
faster. torch runs in the interpreter --torch-python (a separate virtual
environment with torch==2.13.0), or in this one when torch imports here,
with torch.set_num_threads(t) and the malloc settings the benchmarks share
(compare.torch_run). This process runs with OPENBLAS_NUM_THREADS=1 (numpy's
idle OpenBLAS threads would otherwise spin on the cores dagnet uses). The FMA
peak probe (_peak.py, benchmarks/fma_peak.c) runs at the start and the end
on each thread count; GFLOP/s are quoted as a share of the higher of the two.

Printed per thread count: every shape and cell with dagnet's and torch's
milliseconds (the median round's median), the ratio and its spread over the
rounds, the GFLOP/s of each and their share of the peak, and the bars; a
"*" after dagnet's time marks a row the graph ran on fewer threads than asked
(Graph.step_threads: the core trims a run's threads to the work it counts):

    LSTM       ratio >= 1.0 on 1 thread, >= 1.3 on 2;
               dagnet's share of the FMA peak >= 75 % on 1 thread
    GRU        ratio >= 2.0 on 1 and on 2 threads
    SimpleRNN  ratio >= 1.5 on 1 and on 2 threads

Without torch the script still times dagnet (and checks the peak bar) and
marks the ratios absent. --json PATH saves every figure (each round's median,
min and max time of each library and row, the ratios, the peaks, the bars).
--quick is a check that the script runs, not a measurement. A full run takes
about 5 minutes on 2 quiet cores. The asv class
benchmarks/asv_bench/bench_recurrent.py times dagnet alone on the same shapes.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _timing import bench, use_default_blas  # noqa: E402

if __name__ == "__main__":
    os.environ["OPENBLAS_NUM_THREADS"] = "1"  # before numpy loads OpenBLAS
    use_default_blas()

import numpy as np  # noqa: E402

from _peak import FmaPeak, cpu_info  # noqa: E402
from _rounds import median_of, parser, rounds_of, take_turns  # noqa: E402

# (T, batch, input, hidden)
SHAPES = [(50, 32, 64, 256), (200, 64, 64, 512)]

# name: (dagnet's cell, its settings, torch's module, gates)
CELLS = {
    "LSTM": ("lstm", {}, "LSTM", 4),
    "GRU": ("gru", {"reset_after": True}, "GRU", 3),
    "GRU seeds": ("gru", {}, "GRU", 3),
    "SimpleRNN": ("rnn", {}, "RNN", 1),
}

# bars on the ratio torch / dagnet: {cell: {threads: bar}}; cells absent have none
RATIO_BARS = {"LSTM": {1: 1.0, 2: 1.3}, "GRU": {1: 2.0, 2: 2.0}, "SimpleRNN": {1: 1.5, 2: 1.5}}
# (cell, threads, share of the FMA peak dagnet reaches)
PEAK_BARS = [("LSTM", 1, 0.75)]


def shape_name(shape):
    T, B, I, H = shape
    return f"T{T} B{B} I{I} H{H}"


def row_key(cell, shape):
    return f"{cell} {shape_name(shape)}"


def torch_key(cell, shape):
    """the torch row a dagnet row is compared with (both GRUs: nn.GRU's)"""
    return f"{CELLS[cell][2]} {shape_name(shape)}"


def flop(cell, shape):
    T, B, I, H = shape
    return 6.0 * T * B * CELLS[cell][3] * H * (I + H)


def repeats_for(cell, shape, quick):
    if quick:
        return 3
    return 7 if flop(cell, shape) < 2e10 else 5


def warmup_for(cell, shape):
    return 2 if flop(cell, shape) < 2e10 else 1


def layer_data(shape):
    """X (B, T, I) and the gradient of the hidden-state rows G (B, T, H);
    the torch snippet draws the same"""
    T, B, I, H = shape
    rng = np.random.default_rng(0)
    X = rng.standard_normal((B, T, I), dtype=np.float32)
    G = rng.standard_normal((B, T, H), dtype=np.float32)
    return X, G


# --- dagnet ---------------------------------------------------------------------------

def dagnet_layer(cell, shape):
    """(compiled one-node graph, X, gradient of its whole output (B, T + S, H))"""
    from dagnet import _core
    kind, settings = CELLS[cell][:2]
    T, B, I, H = shape
    g = _core.Graph()
    x = g.add_input((T, I))
    r = g.add_node("recurrent", [x], cell=kind, units=H, act="tanh", **settings)
    g.set_outputs([r])
    g.compile(seed=0)
    X, Gs = layer_data(shape)
    S = 2 if kind == "lstm" else 1
    G = np.zeros((B, T + S, H), np.float32)  # the final h (and c): no gradient, as in torch
    G[:, :T] = Gs
    return g, X, G


def dagnet_step(g, X, G, threads):
    """forward (training, keeping what backward needs) and backward: the
    gradients of the parameters and of X"""
    def step():
        g.forward([X], training=True, grad=True, nthreads=threads)
        g.backward([G], nthreads=threads)
    return step


# {(threads asked, row): threads the graph runs the row on} (dn_graph_step_threads
# trims a run's threads to its work; fewer than asked is worth a note)
THREADS_USED = {}


def dagnet_rows(threads, quick):
    out = {}
    for shape in SHAPES:
        for cell in CELLS:
            g, X, G = dagnet_layer(cell, shape)
            if hasattr(g, "step_threads"):
                THREADS_USED[threads, row_key(cell, shape)] = g.step_threads(len(X), threads)
            out[row_key(cell, shape)] = bench(dagnet_step(g, X, G, threads),
                                              repeats_for(cell, shape, quick),
                                              warmup=warmup_for(cell, shape))
            del g
    return out


# --- torch ----------------------------------------------------------------------------

TORCH_SNIPPET = r"""
import json, os, sys
import numpy as np
import torch
sys.path.insert(0, os.environ["DAGNET_BENCH_DIR"])
from _timing import bench
threads, jobs = int(sys.argv[1]), json.loads(sys.argv[2])
torch.set_num_threads(threads)
res = {"version": torch.__version__, "rows": {}}
for key, module, (T, B, I, H), repeats, warmup in jobs:
    rng = np.random.default_rng(0)
    X = torch.from_numpy(rng.standard_normal((B, T, I), dtype=np.float32)).requires_grad_(True)
    G = torch.from_numpy(rng.standard_normal((B, T, H), dtype=np.float32))
    torch.manual_seed(0)
    kw = {"nonlinearity": "tanh"} if module == "RNN" else {}
    m = getattr(torch.nn, module)(I, H, batch_first=True, **kw)
    def step():
        for p in m.parameters():
            p.grad = None
        X.grad = None
        y, _ = m(X)
        (y * G).sum().backward()
    res["rows"][key] = bench(step, repeats, warmup=warmup)
    del m
print(json.dumps(res))
"""


def torch_rows(torch_py, threads, quick):
    """{"version", "rows": {torch row: stats}} or None"""
    from compare import torch_run
    jobs, seen = [], set()
    for shape in SHAPES:
        for cell in CELLS:
            key = torch_key(cell, shape)
            if key not in seen:
                seen.add(key)
                jobs.append([key, CELLS[cell][2], list(shape), repeats_for(cell, shape, quick),
                             warmup_for(cell, shape)])
    return torch_run(torch_py, [threads, json.dumps(jobs)], TORCH_SNIPPET)


# --- the FMA peak ---------------------------------------------------------------------

def probe_peak(fma, threads, results, when):
    """the probe on every thread count: results["peaks"][t][when], and
    results["peak"][t] the best so far"""
    for t in threads:
        g = fma.measure(t)
        results["peaks"].setdefault(str(t), {})[when] = g
        if g:
            results["peak"][str(t)] = max(results["peak"].get(str(t)) or 0.0, g)
    got = {t: results["peaks"][str(t)][when] for t in threads}
    if any(got.values()):
        print(f"FMA peak ({fma.register} registers), {when}: "
              + ", ".join(f"{g:.1f} GFLOP/s on {t} thread(s)" for t, g in got.items() if g),
              flush=True)
    else:
        print(f"FMA peak, {when}: not measured ({fma.why})", flush=True)


# --- summaries ------------------------------------------------------------------------

def summarise(t, dag_rounds, torch_rounds, peak):
    """rows of one thread count: dagnet's and torch's median-round stats,
    the round ratios and their median, GFLOP/s, shares, bars"""
    pairs = [(d, x["rows"]) for d, x in zip(dag_rounds, torch_rounds) if "rows" in x]
    rows = []
    for shape in SHAPES:
        for cell in CELLS:
            key, tkey = row_key(cell, shape), torch_key(cell, shape)
            d = median_of([r[key] for r in dag_rounds])
            row = {"shape": list(shape), "cell": cell, "key": key, "flop": flop(cell, shape),
                   "dagnet": d, "dagnet_rounds": [r[key] for r in dag_rounds],
                   "dagnet_gflops": flop(cell, shape) / d[0] / 1e9,
                   "threads_used": THREADS_USED.get((t, key)), "torch": None, "bars": []}
            row["dagnet_share"] = row["dagnet_gflops"] / peak if peak else None
            if pairs:
                x = median_of([p[1][tkey] for p in pairs])
                ratios = [p[1][tkey][0] / p[0][key][0] for p in pairs]
                row.update(torch=x, torch_rounds=[p[1][tkey] for p in pairs],
                           torch_gflops=flop(cell, shape) / x[0] / 1e9,
                           ratio=float(np.median(ratios)), round_ratios=ratios)
                row["torch_share"] = row["torch_gflops"] / peak if peak else None
                bar = RATIO_BARS.get(cell, {}).get(t)
                if bar is not None:
                    row["bars"].append({"bar": f"ratio >= {bar:.1f}", "value": row["ratio"],
                                        "holds": bool(row["ratio"] >= bar)})
            for c, bt, share in PEAK_BARS:
                if c == cell and bt == t and peak:
                    row["bars"].append({"bar": f"peak >= {100 * share:.0f}%",
                                        "value": row["dagnet_share"],
                                        "holds": bool(row["dagnet_share"] >= share)})
            rows.append(row)
    return rows


def print_table(t, rows, peak, register, version):
    have_torch = any(r["torch"] for r in rows)
    ref = f"torch {version}" if have_torch else "torch absent: dagnet alone"
    print(f"\n{t} thread(s), dagnet / {ref}: ms per forward + backward (the median round's "
          f"median); " + ("ratio = torch's time / dagnet's, median over the rounds (and their "
                          "spread); " if have_torch else "")
          + "GFLOP/s counting 6 T B G H (I + H)"
          + (f", share of the FMA peak {peak:.1f} ({register})" if peak else
             ", FMA peak not measured"))
    spread = have_torch and any(len(r.get("round_ratios", [])) > 1 for r in rows)
    share = (lambda s: f" {100 * s:3.0f}%") if peak else (lambda s: "")
    sw = 5 if peak else 0
    # the dagnet column is 9 wide: its figure and a mark, "*" when the graph trimmed its threads
    print(f"  {'T':>4} {'B':>3} {'I':>3} {'H':>4}  {'cell':<9}  {'dagnet':>8} "
          + (f" {'torch':>8}  {'ratio':>5}" + (f"  {'rounds':>9}" if spread else "") + " "
             if have_torch else "")
          + f" {'dagnet GF/s':>{11 + sw}}" + (f"  {'torch GF/s':>{10 + sw}}" if have_torch else "")
          + "  bars")
    trims = set()
    for r in rows:
        T, B, I, H = r["shape"]
        trimmed = r["threads_used"] is not None and r["threads_used"] < t
        if trimmed:
            trims.add(r["threads_used"])
        line = (f"  {T:4d} {B:3d} {I:3d} {H:4d}  {r['cell']:<9}  {1e3 * r['dagnet'][0]:8.2f}"
                + ("*" if trimmed else " "))
        if have_torch and r["torch"]:
            rr = r["round_ratios"]
            line += f" {1e3 * r['torch'][0]:8.2f}  {r['ratio']:5.2f}"
            line += (f"  {min(rr):4.2f}-{max(rr):4.2f}" if spread else "") + " "
        elif have_torch:
            line += f" {'-':>8}  {'-':>5}" + (f"  {'':>9}" if spread else "") + " "
        line += f" {r['dagnet_gflops']:11.1f}{share(r['dagnet_share'])}"
        if have_torch and r["torch"]:
            line += f"  {r['torch_gflops']:10.1f}{share(r['torch_share'])}"
        elif have_torch:
            line += f"  {'-':>{10 + sw}}"
        bars = "; ".join(f"{b['bar']} {'yes' if b['holds'] else 'NO'}" for b in r["bars"])
        if r["cell"] == "GRU seeds":
            bars = "(no bar: not nn.GRU's computation)"
        line += f"  {bars}"
        print(line.rstrip())
    if trims:
        print(f"  * dagnet's graph ran these rows on {' or '.join(map(str, sorted(trims)))} "
              f"thread(s), not {t}: dn_graph_step_threads trims a run's threads to the work it "
              f"counts")
    if peak and any(max(r["dagnet_gflops"], r.get("torch_gflops") or 0.0) > peak for r in rows):
        print("  (a share above 100 % means the peak probes ran while the cores were busy: "
              "quote no share from this run)")


def print_bars(results):
    print("\n== the bars")
    held = total = 0
    for t, rows in results["rows"].items():
        for r in rows:
            for b in r["bars"]:
                total += 1
                held += b["holds"]
                v = f"{100 * b['value']:.0f}%" if b["bar"].startswith("peak") else \
                    f"{b['value']:.2f}"
                print(f"  {r['cell']} {shape_name(r['shape'])}, {t} thread(s): {b['bar']} "
                      f"{'yes' if b['holds'] else 'NO'} ({v})")
    absent = not results["torch"]
    print(f"  {held} of {total} bars hold"
          + ("; torch absent: the ratio bars were not measured" if absent else "")
          + ("" if results["peak"] else "; FMA peak not measured: the peak bar was not checked"))


# --- the run --------------------------------------------------------------------------

def machine():
    from dagnet import _core
    info = {"numpy": np.__version__, "dagnet_isa": _core.cpu_isa(),
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")}
    info.update(cpu_info())
    return info


def main():
    ap = parser(__doc__)
    ap.add_argument("--json", metavar="PATH", help="save every figure to PATH as JSON")
    args = ap.parse_args()
    from compare import find_torch_python
    torch_py = find_torch_python(args.torch_python)
    rounds = rounds_of(args)
    info = machine()
    results = {"argv": sys.argv[1:], "machine": info, "threads": args.threads, "rounds": rounds,
               "quick": args.quick, "shapes": SHAPES,
               "cells": {c: {"cell": k, "settings": kw, "torch": m, "gates": n}
                         for c, (k, kw, m, n) in CELLS.items()},
               "peaks": {}, "peak": {}, "torch": None, "rows": {}}
    print(f"{info.get('model name', '?')} (CPU family {info.get('cpu family', '?')}); dagnet ISA "
          f"{info['dagnet_isa']}; OPENBLAS_NUM_THREADS={info['OPENBLAS_NUM_THREADS']}; torch: "
          f"{torch_py or 'not available'}")
    print("shapes (T, batch, input, hidden): " + ", ".join(map(str, SHAPES))
          + f"; cells {', '.join(CELLS)}; forward + backward")
    fma = FmaPeak()
    probe_peak(fma, args.threads, results, "start")

    def report(label, got):
        d, x = got["dagnet"], got["torch"].get("rows")
        for s in SHAPES:
            if x:
                figs = ", ".join(f"{c} {x[torch_key(c, s)][0] / d[row_key(c, s)][0]:.2f}"
                                 for c in CELLS)
                print(f"  {label}, {shape_name(s)}: torch / dagnet {figs}", flush=True)
            else:
                figs = ", ".join(f"{c} {1e3 * d[row_key(c, s)][0]:.1f} ms" for c in CELLS)
                print(f"  {label}, {shape_name(s)}: dagnet {figs} (torch absent)", flush=True)

    print(f"\n== {rounds} round(s)", flush=True)
    # a marker rather than None, so that the rounds of both lists stay paired
    libs = {"dagnet": lambda t: dagnet_rows(t, args.quick),
            "torch": lambda t: torch_rows(torch_py, t, args.quick) or {"absent": True}}
    runs = take_turns(args.threads, rounds, libs, report)
    probe_peak(fma, args.threads, results, "end")
    results["torch"] = next((x["version"] for t in args.threads for x in runs[t]["torch"]
                             if "version" in x), None)
    for t in args.threads:
        peak = results["peak"].get(str(t))
        rows = results["rows"][str(t)] = summarise(t, runs[t]["dagnet"], runs[t]["torch"], peak)
        print_table(t, rows, peak, fma.register, results["torch"])
    print_bars(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
        print(f"saved {args.json}")
    return results


if __name__ == "__main__":
    main()
