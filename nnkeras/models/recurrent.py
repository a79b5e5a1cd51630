"""Recurrent classifiers over sequences: SimpleRNN / LSTM / GRU, and LSTM with attention.

Inputs are token ids (through an embedding) or float sequences of shape
(steps, features), such as the adding problem. Token sequences are padded
at the front (Keras's `pad_sequences` default), so the last time step always
holds a real token: `build_rnn`, which reads only the last state, needs no mask.
`build_lstm_attention` pools over EVERY step, so with `mask_padding` (the default)
id 0 is padding: the LSTM reads the words as if there were none (MovePadding) and the
pooling leaves the padded steps out, so the same review padded to 200 or to 400 tokens gives
the same logits (tests/test_models.py).
`unroll=True` replaces the recurrent loop by one copy of the cell per time
step: longer to build, but it exports to TFLite with builtin ops only.
"""

from __future__ import annotations

import keras

from nnkeras.layers import AttentionPooling, MovePadding, PaddingMask, ReverseTime
from nnkeras.models.checks import check_size, check_spec, check_token_spec, require

CELLS = {"simple_rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}  # weight blocks per cell, for the size check


def _check(units, embed_dim, dropout, cell="lstm"):
    require(cell in CELLS, f"model.cell must be one of {', '.join(CELLS)}, got '{cell}'")
    require(isinstance(units, int) and units >= 1, f"model.units must be a positive integer, got {units}")
    require(isinstance(embed_dim, int) and embed_dim >= 1, f"model.embed_dim must be a positive integer, got {embed_dim}")
    require(0.0 <= dropout < 1.0, f"model.dropout must be in [0, 1), got {dropout}")


def _check_size(input_spec, builder, cell, units, embed_dim, bidirectional, attention_units=0):
    """Refuse sizes that cannot fit (checks.check_size) before the embedding or a cell allocates them."""
    tokens = not _float_sequences(input_spec)
    shape, _ = check_spec(input_spec) if not tokens else (check_token_spec(input_spec, builder)[:1], None)
    vocab = input_spec.vocab_size if tokens else 0
    features, directions = (embed_dim if tokens else shape[-1]), 2 if bidirectional else 1
    params = (vocab * embed_dim if tokens else 0) + directions * GATES[cell] * units * (units + features + 1)
    params += attention_units * (directions * units + 1) + directions * units * input_spec.num_classes
    check_size(builder, params, shape[0] * max(features, directions * units, attention_units))


def _float_sequences(input_spec) -> bool:
    shape = tuple(getattr(input_spec, "input_shape", ()))
    return getattr(input_spec, "input_dtype", "float32") == "float32" and len(shape) == 2


def _sequence_inputs(input_spec, builder, embed_dim):
    """Token ids go through an embedding; float sequences (steps, features) go in as they are."""
    if _float_sequences(input_spec):
        inputs = keras.Input(shape=check_spec(input_spec)[0], name="sequence")
        return inputs, inputs
    seq_len, vocab, _ = check_token_spec(input_spec, builder)
    inputs = keras.Input(shape=(seq_len,), dtype="int32", name="tokens")
    return inputs, keras.layers.Embedding(vocab, embed_dim, name="embedding")(inputs)


def build_rnn(input_spec, cell="lstm", units=64, embed_dim=64, bidirectional=False, dropout=0.0, unroll=False):
    """(Embedding) -> SimpleRNN / LSTM / GRU (optionally bidirectional) -> dropout -> logits."""
    _check(units, embed_dim, dropout, cell)
    _check_size(input_spec, cell, cell, units, embed_dim, bidirectional)
    inputs, x = _sequence_inputs(input_spec, cell, embed_dim)
    recurrent = CELLS[cell](units, unroll=unroll, name=cell)
    x = keras.layers.Bidirectional(recurrent, name=f"bidirectional_{cell}")(x) if bidirectional else recurrent(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    logits = keras.layers.Dense(input_spec.num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name=f"{'bi' if bidirectional else ''}{cell}")


def _lstm_over_every_step(x, keep, units, bidirectional, unroll):
    """(Bi)LSTM outputs at every step. With `keep`, the padding (at the front) is skipped:
    the forward LSTM reads each review rolled so its words come first (MovePadding),
    the backward one reads the words first anyway (it starts at the end); outputs at
    padded steps are left for the pooling to drop."""
    def lstm(name, backwards=False):
        return keras.layers.LSTM(units, return_sequences=True, go_backwards=backwards, unroll=unroll, name=name)

    if keep is None:
        return keras.layers.Bidirectional(lstm("lstm"), name="bidirectional_lstm")(x) if bidirectional else lstm("lstm")(x)
    forward = MovePadding(to="front", name="padding_to_front")(lstm("forward_lstm")(
        MovePadding(to="end", name="padding_to_end")(x, keep=keep)), keep=keep)
    if not bidirectional:
        return forward
    backward = ReverseTime(name="backward_in_order")(lstm("backward_lstm", backwards=True)(x))
    return keras.layers.Concatenate(name="bidirectional_lstm")([forward, backward])


def build_lstm_attention(input_spec, units=64, embed_dim=64, attention_units=64, bidirectional=True,
                         dropout=0.2, unroll=False, mask_padding=True):
    """Embedding -> (Bi)LSTM over every step -> attention pooling -> dropout -> logits.

    mask_padding: token id 0 is padding, skipped by the LSTM and left out of the pooling
    (token inputs only; float sequences have no padding id).
    """
    _check(units, embed_dim, dropout)
    require(isinstance(attention_units, int) and attention_units >= 1,
            f"model.attention_units must be a positive integer, got {attention_units}")
    require(isinstance(mask_padding, bool), f"model.mask_padding must be true or false, got {mask_padding!r}")
    _check_size(input_spec, "lstm_attention", "lstm", units, embed_dim, bidirectional, attention_units)
    inputs, x = _sequence_inputs(input_spec, "lstm_attention", embed_dim)
    keep = PaddingMask(name="padding_mask")(inputs) if mask_padding and not _float_sequences(input_spec) else None
    x = _lstm_over_every_step(x, keep, units, bidirectional, unroll)
    x = AttentionPooling(attention_units, name="attention_pooling")(x, keep=keep)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    logits = keras.layers.Dense(input_spec.num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name="lstm_attention")
