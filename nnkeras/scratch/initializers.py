"""Initial weights for a layer with `fan_in` inputs and `fan_out` units.

The spread of the initial weights decides whether a signal (and its gradient)
keeps its size through many layers:

- `small`: N(0, 0.01^2), the classic "small random numbers". Each layer
  shrinks the signal roughly by 0.01 * sqrt(fan_in), so deep networks start
  with vanishing activations and gradients.
- `xavier` (Glorot & Bengio 2010): U(-r, r), r = sqrt(6 / (fan_in + fan_out)),
  variance 2 / (fan_in + fan_out); keeps the variance of activations and of
  gradients about constant for tanh/sigmoid-like units near 0. Keras's
  default for Dense (`glorot_uniform`).
- `xavier_sigmoid`: 4 times Xavier's range, Glorot & Bengio's advice for
  sigmoid units: sigmoid'(0) = 1/4 where tanh'(0) = 1, so the weights make up
  the factor 4 the derivative takes away on every layer, forward and back.
- `he` (He et al. 2015): U(-r, r), r = sqrt(6 / fan_in), variance 2 / fan_in;
  makes up for ReLU zeroing half of its inputs. Keras's `he_uniform`.

Weights have the shape (fan_out, fan_in): row j holds the weights of unit j,
so z = W a + b. Biases start at 0.
"""

from __future__ import annotations

import numpy as np

from nnkeras.errors import ConfigError

INITS = ("small", "xavier", "xavier_sigmoid", "he")


def weights(init: str, fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    if init == "small":
        return rng.normal(0.0, 0.01, size=(fan_out, fan_in))
    if init in ("xavier", "xavier_sigmoid"):
        limit = np.sqrt(6.0 / (fan_in + fan_out)) * (4.0 if init == "xavier_sigmoid" else 1.0)
    elif init == "he":
        limit = np.sqrt(6.0 / fan_in)
    else:
        raise ConfigError(f"init '{init}' is not known; choose one of {', '.join(INITS)}")
    return rng.uniform(-limit, limit, size=(fan_out, fan_in))


def keras_initializer(init: str):
    """The Keras initializer that draws from the same distribution (for the Keras twin)."""
    import keras

    if init not in INITS:
        raise ConfigError(f"init '{init}' is not known; choose one of {', '.join(INITS)}")
    return {"small": lambda: keras.initializers.RandomNormal(stddev=0.01),
            "xavier": keras.initializers.GlorotUniform,
            # limit sqrt(3 * 16 / ((fan_in + fan_out) / 2)) = 4 sqrt(6 / (fan_in + fan_out))
            "xavier_sigmoid": lambda: keras.initializers.VarianceScaling(16.0, "fan_avg", "uniform"),
            "he": keras.initializers.HeUniform}[init]()
