"""Scratch networks with the architecture of the Keras builders, and copying weights across.

    lenet5       = nnkeras.models.cnn.build_lenet5 (no augmentation)
    rnn          = nnkeras.models.recurrent.build_rnn(cell="simple_rnn" or "lstm", bidirectional=False)
    transformer  = nnkeras.models.transformer.build_transformer(pooling="average", positions="learned",
                   norm="post" or "pre" (norm_first), mask_padding=False or True)

Every layer that holds weights is named like the builder's layer, and keeps
them in that layer's `get_weights()` layout, so `from_keras` and
`nnkeras.scratch.twin.copy_to_keras` are plain copies by name. Fresh weights
come from each layer's own NumPy initialiser; the scratch experiments instead
start from the twin's Keras draw (`from_keras`), so both engines
(train.engine=numpy and keras) begin at the same point.
"""

from __future__ import annotations

import numpy as np

from nnkeras.errors import ConfigError
from nnkeras.scratch.attention import LayerNorm
from nnkeras.scratch.conv import Conv2D, MaxPool2D
from nnkeras.scratch.layers import Dense, Dropout, Flatten
from nnkeras.scratch.network import Network
from nnkeras.scratch.recurrent import LSTM, Embedding, SimpleRNN
from nnkeras.scratch.transformer import TokenAndPositionEmbedding, TransformerBlock, TransformerEncoder

CELLS = {"simple_rnn": SimpleRNN, "lstm": LSTM}


def lenet5(input_shape, num_classes: int, activation: str = "relu", seed: int = 0) -> Network:
    """conv 6@5x5 same -> pool 2 -> conv 16@5x5 valid -> pool 2 -> flatten -> 120 -> 84 -> logits."""
    height, width, channels = input_shape
    rng = np.random.default_rng(seed)
    h, w = ((height // 2) - 4) // 2, ((width // 2) - 4) // 2
    if h < 1 or w < 1:
        raise ConfigError(f"lenet5 needs images of at least 12x12 pixels, got {height}x{width}")
    layers = [Conv2D("conv_1", channels, 6, 5, padding="same", activation=activation, rng=rng), MaxPool2D("pool_1"),
              Conv2D("conv_2", 6, 16, 5, padding="valid", activation=activation, rng=rng), MaxPool2D("pool_2"),
              Flatten("flatten"), Dense("dense_120", h * w * 16, 120, activation, rng),
              Dense("dense_84", 120, 84, activation, rng), Dense("logits", 84, num_classes, rng=rng)]
    return Network(layers, input_shape, num_classes)


def rnn(input_shape, num_classes: int, cell: str = "lstm", units: int = 64, embed_dim: int = 64,
        vocab_size: int | None = None, dropout: float = 0.0, seed: int = 0) -> Network:
    """(Embedding) -> SimpleRNN / LSTM (last state) -> dropout -> logits.

    With `vocab_size` the inputs are token ids (n, steps) through an embedding,
    otherwise float sequences (n, steps, features), such as the adding problem.
    """
    if cell not in CELLS:
        raise ConfigError(f"cell must be one of {', '.join(CELLS)} in nnkeras.scratch, got '{cell}'")
    rng = np.random.default_rng(seed)
    layers = [Embedding("embedding", vocab_size, embed_dim, rng)] if vocab_size else []
    features = embed_dim if vocab_size else input_shape[-1]
    layers += [CELLS[cell](cell, features, units, rng=rng), Dropout("dropout", dropout, seed),
               Dense("logits", units, num_classes, rng=rng)]
    return Network(layers, input_shape, num_classes, vocab_size)


def transformer(seq_len: int, vocab_size: int, num_classes: int, embed_dim: int = 64, num_heads: int = 4,
                ff_dim: int = 128, num_blocks: int = 1, dropout: float = 0.0, max_len: int = 0,
                norm_first: bool = False, mask_padding: bool = False, seed: int = 0) -> Network:
    """Token + position embedding -> Transformer blocks (-> final norm) -> average over positions -> dropout -> logits.

    With mask_padding, id 0 pads and positions count from the first real token (the builder's rule).
    """
    rng = np.random.default_rng(seed)
    embedding = TokenAndPositionEmbedding("embedding", vocab_size, max_len or seq_len, embed_dim, rng,
                                          from_first_token=mask_padding)
    blocks = [TransformerBlock(f"block{b}", embed_dim, num_heads, ff_dim, dropout, norm_first, rng, seed + 2 * b)
              for b in range(1, num_blocks + 1)]
    final_norm = LayerNorm("final_norm", embed_dim) if norm_first else None
    layers = [TransformerEncoder(embedding, blocks, mask_padding, final_norm), Dropout("dropout", dropout, seed),
              Dense("logits", embed_dim, num_classes, rng=rng)]
    return Network(layers, (seq_len,), num_classes, vocab_size)


def from_keras(net: Network, model) -> Network:
    """Set `net`'s weights to the Keras model's (its layers of the same names), as float64."""
    net.set_weights({leaf.name: [np.asarray(w, dtype=np.float64) for w in model.get_layer(leaf.name).get_weights()]
                     for leaf in net.leaves()})
    return net

