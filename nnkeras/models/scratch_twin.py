"""The Keras twins of the scratch networks: the same layers, so weights copy across.

Each builder here is a registry entry (`scratch_mlp`, `scratch_lenet5`,
`scratch_lstm`, `scratch_transformer`) and returns the project's own Keras
builder's network (build_mlp, build_lenet5, build_rnn, build_transformer),
called with every argument explicit: the twin must keep matching the NumPy
network of nnkeras.scratch even when a builder's defaults change. Each takes
only the arguments the NumPy network implements.

With train.engine=auto (or numpy) the trainer hands the experiment to
`nnkeras.scratch.run`, which trains in NumPy and copies the weights into this
twin; with train.engine=keras the ordinary Keras trainer fits the twin itself,
so one experiment group can compare the two engines on the same network.
"""

from __future__ import annotations

from nnkeras.models.checks import require
from nnkeras.models.cnn import build_lenet5
from nnkeras.models.mlp import build_mlp
from nnkeras.models.recurrent import build_rnn
from nnkeras.models.transformer import build_transformer
from nnkeras.scratch import initializers
from nnkeras.scratch.activations import HIDDEN_ACTIVATIONS
from nnkeras.scratch.nets import CELLS


def _require_activation(activation: str, builder: str) -> None:
    require(activation in HIDDEN_ACTIVATIONS,
            f"model.activation must be one of {', '.join(HIDDEN_ACTIVATIONS)} for {builder}, got '{activation}'")


def build_scratch_mlp(input_spec, hidden=(30,), activation="relu", init="xavier"):
    """The NumPy MLP of nnkeras.scratch (softmax output, cross-entropy); train.engine=keras trains its Keras twin."""
    _require_activation(activation, "scratch_mlp")
    require(init in initializers.INITS, f"model.init must be one of {', '.join(initializers.INITS)}, got '{init}'")
    model = build_mlp(input_spec, hidden=hidden, activation=activation, dropout=0.0, l2=0.0, batch_norm=False,
                      rotation=0.0, shift=0.0, flip=False)
    initializer = initializers.keras_initializer(init)
    for layer in dense_layers(model):
        layer.kernel.assign(initializer(layer.kernel.shape, dtype=layer.kernel.dtype))
    return model


def build_scratch_lenet5(input_spec, activation="relu"):
    """LeNet-5 in NumPy (im2col convolution, max-pooling, backprop); train.engine=keras trains its Keras twin."""
    _require_activation(activation, "scratch_lenet5")
    return build_lenet5(input_spec, activation=activation, rotation=0.0, shift=0.0, flip=False)


def build_scratch_lstm(input_spec, cell="lstm", units=64, embed_dim=64, dropout=0.0, unroll=True):
    """An LSTM (or SimpleRNN) in NumPy with backpropagation through time; train.engine=keras trains its Keras twin.

    unroll: the twin's cell copied per time step (no effect on the NumPy side). On by default: the
    twin is there to be converted and served, and only an unrolled cell converts to builtin TFLite ops.
    """
    require(cell in CELLS, f"model.cell must be one of {', '.join(CELLS)} for scratch_lstm, got '{cell}'")
    return build_rnn(input_spec, cell=cell, units=units, embed_dim=embed_dim, bidirectional=False,
                     dropout=dropout, unroll=unroll)


def build_scratch_transformer(input_spec, embed_dim=64, num_heads=4, ff_dim=128, num_blocks=1, dropout=0.1,
                              max_len=0, norm="post", mask_padding=False):
    """A Transformer encoder in NumPy (attention, layer norm, backprop); train.engine=keras trains its Keras twin.

    norm: post (the 2017 block) | pre. mask_padding: id 0 pads (not attended to, not pooled,
    positions counted from the first real token). The NumPy encoder (nnkeras.scratch.transformer)
    pools by average over learned positions: those two builder arguments are fixed here.
    """
    return build_transformer(input_spec, embed_dim=embed_dim, num_heads=num_heads, ff_dim=ff_dim,
                             num_blocks=num_blocks, dropout=dropout, max_len=max_len, norm=norm,
                             pooling="average", positions="learned", mask_padding=mask_padding)


def dense_layers(model) -> list:
    """The MLP twin's Dense layers, input side first: dense_1, dense_2, ..., logits."""
    return [layer for layer in model.layers if layer.name.startswith("dense_") or layer.name == "logits"]
