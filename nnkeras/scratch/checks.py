"""Input checks run before any training step: a bad array fails with one line.

The tutorial's NumPy neuron subtracted labels of shape (2,) from outputs of
shape (2, 1); NumPy broadcast that into a (2, 2) matrix and every gradient was
wrong without an error. Here targets are brought to the output's exact shape
(a vector of n labels becomes an (n, 1) column only when there is one output)
and anything else is refused.
"""

from __future__ import annotations

import numpy as np

from nnkeras.errors import DataError


def inputs(x, n_features: int) -> np.ndarray:
    """`x` as a float64 (n, n_features) array, or DataError."""
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise DataError(f"inputs must be numbers, got dtype {x.dtype}")
    if x.ndim != 2:
        raise DataError(f"inputs must be 2-D (examples, features), got shape {x.shape};"
                        " flatten images with x.reshape(len(x), -1), one example with x.reshape(1, -1)")
    if len(x) == 0:
        raise DataError("inputs hold no examples")
    if x.shape[1] != n_features:
        raise DataError(f"inputs have {x.shape[1]} features per example but the network expects {n_features}")
    _finite(x, "inputs")
    return x.astype(np.float64)


def targets(y, n: int, n_outputs: int, loss: str) -> np.ndarray:
    """Targets in the output's shape (n, n_outputs), float64, checked against the loss."""
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise DataError(f"targets must be numbers, got dtype {y.dtype}")
    if len(y) != n:
        raise DataError(f"inputs hold {n} examples but targets hold {len(y)}; pass one target per example")
    _finite(y, "targets")
    if loss == "categorical_crossentropy" and y.ndim == 1:
        return one_hot(y, n_outputs)
    if y.ndim == 1 and n_outputs == 1:
        y = y.reshape(n, 1)  # a vector of n targets is the (n, 1) output column, never a row to broadcast
    if y.shape != (n, n_outputs):
        raise DataError(f"targets have shape {y.shape} but the network outputs ({n}, {n_outputs});"
                        " pass one row of targets per example (class labels as a vector of integers)")
    y = y.astype(np.float64)
    if loss == "binary_crossentropy" and (y.min() < 0 or y.max() > 1):
        raise DataError("binary cross-entropy targets must lie in [0, 1]")
    if loss == "categorical_crossentropy" and (y.min() < 0 or not np.allclose(y.sum(axis=1), 1.0, atol=1e-6)):
        raise DataError("categorical cross-entropy targets must be one-hot rows (or probabilities summing to 1)")
    return y


def one_hot(labels, num_classes: int) -> np.ndarray:
    """Integer class labels (n,) -> one-hot rows (n, num_classes); out-of-range labels fail."""
    labels = np.asarray(labels)
    if labels.dtype.kind == "f" and not np.all(labels == np.round(labels)):
        raise DataError("class labels must be whole numbers 0..K-1")
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        raise DataError(f"label {labels[bad[0]]:g} of example {bad[0]} is outside 0..{num_classes - 1};"
                        f" the network has {num_classes} classes")
    out = np.zeros((len(labels), num_classes))
    out[np.arange(len(labels)), labels.astype(np.int64)] = 1.0
    return out


def _finite(array: np.ndarray, what: str) -> None:
    bad = ~np.isfinite(array.reshape(len(array), -1)).all(axis=1) if array.size else np.zeros(0, bool)
    if bad.any():
        raise DataError(f"{what} hold NaN or infinite values (first in example {np.flatnonzero(bad)[0]});"
                        " clean or impute them before training")


def examples(x, input_shape: tuple[int, ...], vocab_size: int | None = None) -> np.ndarray:
    """`x` as (n, *input_shape): float64 values, or (with `vocab_size`) int64 token ids in range."""
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise DataError(f"inputs must be numbers, got dtype {x.dtype}")
    if x.ndim == 0 or x.shape[1:] != tuple(input_shape):
        raise DataError(f"inputs have shape {x.shape} but the network expects (examples, {', '.join(map(str, input_shape))})")
    if len(x) == 0:
        raise DataError("inputs hold no examples")
    _finite(x, "inputs")
    if vocab_size is None:
        return x.astype(np.float64)
    if x.dtype.kind == "f" and not np.all(x == np.round(x)):
        raise DataError("token ids must be whole numbers")
    bad = np.flatnonzero(((x < 0) | (x >= vocab_size)).reshape(len(x), -1).any(axis=1))
    if bad.size:
        raise DataError(f"example {bad[0]} holds a token id outside 0..{vocab_size - 1} (the vocabulary size)")
    return x.astype(np.int64)
