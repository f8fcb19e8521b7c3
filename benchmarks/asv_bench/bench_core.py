"""asv benchmarks of the core: declarations over a shared base; the
side-by-side figures with references are in benchmarks/compare.py."""

import numpy as np

from dagnet import _core
from dagnet.nn import Dense, Sequential


class Matmul:
    params = ([128, 256, 512, 1024], [1, 2])
    param_names = ["n", "threads"]

    def setup(self, n, threads):
        rng = np.random.default_rng(0)
        self.A = rng.standard_normal((n, n), dtype=np.float32)
        self.B = rng.standard_normal((n, n), dtype=np.float32)
        self.C = np.empty((n, n), np.float32)

    def time_sgemm(self, n, threads):
        _core.sgemm(self.A, self.B, self.C, nthreads=threads)

    def track_gflops(self, n, threads):
        import time
        self.time_sgemm(n, threads)
        t0 = time.perf_counter()
        self.time_sgemm(n, threads)
        return 2.0 * n ** 3 / (time.perf_counter() - t0) / 1e9

    track_gflops.unit = "GFLOP/s"


class DenseEpoch:
    """One epoch of a 784-512-256-10 ReLU network, Adam, batch 128."""
    params = ([1, 2],)
    param_names = ["threads"]
    n = 20_000
    timeout = 300

    def setup(self, threads):
        rng = np.random.default_rng(0)
        self.X = rng.standard_normal((self.n, 784), dtype=np.float32)
        self.y = rng.integers(0, 10, self.n)
        self.model = Sequential([Dense(512, activation="relu"), Dense(256, activation="relu"),
                                 Dense(10)]).build(input_shape=(784,), random_state=0)
        self.model.compile("softmax_cross_entropy", "adam")
        self.model.n_threads = threads
        self.model.train_epoch(self.X[:256], self.y[:256], batch_size=128)

    def time_epoch(self, threads):
        self.model.train_epoch(self.X, self.y, batch_size=128)

    def peakmem_epoch(self, threads):
        self.model.train_epoch(self.X, self.y, batch_size=128)

    def track_samples_per_second(self, threads):
        import time
        t0 = time.perf_counter()
        self.model.train_epoch(self.X, self.y, batch_size=128)
        return self.n / (time.perf_counter() - t0)

    track_samples_per_second.unit = "samples/s"
