"""Per-epoch progress of a fit: a tqdm bar when tqdm is installed, else one
line per epoch; nothing unless the estimator's ``verbose`` asks for it."""

import sys
import time


class EpochProgress:
    """Reports each epoch's loss, validation figures and time.

    ``verbose``: 0/False is silent; otherwise a tqdm bar over ``total``
    epochs shows the latest figures, or, without tqdm (or with
    ``verbose >= 2``), a line per epoch in scikit-learn's words
    ("Iteration 3, loss = 0.12345678") with the rest after it.
    """

    def __init__(self, verbose, total, desc):
        self.verbose = int(verbose)
        self.bar = None
        self.t0 = time.perf_counter()
        if self.verbose == 1:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, desc=desc, unit="epoch", file=sys.stdout,
                                leave=True)

    def epoch(self, n_iter, loss, val_score=None, val_loss=None):
        if not self.verbose:
            return
        now = time.perf_counter()
        figures = {"loss": f"{loss:.6g}"}
        if val_score is not None:
            figures["val_score"] = f"{val_score:.4f}"
        if val_loss is not None:
            figures["val_loss"] = f"{val_loss:.6g}"
        if self.bar is not None:
            self.bar.set_postfix(figures, refresh=False)
            self.bar.update(1)
        else:
            extra = "".join(f", {k} = {v}" for k, v in figures.items() if k != "loss")
            print(f"Iteration {n_iter}, loss = {loss:.8f}{extra} ({now - self.t0:.2f} s)")
        self.t0 = now

    def message(self, text):
        if not self.verbose:
            return
        if self.bar is not None:
            self.bar.write(text)
        else:
            print(text)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
