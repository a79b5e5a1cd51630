"""Multilayer perceptron: the tutorial's chapters 1-4.

Outputs logits (no softmax): the trainer's loss applies the softmax itself
(`from_logits=True`), so softmax is never applied twice, the mistake of the
tutorial's PyTorch code.
"""

from __future__ import annotations

import keras

from nnkeras.models.augment import augmentation
import math

from nnkeras.models.checks import check_float_inputs, check_size, dense_params, require

ACTIVATIONS = ("relu", "sigmoid", "tanh", "elu", "selu", "gelu", "swish", "leaky_relu", "linear")


def build_mlp(input_spec, hidden=(30,), activation="relu", dropout=0.0, l2=0.0, batch_norm=False,
              rotation=0.0, shift=0.0, flip=False):
    """Flatten -> [Dense -> (BatchNorm) -> activation -> (Dropout)] per hidden layer -> Dense logits."""
    input_shape, num_classes = check_float_inputs(input_spec, "mlp")
    augmented = rotation or shift or flip
    require(not augmented or len(input_shape) == 3,
            f"model.rotation/shift/flip need images (height, width, channels), got input shape {input_shape}")
    hidden = tuple(hidden)
    require(all(isinstance(u, int) and u >= 1 for u in hidden), f"model.hidden must be positive integers, got {hidden}")
    require(activation in ACTIVATIONS, f"model.activation must be one of {', '.join(ACTIVATIONS)}, got '{activation}'")
    require(0.0 <= dropout < 1.0, f"model.dropout must be in [0, 1), got {dropout}")
    require(l2 >= 0.0, f"model.l2 must be >= 0, got {l2}")
    flat = math.prod(input_shape)
    check_size("mlp", dense_params([flat, *hidden, num_classes]), max(flat, *hidden))
    regularizer = keras.regularizers.L2(l2) if l2 > 0 else None

    inputs = keras.Input(shape=input_shape, name="inputs")
    x = augmentation(inputs, rotation, shift, flip) if augmented else inputs
    x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(hidden, start=1):
        x = keras.layers.Dense(units, kernel_regularizer=regularizer, name=f"dense_{i}")(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(name=f"batch_norm_{i}")(x)
        x = keras.layers.Activation(activation, name=f"{activation}_{i}")(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    logits = keras.layers.Dense(num_classes, kernel_regularizer=regularizer, name="logits")(x)
    return keras.Model(inputs, logits, name="mlp")
