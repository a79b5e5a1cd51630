"""Custom layers and losses, each registered so every model reloads from `model.keras`.

- `scaled_dot_product_attention`: the Transformer formula, written out.
- `TokenAndPositionEmbedding`: token embedding plus a learned position embedding.
- `AttentionPooling`: a learned weighted average over time steps (the sentiment model's attention).
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
    scores = ops.matmul(query, ops.swapaxes(key, -1, -2)) / math.sqrt(d_k)
    if mask is not None:
        # A large negative score (not -inf) keeps fully masked rows finite.
        scores = ops.where(ops.cast(mask, "bool"), scores, ops.full_like(scores, -1e9))
    weights = ops.softmax(scores, axis=-1)
    return ops.matmul(weights, value), weights


@keras.saving.register_keras_serializable(package=PACKAGE)
class TokenAndPositionEmbedding(keras.layers.Layer):
    """Token ids (batch, seq) -> token embedding + embedding of the position 0..seq-1."""

    def __init__(self, vocab_size: int, max_len: int, embed_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.max_len, self.embed_dim = vocab_size, max_len, embed_dim
        self.tokens = keras.layers.Embedding(vocab_size, embed_dim, name="tokens")
        self.positions = keras.layers.Embedding(max_len, embed_dim, name="positions")

    def build(self, input_shape):
        self.tokens.build(input_shape)
        self.positions.build((input_shape[-1],))

    def call(self, ids):
        positions = ops.arange(0, ops.shape(ids)[-1], dtype="int32")
        return self.tokens(ids) + self.positions(positions)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "max_len": self.max_len,
                "embed_dim": self.embed_dim}


@keras.saving.register_keras_serializable(package=PACKAGE)
class AttentionPooling(keras.layers.Layer):
    """Weighted average of a sequence: score_t = v . tanh(W h_t + b), weights = softmax over t."""

    def __init__(self, units: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        features = input_shape[-1]
        self.w = self.add_weight(name="w", shape=(features, self.units), initializer="glorot_uniform")
        self.b = self.add_weight(name="b", shape=(self.units,), initializer="zeros")
        self.v = self.add_weight(name="v", shape=(self.units, 1), initializer="glorot_uniform")

    def call(self, sequence):
        scores = ops.matmul(ops.tanh(ops.matmul(sequence, self.w) + self.b), self.v)  # (batch, time, 1)
        weights = ops.softmax(scores, axis=1)
        return ops.sum(weights * sequence, axis=1)

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
