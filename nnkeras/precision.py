"""Mixed precision (train.mixed_precision): compute in 16 bits, keep the numbers that matter in 32.

With `mixed_float16` (GPUs) or `mixed_bfloat16` (CPUs, TPUs, recent GPUs),
layers compute in 16 bits while their variables stay float32 (Keras's dtype
policies). Two things must not be 16-bit: the logits (a softmax over
float16 logits saturates) and the loss, so the model gets a final float32
cast and Keras computes the loss in float32. Keras wraps the optimizer in a
LossScaleOptimizer for mixed_float16, so small gradients do not underflow.

What a run ships (model.keras, then .tflite and the server) is the same
network in float32 with the trained weights: phones and TFLite kernels want
float32, and the weights are float32 already.
"""

from __future__ import annotations

import contextlib

import keras

from nnkeras.errors import ConfigError

POLICIES = ("none", "mixed_float16", "mixed_bfloat16")


def check(policy: str, device: dict) -> None:
    if policy == "mixed_float16" and device["kind"] != "GPU":
        raise ConfigError("train.mixed_precision=mixed_float16 needs a GPU (none is visible to TensorFlow); on a CPU"
                          " use mixed_bfloat16, or none (docs/gpu.md)")


@contextlib.contextmanager
def policy(name: str):
    """Layers built inside compute in `name` (none: float32); the global policy is restored after."""
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32" if name == "none" else name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def with_float32_logits(model):
    """`model` whose outputs are cast to float32 (a weightless layer), so softmax and loss run in 32 bits."""
    outputs = [keras.layers.Activation("linear", dtype="float32", name=f"float32_{out.name.split('/')[0]}")(out)
               for out in model.outputs]
    return keras.Model(model.input, outputs if len(outputs) > 1 else outputs[0], name=model.name)  # inputs as built


def float32_copy(model, build):
    """The network `build()` makes in float32, holding `model`'s trained weights (same layers, same order)."""
    with policy("none"):
        plain = build()
    plain.set_weights(model.get_weights())
    return plain
