"""The Transformer encoder of `nnkeras.models.transformer`, in NumPy: embedding, blocks, pooling.

    x_0 = E_tok[ids] + E_pos[p]                           token + learned position embedding
    post-norm block:  h = LN_1(x + MHA(x))      y = LN_2(h + FF(h))
    pre-norm block:   h = x + MHA(LN_1(x))      y = h + FF(LN_2(h)),   one LN_final after the last block
    FF(h) = relu(h W_1 + b_1) W_2 + b_2
    pooled = mean over the T positions (over the non-padding ones with a padding mask)

A residual y = x + F(x) has dL/dx = dy + dF(dy): the identity path passes the
gradient down unchanged, which is why deep stacks of blocks still train.
With `mask_padding`, token id 0 is padding: no query attends to it, the
average leaves it out, and positions p are counted from the first real token
(p_t = max(t - first, 0)), so front padding does not shift them; without it
p_t = t.
"""

from __future__ import annotations

import numpy as np

from nnkeras.errors import DataError
from nnkeras.scratch.attention import LayerNorm, MultiHeadSelfAttention
from nnkeras.scratch.layers import Dense, Dropout, Layer


class TokenAndPositionEmbedding(Layer):
    """nnkeras.layers.TokenAndPositionEmbedding (learned positions): y[n, t] = E_tok[ids[n, t]] + E_pos[p[n, t]].

    p[n, t] = t, or with `from_first_token` max(t - first_n, 0) where first_n is the index of
    sequence n's first non-zero id (0 for a sequence of padding only, as argmax gives).
    dL/dE_tok[v] sums dy over the places holding token v; dL/dE_pos[p] over the places at position p.
    """

    def __init__(self, name: str, vocab_size: int, max_len: int, dim: int, rng: np.random.Generator | None = None,
                 from_first_token: bool = False):
        super().__init__(name)
        rng = rng or np.random.default_rng(0)
        self.params = [rng.uniform(-0.05, 0.05, size=(vocab_size, dim)), rng.uniform(-0.05, 0.05, size=(max_len, dim))]
        self.param_names = ["tokens/embeddings", "positions/embeddings"]
        self.from_first_token = from_first_token

    def position_ids(self, ids) -> np.ndarray:
        index = np.broadcast_to(np.arange(ids.shape[1]), ids.shape)
        if not self.from_first_token:
            return index
        first = (ids != 0).argmax(axis=1)
        return np.maximum(index - first[:, None], 0)

    def forward(self, ids, training=False):
        if ids.shape[1] > len(self.params[1]):
            raise DataError(f"{self.name}: sequences of {ids.shape[1]} tokens, positions cover {len(self.params[1])}")
        self.ids, self.where = ids, self.position_ids(ids)
        return self.params[0][ids] + self.params[1][self.where]

    def backward(self, dy):
        tokens, positions = np.zeros_like(self.params[0]), np.zeros_like(self.params[1])
        np.add.at(tokens, self.ids, dy)
        np.add.at(positions, self.where, dy)
        self.grads = [tokens, positions]
        return None


class GlobalAveragePooling1D(Layer):
    """y = sum_t m_t x_t / sum_t m_t (m = 1 everywhere without a mask); dL/dx_t = m_t dy / sum m."""

    def forward(self, x, training=False, mask=None):
        self.weights = np.ones(x.shape[:2]) if mask is None else mask.astype(np.float64)
        self.weights = self.weights / np.maximum(self.weights.sum(axis=1, keepdims=True), 1.0)
        return np.einsum("nt,ntd->nd", self.weights, x)

    def backward(self, dy):
        return self.weights[:, :, None] * dy[:, None, :]


