"""CIFAR-10: 50,000 + 10,000 colour images of 10 classes, 32x32x3."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from nnkeras.data import safe_pickle
from nnkeras.data.base import DataSpec, RawSplits, check_labels, data_dir, keras_download
from nnkeras.errors import DataError

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
# Mean and std of all training pixels (all channels) after scaling to [0, 1].
SPEC = DataSpec("cifar10", (32, 32, 3), 10, CLASS_NAMES, scale=1 / 255, mean=0.4734, std=0.2516,
                raw_range=(0, 255))


def load_cifar10(cfg) -> RawSplits:
    """CIFAR-10, 50,000 + 10,000 colour images (download, or data.dir with the python batches)."""
    if cfg.dir:
        (x_train, y_train), (x_test, y_test) = _read_batches(data_dir(cfg.dir))
    else:
        (x_train, y_train), (x_test, y_test) = keras_download(
            "cifar10", "Extract cifar-10-python.tar.gz into a folder and pass --set data.dir=FOLDER",
            stand_in=cfg.stand_in)
    return RawSplits(x_train, check_labels(np.ravel(y_train), 10, "cifar10 training labels"),
                     x_test, check_labels(np.ravel(y_test), 10, "cifar10 test labels"), SPEC)


def _read_batches(folder: Path):
    if (folder / "cifar-10-batches-py").is_dir():
        folder = folder / "cifar-10-batches-py"
    missing = [n for n in (*TRAIN_BATCHES, "test_batch") if not (folder / n).is_file()]
    if missing:
        raise DataError(f"data.dir {folder}: missing {', '.join(missing)}; extract cifar-10-python.tar.gz there")
    train = [_read_batch(folder / n) for n in TRAIN_BATCHES]
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return (x_train, y_train), _read_batch(folder / "test_batch")


def _read_batch(path: Path):
    # The official format is a Python pickle: read with an unpickler that runs no code.
    try:
        with open(path, "rb") as handle:
            batch = safe_pickle.load(handle, encoding="bytes")
        images, labels = np.asarray(batch[b"data"], dtype=np.uint8), np.asarray(batch[b"labels"])
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: not a CIFAR-10 python batch ({type(exc).__name__}: {exc}); extract it again") from None
    if images.ndim != 2 or images.shape[1] != 3072 or len(images) != len(labels):
        raise DataError(f"{path}: expected (n, 3072) pixels and n labels, got {images.shape} and {len(labels)}")
    return images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels
