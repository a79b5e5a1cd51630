"""The Keras twins of the scratch networks: the same layers, so weights copy across.

`build_scratch_mlp` is the registry's `scratch_mlp` builder: it returns
`build_mlp`'s network (Flatten, Dense + activation per hidden layer, Dense
logits), with kernels drawn from the Keras initializer that matches the
scratch `init`. With train.engine=auto (or numpy) the trainer hands the
experiment to `nnkeras.scratch.run`, which trains in NumPy and copies the
weights into this twin; with train.engine=keras the ordinary Keras trainer
fits the twin itself, so one experiment group can compare the two engines on
the same network and initialisation.
"""

from __future__ import annotations

from nnkeras.models.checks import require
from nnkeras.models.mlp import build_mlp
from nnkeras.scratch import initializers
from nnkeras.scratch.activations import HIDDEN_ACTIVATIONS


def build_scratch_mlp(input_spec, hidden=(30,), activation="relu", init="xavier"):
    """The NumPy MLP of nnkeras.scratch (softmax output, cross-entropy); train.engine=keras trains its Keras twin."""
    require(activation in HIDDEN_ACTIVATIONS,
            f"model.activation must be one of {', '.join(HIDDEN_ACTIVATIONS)} for scratch_mlp, got '{activation}'")
    require(init in initializers.INITS, f"model.init must be one of {', '.join(initializers.INITS)}, got '{init}'")
    model = build_mlp(input_spec, hidden=hidden, activation=activation)
    initializer = initializers.keras_initializer(init)
    for layer in dense_layers(model):
        layer.kernel.assign(initializer(layer.kernel.shape, dtype=layer.kernel.dtype))
    return model


def dense_layers(model) -> list:
    """The twin's Dense layers, input side first: dense_1, dense_2, ..., logits."""
    return [layer for layer in model.layers if layer.name.startswith("dense_") or layer.name == "logits"]
