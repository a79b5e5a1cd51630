"""A Transformer encoder classifier over token ids."""

from __future__ import annotations

import keras

from nnkeras.layers import TokenAndPositionEmbedding
from nnkeras.models.checks import check_token_spec, require


def transformer_block(x, embed_dim, num_heads, ff_dim, dropout, name):
    """Self-attention and a feed-forward net, each with dropout, a residual and layer norm (post-norm)."""
    attention = keras.layers.MultiHeadAttention(num_heads, embed_dim // num_heads, name=f"{name}_attention")(x, x)
    attention = keras.layers.Dropout(dropout, name=f"{name}_attention_dropout")(attention)
    x = keras.layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm_1")(
        keras.layers.Add(name=f"{name}_residual_1")([x, attention]))
    ff = keras.layers.Dense(ff_dim, activation="relu", name=f"{name}_ff_1")(x)
    ff = keras.layers.Dense(embed_dim, name=f"{name}_ff_2")(ff)
    ff = keras.layers.Dropout(dropout, name=f"{name}_ff_dropout")(ff)
    return keras.layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm_2")(
        keras.layers.Add(name=f"{name}_residual_2")([x, ff]))


def build_transformer(input_spec, embed_dim=64, num_heads=4, ff_dim=128, num_blocks=1, dropout=0.1, max_len=0):
    """Token + position embedding -> Transformer blocks -> average over time -> logits.

    max_len: longest sequence the position embedding covers (0 = the dataset's length).
    """
    seq_len, vocab, classes = check_token_spec(input_spec, "transformer")
    max_len = max_len or seq_len
    require(seq_len <= max_len, f"sequences of {seq_len} tokens are longer than model.max_len={max_len}; "
                                "raise model.max_len or lower data.seq_len")
    require(embed_dim >= 1 and num_heads >= 1 and embed_dim % num_heads == 0,
            f"model.embed_dim ({embed_dim}) must be a positive multiple of model.num_heads ({num_heads})")
    require(ff_dim >= 1 and num_blocks >= 1, f"model.ff_dim and model.num_blocks must be >= 1, got {ff_dim}, {num_blocks}")
    require(0.0 <= dropout < 1.0, f"model.dropout must be in [0, 1), got {dropout}")
    inputs = keras.Input(shape=(seq_len,), dtype="int32", name="tokens")
    x = TokenAndPositionEmbedding(vocab, max_len, embed_dim, name="embedding")(inputs)
    for block in range(1, num_blocks + 1):
        x = transformer_block(x, embed_dim, num_heads, ff_dim, dropout, name=f"block{block}")
    x = keras.layers.GlobalAveragePooling1D(name="average")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    logits = keras.layers.Dense(classes, name="logits")(x)
    return keras.Model(inputs, logits, name="transformer")
