"""Activation functions: the forward value and one step of the chain rule back.

Each activation turns a layer's pre-activation `z` (shape (n, units)) into its
output `a`. `backward(z, a, grad_a)` receives dL/da and returns dL/dz; it gets
both `z` and `a` because each derivative is cheapest in one of them
(sigmoid' = a(1 - a), relu' = [z > 0]).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from nnkeras.errors import ConfigError


@dataclass(frozen=True)
class Activation:
    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    backward: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def sigmoid(z: np.ndarray) -> np.ndarray:
    # exp of a large positive number overflows: for z < 0 use e^z / (1 + e^z),
    # which is the same function written with exp(z) <= 1.
    out = np.empty_like(z)
    positive = z >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-z[positive]))
    ez = np.exp(z[~positive])
    out[~positive] = ez / (1.0 + ez)
    return out


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax; subtracting the row maximum leaves it unchanged and keeps exp finite."""
    shifted = np.exp(z - z.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _softmax_backward(z, a, grad_a):
    # Softmax mixes the units of a row, so dL/dz is the Jacobian-vector product
    # J^T g with J = diag(a) - a a^T, i.e. a * (g - <g, a>), per row.
    return a * (grad_a - np.sum(grad_a * a, axis=1, keepdims=True))


ACTIVATIONS = {
    "sigmoid": Activation("sigmoid", sigmoid, lambda z, a, g: g * a * (1.0 - a)),
    "tanh": Activation("tanh", np.tanh, lambda z, a, g: g * (1.0 - a * a)),
    # The derivative at exactly 0 is taken as 0, as TensorFlow does.
    "relu": Activation("relu", lambda z: np.maximum(z, 0.0), lambda z, a, g: g * (z > 0)),
    "softmax": Activation("softmax", softmax, _softmax_backward),
    "linear": Activation("linear", lambda z: z, lambda z, a, g: g),
}
HIDDEN_ACTIVATIONS = ("sigmoid", "tanh", "relu")


def get(name: str) -> Activation:
    if name not in ACTIVATIONS:
        raise ConfigError(f"activation '{name}' is not implemented in nnkeras.scratch; choose one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]
