"""Rounds in which dagnet and torch take turns, for the benchmarks whose
figures move with the machine's load (compare.py's training epoch, conv.py,
autoencoder.py): each round measures dagnet then its references on every
thread count; the summary keeps the round with the median time and prints
the ratio of every round."""

import numpy as np


def median_of(rounds):
    """the round with the median time (min and max kept from that round)"""
    return sorted(rounds, key=lambda s: s[0])[len(rounds) // 2]


def take_turns(threads, rounds, dagnet, torch, report):
    """{t: {"dagnet": [stats per round], "torch": [results per round]}}:
    dagnet(t) and torch(t) (None without torch) in turn, each round
    reported as it ends."""
    runs = {t: {"dagnet": [], "torch": []} for t in threads}
    for r in range(rounds):
        for t in threads:
            d, tr = dagnet(t), torch(t)
            runs[t]["dagnet"].append(d)
            if tr:
                runs[t]["torch"].append(tr)
            report(f"round {r + 1}, {t} thread(s)", d, tr)
    return runs


def print_ratios(label, ref_stats, dagnet_stats, ref="torch"):
    """The reference's time / dagnet's time in each round, and their median."""
    ratios = [x[0] / y[0] for x, y in zip(ref_stats, dagnet_stats)]
    print(f"  dagnet / {ref}{label} per round: " + " ".join(f"{q:.2f}" for q in ratios)
          + f", median {np.median(ratios):.2f}")
