"""Scaled dot-product attention, multi-head self-attention and layer normalisation.

Attention (Vaswani et al. 2017), for queries Q (.., T_q, d), keys K (.., T_k, d),
values V (.., T_k, d_v):

    S = Q K^T / sqrt(d)      A = softmax(S) over the keys      O = A V

Backward, given dO:

    dV = A^T dO     dA = dO V^T     dS = A * (dA - rowsum(dA * A))   (softmax's Jacobian)
    dQ = dS K / sqrt(d)             dK = dS^T Q / sqrt(d)

A key mask (False = padding) sets those scores to -1e9 before the softmax:
their weights are exactly 0, so they also get no gradient.
"""

from __future__ import annotations

import numpy as np

from nnkeras.errors import DataError
from nnkeras.scratch.layers import Layer, xavier

MASKED = -1e9  # a large negative score rather than -inf keeps a fully masked row finite (as nnkeras.layers)


def attention_forward(q, k, v, mask=None):
    """(O, A) for Q, K, V with the heads (if any) as leading batch axes; mask broadcasts to S."""
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, MASKED)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    return weights @ v, weights


def attention_backward(d_out, q, k, v, weights):
    """(dQ, dK, dV) of scaled dot-product attention from dL/dO and the forward's A."""
    d_weights = d_out @ np.swapaxes(v, -1, -2)
    d_scores = weights * (d_weights - np.sum(d_weights * weights, axis=-1, keepdims=True))
    d_scores /= np.sqrt(q.shape[-1])
    return d_scores @ k, np.swapaxes(d_scores, -1, -2) @ q, np.swapaxes(weights, -1, -2) @ d_out


class MultiHeadSelfAttention(Layer):
    """Keras MultiHeadAttention(num_heads, key_dim) called as (x, x), weights in its layout.

    Each head h projects the same x (n, T, d) to its own queries, keys and values,

        Q_h = x Wq_h + bq_h    K_h = x Wk_h + bk_h    V_h = x Wv_h + bv_h    (Wq: (d, heads, key_dim))

    attends, and the heads' outputs are projected back and summed:

        y = sum_h attention(Q_h, K_h, V_h) Wo_h + bo                         (Wo: (heads, key_dim, d))

    The backward pass runs attention_backward per head, then each projection's
    Dense-style backward; dL/dx adds the three paths (x fed Q, K and V).
    """

    def __init__(self, name: str, dim: int, num_heads: int, key_dim: int, rng: np.random.Generator | None = None):
        super().__init__(name)
        rng = rng or np.random.default_rng(0)
        h, k = num_heads, key_dim
        self.params = []
        for _ in "qkv":
            self.params += [xavier(dim, h * k, rng, shape=(dim, h, k)), np.zeros((h, k))]
        self.params += [xavier(h * k, dim, rng, shape=(h, k, dim)), np.zeros(dim)]
        self.param_names = [f"{part}/{w}" for part in ("query", "key", "value", "attention_output")
                            for w in ("kernel", "bias")]

    def forward(self, x, training=False, mask=None):
        dim = self.params[0].shape[0]
        if x.ndim != 3 or x.shape[2] != dim:
            raise DataError(f"{self.name}: inputs of shape {x.shape}, expected (n, steps, {dim})")
        # (n, T, d) x (d, heads, k) -> (n, heads, T, k): heads become a batch axis of the attention.
        q, k, v = (np.einsum("ntd,dhk->nhtk", x, w) + b[None, :, None] for w, b in
                   (self.params[0:2], self.params[2:4], self.params[4:6]))
        mask = None if mask is None else mask[:, None, None, :]  # (n, 1, 1, T_k): per key
        out, self.weights = attention_forward(q, k, v, mask)
        self.x, self.qkv, self.heads_out = x, (q, k, v), out
        return np.einsum("nhtk,hkd->ntd", out, self.params[6]) + self.params[7]

    def backward(self, dy):
        q, k, v = self.qkv
        w_out = self.params[6]
        grads = [None] * 6 + [np.einsum("nhtk,ntd->hkd", self.heads_out, dy), dy.sum(axis=(0, 1))]
        d_heads = np.einsum("ntd,hkd->nhtk", dy, w_out)
        dx = np.zeros_like(self.x)
        for i, d in enumerate(attention_backward(d_heads, q, k, v, self.weights)):
            grads[2 * i] = np.einsum("ntd,nhtk->dhk", self.x, d)
            grads[2 * i + 1] = d.sum(axis=(0, 2))
            dx += np.einsum("nhtk,dhk->ntd", d, self.params[2 * i])
        self.grads = grads
        return dx


class LayerNorm(Layer):
    """Keras LayerNormalization(epsilon) over the last axis: each vector normalised on its own.

        mu = mean(x)   var = mean((x - mu)^2)   xhat = (x - mu) / sqrt(var + eps)   y = gamma xhat + beta

    Backward (d features, sums over the last axis), with g = dy * gamma:

        dL/dx = (g - mean(g) - xhat mean(g xhat)) / sqrt(var + eps)
        dL/dgamma = sum over positions of dy * xhat     dL/dbeta = sum of dy

    The two means are the paths through mu and var: every output depends on every input.
    """

    def __init__(self, name: str, dim: int, epsilon: float = 1e-6):
        super().__init__(name)
        self.epsilon = epsilon
        self.params, self.param_names = [np.ones(dim), np.zeros(dim)], ["gamma", "beta"]

    def forward(self, x, training=False):
        mu = x.mean(axis=-1, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
        self.inv_std = 1.0 / np.sqrt(var + self.epsilon)
        self.xhat = (x - mu) * self.inv_std
        return self.params[0] * self.xhat + self.params[1]

    def backward(self, dy):
        axes = tuple(range(dy.ndim - 1))
        self.grads = [(dy * self.xhat).sum(axis=axes), dy.sum(axis=axes)]
        g = dy * self.params[0]
        return self.inv_std * (g - g.mean(axis=-1, keepdims=True)
                               - self.xhat * (g * self.xhat).mean(axis=-1, keepdims=True))
