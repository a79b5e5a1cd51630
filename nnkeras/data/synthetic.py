"""Random data of any shape and size that a model can still learn.

Each class has a random prototype; an example is its class's prototype plus
noise. So a test can check that training beats chance without any file.
"""

from __future__ import annotations

import numpy as np

from nnkeras.data.base import DataSpec, RawSplits, check_generated_size


def load_synthetic(cfg) -> RawSplits:
    """Shape-correct random data (data.shape, data.num_classes, data.size); for tests and benchmarks."""
    rng = np.random.default_rng(1234)  # fixed: the data is part of the problem, not of the run
    shape = tuple(cfg.shape)
    check_generated_size(cfg, int(np.prod(shape)), "synthetic")
    prototypes = rng.normal(size=(cfg.num_classes, *shape)).astype(np.float32)
    n_test = max(cfg.num_classes, cfg.size // 5)

    def sample(n):
        y = rng.integers(0, cfg.num_classes, size=n)
        x = prototypes[y] + 1.5 * rng.normal(size=(n, *shape)).astype(np.float32)
        return x.astype(np.float32), y.astype(np.int64)

    x_train, y_train = sample(cfg.size)
    x_test, y_test = sample(n_test)
    names = tuple(f"class_{i}" for i in range(cfg.num_classes))
    # prototype (std 1) + noise (std 1.5): overall std sqrt(1 + 1.5**2) ~ 1.8
    spec = DataSpec("synthetic", shape, cfg.num_classes, names, std=1.8)
    return RawSplits(x_train, y_train, x_test, y_test, spec)
