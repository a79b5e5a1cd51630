"""Transformer search on the long-range token task: width, heads, depth, dropout, learning rate.

The class is the first of 40 tokens and lookalike tokens follow, so the
model has to attend back to position 0. Some combinations break the
builder's rule that the width be a multiple of the number of heads (6 heads
fit a width of 48, not 32 or 64): such a trial fails at build time, is
recorded as failed in trials.csv with the builder's message, and the search
goes on.

    nnkeras tune long_range_transformer                     # generated data, no files
    nnkeras tune long_range_transformer --tuner hyperband --set train.epochs=9
"""

from nnkeras import DataConfig, Experiment, ModelConfig, TrainConfig

EXPERIMENT = Experiment(
    name="long_range_transformer",
    description="Transformer on the long-range first-token task, searched",
    data=DataConfig(name="long_range", seq_len=40, num_classes=4, size=3000),
    model=ModelConfig(name="transformer", params={"num_blocks": 1}),
    train=TrainConfig(epochs=8, batch_size=64, learning_rate=1e-3, patience=3, histogram_freq=0),
)
OBJECTIVE = "val_accuracy"
TUNER = "random"
MAX_TRIALS = 10
MAX_FAILURES = 4  # invalid width/heads pairs are expected now and then


def space(hp):
    return {
        "model.embed_dim": hp.Choice("embed_dim", [32, 48, 64]),
        "model.num_heads": hp.Choice("num_heads", [2, 4, 6]),
        "model.ff_dim": hp.Choice("ff_dim", [64, 128]),
        "model.num_blocks": hp.Int("num_blocks", 1, 2),
        "model.dropout": hp.Float("dropout", 0.0, 0.3, step=0.1),
        "train.learning_rate": hp.Float("learning_rate", 3e-4, 3e-3, sampling="log", default=1e-3),
    }
