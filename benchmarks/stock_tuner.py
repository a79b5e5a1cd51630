"""A 10-trial random search of the MLP job with stock Keras Tuner, as its guide writes one: the baseline.

    python benchmarks/stock_tuner.py OUT_DIR

The space of tuning/mnist_mlp.py (units 32..256 step 32, depth 1..3,
activation, dropout 0..0.5, L2, learning rate 1e-4..1e-2 log, batch size
32..256) in a `kt.HyperModel` whose `fit` takes the batch size, as the guide
shows; `kt.RandomSearch(objective="val_accuracy", max_trials=10, seed=42)`;
`search(..., epochs=10, validation_data=...)` with EarlyStopping on val_loss,
patience 3 (the job's). Then, as the guide suggests, the best
hyperparameters are retrained and the model scored on the test set and
saved: what `nnkeras tune` does with its best trial. The data is the job's
own split of mnist_sample (nnkeras.data.load, seed 42), so both searches see
the same examples; nothing else of nnkeras is used.
"""

import sys

import keras
import keras_tuner as kt

from nnkeras import data as datasets
from nnkeras.config import DataConfig


class MLP(kt.HyperModel):
    def build(self, hp):
        units = hp.Int("units", 32, 256, step=32)
        depth = hp.Int("depth", 1, 3)
        activation = hp.Choice("activation", ["relu", "tanh", "elu"])
        dropout = hp.Float("dropout", 0.0, 0.5, step=0.1)
        l2 = hp.Choice("l2", [0.0, 1e-5, 1e-4, 1e-3])
        learning_rate = hp.Float("learning_rate", 1e-4, 1e-2, sampling="log", default=1e-3)
        regularizer = keras.regularizers.L2(l2) if l2 else None
        layers = [keras.Input((28, 28, 1)), keras.layers.Flatten()]
        for _ in range(depth):
            layers += [keras.layers.Dense(units, kernel_regularizer=regularizer), keras.layers.Activation(activation)]
            layers += [keras.layers.Dropout(dropout)] if dropout else []
        model = keras.Sequential(layers + [keras.layers.Dense(10, kernel_regularizer=regularizer)])
        model.compile(keras.optimizers.Adam(learning_rate),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        return model

    def fit(self, hp, model, *args, **kwargs):
        return model.fit(*args, batch_size=hp.Choice("batch_size", [32, 64, 128, 256], default=64), **kwargs)


def main(out_dir: str) -> None:
    data = datasets.load(DataConfig(name="mnist_sample"), seed=42)
    validation = (data.x_val, data.y_val)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=3)
    tuner = kt.RandomSearch(MLP(), objective="val_accuracy", max_trials=10, seed=42, directory=out_dir,
                            project_name="mnist_mlp", overwrite=True)
    tuner.search(data.x_train, data.y_train, epochs=10, validation_data=validation, callbacks=[stop], verbose=0)
    best_trial = tuner.oracle.get_best_trials(1)[0]
    best = tuner.get_best_hyperparameters(1)[0]
    model = tuner.hypermodel.build(best)
    tuner.hypermodel.fit(best, model, data.x_train, data.y_train, epochs=10, validation_data=validation, verbose=0,
                         callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=3,
                                                                  restore_best_weights=True)])
    _, accuracy = model.evaluate(data.x_test, data.y_test, verbose=0)
    model.save(f"{out_dir}/best.keras")
    print(f"trials: {len(tuner.oracle.trials)}")
    print(f"best val_accuracy {best_trial.score:.4f}")
    print(f"test accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main(sys.argv[1])
