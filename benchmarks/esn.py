"""dagnet's EchoStateRegressor beside reservoirpy's ESN, measured in the same run.

reservoirpy is a reference, never a dagnet dependency: install it into a
virtual environment of its own that sees the system's packages, and run this
file with that environment's Python, dagnet on the path:

    python -m venv ../esnenv --system-site-packages
    ../esnenv/bin/pip install reservoirpy
    PYTHONPATH=python ../esnenv/bin/python benchmarks/esn.py [--quick] [--rounds R]
        [--units 100 500] [--seeds 30]

The task: one-step-ahead prediction of the Mackey-Glass series (tau = 17,
dagnet.datasets.mackey_glass, the same series for both). Fit on steps
0..3999 with a washout of 100; predict steps 4000..5999 from a zero state
with the 100 steps before them as context, and score those 2000.

The same model on both sides: N units (100 and 500 by default); W with
density 0.1, uniform U(-1, 1) nonzeros, scaled to spectral radius 0.9;
dense U(-1, 1) input weights times input_scaling 1.0 and a U(-1, 1) bias
(reservoirpy:
Win=uniform with input_connectivity=1, W=uniform, bias=uniform); tanh; leak
rate 0.3; a ridge readout of [h(t), x(t)] with intercept and penalty 1e-7
(reservoirpy: ESN(input_to_readout=True), Ridge fits its bias unpenalised,
as dagnet does). reservoirpy's units are the scaled form (1 - a) h +
a tanh(.) only, so dagnet runs with leak_form="scaled" for the comparison;
the seed's form with spectral_radius = a * 0.9 and alpha = 1e-7 / a^2 is the
same reservoir (its states are the scaled form's divided by a; only the
penalty on the input columns differs), printed as a third row.

Printed:
  - NRMSE (RMSE / std of the targets) of each library, median and mean
    over 30 reservoirs (seeds 0..29) drawn on each side, the first 7 of them
    in the timed rounds;
  - the spectral radius each library's W actually has (exact eigenvalues):
    reservoirpy scales W by an ARPACK estimate of one eigenvalue, which can
    miss the largest;
  - seconds per fit (building the reservoir, running it over 4000 steps and
    solving the ridge), timed in alternating turns, medians, and the ratio
    reservoirpy / dagnet of every round;
  - a check that both compute the same network: reservoirpy run with
    dagnet's U, b and W gives dagnet's predictions.

Measured with --rounds 15 on the shared 2-core development VM (reservoirpy
0.4.2, numpy 2.4.6), other jobs running: N = 100, fit 0.038 s against
0.073 s, ratio per round median 1.96; NRMSE medians 2.85e-3 / 2.83e-3
(over 100 reservoirs: 2.88e-3 / 2.89e-3). N = 500, fit 0.188 s against
0.248 s, ratio median 1.24 (0.99-2.50 by round); NRMSE medians 1.23e-3 /
1.26e-3; reservoirpy's W had spectral radius up to 0.9118 for the target
0.9. At 500 units both spend most of a fit in scipy's CSR matrix-vector
product, one per step; dagnet's lead there is the lighter step around it.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import use_default_blas  # noqa: E402

if __name__ == "__main__":
    use_default_blas()

import numpy as np  # noqa: E402

from _quiet import wait_idle  # noqa: E402

LEAK, RHO, SCALING, RIDGE, WASHOUT, DENSITY = 0.3, 0.9, 1.0, 1e-7, 100, 0.1
TRAIN, TEST = 4000, 2000


def data():
    from dagnet.datasets import mackey_glass
    s = mackey_glass(TRAIN + TEST + 1)
    return s[:-1, None], s[1:, None]


def nrmse(pred, y):
    return float(np.sqrt(np.mean((pred - y) ** 2)) / np.std(y))


def dagnet_model(units, seed, form="scaled"):
    from dagnet import EchoStateRegressor
    seed_form = form == "seed"
    return EchoStateRegressor(units, spectral_radius=LEAK * RHO if seed_form else RHO,
                              density=DENSITY, input_scaling=SCALING, bias_scaling=1.0,
                              leak_rate=LEAK, leak_form=form, washout=WASHOUT,
                              alpha=RIDGE / LEAK ** 2 if seed_form else RIDGE,
                              include_input=True, random_state=seed)


def reservoirpy_model(units, seed, matrices=None):
    from reservoirpy import ESN
    from reservoirpy.mat_gen import uniform
    from reservoirpy.nodes import Reservoir, Ridge
    if matrices is None:
        res = Reservoir(units, lr=LEAK, sr=RHO, input_scaling=SCALING, input_connectivity=1.0,
                        rc_connectivity=DENSITY, Win=uniform, W=uniform, bias=uniform,
                        activation="tanh", seed=seed)
    else:
        U, b, W = matrices
        res = Reservoir(units, lr=LEAK, Win=U, W=W, bias=b, activation="tanh")
    return ESN(reservoir=res, readout=Ridge(ridge=RIDGE), input_to_readout=True)


def fit_dagnet(model, X, y):
    return model.fit(X[:TRAIN], y[:TRAIN, 0])


def predict_dagnet(model, X):
    return model.predict(X[TRAIN - WASHOUT:])[WASHOUT:, None]


def fit_reservoirpy(model, X, y):
    return model.fit(X[:TRAIN], y[:TRAIN], warmup=WASHOUT)


def predict_reservoirpy(model, X):
    model.reset()  # from a zero state, as dagnet's predict
    return np.asarray(model.run(X[TRAIN - WASHOUT:]))[WASHOUT:]


def radius(W):
    W = W.toarray() if hasattr(W, "toarray") else np.asarray(W)
    return float(np.max(np.abs(np.linalg.eigvals(W))))


def timed(fit, model, X, y):
    wait_idle()
    t0 = time.perf_counter()
    fit(model, X, y)
    return time.perf_counter() - t0


def compare(N, rounds, seeds, X, y):
    """Alternating timed rounds at N units (seeds 0..rounds-1), then untimed
    fits up to `seeds` reservoirs for the NRMSE; prints the summary."""
    y_test = y[TRAIN:]
    # untimed warm-up of both code paths
    fit_dagnet(dagnet_model(N, 99), X, y)
    fit_reservoirpy(reservoirpy_model(N, 99), X, y)
    print(f"\nN = {N} units")
    rows = {"dagnet": [], "reservoirpy": [], "dagnet seed form": []}
    for r in range(rounds):
        turns = [("dagnet", dagnet_model(N, r), fit_dagnet, predict_dagnet),
                 ("reservoirpy", reservoirpy_model(N, r), fit_reservoirpy, predict_reservoirpy)]
        if r % 2:
            turns.reverse()  # alternate who goes first
        for name, model, fit, predict in turns:
            t = timed(fit, model, X, y)
            err = nrmse(predict(model, X), y_test)
            W = model.reservoir_weights_ if name == "dagnet" else model.reservoir.W
            rows[name].append((t, err, radius(W)))
        m = dagnet_model(N, r, form="seed")
        t = timed(fit_dagnet, m, X, y)
        rows["dagnet seed form"].append((t, nrmse(predict_dagnet(m, X), y_test),
                                         radius(m.reservoir_weights_)))
        print(f"  round {r + 1}: fit dagnet {rows['dagnet'][-1][0]:.3f} s, reservoirpy "
              f"{rows['reservoirpy'][-1][0]:.3f} s; NRMSE dagnet {rows['dagnet'][-1][1]:.3e}, "
              f"reservoirpy {rows['reservoirpy'][-1][1]:.3e}")

    # more reservoirs, untimed, for the NRMSE: one draw differs from the next by +-15%
    for r in range(rounds, seeds):
        for name, model, fit, predict in (
                ("dagnet", dagnet_model(N, r), fit_dagnet, predict_dagnet),
                ("reservoirpy", reservoirpy_model(N, r), fit_reservoirpy, predict_reservoirpy),
                ("dagnet seed form", dagnet_model(N, r, form="seed"), fit_dagnet,
                 predict_dagnet)):
            fit(model, X, y)
            W = model.reservoir.W if name == "reservoirpy" else model.reservoir_weights_
            rows[name].append((np.nan, nrmse(predict(model, X), y_test), radius(W)))

    print(f"  {'':18s} {'NRMSE median':>13s} {'mean +- s.e.':>20s}  {'fit s median':>12s} "
          f"{'(min - max)':>15s}  radius of W (min - max)")
    for name, v in rows.items():
        t, e, rho = (np.array(c) for c in zip(*v))
        t = t[:rounds]
        print(f"  {name:18s} {np.median(e):13.3e} {e.mean():.3e} +- {e.std() / len(e) ** 0.5:.1e}"
              f"  {np.median(t):12.3f} ({t.min():.3f} - {t.max():.3f})  "
              f"{rho.min():.6f} - {rho.max():.6f}")
    ratios = [p[0] / d[0] for p, d in zip(rows["reservoirpy"], rows["dagnet"])][:rounds]
    print("  fit time reservoirpy / dagnet per round: " + " ".join(f"{q:.2f}" for q in ratios)
          + f", median {np.median(ratios):.2f}")
    e_ratio = np.median([p[1] for p in rows["reservoirpy"]]) / np.median(
        [d[1] for d in rows["dagnet"]])
    print(f"  NRMSE reservoirpy / dagnet (medians over {seeds} reservoirs each): {e_ratio:.2f}")

    # the same network: reservoirpy with dagnet's matrices predicts what dagnet predicts
    d = fit_dagnet(dagnet_model(N, 0), X, y)
    p = fit_reservoirpy(reservoirpy_model(N, 0, (d.input_weights_, d.input_bias_,
                                                 d.reservoir_weights_)), X, y)
    a, b = predict_dagnet(d, X), predict_reservoirpy(p, X)
    print(f"  same U, b, W in both: predictions differ by at most {np.abs(a - b).max():.1e} "
          f"(NRMSE {nrmse(a, y_test):.4e} / {nrmse(b, y_test):.4e})")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 rounds instead of 7")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--units", type=int, nargs="+", default=[100, 500])
    ap.add_argument("--seeds", type=int, default=None,
                    help="reservoirs drawn for the NRMSE (30 by default, 10 with --quick)")
    args = ap.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 7)
    seeds = max(rounds, args.seeds or (10 if args.quick else 30))
    try:
        import reservoirpy
    except ImportError:
        sys.exit("reservoirpy is missing: install it into a virtual environment of its own "
                 "(see the top of this file) and run this file with that environment's Python")
    import dagnet
    X, y = data()
    print(f"Mackey-Glass (tau=17) one step ahead: fit on {TRAIN} steps (washout {WASHOUT}), "
          f"score {TEST}; density={DENSITY}, spectral radius {RHO}, leak {LEAK}, "
          f"input scaling {SCALING}, ridge {RIDGE}")
    print(f"dagnet {dagnet.__version__}, reservoirpy {reservoirpy.__version__}, numpy "
          f"{np.__version__}; fit times: {rounds} rounds, seeds 0..{rounds - 1}, turns "
          f"alternate; NRMSE: seeds 0..{seeds - 1}")
    for N in args.units:
        compare(N, rounds, seeds, X, y)


if __name__ == "__main__":
    main()
