"""Custom layers and losses, each registered so every model reloads from `model.keras`.

- `scaled_dot_product_attention`: the Transformer formula, written out.
- `MultiHeadSelfAttention`: that formula per head, between Q, K, V projections and an output projection.
- `PaddingMask`: 1 for real tokens, 0 for the padding id; attention and pooling take it as `keep`.
- `MovePadding`, `ReverseTime`: what an LSTM over front-padded reviews needs to skip the padding.
- `TokenAndPositionEmbedding`: token embedding plus a learned or sinusoidal position embedding.
- `ClassToken`, `FirstPosition`, `MaskedAverage`, `AttentionPooling`: ways to pool a sequence
  into one vector ([CLS] token, average, learned weighted average).
- `CosineLogits` and `ArcFaceLoss`: the additive-angular-margin (ArcFace) head.
"""

from __future__ import annotations

import math

import keras
from keras import ops

PACKAGE = "nnkeras"


def scaled_dot_product_attention(query, key, value, mask=None):
    """softmax(Q K^T / sqrt(d_k)) V.

    query: (..., n_q, d_k), key: (..., n_k, d_k), value: (..., n_k, d_v);
    mask: broadcastable to (..., n_q, n_k), 1 where attention is allowed.
    Returns (output (..., n_q, d_v), weights (..., n_q, n_k)).
    """
    d_k = ops.shape(query)[-1]
    # Q/sqrt(d_k) before the product, not the (n_q x n_k) scores after it: the same numbers
    # (as Keras's MultiHeadAttention does it), one pass over a tensor n_k/d_k times smaller.
    scores = ops.matmul(query / math.sqrt(d_k), ops.swapaxes(key, -1, -2))
    if mask is not None:
        # A large negative score (not -inf) keeps fully masked rows finite. Added, it broadcasts
        # from the mask's shape (batch, 1, 1, n_k); a select would build a full (.., n_q, n_k) tensor
        # of -1e9 and another of zeros for its gradient, at every step.
        scores = scores + (1.0 - ops.cast(mask, scores.dtype)) * -1e9
    weights = ops.softmax(scores, axis=-1)
    return ops.matmul(weights, value), weights


def _key_mask(keep):
    """(batch, n_k) keep flags -> (batch, 1, 1, n_k): the same keys for every head and query."""
    return ops.expand_dims(ops.expand_dims(keep, 1), 1)


@keras.saving.register_keras_serializable(package=PACKAGE)
class MultiHeadSelfAttention(keras.layers.Layer):
    """Multi-head self-attention written with `scaled_dot_product_attention`.

    For each head h: Q_h = x W_q[h] + b_q[h] (and K_h, V_h alike), head_h =
    softmax(Q_h K_h^T / sqrt(key_dim)) V_h; the output is sum_h head_h W_o[h] + b_o.
    The weights have the shapes and order of keras.layers.MultiHeadAttention(num_heads,
    key_dim) (query, key, value kernels (dim, heads, key_dim) and biases, output kernel
    (heads, key_dim, dim) and bias), so `set_weights(mha.get_weights())` makes the two
    equal. `keep` (batch, n), 1 for real tokens: no query attends to a key with keep 0.
    """

    def __init__(self, num_heads: int, key_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.num_heads, self.key_dim = num_heads, key_dim

    def build(self, input_shape):
        dim, heads, k = input_shape[-1], self.num_heads, self.key_dim
        for part in ("query", "key", "value"):
            setattr(self, f"{part}_kernel", self.add_weight(name=f"{part}_kernel", shape=(dim, heads, k),
                                                            initializer="glorot_uniform"))
            setattr(self, f"{part}_bias", self.add_weight(name=f"{part}_bias", shape=(heads, k), initializer="zeros"))
        self.output_kernel = self.add_weight(name="output_kernel", shape=(heads, k, dim), initializer="glorot_uniform")
        self.output_bias = self.add_weight(name="output_bias", shape=(dim,), initializer="zeros")

    def _split_heads(self, x, kernel, bias):
        """(batch, n, dim) -> (batch, heads, n, key_dim): one projection for all heads, then split."""
        heads, k = self.num_heads, self.key_dim
        projected = ops.matmul(x, ops.reshape(kernel, (-1, heads * k))) + ops.reshape(bias, (heads * k,))
        return ops.transpose(ops.reshape(projected, (-1, ops.shape(x)[1], heads, k)), (0, 2, 1, 3))

    def call(self, x, keep=None):
        q, k, v = (self._split_heads(x, getattr(self, f"{part}_kernel"), getattr(self, f"{part}_bias"))
                   for part in ("query", "key", "value"))
        heads, _ = scaled_dot_product_attention(q, k, v, None if keep is None else _key_mask(keep))
        joined = ops.reshape(ops.transpose(heads, (0, 2, 1, 3)), (-1, ops.shape(x)[1], self.num_heads * self.key_dim))
        return ops.matmul(joined, ops.reshape(self.output_kernel, (self.num_heads * self.key_dim, -1))) + self.output_bias

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim}


