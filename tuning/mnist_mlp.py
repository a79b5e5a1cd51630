"""MNIST MLP search (tutorial chapter 4): width, depth, activation, dropout, L2, learning rate, batch size.

The chapter-3 network (784-30-10, Adam 1e-3, batch 64) is one point of this
space; the search asks which of the chapter-4 remedies and settings help on
the 5,000 real digits bundled offline (mnist_sample). The learning rate is
searched on a log scale (1e-4 is as far from 1e-3 as 1e-2 is) and starts at
the tutorial's 1e-3; batch size covers the tutorial's 32 to 256. Early
stopping (val_loss, patience 3) ends hopeless trials.

    nnkeras tune mnist_mlp                                   # random search, 10 trials
    nnkeras tune mnist_mlp --tuner bayesian --max-trials 20
    nnkeras tune mnist_mlp --compare --max-trials 12         # grid, random, Bayesian, Hyperband
    tensorboard --logdir runs/search/mnist_mlp/random        # HParams: one row per trial

Measured (`--compare --max-trials 12`, seed 42): best val_accuracy 0.9625
for random and Bayesian search, 0.9575 for grid, 0.9375 for Hyperband,
which spent 24 epochs against ~115 for the others. The best random trial
(256 ReLU units, dropout 0.1, L2 1e-3, lr 8e-4, batch 64) reaches 0.929 test
accuracy, against 0.907 for the chapter-3 784-30-10 network. docs/tuning.md
has the table.
"""

from nnkeras import DataConfig, Experiment, ModelConfig, TrainConfig

EXPERIMENT = Experiment(
    name="mnist_mlp",
    description="MLP on the bundled MNIST sample, searched",
    data=DataConfig(name="mnist_sample"),
    model=ModelConfig(name="mlp", params={"hidden": (30,)}),
    train=TrainConfig(epochs=10, batch_size=64, learning_rate=1e-3, patience=3, histogram_freq=0),
)
OBJECTIVE = "val_accuracy"
TUNER = "random"
MAX_TRIALS = 10


def space(hp):
    units = hp.Int("units", 32, 256, step=32)
    depth = hp.Int("depth", 1, 3)
    return {
        "model.hidden": (units,) * depth,
        "model.activation": hp.Choice("activation", ["relu", "tanh", "elu"]),
        "model.dropout": hp.Float("dropout", 0.0, 0.5, step=0.1),
        "model.l2": hp.Choice("l2", [0.0, 1e-5, 1e-4, 1e-3]),
        "train.learning_rate": hp.Float("learning_rate", 1e-4, 1e-2, sampling="log", default=1e-3),
        "train.batch_size": hp.Choice("batch_size", [32, 64, 128, 256], default=64),
    }
