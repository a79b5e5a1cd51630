"""The Keras twin of the scratch MLP: the same layers, so weights copy across.

`build_scratch_mlp` is the registry's `scratch_mlp` builder: it returns
`build_mlp`'s network (Flatten, Dense + activation per hidden layer, Dense
logits), with kernels drawn from the Keras initializer that matches the
scratch `init`. With `engine="numpy"` (the default) the trainer hands the
experiment to `nnkeras.scratch.run`, which trains in NumPy and copies the
weights into this twin; with `engine="keras"` the ordinary Keras trainer fits
the twin itself, so one experiment group can compare the two engines on the
same network and initialisation.

The scratch MLP stores W as (units, fan_in) (z = W a + b); a Keras Dense
kernel is (fan_in, units) (z = a K + b): copying transposes.
"""

from __future__ import annotations

from nnkeras.scratch import initializers
from nnkeras.scratch.activations import HIDDEN_ACTIVATIONS

ENGINES = ("numpy", "keras")


def build_scratch_mlp(input_spec, hidden=(30,), activation="relu", init="xavier", engine="numpy"):
    """The NumPy MLP of nnkeras.scratch (softmax output, cross-entropy); engine=keras trains its Keras twin."""
    # Imported here: nnkeras.models imports this module for its registry.
    from nnkeras.models.checks import require
    from nnkeras.models.mlp import build_mlp

    require(activation in HIDDEN_ACTIVATIONS,
            f"model.activation must be one of {', '.join(HIDDEN_ACTIVATIONS)} for scratch_mlp, got '{activation}'")
    require(init in initializers.INITS, f"model.init must be one of {', '.join(initializers.INITS)}, got '{init}'")
    require(engine in ENGINES, f"model.engine must be one of {', '.join(ENGINES)}, got '{engine}'")
    model = build_mlp(input_spec, hidden=hidden, activation=activation)
    initializer = initializers.keras_initializer(init)
    for layer in dense_layers(model):
        layer.kernel.assign(initializer(layer.kernel.shape, dtype=layer.kernel.dtype))
    return model


def dense_layers(model) -> list:
    """The twin's Dense layers, input side first: dense_1, dense_2, ..., logits."""
    return [layer for layer in model.layers if layer.name.startswith("dense_") or layer.name == "logits"]


def copy_to_keras(net, model) -> None:
    """Set the twin's weights to the scratch network's (cast to the twin's dtype)."""
    layers = dense_layers(model)
    if [layer.name for layer in layers] != net.layer_names:
        raise ValueError(f"the Keras model's Dense layers {[layer.name for layer in layers]} do not match"
                         f" the scratch network's {net.layer_names}")
    for layer, w, b in zip(layers, net.weights, net.biases):
        layer.set_weights([w.T, b])

