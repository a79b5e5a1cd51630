"""ArcFace: an embedding CNN trained with an additive-angular-margin head.

The model maps an image to class logits `scale * cos(angle to each class
centre)`; its layer named "embedding" gives the L2-normalisable face (here:
digit) embedding used for verification of identities never seen in training.
The margin lives in the loss (`nnkeras.layers.ArcFaceLoss`), so inference
needs no label input and exports like any classifier.
"""

from __future__ import annotations

import keras

from nnkeras.layers import CosineLogits
from nnkeras.models.checks import check_image_spec, check_size, conv_params, dense_params, require


def build_arcface(input_spec, embedding_dim=64, filters=(32, 64), scale=30.0, margin=0.5):
    """Conv blocks -> dense embedding -> cosine logits; trained with ArcFace loss."""
    shape, classes = check_image_spec(input_spec, "arcface")
    require(isinstance(embedding_dim, int) and embedding_dim >= 2,
            f"model.embedding_dim must be an integer >= 2, got {embedding_dim}")
    require(scale > 0, f"model.scale must be > 0, got {scale}")
    require(0.0 <= margin < 1.5, f"model.margin must be in [0, 1.5) radians, got {margin}")
    filters = tuple(filters)
    require(min(shape[:2]) >= 2 ** len(filters), f"model.filters has too many pooling blocks for {shape[:2]} images")
    require(all(isinstance(f, int) and f >= 1 for f in filters), f"model.filters must be positive integers, got {filters}")
    width = filters[-1] if filters else shape[2]
    flat = (shape[0] >> len(filters)) * (shape[1] >> len(filters)) * width
    check_size("arcface", conv_params(shape[2], filters) + dense_params([flat, embedding_dim, classes]),
               max(shape[0] * shape[1] * max(filters, default=shape[2]), embedding_dim))
    inputs = keras.Input(shape=shape, name="inputs")
    x = inputs
    for block, width in enumerate(filters, start=1):
        x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"block{block}_conv")(x)
        # momentum 0.9: moving statistics must keep up within a few hundred steps,
        # or inference-mode embeddings drift away from the ones trained.
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"block{block}_bn")(x)
        x = keras.layers.Activation("relu", name=f"block{block}_relu")(x)
        x = keras.layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    embedding = keras.layers.Dense(embedding_dim, name="embedding")(x)
    logits = CosineLogits(classes, scale=scale, name="cosine_logits")(embedding)
    return keras.Model(inputs, logits, name="arcface")
