"""A multilayer perceptron of any depth in float64 NumPy, with backpropagation.

Layer l (1..L) computes, for a batch A_{l-1} of shape (n, fan_in),

    Z_l = A_{l-1} W_l^T + b_l        W_l: (units, fan_in), row j = unit j's weights
    A_l = f_l(Z_l)

which is the tutorial's z = W a + b applied to each row. Backpropagation runs
the chain rule from the loss down: with delta_l = dL/dZ_l,

    dL/dW_l = delta_l^T A_{l-1}      (the tutorial's delta a^T, summed over the batch)
    dL/db_l = sum over the batch of delta_l
    delta_{l-1} = f'_{l-1} applied to (delta_l W_l)

The 1/n of the batch mean is already inside delta_L (see `losses`). Layers are
named like the Keras twin's: dense_1 ... dense_{L-1}, logits.
"""

from __future__ import annotations

import numpy as np

from nnkeras.errors import ConfigError
from nnkeras.scratch import activations, checks, initializers, losses


class MLP:
    def __init__(self, weights, biases, activation_names, loss: str = "categorical_crossentropy"):
        if not (len(weights) == len(biases) == len(activation_names) >= 1):
            raise ConfigError("an MLP needs one weight matrix, one bias vector and one activation per layer")
        self.weights = [np.array(w, dtype=np.float64) for w in weights]
        self.biases = [np.array(b, dtype=np.float64) for b in biases]
        for l, (w, b) in enumerate(zip(self.weights, self.biases), start=1):
            previous = self.weights[l - 2].shape[0] if l > 1 else w.shape[1]
            if w.ndim != 2 or w.shape[1] != previous or b.shape != (w.shape[0],):
                raise ConfigError(f"layer {l}: weights {w.shape} and bias {b.shape} do not chain;"
                                  f" expected (units, {previous}) and (units,)")
        self.activations = [activations.get(name) for name in activation_names]
        self.loss = losses.get(loss)
        # Output activation and loss with a joint exact form (sigmoid + BCE, softmax + CCE).
        self.fused = self.loss.natural == self.activations[-1].name

    @classmethod
    def create(cls, sizes, hidden: str = "relu", output: str = "softmax", loss: str = "categorical_crossentropy",
               init: str = "xavier", seed: int = 0) -> "MLP":
        """A fresh network with layer sizes `sizes` = (inputs, hidden..., outputs)."""
        sizes = tuple(sizes)
        if len(sizes) < 2 or not all(isinstance(s, (int, np.integer)) and s >= 1 for s in sizes):
            raise ConfigError(f"sizes must be two or more positive integers (inputs, ..., outputs), got {sizes}")
        if hidden not in activations.HIDDEN_ACTIVATIONS:
            raise ConfigError(f"hidden activation must be one of {', '.join(activations.HIDDEN_ACTIVATIONS)}, got '{hidden}'")
        rng = np.random.default_rng(seed)
        weights = [initializers.weights(init, fan_in, fan_out, rng) for fan_in, fan_out in zip(sizes, sizes[1:])]
        biases = [np.zeros(fan_out) for fan_out in sizes[1:]]
        return cls(weights, biases, [hidden] * (len(sizes) - 2) + [output], loss)

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.weights[0].shape[1], *(w.shape[0] for w in self.weights))

    @property
    def layer_names(self) -> list[str]:
        return [f"dense_{l}" for l in range(1, len(self.weights))] + ["logits"]

    def params(self) -> list[np.ndarray]:
        """[W_1, b_1, ..., W_L, b_L]: the arrays themselves, so an optimiser updates them in place."""
        return [p for pair in zip(self.weights, self.biases) for p in pair]

    def param_names(self) -> list[str]:
        return [f"{name}/{part}" for name in self.layer_names for part in ("kernel", "bias")]

    def count_params(self) -> int:
        return sum(p.size for p in self.params())

    def check(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Validated float64 inputs and targets in the output's shape (see `checks`)."""
        x = checks.inputs(x, self.sizes[0])
        return x, checks.targets(y, len(x), self.sizes[-1], self.loss.name)

    def forward(self, x: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Pre-activations [Z_1..Z_L] and outputs [A_0 = x, A_1..A_L], kept for the backward pass."""
        zs, outputs = [], [x]
        for w, b, activation in zip(self.weights, self.biases, self.activations):
            zs.append(outputs[-1] @ w.T + b)
            outputs.append(activation.forward(zs[-1]))
        return zs, outputs

    def logits(self, x) -> np.ndarray:
        """Z_L, the last layer before its activation (what the Keras twin outputs)."""
        return self.forward(np.asarray(x, dtype=np.float64))[0][-1]

    def predict(self, x) -> np.ndarray:
        return self.forward(np.asarray(x, dtype=np.float64))[1][-1]

    @property
    def classifies(self) -> bool:
        """True with a sigmoid or softmax output (accuracy means something), False for regression."""
        return self.activations[-1].name in ("sigmoid", "softmax")

    def loss_and_output(self, x: np.ndarray, t: np.ndarray) -> tuple[float, np.ndarray]:
        """Loss and output A_L of checked `x`, `t` (the call `fit.evaluate` and `gradcheck` make)."""
        zs, outputs = self.forward(x)
        return self.loss_value(zs, outputs, t), outputs[-1]

    def loss_value(self, zs, outputs, t) -> float:
        if self.fused:
            return self.loss.value_from_z(zs[-1], t)
        return self.loss.value(outputs[-1], t)

    def gradients(self, x: np.ndarray, t: np.ndarray) -> tuple[float, list[np.ndarray], np.ndarray]:
        """Loss, gradients in the order of `params()`, and the output, for checked `x` and `t`."""
        zs, outputs = self.forward(x)
        if self.fused:
            delta = self.loss.grad_from_z(zs[-1], t)
        else:
            delta = self.activations[-1].backward(zs[-1], outputs[-1], self.loss.grad(outputs[-1], t))
        grads = [None] * (2 * len(self.weights))
        for l in reversed(range(len(self.weights))):
            grads[2 * l] = delta.T @ outputs[l]
            grads[2 * l + 1] = delta.sum(axis=0)
            if l > 0:
                delta = self.activations[l - 1].backward(zs[l - 1], outputs[l], delta @ self.weights[l])
        return self.loss_value(zs, outputs, t), grads, outputs[-1]

    def kernel_gradients(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """dL/dW of every layer, by layer name, on the batch (x, t): what the gradient-norm logs show."""
        _, grads, _ = self.gradients(x, t)
        return dict(zip(self.layer_names, grads[0::2]))

    def keras_weights(self) -> dict[str, list[np.ndarray]]:
        """Layer name -> [kernel, bias] in Keras's Dense layout: the kernel is W transposed, (fan_in, units)."""
        return {name: [w.T, b] for name, w, b in zip(self.layer_names, self.weights, self.biases)}

    def reseed_dropout(self, *key) -> None:
        """Nothing to do: this MLP has no dropout (the call is part of the protocol `Network` shares)."""

    def correct(self, output: np.ndarray, t: np.ndarray) -> np.ndarray | None:
        """Which examples are classified right (None without a sigmoid or softmax output: regression)."""
        if not self.classifies:
            return None
        if output.shape[1] == 1:
            return (output[:, 0] > 0.5) == (t[:, 0] > 0.5)
        return output.argmax(axis=1) == t.argmax(axis=1)
