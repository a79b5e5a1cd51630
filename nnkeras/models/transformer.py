"""A Transformer encoder classifier over token ids, on the project's own attention layer.

    ids -> keep = (ids != 0)                      PaddingMask: id 0 pads (IMDB pads at the front)
    x = E_tok[ids] + E_pos[position]              learned or sinusoidal positions
    blocks: post-norm  h = LN(x + MHA(x)),  y = LN(h + FF(h))
            pre-norm   h = x + MHA(LN(x)),  y = h + FF(LN(h)),  one LN after the last block
    pooled = masked average | [CLS] token | attention pooling, then dropout and logits

With `mask_padding` (the default) no query attends to padding, the pooling
leaves it out, and positions are counted from the first real token: the same
review padded to 200 or to 400 tokens gives the same logits (tests/test_transformer.py).
Counting from index 0 would not do that with front padding: every word's
position would shift by the padding added.
"""

from __future__ import annotations

import keras

from nnkeras.layers import (POSITIONS, AttentionPooling, ClassToken, FirstPosition, MaskedAverage,
                            MultiHeadSelfAttention, PaddingMask, TokenAndPositionEmbedding)
from nnkeras.models.checks import check_token_spec, require

NORMS = ("pre", "post")
POOLINGS = ("average", "cls", "attention")


def _norm(name):
    return keras.layers.LayerNormalization(epsilon=1e-6, name=name)


def transformer_block(x, keep, embed_dim, num_heads, ff_dim, dropout, norm, name):
    """Self-attention and a feed-forward net, each with dropout and a residual; layer norm after
    each residual (post-norm, the 2017 paper) or before each sub-layer (pre-norm)."""
    attention = MultiHeadSelfAttention(num_heads, embed_dim // num_heads, name=f"{name}_attention")
    norm_1, norm_2 = _norm(f"{name}_norm_1"), _norm(f"{name}_norm_2")

    def attend(h):
        return keras.layers.Dropout(dropout, name=f"{name}_attention_dropout")(attention(h, keep=keep))

    def feed_forward(h):
        h = keras.layers.Dense(ff_dim, activation="relu", name=f"{name}_ff_1")(h)
        h = keras.layers.Dense(embed_dim, name=f"{name}_ff_2")(h)
        return keras.layers.Dropout(dropout, name=f"{name}_ff_dropout")(h)

    if norm == "pre":
        x = keras.layers.Add(name=f"{name}_residual_1")([x, attend(norm_1(x))])
        return keras.layers.Add(name=f"{name}_residual_2")([x, feed_forward(norm_2(x))])
    x = norm_1(keras.layers.Add(name=f"{name}_residual_1")([x, attend(x)]))
    return norm_2(keras.layers.Add(name=f"{name}_residual_2")([x, feed_forward(x)]))


def _pool(x, keep, pooling):
    if pooling == "cls":
        return FirstPosition(name="cls_output")(x)
    if pooling == "attention":
        return AttentionPooling(x.shape[-1], name="attention_pooling")(x, keep=keep)
    return MaskedAverage(name="average")(x, keep=keep)


def build_transformer(input_spec, embed_dim=64, num_heads=4, ff_dim=128, num_blocks=1, dropout=0.1, max_len=0,
                      norm="pre", pooling="attention", positions="sinusoidal", mask_padding=True):
    """Token + position embedding -> Transformer blocks -> pooling over positions -> logits.

    max_len: longest sequence the position embedding covers (0 = the dataset's length).
    norm: pre | post. pooling: average | cls | attention. positions: learned | sinusoidal.
    mask_padding: id 0 is padding (no attention to it, left out of the pooling, positions
    counted from the first real token); false: every position counts, numbered from index 0.
    """
    seq_len, vocab, classes = check_token_spec(input_spec, "transformer")
    max_len = max_len or seq_len
    require(seq_len <= max_len, f"sequences of {seq_len} tokens are longer than model.max_len={max_len}; "
                                "raise model.max_len or lower data.seq_len")
    require(embed_dim >= 1 and num_heads >= 1 and embed_dim % num_heads == 0,
            f"model.embed_dim ({embed_dim}) must be a positive multiple of model.num_heads ({num_heads})")
    require(ff_dim >= 1 and num_blocks >= 1, f"model.ff_dim and model.num_blocks must be >= 1, got {ff_dim}, {num_blocks}")
    require(0.0 <= dropout < 1.0, f"model.dropout must be in [0, 1), got {dropout}")
    for key, value, allowed in (("norm", norm, NORMS), ("pooling", pooling, POOLINGS), ("positions", positions, POSITIONS)):
        require(value in allowed, f"model.{key} must be one of {', '.join(allowed)}, got {value!r}")
    require(isinstance(mask_padding, bool), f"model.mask_padding must be true or false, got {mask_padding!r}")
    inputs = keras.Input(shape=(seq_len,), dtype="int32", name="tokens")
    keep = PaddingMask(name="padding_mask")(inputs) if mask_padding else None
    x = TokenAndPositionEmbedding(vocab, max_len, embed_dim, positions=positions, from_first_token=mask_padding,
                                  name="embedding")(inputs)
    if pooling == "cls":
        x = ClassToken(name="cls_token")(x, keep=keep)
        if mask_padding:
            x, keep = x
    for block in range(1, num_blocks + 1):
        x = transformer_block(x, keep, embed_dim, num_heads, ff_dim, dropout, norm, name=f"block{block}")
    if norm == "pre":  # pre-norm leaves the residual stream un-normalised: one norm before the head
        x = _norm("final_norm")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(_pool(x, keep, pooling))
    logits = keras.layers.Dense(classes, name="logits")(x)
    return keras.Model(inputs, logits, name="transformer")
