"""The layer protocol of the scratch networks, and the simple layers: Dense, Flatten, Dropout.

A layer is a function y = f(x; p) with a hand-written derivative:

    forward(x, training)  -> y, keeping whatever the backward pass needs
    backward(dy)          -> dx = dL/dx, given dy = dL/dy; stores dL/dp in `grads`

`params` holds the layer's arrays in the layout and order of `get_weights()`
of the Keras layer with the same `name` (a Dense kernel is (fan_in, units),
z = x K + b), so weights copy between a scratch network and its Keras twin
without any reshaping. A layer made of several Keras layers (the Transformer
block) lists them in `parts`; `leaves` walks down to the ones that hold weights,
`walk` to every layer (the training loop finds the dropout layers that way).

Every layer works on float64 arrays with any leading batch dimensions, as
Keras layers do: Dense on (n, T, d) transforms each of the n * T vectors.
"""

from __future__ import annotations

import numpy as np

from nnkeras.errors import ConfigError
from nnkeras.scratch import activations


class Layer:
    """Base class: no parameters, the identity. Subclasses set `params` and `param_names`."""

    def __init__(self, name: str):
        self.name = name
        self.params: list[np.ndarray] = []
        self.param_names: list[str] = []
        self.grads: list[np.ndarray] = []
        self.parts: list[Layer] = []

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy

    def leaves(self) -> list["Layer"]:
        """The layers under this one that hold weights, each matching one Keras layer."""
        if self.parts:
            return [leaf for part in self.parts for leaf in part.leaves()]
        return [self] if self.params else []

    def walk(self):
        """This layer and every layer under it, depth first."""
        yield self
        for part in self.parts:
            yield from part.walk()


def xavier(fan_in: int, fan_out: int, rng: np.random.Generator, shape=None) -> np.ndarray:
    """Glorot-uniform U(-r, r), r = sqrt(6 / (fan_in + fan_out)) (see `initializers`), default shape (fan_in, fan_out)."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape or (fan_in, fan_out))


class Dense(Layer):
    """z = x K + b, y = f(z), on the last axis.

    Backward, with delta = dL/dz = f'(z) * dy and x, delta flattened to rows:

        dL/dK = x^T delta      dL/db = sum of the rows of delta      dL/dx = delta K^T
    """

    def __init__(self, name: str, fan_in: int, units: int, activation: str = "linear",
                 rng: np.random.Generator | None = None):
        super().__init__(name)
        rng = rng or np.random.default_rng(0)
        self.activation = activations.get(activation)
        if self.activation.name == "softmax":
            raise ConfigError("a scratch Dense layer takes no softmax: the network's loss applies it to the logits")
        self.params, self.param_names = [xavier(fan_in, units, rng), np.zeros(units)], ["kernel", "bias"]

    def forward(self, x, training=False):
        kernel, bias = self.params
        self.x = x
        self.z = x @ kernel + bias
        self.y = self.activation.forward(self.z)
        return self.y

    def backward(self, dy):
        kernel = self.params[0]
        delta = self.activation.backward(self.z, self.y, dy)
        rows, deltas = self.x.reshape(-1, kernel.shape[0]), delta.reshape(-1, kernel.shape[1])
        self.grads = [rows.T @ deltas, deltas.sum(axis=0)]
        return delta @ kernel.T


class Flatten(Layer):
    """(n, d1, d2, ...) -> (n, d1 * d2 * ...) in C order, as Keras's Flatten of channels-last maps."""

    def forward(self, x, training=False):
        self.shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, dy):
        return dy.reshape(self.shape)


class Dropout(Layer):
    """Inverted dropout: in training y = x * m / (1 - rate), m ~ Bernoulli(1 - rate); else y = x.

    Dividing by 1 - rate keeps the expected activation the same, so inference
    needs no rescaling. The backward pass routes dy through the same mask.
    Its masks come from the layer's own generator: they cannot equal Keras's,
    so the equality tests use rate 0. `reseed` restarts that generator (the
    training loop does at every epoch, so a resumed run draws the same masks).
    """

    def __init__(self, name: str, rate: float, seed: int = 0):
        super().__init__(name)
        if not 0.0 <= rate < 1.0:
            raise ConfigError(f"dropout rate must be in [0, 1), got {rate}")
        self.rate, self.rng = rate, np.random.default_rng(seed)
        self.scale = None

    def reseed(self, key) -> None:
        self.rng = np.random.default_rng(key)

    def forward(self, x, training=False):
        if not training or self.rate == 0.0:
            self.scale = None
            return x
        self.scale = (self.rng.random(x.shape) >= self.rate) / (1.0 - self.rate)
        return x * self.scale

    def backward(self, dy):
        return dy if self.scale is None else dy * self.scale
