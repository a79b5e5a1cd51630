"""Loss functions with their exact gradients, averaged over the batch like Keras.

Every loss is a mean over the examples of the batch (Keras's default
"sum_over_batch_size"), so its gradient carries a factor 1/n. Targets `y`
have the output's shape: one-hot (or probability) rows for categorical
cross-entropy, 0/1 columns for binary cross-entropy (see `checks.targets`).

Two losses have a natural output activation, and together they have a short,
exact and numerically stable form in terms of the pre-activation z:

- sigmoid + binary cross-entropy: dL/dz = (a - y) / size. This `a - y` is the
  *exact* gradient of cross-entropy through the sigmoid (the sigmoid's a(1-a)
  cancels the loss's 1 / (a(1-a))), not an approximation of MSE as the
  tutorial's article calls it.
- softmax + categorical cross-entropy: dL/dz = (softmax(z) - y) / n, exact
  for any target row that sums to 1. The loss itself is computed with
  log-softmax of z, i.e. what Keras calls `from_logits=True`.

The MLP uses these forms when its output activation is the natural one, and
otherwise chains `grad` (dL/da) through the output activation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from nnkeras.errors import ConfigError
from nnkeras.scratch.activations import log_softmax, sigmoid, softmax

# log(0) is -inf: probabilities are clipped into [EPS, 1 - EPS] before the log.
# Inside that range value and gradient are exact; outside it the gradient is
# that of the clipped value. The from-z forms never need it.
EPS = 1e-12


@dataclass(frozen=True)
class Loss:
    name: str
    value: Callable[[np.ndarray, np.ndarray], float]        # L(a, y)
    grad: Callable[[np.ndarray, np.ndarray], np.ndarray]    # dL/da
    natural: str | None = None                               # output activation of the from-z forms
    value_from_z: Callable[[np.ndarray, np.ndarray], float] | None = None
    grad_from_z: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None


def mse(a, y) -> float:
    """Mean over examples and outputs of (a - y)^2 (Keras's MeanSquaredError)."""
    return float(np.mean((a - y) ** 2))


def mse_grad(a, y):
    return 2.0 * (a - y) / a.size


def binary_crossentropy(a, y) -> float:
    """-mean(y log a + (1 - y) log(1 - a)) over examples and outputs; `a` are probabilities."""
    a = np.clip(a, EPS, 1.0 - EPS)
    return float(-np.mean(y * np.log(a) + (1.0 - y) * np.log(1.0 - a)))


def binary_crossentropy_grad(a, y):
    a = np.clip(a, EPS, 1.0 - EPS)
    return (a - y) / (a * (1.0 - a)) / a.size


def binary_crossentropy_from_z(z, y) -> float:
    # log(1 + e^-|z|) + max(z, 0) - z y equals the cross-entropy of sigmoid(z)
    # and never overflows (Keras's `from_logits=True` uses the same identity).
    return float(np.mean(np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z)))))


def categorical_crossentropy(a, y) -> float:
    """-sum_k y_k log a_k, averaged over examples; `a` are probabilities (rows of a softmax)."""
    return float(-np.sum(y * np.log(np.clip(a, EPS, 1.0))) / len(a))


def categorical_crossentropy_grad(a, y):
    return -y / np.clip(a, EPS, 1.0) / len(a)


def categorical_crossentropy_from_z(z, y) -> float:
    return float(-np.sum(y * log_softmax(z)) / len(z))


LOSSES = {
    "mse": Loss("mse", mse, mse_grad),
    "binary_crossentropy": Loss(
        "binary_crossentropy", binary_crossentropy, binary_crossentropy_grad, natural="sigmoid",
        value_from_z=binary_crossentropy_from_z, grad_from_z=lambda z, y: (sigmoid(z) - y) / z.size,
    ),
    "categorical_crossentropy": Loss(
        "categorical_crossentropy", categorical_crossentropy, categorical_crossentropy_grad, natural="softmax",
        value_from_z=categorical_crossentropy_from_z, grad_from_z=lambda z, y: (softmax(z) - y) / len(z),
    ),
}


def get(name: str) -> Loss:
    if name not in LOSSES:
        raise ConfigError(f"loss '{name}' is not implemented in nnkeras.scratch; choose one of {', '.join(LOSSES)}")
    return LOSSES[name]
