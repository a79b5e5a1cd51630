"""Convolution and max-pooling on channels-last images (n, height, width, channels).

Conv2D with F filters of size kh x kw, stride s:

    y[n, i, j, f] = b[f] + sum_{a, c, ch} xp[n, s i + a, s j + c, ch] K[a, c, ch, f]

where xp is x padded with zeros. "valid" pads nothing (out = (H - kh) // s + 1);
"same" gives out = ceil(H / s) and pads max((out - 1) s + kh - H, 0) rows,
half of them (rounded down) on top, the rest below: TensorFlow's rule.

The sum is one matrix product after an im2col gather: the patch under every
output position becomes a row of `cols` (n*oh*ow, kh*kw*C), so y = cols K + b
with K reshaped to (kh*kw*C, F). Its backward pass is the Dense one,

    dL/dK = cols^T delta      dL/db = sum of delta      dL/dcols = delta K^T

and dL/dx scatters dL/dcols back (col2im): each input pixel collects the
gradient of every patch it was part of. Gathering and scattering loop over the
kh * kw kernel offsets only, each a strided slice of the whole batch.
"""

from __future__ import annotations

import math

import numpy as np

from nnkeras.errors import ConfigError, DataError
from nnkeras.scratch import activations
from nnkeras.scratch.layers import Layer, xavier

PADDINGS = ("valid", "same")


def output_size(size: int, kernel: int, stride: int, padding: str) -> tuple[int, int]:
    """(output size, padding before) along one axis."""
    if padding == "valid":
        return (size - kernel) // stride + 1, 0
    out = math.ceil(size / stride)
    return out, max((out - 1) * stride + kernel - size, 0) // 2


class Conv2D(Layer):
    """Keras Conv2D(filters, kernel_size, strides, padding, activation); kernel (kh, kw, C, F), bias (F,)."""

    def __init__(self, name: str, channels: int, filters: int, kernel_size: int | tuple[int, int],
                 stride: int = 1, padding: str = "valid", activation: str = "linear",
                 rng: np.random.Generator | None = None):
        super().__init__(name)
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        if padding not in PADDINGS or stride < 1 or min(kh, kw) < 1:
            raise ConfigError(f"Conv2D needs padding in {PADDINGS}, stride >= 1, kernel >= 1; got {padding}, {stride}, {(kh, kw)}")
        self.stride, self.padding = stride, padding
        self.activation = activations.get(activation)
        rng = rng or np.random.default_rng(0)
        kernel = xavier(kh * kw * channels, kh * kw * filters, rng, shape=(kh, kw, channels, filters))
        self.params, self.param_names = [kernel, np.zeros(filters)], ["kernel", "bias"]

    def _geometry(self, shape):
        kh, kw, channels, _ = self.params[0].shape
        if len(shape) != 4 or shape[3] != channels:
            raise DataError(f"{self.name}: inputs of shape {shape}, expected (n, height, width, {channels})")
        (oh, top), (ow, left) = (output_size(shape[1], kh, self.stride, self.padding),
                                 output_size(shape[2], kw, self.stride, self.padding))
        if oh < 1 or ow < 1:
            raise DataError(f"{self.name}: a {kh}x{kw} kernel does not fit {shape[1]}x{shape[2]} inputs with '{self.padding}' padding")
        # Rows / columns the patches reach: the padded input, cropped or extended to exactly that.
        bottom = (oh - 1) * self.stride + kh - shape[1] - top
        right = (ow - 1) * self.stride + kw - shape[2] - left
        return oh, ow, top, bottom, left, right

    def _padded(self, x, top, bottom, left, right):
        """x with zeros added (or rows a "valid" stride never reaches cut off)."""
        x = x[:, :x.shape[1] + min(bottom, 0), :x.shape[2] + min(right, 0)]
        return np.pad(x, ((0, 0), (top, max(bottom, 0)), (left, max(right, 0)), (0, 0)))

    def forward(self, x, training=False):
        kernel, bias = self.params
        kh, kw, channels, filters = kernel.shape
        oh, ow, *pads = self._geometry(x.shape)
        xp, s = self._padded(x, *pads), self.stride
        cols = np.empty((len(x), oh, ow, kh, kw, channels))
        for a in range(kh):  # im2col: offset (a, c) of every patch at once
            for c in range(kw):
                cols[:, :, :, a, c, :] = xp[:, a:a + s * oh:s, c:c + s * ow:s, :]
        self.x_shape, self.padded_shape, self.pads = x.shape, xp.shape, pads
        self.cols = cols.reshape(-1, kh * kw * channels)
        self.z = (self.cols @ kernel.reshape(-1, filters) + bias).reshape(len(x), oh, ow, filters)
        self.y = self.activation.forward(self.z)
        return self.y

    def backward(self, dy):
        kernel = self.params[0]
        kh, kw, channels, filters = kernel.shape
        n, oh, ow, _ = dy.shape
        delta = self.activation.backward(self.z, self.y, dy).reshape(-1, filters)
        self.grads = [(self.cols.T @ delta).reshape(kernel.shape), delta.sum(axis=0)]
        dcols = (delta @ kernel.reshape(-1, filters).T).reshape(n, oh, ow, kh, kw, channels)
        dxp, s = np.zeros(self.padded_shape), self.stride
        for a in range(kh):  # col2im: patches overlap, so the gradients add up
            for c in range(kw):
                dxp[:, a:a + s * oh:s, c:c + s * ow:s, :] += dcols[:, :, :, a, c, :]
        top, bottom, left, right = self.pads
        dx = np.zeros(self.x_shape)
        rows, columns = dxp.shape[1] - top - max(bottom, 0), dxp.shape[2] - left - max(right, 0)
        dx[:, :rows, :columns] = dxp[:, top:top + rows, left:left + columns]
        return dx


class MaxPool2D(Layer):
    """Keras MaxPooling2D(pool): the maximum of each pool x pool window, stride pool, "valid".

    Rows and columns past the last whole window are dropped. The derivative of
    a maximum is 1 at the winning input and 0 elsewhere, so the backward pass
    sends each window's gradient to its winner; of tied inputs the first in
    row-major order wins, as in TensorFlow.
    """

    def __init__(self, name: str, pool: int = 2):
        super().__init__(name)
        if pool < 1:
            raise ConfigError(f"pool size must be >= 1, got {pool}")
        self.pool = pool

    def forward(self, x, training=False):
        p = self.pool
        n, h, w, c = x.shape
        oh, ow = h // p, w // p
        if oh < 1 or ow < 1:
            raise DataError(f"{self.name}: a {p}x{p} pool does not fit {h}x{w} inputs")
        windows = x[:, :oh * p, :ow * p].reshape(n, oh, p, ow, p, c).transpose(0, 1, 3, 5, 2, 4).reshape(n, oh, ow, c, p * p)
        self.x_shape, self.winner = x.shape, windows.argmax(axis=-1)
        return np.take_along_axis(windows, self.winner[..., None], axis=-1)[..., 0]

    def backward(self, dy):
        p = self.pool
        n, oh, ow, c = dy.shape
        windows = np.zeros((n, oh, ow, c, p * p))
        np.put_along_axis(windows, self.winner[..., None], dy[..., None], axis=-1)
        dx = np.zeros(self.x_shape)
        dx[:, :oh * p, :ow * p] = windows.reshape(n, oh, ow, c, p, p).transpose(0, 1, 4, 2, 5, 3).reshape(n, oh * p, ow * p, c)
        return dx
