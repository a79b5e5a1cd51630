"""Embedding, SimpleRNN and LSTM, with backpropagation through time (BPTT).

A recurrent layer reads a sequence x_1..x_T (inputs (n, T, features)) and
carries a state h from step to step with the same weights at every step:
kernel W (features, k u), recurrent kernel U (u, k u), bias b (k u,), in
Keras's layout (k = 1 for SimpleRNN, 4 for LSTM, gates in the order i f c o).

BPTT is the chain rule on the unrolled loop: the backward pass walks the steps
from T down to 1, carrying dL/dh (and for the LSTM dL/dc) to the step before,
and adds every step's contribution to dW, dU and db, since the same weights
served every step. The layer outputs h_T (or, with return_sequences, every h_t).
"""

from __future__ import annotations

import numpy as np

from nnkeras.errors import DataError
from nnkeras.scratch.activations import sigmoid
from nnkeras.scratch.layers import Layer, xavier


class Embedding(Layer):
    """Token id t -> row t of E (vocab, dim): y[n, s] = E[ids[n, s]].

    The lookup is a product with a one-hot matrix, so dL/dE[t] is the sum of
    dy over every position that holds token t (np.add.at adds repeats; plain
    indexing would keep one). Ids carry no gradient.
    """

    def __init__(self, name: str, vocab_size: int, dim: int, rng: np.random.Generator | None = None):
        super().__init__(name)
        rng = rng or np.random.default_rng(0)
        self.params, self.param_names = [rng.uniform(-0.05, 0.05, size=(vocab_size, dim))], ["embeddings"]

    def forward(self, ids, training=False):
        self.ids = ids
        return self.params[0][ids]

    def backward(self, dy):
        grad = np.zeros_like(self.params[0])
        np.add.at(grad, self.ids, dy)
        self.grads = [grad]
        return None


class _Recurrent(Layer):
    gates = 1

    def __init__(self, name: str, features: int, units: int, return_sequences: bool = False,
                 rng: np.random.Generator | None = None):
        super().__init__(name)
        rng = rng or np.random.default_rng(0)
        k = self.gates
        # Keras draws U orthogonal; Glorot-uniform here keeps this file to NumPy's basics.
        self.params = [xavier(features, k * units, rng), xavier(units, k * units, rng), self.initial_bias(units)]
        self.param_names = ["kernel", "recurrent_kernel", "bias"]
        self.units, self.return_sequences = units, return_sequences

    def initial_bias(self, units: int) -> np.ndarray:
        return np.zeros(self.gates * units)

    def _check(self, x):
        features = self.params[0].shape[0]
        if x.ndim != 3 or x.shape[2] != features:
            raise DataError(f"{self.name}: inputs of shape {x.shape}, expected (n, steps, {features})")

    def _output_grads(self, dy, shape):
        """dL/dh_t that comes from the layer's output, per step."""
        if self.return_sequences:
            return dy
        per_step = np.zeros((shape[0], shape[1], self.units))
        per_step[:, -1] = dy
        return per_step


class SimpleRNN(_Recurrent):
    """h_t = tanh(x_t W + h_{t-1} U + b), h_0 = 0.

    Back through step t, with g_t = dL/dh_t (from the output plus from step t+1):

        delta_t = g_t * (1 - h_t^2)
        dW += x_t^T delta_t    dU += h_{t-1}^T delta_t    db += sum delta_t
        dL/dx_t = delta_t W^T  dL/dh_{t-1} (carried) = delta_t U^T

    The carried gradient is multiplied by U^T and by tanh' <= 1 once per step:
    over many steps it shrinks (or grows) geometrically, the vanishing gradient.
    """

    def forward(self, x, training=False):
        self._check(x)
        kernel, recurrent, bias = self.params
        n, steps, _ = x.shape
        self.x, self.h = x, np.zeros((n, steps + 1, self.units))  # h[:, 0] is h_0
        for t in range(steps):
            self.h[:, t + 1] = np.tanh(x[:, t] @ kernel + self.h[:, t] @ recurrent + bias)
        return self.h[:, 1:] if self.return_sequences else self.h[:, -1]

    def backward(self, dy):
        kernel, recurrent, _ = self.params
        grads = [np.zeros_like(p) for p in self.params]
        out = self._output_grads(dy, self.x.shape)
        dx, carried = np.zeros_like(self.x), np.zeros((len(self.x), self.units))
        for t in reversed(range(self.x.shape[1])):
            delta = (out[:, t] + carried) * (1.0 - self.h[:, t + 1] ** 2)
            grads[0] += self.x[:, t].T @ delta
            grads[1] += self.h[:, t].T @ delta
            grads[2] += delta.sum(axis=0)
            dx[:, t], carried = delta @ kernel.T, delta @ recurrent.T
        self.grads = grads
        return dx


