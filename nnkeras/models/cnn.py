"""Convolutional networks for images: the tutorial's LeNet-5 and a small modern convnet."""

from __future__ import annotations

import keras

from nnkeras.models.augment import augmentation
from nnkeras.models.checks import check_image_spec, check_size, conv_params, dense_params, require

ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "gelu", "swish")


def build_lenet5(input_spec, activation="relu", rotation=0.0, shift=0.0, flip=False):
    """LeNet-5: conv 6@5x5 (same) -> pool -> conv 16@5x5 -> pool -> dense 120 -> 84 -> classes."""
    shape, classes = check_image_spec(input_spec, "lenet5")
    require(activation in ACTIVATIONS, f"model.activation must be one of {', '.join(ACTIVATIONS)}, got '{activation}'")
    require(shape[0] >= 12 and shape[1] >= 12, f"lenet5 needs images of at least 12x12 pixels, got {shape[:2]}")
    flat = ((shape[0] // 2 - 4) // 2) * ((shape[1] // 2 - 4) // 2) * 16
    check_size("lenet5", conv_params(shape[2], (6, 16), kernel=5) + dense_params([flat, 120, 84, classes]),
               shape[0] * shape[1] * 6)
    inputs = keras.Input(shape=shape, name="inputs")
    x = augmentation(inputs, rotation, shift, flip)
    x = keras.layers.Conv2D(6, 5, padding="same", activation=activation, name="conv_1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool_1")(x)
    x = keras.layers.Conv2D(16, 5, activation=activation, name="conv_2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool_2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(120, activation=activation, name="dense_120")(x)
    x = keras.layers.Dense(84, activation=activation, name="dense_84")(x)
    logits = keras.layers.Dense(classes, name="logits")(x)
    return keras.Model(inputs, logits, name="lenet5")


def build_convnet(input_spec, filters=(32, 64), dense=128, dropout=0.25, batch_norm=True,
                  rotation=0.0, shift=0.0, flip=False):
    """Small modern CNN: per block two 3x3 convs (batch norm, ReLU), max-pool, dropout; then dense."""
    shape, classes = check_image_spec(input_spec, "convnet")
    filters = tuple(filters)
    require(filters and all(isinstance(f, int) and f >= 1 for f in filters),
            f"model.filters must be positive integers, got {filters}")
    require(min(shape[:2]) >= 2 ** len(filters),
            f"model.filters has {len(filters)} pooling blocks, too many for {shape[0]}x{shape[1]} images")
    require(isinstance(dense, int) and dense >= 1, f"model.dense must be a positive integer, got {dense}")
    require(0.0 <= dropout < 1.0, f"model.dropout must be in [0, 1), got {dropout}")
    check_size("convnet", conv_params(shape[2], filters, convs_per_block=2) + dense_params([filters[-1], dense, classes]),
               shape[0] * shape[1] * max(filters))
    inputs = keras.Input(shape=shape, name="inputs")
    x = augmentation(inputs, rotation, shift, flip)
    for block, width in enumerate(filters, start=1):
        for conv in (1, 2):
            name = f"block{block}_conv{conv}"
            x = keras.layers.Conv2D(width, 3, padding="same", use_bias=not batch_norm, name=name)(x)
            if batch_norm:
                x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
            x = keras.layers.Activation("relu", name=f"{name}_relu")(x)
        x = keras.layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"block{block}_dropout")(x)
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    x = keras.layers.Dense(dense, activation="relu", name="dense")(x)
    if dropout:
        x = keras.layers.Dropout(min(2 * dropout, 0.5), name="dense_dropout")(x)
    logits = keras.layers.Dense(classes, name="logits")(x)
    return keras.Model(inputs, logits, name="convnet")
