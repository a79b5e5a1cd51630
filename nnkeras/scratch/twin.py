"""Copying a scratch network's weights into its Keras twin (nnkeras.models.scratch_twin).

The scratch MLP stores W as (units, fan_in) (z = W a + b); a Keras Dense
kernel is (fan_in, units) (z = a K + b): copying transposes.
"""

from __future__ import annotations

from nnkeras.models.scratch_twin import dense_layers


def copy_to_keras(net, model) -> None:
    """Set the twin's weights to the scratch network's (cast to the twin's dtype)."""
    layers = dense_layers(model)
    if [layer.name for layer in layers] != net.layer_names:
        raise ValueError(f"the Keras model's Dense layers {[layer.name for layer in layers]} do not match"
                         f" the scratch network's {net.layer_names}")
    for layer, w, b in zip(layers, net.weights, net.biases):
        layer.set_weights([w.T, b])
