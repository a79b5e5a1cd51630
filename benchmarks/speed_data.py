"""The speed benchmarks' synthetic data, numpy only, so the PyTorch venv can make the same arrays.

training_speed.py (Keras venv) and torch_tutorial.py (/work/venv-torch) both
call make_data, so every path trains on identical images.
"""

from __future__ import annotations

import numpy as np


def make_data(n=60_000, seed=0):
    """n images of MNIST's shape (28x28x1, already normalised), 10 classes: a prototype per class plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, size=n)
    prototypes = rng.normal(size=(10, 28, 28, 1)).astype("float32")
    x = (prototypes[y] + rng.normal(size=(n, 28, 28, 1)).astype("float32")) / 1.8
    return x.astype("float32"), y


def write_mnist_npz(path, n_train=60_000, n_test=10_000, seed=0) -> None:
    """make_data's images as Keras's mnist.npz (uint8 pixels 0..255, 28x28), so `nnkeras run mnist_mlp
    --set data.dir=FOLDER`, a plain Keras script and the PyTorch script read the same file as a user's MNIST."""
    x, y = make_data(n_train + n_test, seed)
    pixels = np.clip(np.rint((x[..., 0] * 0.3081 + 0.1307) * 255), 0, 255).astype(np.uint8)
    y = y.astype(np.uint8)
    np.savez(path, x_train=pixels[:n_train], y_train=y[:n_train], x_test=pixels[n_train:], y_test=y[n_train:])
