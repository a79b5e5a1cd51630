"""Data augmentation as layers: random in training, the identity at inference.

Keras's random image layers pass inputs through unchanged when
training=False, so the exported (inference) graph contains none of them.
"""

from __future__ import annotations

import keras

from nnkeras.models.checks import require


def augmentation(x, rotation: float = 0.0, shift: float = 0.0, flip: bool = False):
    """Random rotation (fraction of a full turn), shift (fraction of size) and horizontal flip."""
    require(0.0 <= rotation <= 0.5, f"model.rotation must be in [0, 0.5] (a fraction of a full turn), got {rotation}")
    require(0.0 <= shift < 1.0, f"model.shift must be in [0, 1) (a fraction of the image size), got {shift}")
    if rotation:
        x = keras.layers.RandomRotation(rotation, fill_mode="constant", name="augment_rotation")(x)
    if shift:
        x = keras.layers.RandomTranslation(shift, shift, fill_mode="constant", name="augment_shift")(x)
    if flip:
        x = keras.layers.RandomFlip("horizontal", name="augment_flip")(x)
    return x
