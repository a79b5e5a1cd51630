"""LeNet-5 search (tutorial chapters 4-5): activation, augmentation, learning rate, batch size, epochs.

LeNet-5's layers are fixed by the 1998 design; what is left to tune is how it
is trained: the activation (the paper used tanh-like squashing, the tutorial
ReLU), a little rotation/shift augmentation, the learning rate (log scale),
the batch size and the number of epochs (tunable here; under
`--tuner hyperband`, Hyperband's own epoch schedule replaces it).

    nnkeras tune mnist_lenet5                               # offline: mnist_sample
    nnkeras tune mnist_lenet5 --tuner hyperband --set train.epochs=9
    nnkeras tune mnist_lenet5 --set data.name=mnist --set data.dir=~/data/mnist
"""

from nnkeras import DataConfig, Experiment, ModelConfig, TrainConfig

EXPERIMENT = Experiment(
    name="mnist_lenet5",
    description="LeNet-5 on the bundled MNIST sample, searched",
    data=DataConfig(name="mnist_sample"),
    model=ModelConfig(name="lenet5"),
    train=TrainConfig(epochs=6, batch_size=64, learning_rate=1e-3, patience=3, histogram_freq=0),
)
TUNER = "bayesian"
MAX_TRIALS = 8


def space(hp):
    augment = hp.Boolean("augment")
    return {
        "model.activation": hp.Choice("activation", ["relu", "tanh"]),
        "model.rotation": 0.05 if augment else 0.0,
        "model.shift": 0.1 if augment else 0.0,
        "train.learning_rate": hp.Float("learning_rate", 3e-4, 3e-3, sampling="log", default=1e-3),
        "train.batch_size": hp.Choice("batch_size", [32, 64, 128], default=64),
        "train.epochs": hp.Int("num_epochs", 2, 6, step=2, default=6),
    }