class LSTM(_Recurrent):
    """Long short-term memory (Hochreiter & Schmidhuber 1997), as Keras computes it:

        z = x_t W + h_{t-1} U + b  split into  z_i, z_f, z_c, z_o
        i = sigmoid(z_i)  f = sigmoid(z_f)  g = tanh(z_c)  o = sigmoid(z_o)
        c_t = f c_{t-1} + i g      h_t = o tanh(c_t)

    Back through step t, with dh = dL/dh_t and dc carried from step t+1:

        do = dh tanh(c_t)              dc += dh o (1 - tanh(c_t)^2)
        di = dc g   dg = dc i   df = dc c_{t-1}   dL/dc_{t-1} (carried) = dc f
        dz = [di i(1-i), df f(1-f), dg (1-g^2), do o(1-o)]

    then W, U, b, x_t and h_{t-1} as in SimpleRNN with dz for delta. The
    cell state is carried back through a product with f only, not through
    U and a squashing derivative: the forget gate decides how far gradients
    reach. The forget bias starts at 1 (Keras's unit_forget_bias).
    """

    gates = 4

    def initial_bias(self, units):
        bias = np.zeros(4 * units)
        bias[units:2 * units] = 1.0
        return bias

    def forward(self, x, training=False):
        self._check(x)
        kernel, recurrent, bias = self.params
        n, steps, _ = x.shape
        u = self.units
        self.x, self.h, self.c = x, np.zeros((n, steps + 1, u)), np.zeros((n, steps + 1, u))
        self.acts = np.empty((n, steps, 4 * u))  # i, f, g, o of every step
        for t in range(steps):
            z = x[:, t] @ kernel + self.h[:, t] @ recurrent + bias
            i, f, o = sigmoid(z[:, :u]), sigmoid(z[:, u:2 * u]), sigmoid(z[:, 3 * u:])
            g = np.tanh(z[:, 2 * u:3 * u])
            self.acts[:, t] = np.concatenate([i, f, g, o], axis=1)
            self.c[:, t + 1] = f * self.c[:, t] + i * g
            self.h[:, t + 1] = o * np.tanh(self.c[:, t + 1])
        return self.h[:, 1:] if self.return_sequences else self.h[:, -1]

    def backward(self, dy):
        kernel, recurrent, _ = self.params
        u = self.units
        grads = [np.zeros_like(p) for p in self.params]
        out = self._output_grads(dy, self.x.shape)
        dx = np.zeros_like(self.x)
        dh_carried, dc = np.zeros((len(self.x), u)), np.zeros((len(self.x), u))
        for t in reversed(range(self.x.shape[1])):
            i, f, g, o = np.split(self.acts[:, t], 4, axis=1)
            dh, tanh_c = out[:, t] + dh_carried, np.tanh(self.c[:, t + 1])
            dc = dc + dh * o * (1.0 - tanh_c ** 2)
            dz = np.concatenate([dc * g * i * (1 - i), dc * self.c[:, t] * f * (1 - f),
                                 dc * i * (1 - g ** 2), dh * tanh_c * o * (1 - o)], axis=1)
            dc = dc * f
            grads[0] += self.x[:, t].T @ dz
            grads[1] += self.h[:, t].T @ dz
            grads[2] += dz.sum(axis=0)
            dx[:, t], dh_carried = dz @ kernel.T, dz @ recurrent.T
        self.grads = grads
        return dx
