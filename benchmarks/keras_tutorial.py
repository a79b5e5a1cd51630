"""The MLP job as a plain Keras script, the way the Keras guides write it: the whole-process baseline.

    python benchmarks/keras_tutorial.py DIR/mnist.npz OUT_DIR

What `nnkeras run mnist_mlp --set data.dir=DIR` does, written by hand: read
Keras's mnist.npz, normalise with the tutorial's mean 0.1307 and std 0.3081,
hold out 10% for validation, a 784-30-10 MLP on logits, Adam 1e-3, batch 64,
5 epochs with a validation pass each, test accuracy, model.keras saved.
No TensorBoard, checkpoints or plots: the least a user's script does.
"""

import sys
from pathlib import Path

import keras
import numpy as np


def main(mnist_npz: str, out_dir: str) -> None:
    with np.load(mnist_npz) as arrays:
        x_train, y_train, x_test, y_test = (arrays[k] for k in ("x_train", "y_train", "x_test", "y_test"))

    def normalise(images):
        return ((images.astype("float32") / 255 - 0.1307) / 0.3081)[..., None]

    x_train, x_test = normalise(x_train), normalise(x_test)
    order = np.random.default_rng(0).permutation(len(y_train))
    val, train = order[: len(order) // 10], order[len(order) // 10:]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Flatten(),
        keras.layers.Dense(30, activation="relu"),
        keras.layers.Dense(10),
    ])
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x_train[train], y_train[train], batch_size=64, epochs=5,
              validation_data=(x_train[val], y_train[val]), verbose=2)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    model.save(Path(out_dir) / "model.keras")
    print(f"test accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
