"""dagnet beside its references over a grid of shapes, measured in the same run.

    python benchmarks/sweep.py [--quick] [--rounds R] [--threads 1 2] [--torch-python PATH]
                               [--only {gemm,small,conv}]... [--json PATH]

Three sections (--only picks some; all by default), each on every thread
count given (1 and 2 by default):

gemm   square SGEMM, n = 64 to 2048 with odd and non-power-of-two sizes,
       dagnet's ``_core.sgemm`` against numpy's matmul;
small  the small-M SGEMM shapes of minibatch and step-by-step work (M = 1-64,
       K and N = 32-4096): recurrent steps (M = batch, N = 4 hidden, and the
       transposed product of their backward), attention blocks (K = head
       dimension 32-128, and P V) and the last layers of an MLP, against
       numpy's matmul;
conv   16 convolution blocks (kernels 1, 3, 5, 7; strides 1 and 2; 1-64 input
       channels; depthwise; images 8-64; batch 8-64), each conv + ReLU
       (+ 2x2 max pool), forward and backward of 1/2 mean_n sum(output^2)
       (gradients of the parameters, none of the images), against torch with
       NCHW tensors and with channels_last.

numpy runs with its own OpenBLAS kernel choice: the script re-runs itself
without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE (the environment of the shared
machines forces AVX2 kernels) and prints the core OpenBLAS picked; its threads
are pinned with threadpoolctl. torch runs in the interpreter given by
--torch-python (a separate virtual environment with torch==2.13.0), or in this
one when torch imports here, with the malloc settings of
the benchmarks share (compare.torch_run); without torch the conv
section still times dagnet and marks the torch columns absent.

The libraries take turns: R rounds (--rounds, 3 by default, 1 with --quick)
in which dagnet, then its reference, time every shape of the section, each a
median of repeats after a warm-up. A shape's ratio is the median over the
rounds of (reference's time / dagnet's time): above 1, dagnet is faster.
An FMA peak probe (benchmarks/fma_peak.c, compiled with the system cc) runs
at the start and the end, on each thread count, and every GEMM figure is
printed with its share of the higher of the two.

Printed, per section and thread count: a table of every shape with dagnet's
figure, the reference's, the ratio (and its spread over the rounds), then the
median and the worst ratio and whether each bar holds:

    square GEMM / numpy            worst >= 0.9, median >= 1.0
    small-M GEMM / numpy                         median >= 1.0
    conv blocks / torch NCHW       worst >= 1.3, median >= 1.6
    conv blocks / torch chan.last  worst >= 0.9, median >= 1.1

--json PATH saves every figure (each round's median, min and max time of
each library and shape, the ratios, the peaks, the bars). --quick takes one
round, fewer shapes and fewer repeats: a check that the script runs, not a
measurement. A full run takes about 10 minutes on 2 quiet cores (each timed call first
waits for idle cores, see _quiet.py; DAGNET_BENCH_BUSY=1 skips the wait). The asv
class benchmarks/asv_bench/bench_sweep.py times dagnet alone on the same grid.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _timing import bench, use_default_blas  # noqa: E402

if __name__ == "__main__":
    use_default_blas()  # before numpy loads OpenBLAS

import numpy as np  # noqa: E402

from _peak import FmaPeak, cpu_info  # noqa: E402
from _rounds import median_of, parser, rounds_of, take_turns  # noqa: E402


# --- the grid -----------------------------------------------------------------------

SQUARE = [64, 96, 127, 128, 192, 255, 256, 300, 384, 511, 512, 640, 768, 1000, 1024, 1536, 2048]
SQUARE_QUICK = [64, 127, 300, 512, 1000, 2048]

# (M, N, K, trans_a, trans_b, what), compare.shape_operands' layout: C (M, N) =
# op(A) op(B), A (M, K) or (K, M) with trans_a, B (K, N) or (N, K) with trans_b
SMALL = [
    (1, 1024, 256, 0, 0, "one sample, 256 -> 1024"),
    (1, 4096, 1024, 0, 0, "one sample, 1024 -> 4096"),
    (4, 256, 64, 0, 0, "MLP, batch 4, 64 -> 256"),
    (4, 2048, 512, 0, 0, "MLP, batch 4, 512 -> 2048"),
    (16, 1024, 256, 0, 0, "RNN step, batch 16, hidden 256"),
    (32, 1024, 256, 0, 0, "LSTM step, batch 32, hidden 256"),
    (32, 256, 1024, 0, 1, "LSTM step dh = dG W^T, hidden 256"),
    (64, 2048, 512, 0, 0, "LSTM step, batch 64, hidden 512"),
    (64, 512, 2048, 0, 1, "LSTM step dh = dG W^T, hidden 512"),
    (32, 4096, 1024, 0, 0, "LSTM step, batch 32, hidden 1024"),
    (64, 256, 32, 0, 1, "attention Q K^T, d 32, T 256"),
    (64, 1024, 64, 0, 1, "attention Q K^T, d 64, T 1024"),
    (64, 64, 256, 0, 0, "attention P V, T 256, d 64"),
    (64, 128, 1024, 0, 0, "attention P V, T 1024, d 128"),
    (32, 128, 128, 0, 0, "projection, batch 32, 128 -> 128"),
    (16, 128, 128, 0, 0, "MLP, batch 16, 128 -> 128"),
    (16, 64, 4096, 0, 0, "MLP head, batch 16, 4096 -> 64"),
    (64, 64, 4096, 0, 0, "MLP head, batch 64, 4096 -> 64"),
    (64, 1024, 1024, 0, 0, "MLP, batch 64, 1024 -> 1024"),
]
SMALL_QUICK = [SMALL[i] for i in (1, 5, 6, 11, 16, 18)]


def conv(filters, k, stride=1, pad=0, groups=1):
    return ["conv", filters, k, stride, pad, groups]


POOL = ["pool", 2]


def block(batch, chw, *layers):
    return {"batch": batch, "input": list(chw), "layers": [list(x) for x in layers]}


BLOCKS = [
    block(8, (3, 64, 64), conv(16, 7, 2, 3), POOL),                  # 7x7 stride-2 stem
    block(32, (1, 28, 28), conv(16, 5), POOL),                       # LeNet's first layer
    block(32, (3, 28, 28), conv(16, 5, pad=2), POOL),
    block(32, (3, 28, 28), conv(16, 5, pad=2), POOL, conv(32, 3, pad=1), POOL),  # the issue's
    block(64, (1, 28, 28), conv(16, 3, pad=1), POOL),
    block(64, (3, 32, 32), conv(32, 3, pad=1), POOL, conv(64, 3, pad=1), POOL),  # conv.py's
    block(32, (16, 32, 32), conv(32, 3, pad=1), POOL),               # Winograd's F(2x2, 3x3)
    block(32, (32, 16, 16), conv(64, 3, pad=1), POOL),
    block(32, (16, 32, 32), conv(32, 3, 2, 1)),                      # stride-2 downsampling
    block(16, (3, 32, 32), conv(32, 5, 2, 2)),
    block(32, (64, 16, 16), conv(64, 1)),                            # 1x1
    block(64, (32, 8, 8), conv(128, 1)),
    block(16, (32, 32, 32), conv(32, 3, pad=1, groups=32), POOL),    # depthwise
    block(32, (64, 16, 16), conv(64, 3, pad=1, groups=64)),
    block(8, (64, 16, 16), conv(64, 7, pad=3, groups=64)),
    block(64, (4, 8, 8), conv(16, 3, pad=1)),                        # a small image
]
BLOCKS_QUICK = [BLOCKS[i] for i in (0, 3, 7, 10, 13)]

# (reference, worst ratio >= a, median ratio >= b); None: no bar
BARS = {"gemm": [("numpy", 0.9, 1.0)],
        "small": [("numpy", None, 1.0)],
        "conv": [("torch NCHW", 1.3, 1.6), ("torch channels_last", 0.9, 1.1)]}
SHORT = {"numpy": "numpy", "torch NCHW": "NCHW", "torch channels_last": "ch.last"}
TITLES = {"gemm": "square SGEMM", "small": "small-M SGEMM", "conv": "conv blocks"}


def shape_name(shape):
    M, N, K, ta, tb = shape[:5]
    return f"{M}x{N}x{K} " + ("A^T" if ta else "A") + ("B^T" if tb else "B")


def block_name(b):
    parts = []
    for layer in b["layers"]:
        if layer[0] == "pool":
            parts.append("pool")
            continue
        _, f, k, s, p, g = layer
        parts.append(("dw" if g > 1 else "") + f"{f}@{k}x{k}" + (f"s{s}" if s > 1 else "")
                     + (f"p{p}" if p else ""))
    return "x".join(map(str, [b["batch"]] + b["input"])) + ": " + " ".join(parts)


# --- dagnet ---------------------------------------------------------------------------

def dagnet_block(b):
    """(compiled graph, images, targets) of a conv block: conv (+ fused ReLU)
    and max pools, flattened into a squared-error loss against zeros."""
    from dagnet import _core
    g = _core.Graph()
    h = g.add_input(tuple(b["input"]))
    for layer in b["layers"]:
        if layer[0] == "conv":
            _, f, k, s, p, groups = layer
            h = g.add_node("conv2d", [h], units=f, kernel=k, stride=s, pad=p, groups=groups,
                           act="relu")
        else:
            h = g.add_node("maxpool2d", [h], kernel=layer[1], stride=layer[1])
    out = g.add_node("reshape", [h], shape=(-1,))
    g.set_outputs([out])
    size = g.infer_shape(out)[0][0]
    t = g.add_input((size,))
    w = g.add_input((1,))
    g.add_node("loss", [out, t, w], loss="squared_error")
    g.compile(0)
    X = np.random.default_rng(0).standard_normal((b["batch"],) + tuple(b["input"]),
                                                 dtype=np.float32)
    return g, X, np.zeros((b["batch"], size), np.float32)


def dagnet_block_step(g, X, T, threads):
    """forward and backward of the whole batch as one chunk: the gradients
    of the parameters (an objective needs none of the images')"""
    return lambda: g.objective([X, T, None], chunk=len(X), nthreads=threads)


def gemm_flop(shape):
    return 2.0 * shape[0] * shape[1] * shape[2]


def repeats_for(flop, base, seconds, cap):
    """enough repeats for `seconds` of work at about 100 GFLOP/s, at least base"""
    return int(min(max(base, seconds * 1e11 / flop), max(base, cap)))


def dagnet_square(sizes, threads, base):
    from compare import dagnet_gemm
    return {str(n): dagnet_gemm(n, threads, repeats_for(2.0 * n ** 3, base, 0.2, 60))
            for n in sizes}


def numpy_square(sizes, threads, base):
    from compare import numpy_gemm
    return {str(n): numpy_gemm(n, threads, repeats_for(2.0 * n ** 3, base, 0.2, 60))
            for n in sizes}


def dagnet_small(shapes, threads, base):
    from compare import dagnet_gemm_shape  # times repeats x 5 calls
    return {shape_name(s): dagnet_gemm_shape(s[:5], threads,
                                             repeats_for(5 * gemm_flop(s), base, 0.05, 40))
            for s in shapes}


def numpy_small(shapes, threads, base):
    from compare import numpy_gemm_shape
    return {shape_name(s): numpy_gemm_shape(s[:5], threads,
                                            repeats_for(5 * gemm_flop(s), base, 0.05, 40))
            for s in shapes}


def dagnet_blocks(blocks, threads, repeats):
    from compare import bench
    out = {}
    for b in blocks:
        g, X, T = dagnet_block(b)
        out[block_name(b)] = bench(dagnet_block_step(g, X, T, threads), repeats, warmup=2)
    return out


# --- torch ----------------------------------------------------------------------------

TORCH_SNIPPET = r"""
import json, os, sys, time
import numpy as np
import torch
sys.path.insert(0, os.environ["DAGNET_BENCH_DIR"])
from _timing import bench
threads, repeats, blocks = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
torch.set_num_threads(threads)
def model_of(b):
    mods, c = [], b["input"][0]
    for layer in b["layers"]:
        if layer[0] == "conv":
            _, f, k, s, p, g = layer
            mods += [torch.nn.Conv2d(c, f, k, stride=s, padding=p, groups=g), torch.nn.ReLU()]
            c = f
        else:
            mods.append(torch.nn.MaxPool2d(layer[1]))
    return torch.nn.Sequential(*mods)
res = {"version": torch.__version__, "nchw": {}, "channels_last": {}}
for name, b in blocks:
    X0 = torch.from_numpy(np.random.default_rng(0).standard_normal(
        [b["batch"]] + b["input"], dtype=np.float32))
    for fmt in ("nchw", "channels_last"):
        torch.manual_seed(0)
        model, X = model_of(b), X0
        if fmt == "channels_last":
            model = model.to(memory_format=torch.channels_last)
            X = X0.contiguous(memory_format=torch.channels_last)
        def step():
            for p in model.parameters():
                p.grad = None
            out = model(X).flatten(1)
            loss = 0.5 * (out * out).sum(1).mean()
            loss.backward()
        res[fmt][name] = bench(step, repeats, warmup=2)
print(json.dumps(res))
"""


def torch_blocks(torch_py, blocks, threads, repeats):
    """{"version", "nchw": {block: stats}, "channels_last": {...}} or None"""
    from compare import torch_run
    return torch_run(torch_py, [threads, repeats,
                                json.dumps([[block_name(b), b] for b in blocks])],
                     TORCH_SNIPPET)


# --- summaries ------------------------------------------------------------------------

def summarise(pairs):
    """pairs: [(dagnet's {key: stats}, the reference's)] of the rounds that
    have both. rows [(key, dagnet's median-round stats, the reference's,
    median of the round ratios, round ratios)], the median ratio, the worst row"""
    rows = []
    for key in pairs[0][0]:
        d = [p[0][key] for p in pairs]
        x = [p[1][key] for p in pairs]
        ratios = [xr[0] / dr[0] for dr, xr in zip(d, x)]
        rows.append((key, median_of(d), median_of(x), float(np.median(ratios)), ratios))
    worst = min(rows, key=lambda r: r[3])
    return rows, float(np.median([r[3] for r in rows])), worst


def bar_checks(median, worst, bar_worst, bar_median):
    out = []
    if bar_worst is not None:
        out.append((f"worst >= {bar_worst:.1f}", worst >= bar_worst, worst))
    out.append((f"median >= {bar_median:.1f}", median >= bar_median, median))
    return out


def print_table(section, t, ref, r, peak):
    """one reference's table of a section on t threads (r: its results entry)"""
    gemm = section != "conv"
    if gemm:
        shapes = ({str(n): (n, n, n, 0, 0, "") for n in SQUARE} if section == "gemm"
                  else {shape_name(s): s for s in SMALL})
        unit = "GFLOP/s" + (f", share of the FMA peak {peak:.0f}" if peak else "")
    else:
        unit = "ms per batch, forward + backward"
    print(f"\n{TITLES[section]}, {t} thread(s), dagnet / {ref}: {unit}; ratio = {ref}'s time / "
          f"dagnet's, median over the rounds (and their spread)")
    w = max(len(row["shape"]) for row in r["rows"]) + 1
    head = "n" if section == "gemm" else "M x N x K, op" if section == "small" else "block"
    share_w = 6 if gemm and peak else 0
    print(f"  {head:{'>' if gemm else '<'}{w}} {'dagnet':>{8 + share_w}}  "
          f"{SHORT[ref]:>{8 + share_w}}  {'ratio':>5}  {'rounds' if r['spread'] else ''}")
    for row in r["rows"]:
        key, d, x = row["shape"], row["dagnet"][0], row["reference"][0]
        if gemm:
            flop = gemm_flop(shapes[key])
            gd, gx = flop / d / 1e9, flop / x / 1e9
            share = (lambda g: f" {100 * g / peak:4.0f}%") if peak else (lambda g: "")
            line = f"  {key:>{w}} {gd:8.1f}{share(gd)}  {gx:8.1f}{share(gx)}"
        else:
            line = f"  {key:<{w}} {1e3 * d:8.2f}  {1e3 * x:8.2f}"
        rr = row["round_ratios"]
        line += f"  {row['ratio']:5.2f}" + (f"  {min(rr):.2f}-{max(rr):.2f}" if r["spread"] else "")
        if section == "small":
            line += f"  {shapes[key][5]}"
        print(line)
    if gemm and peak and any(gemm_flop(shapes[row["shape"]]) / min(row["dagnet"][0],
                                                                     row["reference"][0]) / 1e9
                             > peak for row in r["rows"]):
        print("  (a share above 100 % means the peak probes ran while the cores were busy: "
              "quote no share from this run)")
    print(f"  median {r['median']:.2f}, worst {r['worst']:.2f} ({r['worst_shape']}); bars: "
          + "; ".join(f"{b['bar']} {'yes' if b['holds'] else 'NO'}" for b in r["bars"]))


def print_dagnet_only(section, t, dag_rounds):
    print(f"\n{TITLES[section]}, {t} thread(s), dagnet alone (torch absent: no ratios, bars not "
          f"measured): ms per batch, forward + backward, median [min-max] of the median round")
    w = max(map(len, dag_rounds[0])) + 1
    for key in dag_rounds[0]:
        m = median_of([r[key] for r in dag_rounds])
        print(f"  {key:<{w}} {1e3 * m[0]:8.2f}  [{1e3 * m[1]:.2f}-{1e3 * m[2]:.2f}]")


# --- the run --------------------------------------------------------------------------

def machine():
    from threadpoolctl import threadpool_info
    from dagnet import _core
    info = {"numpy": np.__version__, "dagnet_isa": _core.cpu_isa(),
            "openblas": [{k: d.get(k) for k in ("version", "architecture", "threading_layer")}
                         for d in threadpool_info() if d.get("internal_api") == "openblas"]}
    info.update(cpu_info())
    return info


def refs_of(section, got):
    """{reference: {key: stats}} of one round's results (got: {lib: result})"""
    if section != "conv":
        return {"numpy": got["numpy"]}
    if got["torch"].get("absent"):
        return {}
    return {"torch NCHW": got["torch"]["nchw"],
            "torch channels_last": got["torch"]["channels_last"]}


def run_section(section, args, torch_py, results):
    """the rounds of one section, each printed in a line; the summaries go
    to results["sections"][section][threads]"""
    rounds = rounds_of(args)
    base = 5 if args.quick else 7
    if section == "gemm":
        sizes = SQUARE_QUICK if args.quick else SQUARE
        libs = {"dagnet": lambda t: dagnet_square(sizes, t, base),
                "numpy": lambda t: numpy_square(sizes, t, base)}
    elif section == "small":
        shapes = SMALL_QUICK if args.quick else SMALL
        libs = {"dagnet": lambda t: dagnet_small(shapes, t, base),
                "numpy": lambda t: numpy_small(shapes, t, base)}
    else:
        blocks = BLOCKS_QUICK if args.quick else BLOCKS
        reps = 5 if args.quick else 9
        # a marker rather than None, so that the rounds of both lists stay paired
        libs = {"dagnet": lambda t: dagnet_blocks(blocks, t, reps),
                "torch": lambda t: torch_blocks(torch_py, blocks, t, reps) or {"absent": True}}

    def report(label, got):
        parts = []
        for ref, x in refs_of(section, got).items():
            ratios = {k: x[k][0] / d[0] for k, d in got["dagnet"].items()}
            worst = min(ratios, key=ratios.get)
            parts.append(f"/ {ref} median {np.median(list(ratios.values())):.2f}, worst "
                         f"{ratios[worst]:.2f} ({worst})")
        print(f"  {label}: dagnet " + ("; ".join(parts) or "(reference absent)"), flush=True)

    print(f"\n== {TITLES[section]}: {rounds} round(s)", flush=True)
    runs = take_turns(args.threads, rounds, libs, report)
    out = results["sections"][section] = {}
    for t in args.threads:
        rt = runs[t]
        o = out[str(t)] = {"dagnet_rounds": rt["dagnet"], "references": {}}
        pairs = {ref: [] for ref, _, _ in BARS[section]}
        for i, d in enumerate(rt["dagnet"]):
            for ref, x in refs_of(section, {k: v[i] for k, v in rt.items()}).items():
                pairs[ref].append((d, x))
        if section == "conv":
            results["torch"] = results["torch"] or next(
                (x["version"] for x in rt["torch"] if "version" in x), None)
        for ref, bw, bm in BARS[section]:
            if not pairs[ref]:
                o["references"][ref] = None
                continue
            rows, median, worst = summarise(pairs[ref])
            o["references"][ref] = {
                "rounds": [x for _, x in pairs[ref]], "median": median, "worst": worst[3],
                "worst_shape": worst[0], "spread": len(pairs[ref]) > 1,
                "rows": [{"shape": k, "dagnet": d, "reference": x, "ratio": q, "round_ratios": rr}
                         for k, d, x, q, rr in rows],
                "bars": [{"bar": n, "holds": bool(ok), "value": v}
                         for n, ok, v in bar_checks(median, worst[3], bw, bm)]}


def print_tables(results):
    """every section's tables, after the last peak probe"""
    for section, per_t in results["sections"].items():
        for t, o in per_t.items():
            if all(r is None for r in o["references"].values()):
                print_dagnet_only(section, t, o["dagnet_rounds"])
            for ref, r in o["references"].items():
                if r is not None:
                    print_table(section, t, ref, r, results["peak"].get(t))


def probe_peak(fma, threads, results, when):
    for t in threads:
        g = fma.measure(t)
        results["peaks"].setdefault(str(t), {})[when] = g
        if g:
            best = max(results["peak"].get(str(t)) or 0.0, g)
            results["peak"][str(t)] = best
    got = {t: results["peaks"][str(t)][when] for t in threads}
    if any(got.values()):
        print(f"FMA peak ({fma.register} registers), {when}: "
              + ", ".join(f"{g:.1f} GFLOP/s on {t} thread(s)" for t, g in got.items() if g),
              flush=True)
    else:
        print(f"FMA peak, {when}: not measured ({fma.why})", flush=True)


def print_bars(results):
    print("\n== the bars")
    held = total = absent = 0
    for section, per_t in results["sections"].items():
        for t, o in per_t.items():
            for ref, r in o["references"].items():
                label = f"  {TITLES[section]} / {ref}, {t} thread(s):"
                if r is None:
                    print(f"{label} not measured ({ref.split()[0]} absent)")
                    absent += 1
                    continue
                for b in r["bars"]:
                    total += 1
                    held += b["holds"]
                print(f"{label} " + "; ".join(f"{b['bar']} {'yes' if b['holds'] else 'NO'} "
                                             f"({b['value']:.2f})" for b in r["bars"]))
    print(f"  {held} of {total} bars hold" + (f"; {absent} reference(s) absent" if absent else ""))


def main():
    ap = parser(__doc__)
    ap.add_argument("--only", action="append", choices=["gemm", "small", "conv"],
                    help="run this section (repeatable); all three by default")
    ap.add_argument("--json", metavar="PATH", help="save every figure to PATH as JSON")
    args = ap.parse_args()
    sections = [s for s in ("gemm", "small", "conv") if s in (args.only or ["gemm", "small",
                                                                           "conv"])]
    from compare import find_torch_python
    torch_py = find_torch_python(args.torch_python) if "conv" in sections else None

    info = machine()
    results = {"argv": sys.argv[1:], "machine": info, "threads": args.threads,
               "rounds": rounds_of(args), "quick": args.quick, "peaks": {}, "peak": {},
               "torch": None, "sections": {}}
    blas = ", ".join(f"OpenBLAS {d['version']} core {d['architecture']}"
                     for d in info["openblas"]) or "no OpenBLAS found"
    print(f"{info.get('model name', '?')} (CPU family {info.get('cpu family', '?')}); dagnet ISA "
          f"{info['dagnet_isa']}; numpy {info['numpy']} ({blas}; OPENBLAS_CORETYPE and "
          f"OPENBLAS_L2_SIZE unset)" + ("; torch: " + (torch_py or "not available")
                                        if "conv" in sections else ""))
    fma = FmaPeak()
    probe_peak(fma, args.threads, results, "start")
    for section in sections:
        run_section(section, args, torch_py, results)
    probe_peak(fma, args.threads, results, "end")
    print_tables(results)
    print_bars(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
        print(f"saved {args.json}")
    return results


if __name__ == "__main__":
    main()