@keras.saving.register_keras_serializable(package=PACKAGE)
class PaddingMask(keras.layers.Layer):
    """Token ids (batch, n) -> keep (batch, n) as floats: 1 for a real token, 0 for `padding_id`."""

    def __init__(self, padding_id: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.padding_id = padding_id

    def call(self, ids):
        return ops.cast(ops.not_equal(ids, self.padding_id), self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "padding_id": self.padding_id}


@keras.saving.register_keras_serializable(package=PACKAGE)
class MovePadding(keras.layers.Layer):
    """Rolls each sequence (batch, t, ...) along time so its front padding moves to the end
    (`to="end"`), or back to the front (`to="front"`); `keep` (batch, t) is 1 for real tokens.

    A forward LSTM that reads a front-padded review reads the padding first, and its
    state has moved before the first word; rolled, it reads the words first, from a zero
    state, as if there were no padding. Two gathers: far cheaper than a masked LSTM,
    which selects its state at every step (1.65x the epoch, measured at 200 tokens).
    """

    def __init__(self, to: str = "end", **kwargs):
        super().__init__(**kwargs)
        if to not in ("end", "front"):
            raise ValueError(f"to must be 'end' or 'front', got {to!r}")
        self.to = to

    def call(self, x, keep):
        steps = ops.shape(x)[1]
        padding = steps - ops.cast(ops.sum(ops.cast(keep, "int32"), axis=1), "int32")  # (batch,)
        shift = padding if self.to == "end" else -padding
        index = ops.mod(ops.arange(steps, dtype="int32")[None, :] + shift[:, None], steps)  # (batch, t)
        index = ops.broadcast_to(ops.reshape(index, (*ops.shape(index), *[1] * (len(x.shape) - 2))), ops.shape(x))
        return ops.take_along_axis(x, index, axis=1)

    def get_config(self):
        return {**super().get_config(), "to": self.to}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ReverseTime(keras.layers.Layer):
    """(batch, t, ...) -> the same with time reversed (a go_backwards LSTM's outputs back in order)."""

    def call(self, x):
        return ops.flip(x, axis=1)


def sinusoidal_table(length: int, dim: int):
    """Vaswani et al.'s positions: row p = sin(p / 10000^(2i/dim)) in even, cos in odd columns."""
    import numpy as np

    position = np.arange(length)[:, None]
    rate = 1.0 / np.power(10000.0, (2 * (np.arange(dim) // 2)) / dim)
    angles = position * rate[None, :]
    return np.where(np.arange(dim) % 2 == 0, np.sin(angles), np.cos(angles)).astype("float32")


POSITIONS = ("learned", "sinusoidal")


@keras.saving.register_keras_serializable(package=PACKAGE)
class TokenAndPositionEmbedding(keras.layers.Layer):
    """Token ids (batch, seq) -> token embedding + embedding of each token's position.

    positions: "learned" (a trained table of max_len rows) or "sinusoidal" (a fixed table).
    from_first_token: count positions from the sequence's first non-padding token (id 0
    pads), not from index 0. Sequences padded at the front (IMDB) then give their words
    the same positions whatever the padded length; padding itself gets position 0.
    """

    def __init__(self, vocab_size: int, max_len: int, embed_dim: int, positions: str = "learned",
                 from_first_token: bool = False, **kwargs):
        super().__init__(**kwargs)
        if positions not in POSITIONS:
            raise ValueError(f"positions must be one of {', '.join(POSITIONS)}, got {positions!r}")
        self.vocab_size, self.max_len, self.embed_dim = vocab_size, max_len, embed_dim
        self.position_kind, self.from_first_token = positions, from_first_token
        self.tokens = keras.layers.Embedding(vocab_size, embed_dim, name="tokens")
        if positions == "learned":
            self.positions = keras.layers.Embedding(max_len, embed_dim, name="positions")
        else:
            self.table = sinusoidal_table(max_len, embed_dim)

    def build(self, input_shape):
        self.tokens.build(input_shape)
        if self.position_kind == "learned":
            self.positions.build((input_shape[-1],))

    def position_ids(self, ids):
        """(seq,) 0..seq-1, or (batch, seq) counted from each sequence's first real token."""
        index = ops.arange(0, ops.shape(ids)[-1], dtype="int32")
        if not self.from_first_token:
            return index
        first = ops.cast(ops.argmax(ops.cast(ops.not_equal(ids, 0), "int32"), axis=-1), "int32")
        return ops.relu(ops.expand_dims(index, 0) - ops.expand_dims(first, 1))

    def call(self, ids):
        where = self.position_ids(ids)
        if self.position_kind == "learned":
            return self.tokens(ids) + self.positions(where)
        return self.tokens(ids) + ops.cast(ops.take(ops.convert_to_tensor(self.table), where, axis=0),
                                           self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "max_len": self.max_len,
                "embed_dim": self.embed_dim, "positions": self.position_kind,
                "from_first_token": self.from_first_token}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ClassToken(keras.layers.Layer):
    """Prepends a learned [CLS] vector to the sequence (and a 1 to `keep`): after the blocks,
    its output (`FirstPosition`) is the sequence's summary, gathered by attention."""

    def build(self, input_shape):
        self.vector = self.add_weight(name="vector", shape=(input_shape[-1],), initializer="zeros")

    def call(self, x, keep=None):
        batch = ops.shape(x)[0]
        cls = ops.broadcast_to(ops.cast(self.vector, x.dtype)[None, None, :], (batch, 1, ops.shape(x)[-1]))
        x = ops.concatenate([cls, x], axis=1)
        if keep is None:
            return x
        return x, ops.concatenate([ops.ones((batch, 1), dtype=keep.dtype), keep], axis=1)


@keras.saving.register_keras_serializable(package=PACKAGE)
class FirstPosition(keras.layers.Layer):
    """(batch, n, dim) -> (batch, dim): the vector at position 0 (the [CLS] token's)."""

    def call(self, x):
        return x[:, 0, :]


@keras.saving.register_keras_serializable(package=PACKAGE)
class MaskedAverage(keras.layers.Layer):
    """Mean over the positions with keep 1 (all positions without `keep`)."""

    def call(self, x, keep=None):
        if keep is None:
            return ops.mean(x, axis=1)
        weights = ops.expand_dims(ops.cast(keep, x.dtype), -1)
        # An all-padding sequence averages nothing: 0, not 0/0.
        return ops.sum(x * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)


@keras.saving.register_keras_serializable(package=PACKAGE)
class AttentionPooling(keras.layers.Layer):
    """Weighted average of a sequence: score_t = v . tanh(W h_t + b), weights = softmax over t.

    With `keep` (batch, t), positions with keep 0 get weight 0. A Keras mask arriving
    from an earlier layer (a masked LSTM's) is taken as `keep`; the pooled vector has
    no time axis left to mask, so no mask goes on.
    """

    def __init__(self, units: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        features = input_shape[-1]
        self.w = self.add_weight(name="w", shape=(features, self.units), initializer="glorot_uniform")
        self.b = self.add_weight(name="b", shape=(self.units,), initializer="zeros")
        self.v = self.add_weight(name="v", shape=(self.units, 1), initializer="glorot_uniform")

    def call(self, sequence, keep=None, mask=None):
        keep = mask if keep is None else keep
        scores = ops.matmul(ops.tanh(ops.matmul(sequence, self.w) + self.b), self.v)  # (batch, time, 1)
        if keep is not None:
            scores = ops.where(ops.expand_dims(ops.cast(keep, "bool"), -1), scores, ops.full_like(scores, -1e9))
        weights = ops.softmax(scores, axis=1)
        return ops.sum(weights * sequence, axis=1)

    def compute_mask(self, sequence, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package=PACKAGE)
class CosineLogits(keras.layers.Layer):
    """scale * cos(angle between the L2-normalised embedding and each class centre).

    The output is a plain logit at inference; `ArcFaceLoss` adds the angular
    margin to the true class during training only.
    """

    def __init__(self, num_classes: int, scale: float = 30.0, **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.scale = num_classes, scale

    def build(self, input_shape):
        self.centres = self.add_weight(name="centres", shape=(input_shape[-1], self.num_classes),
                                       initializer="glorot_uniform")

    def call(self, embeddings):
        embeddings = ops.normalize(embeddings, axis=-1)
        centres = ops.normalize(self.centres, axis=0)
        return self.scale * ops.matmul(embeddings, centres)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "scale": self.scale}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ArcFaceLoss(keras.losses.Loss):
    """Additive angular margin loss (Deng et al., 2019) on `CosineLogits` outputs.

    For the true class the cosine cos(t) becomes cos(t + margin), then the
    usual softmax cross-entropy: same-class embeddings are pulled within a
    tighter angle than plain softmax asks for.
    """

    def __init__(self, scale: float = 30.0, margin: float = 0.5, name="arcface_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.scale, self.margin = scale, margin

    def call(self, y_true, y_pred):
        cosine = ops.clip(y_pred / self.scale, -1.0 + 1e-7, 1.0 - 1e-7)
        angle = ops.arccos(cosine)
        true_class = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), ops.shape(y_pred)[-1])
        # Past pi - margin, adding the margin would increase the cosine again: clamp.
        with_margin = ops.cos(ops.minimum(angle + self.margin, math.pi))
        logits = self.scale * ops.where(true_class > 0, with_margin, cosine)
        return keras.losses.categorical_crossentropy(true_class, logits, from_logits=True)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "margin": self.margin}
