"""The single artificial neuron of the tutorial's chapter 2: a = sigmoid(x . w + b).

For a batch x of shape (n, d) the output is a column of shape (n, 1). Labels
given as a vector (n,) are made that same column before they meet the output
(see `checks.targets`): subtracted as they are, NumPy would broadcast (n, 1)
minus (n,) into an (n, n) matrix, the bug of the article's code.

With binary cross-entropy the gradient at the pre-activation is exactly
dz = (a - y) / n (the sigmoid's slope cancels against the loss); with MSE it
is 2 (a - y) a (1 - a) / n. Both are what `backward` computes.
"""

from __future__ import annotations

import numpy as np

from nnkeras.scratch import checks, initializers, losses
from nnkeras.scratch.activations import ACTIVATIONS, sigmoid


class SigmoidNeuron:
    def __init__(self, n_inputs: int, init: str = "small", seed: int = 0, loss: str = "binary_crossentropy"):
        rng = np.random.default_rng(seed)
        self.w = initializers.weights(init, n_inputs, 1, rng).T.copy()  # (d, 1): a column, so x @ w is (n, 1)
        self.b = np.zeros(1)
        self.loss = losses.get(loss)

    def forward(self, x) -> np.ndarray:
        x = checks.inputs(x, len(self.w))
        return sigmoid(x @ self.w + self.b)

    def backward(self, x, y) -> tuple[float, np.ndarray, np.ndarray]:
        """Loss, dL/dw (d, 1) and dL/db (1,) on the batch (x, y)."""
        x = checks.inputs(x, len(self.w))
        y = checks.targets(y, len(x), 1, self.loss.name)
        z = x @ self.w + self.b
        a = sigmoid(z)
        if self.loss.natural == "sigmoid":  # binary cross-entropy: dz = (a - y) / n, exact
            value, dz = self.loss.value_from_z(z, y), self.loss.grad_from_z(z, y)
        else:
            value, dz = self.loss.value(a, y), ACTIVATIONS["sigmoid"].backward(z, a, self.loss.grad(a, y))
        return value, x.T @ dz, dz.sum(axis=0)

    def step(self, x, y, learning_rate: float) -> float:
        """One gradient-descent step; returns the loss before it."""
        value, dw, db = self.backward(x, y)
        self.w -= learning_rate * dw
        self.b -= learning_rate * db
        return value
