"""Rounds in which dagnet and torch take turns, for the benchmarks whose
figures move with the machine's load (compare.py's training epoch, conv.py,
autoencoder.py): each round measures dagnet then its references on every
thread count; the summary keeps the round with the median time and prints
the ratio of every round."""

import argparse

import numpy as np


def median_of(rounds):
    """the round with the median time (min and max kept from that round)"""
    return sorted(rounds, key=lambda s: s[0])[len(rounds) // 2]


def parser(doc):
    """The options every rounds benchmark takes: --quick, --rounds,
    --threads and --torch-python."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a shorter run: fewer repeats, one round")
    ap.add_argument("--rounds", type=int, default=None, help="rounds (3 by default, 1 with --quick)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--torch-python", default=None)
    return ap


def rounds_of(args):
    return args.rounds or (1 if args.quick else 3)


def take_turns(threads, rounds, libs, report):
    """{t: {name: [result per round]}}: each function of libs ({name: f(t)},
    dagnet first; f returns None when its library is missing) in turn, each
    round reported as it ends: report(label, {name: result or None})."""
    runs = {t: {name: [] for name in libs} for t in threads}
    for r in range(rounds):
        for t in threads:
            got = {name: f(t) for name, f in libs.items()}
            for name, v in got.items():
                if v:
                    runs[t][name].append(v)
            report(f"round {r + 1}, {t} thread(s)" if rounds > 1 else f"{t} thread(s)", got)
    return runs


def print_ratios(label, ref_stats, dagnet_stats, ref="torch"):
    """The reference's time / dagnet's time in each round, and their median."""
    ratios = [x[0] / y[0] for x, y in zip(ref_stats, dagnet_stats)]
    print(f"  dagnet / {ref}{label} per round: " + " ".join(f"{q:.2f}" for q in ratios)
          + f", median {np.median(ratios):.2f}")
