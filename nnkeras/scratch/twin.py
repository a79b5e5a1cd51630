"""Copying a scratch network's weights into its Keras twin (nnkeras.models.scratch_twin).

Each scratch network names its weight-holding layers like the twin's and
hands out their arrays in the Keras layout (`keras_weights`): the MLP
transposes its W (units, fan_in) into a Dense kernel (fan_in, units); the
layers of `nnkeras.scratch.nets` keep Keras's layout already. So copying is
one `set_weights` per layer, by name.
"""

from __future__ import annotations


def copy_to_keras(net, model) -> None:
    """Set the twin's weights to the scratch network's (cast to the twin's dtype)."""
    weights = net.keras_weights()
    held = [layer.name for layer in model.layers if layer.weights]
    if sorted(held) != sorted(weights):
        raise ValueError(f"the Keras model's layers with weights {held} do not match the scratch network's"
                         f" {list(weights)}")
    for name, arrays in weights.items():
        model.get_layer(name).set_weights(arrays)
