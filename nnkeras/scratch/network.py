"""A classifier made of scratch layers: forward, loss, backpropagation through the stack.

    logits = f_L( ... f_2(f_1(x)))
    L = mean over the batch of -log softmax(logits)_y     (Keras: from_logits=True)

Backpropagation starts from dL/dlogits = (softmax(logits) - onehot(y)) / n
(exact, see `losses`) and calls each layer's `backward` in reverse order;
each layer stores its own parameter gradients on the way.

`Network` answers the same calls as `MLP` (`check`, `gradients`,
`loss_and_output`, `params`, `correct`, `kernel_gradients`, `keras_weights`,
`reseed_dropout`), so `fit`, `gradcheck`, the optimisers and the experiment
runner (`nnkeras.scratch.run`) take either.
"""

from __future__ import annotations

import numpy as np

from nnkeras.errors import DataError
from nnkeras.scratch import checks, losses
from nnkeras.scratch.activations import softmax
from nnkeras.scratch.layers import Dropout, Layer

CROSS_ENTROPY = losses.get("categorical_crossentropy")


class Network:
    """`layers` applied in order to inputs of shape (n, *input_shape); the last one outputs logits.

    Token-id inputs (`vocab_size` set) must be whole numbers in 0..vocab_size-1.
    """

    classifies = True

    def __init__(self, layers: list[Layer], input_shape: tuple[int, ...], num_classes: int,
                 vocab_size: int | None = None):
        self.layers, self.input_shape = list(layers), tuple(input_shape)
        self.num_classes, self.vocab_size = num_classes, vocab_size

    def leaves(self) -> list[Layer]:
        """The layers that hold weights, in order; each matches the Keras layer of its name."""
        return [leaf for layer in self.layers for leaf in layer.leaves()]

    def params(self) -> list[np.ndarray]:
        """Every parameter array (the arrays themselves: optimisers update them in place)."""
        return [p for leaf in self.leaves() for p in leaf.params]

    def param_names(self) -> list[str]:
        return [f"{leaf.name}/{name}" for leaf in self.leaves() for name in leaf.param_names]

    def count_params(self) -> int:
        return sum(p.size for p in self.params())

    def check(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Validated inputs (float64, or int64 token ids) and one-hot float64 targets."""
        x = checks.examples(x, self.input_shape, self.vocab_size)
        return x, checks.targets(y, len(x), self.num_classes, CROSS_ENTROPY.name)

    def logits(self, x, training: bool = False) -> np.ndarray:
        out = x if self.vocab_size else np.asarray(x, dtype=np.float64)
        for layer in self.layers:
            out = layer.forward(out, training)
        return out

    def predict(self, x) -> np.ndarray:
        return softmax(self.logits(x))

    def loss_and_output(self, x: np.ndarray, t: np.ndarray) -> tuple[float, np.ndarray]:
        """Loss (inference mode) and class probabilities of checked `x`, `t`."""
        z = self.logits(x)
        return CROSS_ENTROPY.value_from_z(z, t), softmax(z)

    def gradients(self, x: np.ndarray, t: np.ndarray, training: bool = True) -> tuple[float, list[np.ndarray], np.ndarray]:
        """Loss, gradients in the order of `params()`, and the probabilities (training mode: dropout on)."""
        z = self.logits(x, training=training)
        delta = CROSS_ENTROPY.grad_from_z(z, t)
        for layer in reversed(self.layers):
            delta = layer.backward(delta)
        return CROSS_ENTROPY.value_from_z(z, t), [g for leaf in self.leaves() for g in leaf.grads], softmax(z)

    def correct(self, output: np.ndarray, t: np.ndarray) -> np.ndarray:
        return output.argmax(axis=1) == t.argmax(axis=1)

    def kernel_gradients(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """dL/dkernel of every layer that has one, by layer name (what the gradient-norm logs show).

        In inference mode, as Keras's GradientNorms measures them: dropout would add noise to the comparison.
        """
        _, grads, _ = self.gradients(x, t, training=False)
        return {name.rsplit("/", 1)[0]: g for name, g in zip(self.param_names(), grads) if name.endswith("/kernel")}

    def keras_weights(self) -> dict[str, list[np.ndarray]]:
        """Layer name -> its arrays in the Keras layer's `get_weights()` layout (already the scratch layout)."""
        return {leaf.name: list(leaf.params) for leaf in self.leaves()}

    def reseed_dropout(self, *key) -> None:
        """Restart every dropout layer's generator from (*key, its index): the masks then depend on the key alone."""
        dropouts = [layer for top in self.layers for layer in top.walk() if isinstance(layer, Dropout)]
        for index, layer in enumerate(dropouts):
            layer.reseed([*key, index])

    def set_weights(self, weights: dict[str, list[np.ndarray]]) -> None:
        """Copy in arrays by layer name (e.g. from a Keras model); shapes must match exactly."""
        for leaf in self.leaves():
            arrays = weights.get(leaf.name)
            if arrays is None or len(arrays) != len(leaf.params):
                raise DataError(f"no weights with {len(leaf.params)} arrays for layer '{leaf.name}'")
            for name, param, array in zip(leaf.param_names, leaf.params, arrays):
                if param.shape != np.shape(array):
                    raise DataError(f"{leaf.name}/{name}: weights of shape {np.shape(array)}, the layer needs {param.shape}")
                param[...] = array
