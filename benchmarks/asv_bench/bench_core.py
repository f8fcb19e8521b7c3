"""asv benchmarks of the core: declarations over a shared base; the
side-by-side figures with references are in benchmarks/compare.py."""

import numpy as np

from dagnet import _core
from dagnet.nn import Conv2D, Dense, Flatten, MaxPool2D, Sequential


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


class ConvEpoch:
    """One epoch of a small CNN on 3x32x32 images (conv 3->32 and 32->64,
    3x3 'same', ReLU, 2x2 max pooling, then 10 outputs), Adam, batch 64;
    with Winograd's F(2x2, 3x3) on (1, the default) and off (0)."""
    params = ([1, 2], [0, 1])
    param_names = ["threads", "winograd"]
    n = 1024
    timeout = 300

    def setup(self, threads, winograd):
        rng = np.random.default_rng(0)
        self.X = rng.standard_normal((self.n, 3, 32, 32), dtype=np.float32)
        self.y = rng.integers(0, 10, self.n)
        self.model = Sequential([
            Conv2D(32, 3, padding="same", activation="relu"), MaxPool2D(2),
            Conv2D(64, 3, padding="same", activation="relu"), MaxPool2D(2),
            Flatten(), Dense(10)]).build(input_shape=(3, 32, 32), random_state=0)
        self.model.compile("softmax_cross_entropy", "adam")
        self.model.n_threads = threads
        self.previous = _core.set_conv_winograd(winograd)
        self.model.train_epoch(self.X[:128], self.y[:128], batch_size=64)

    def teardown(self, threads, winograd):
        _core.set_conv_winograd(self.previous)

    def time_epoch(self, threads, winograd):
        self.model.train_epoch(self.X, self.y, batch_size=64)
