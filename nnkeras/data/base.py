"""What every dataset loader returns, and the steps shared by all of them."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from nnkeras.errors import DataError


@dataclass(frozen=True)
class DataSpec:
    """What a model and an app need to know about the inputs.

    A raw example `x` (for images: pixel values 0..255) becomes the model's
    input as `(x * scale - mean) / std`.
    """

    name: str
    input_shape: tuple[int, ...]
    num_classes: int
    class_names: tuple[str, ...]
    scale: float = 1.0
    mean: float = 0.0
    std: float = 1.0

    def normalise(self, raw: np.ndarray) -> np.ndarray:
        return ((np.asarray(raw, dtype=np.float32) * self.scale - self.mean) / self.std).astype(np.float32)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RawSplits:
    """A loader's output: the training pool and the test set, before normalisation."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    spec: DataSpec


@dataclass
class Dataset:
    """Normalised float32 inputs and int labels, split three ways."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    spec: DataSpec

    def sizes(self) -> dict[str, int]:
        return {"n_train": len(self.y_train), "n_val": len(self.y_val), "n_test": len(self.y_test)}


def check_labels(labels: np.ndarray, num_classes: int, source: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise DataError(f"{source}: labels must be one integer per example, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(f"{source}: label {int(labels.max())} is outside 0..{num_classes - 1}")
    return labels.astype(np.int64)


def split(raw: RawSplits, val_fraction: float, seed: int, limit: int | None) -> Dataset:
    """Carve validation out of the training pool, deterministically by `seed`.

    The pool is shuffled once with the seed; `limit` keeps its first examples
    (quick runs on a subset); the first `val_fraction` of what remains is the
    validation set. The test set is never touched.
    """
    if len(raw.x_train) != len(raw.y_train):
        raise DataError(f"{raw.spec.name}: {len(raw.x_train)} training inputs but {len(raw.y_train)} labels")
    order = np.random.default_rng(seed).permutation(len(raw.y_train))
    if limit is not None:
        order = order[:limit]
    n_val = max(1, int(round(len(order) * val_fraction)))
    if n_val >= len(order):
        raise DataError(
            f"{raw.spec.name}: {len(order)} training examples leave none for training after validation;"
            " raise data.limit or lower data.val_fraction"
        )
    val, train = order[:n_val], order[n_val:]
    spec = raw.spec
    return Dataset(
        x_train=spec.normalise(raw.x_train[train]),
        y_train=raw.y_train[train],
        x_val=spec.normalise(raw.x_train[val]),
        y_val=raw.y_train[val],
        x_test=spec.normalise(raw.x_test),
        y_test=raw.y_test,
        spec=spec,
    )