class TransformerBlock(Layer):
    """Self-attention and a feed-forward net, each with dropout and a residual; layer norm post or pre.

    Its parts carry the names of the Keras builder's layers: {name}_attention,
    {name}_norm_1, {name}_ff_1, {name}_ff_2, {name}_norm_2.
    """

    def __init__(self, name: str, dim: int, num_heads: int, ff_dim: int, dropout: float = 0.0,
                 norm_first: bool = False, rng: np.random.Generator | None = None, seed: int = 0):
        super().__init__(name)
        if dim % num_heads:
            raise DataError(f"{name}: embedding size {dim} is not a multiple of {num_heads} heads")
        self.norm_first = norm_first
        self.attention = MultiHeadSelfAttention(f"{name}_attention", dim, num_heads, dim // num_heads, rng)
        self.attention_dropout = Dropout(f"{name}_attention_dropout", dropout, seed)
        self.norm_1 = LayerNorm(f"{name}_norm_1", dim)
        self.ff_1 = Dense(f"{name}_ff_1", dim, ff_dim, "relu", rng)
        self.ff_2 = Dense(f"{name}_ff_2", ff_dim, dim, "linear", rng)
        self.ff_dropout = Dropout(f"{name}_ff_dropout", dropout, seed + 1)
        self.norm_2 = LayerNorm(f"{name}_norm_2", dim)
        # Keras's weight order (the dropouts hold none, so `leaves` skips them)
        self.parts = [self.attention, self.attention_dropout, self.norm_1, self.ff_1, self.ff_2, self.ff_dropout,
                      self.norm_2]

    def _attend(self, x, training, mask):
        return self.attention_dropout.forward(self.attention.forward(x, training, mask), training)

    def _feed_forward(self, x, training):
        return self.ff_dropout.forward(self.ff_2.forward(self.ff_1.forward(x, training), training), training)

    def _attend_back(self, dy):
        return self.attention.backward(self.attention_dropout.backward(dy))

    def _feed_forward_back(self, dy):
        return self.ff_1.backward(self.ff_2.backward(self.ff_dropout.backward(dy)))

    def forward(self, x, training=False, mask=None):
        if self.norm_first:
            h = x + self._attend(self.norm_1.forward(x, training), training, mask)
            return h + self._feed_forward(self.norm_2.forward(h, training), training)
        h = self.norm_1.forward(x + self._attend(x, training, mask), training)
        return self.norm_2.forward(h + self._feed_forward(h, training), training)

    def backward(self, dy):
        if self.norm_first:
            dh = dy + self.norm_2.backward(self._feed_forward_back(dy))
            return dh + self.norm_1.backward(self._attend_back(dh))
        dh = self.norm_2.backward(dy)
        dh = dh + self._feed_forward_back(dh)
        dx = self.norm_1.backward(dh)
        return dx + self._attend_back(dx)


class TransformerEncoder(Layer):
    """Embedding -> blocks (-> final layer norm) -> average over positions: token ids (n, T) in, (n, dim) out.

    It holds the padding mask (ids != 0, with `mask_padding`) and hands it to
    the attention and the pooling, which is why it is one layer of the network.
    Pre-norm blocks leave the residual stream un-normalised: `final_norm` is the
    one layer norm before the pooling.
    """

    def __init__(self, embedding: TokenAndPositionEmbedding, blocks: list[TransformerBlock],
                 mask_padding: bool = False, final_norm: LayerNorm | None = None):
        super().__init__("encoder")
        self.embedding, self.blocks, self.mask_padding = embedding, list(blocks), mask_padding
        self.final_norm = final_norm or Layer("no_final_norm")  # the identity
        self.pooling = GlobalAveragePooling1D("average")
        self.parts = [embedding, *self.blocks, self.final_norm]

    def forward(self, ids, training=False):
        mask = ids != 0 if self.mask_padding else None
        x = self.embedding.forward(ids, training)
        for block in self.blocks:
            x = block.forward(x, training, mask)
        return self.pooling.forward(self.final_norm.forward(x, training), training, mask)

    def backward(self, dy):
        dx = self.final_norm.backward(self.pooling.backward(dy))
        for block in reversed(self.blocks):
            dx = block.backward(dx)
        return self.embedding.backward(dx)
