"""IMDB sentiment with a small Transformer encoder (tutorial chapter 5).

Token + position embedding (64), one block of 4-head self-attention and a
128-unit feed-forward net with residuals and layer norm, average pooling;
Adam 1e-3, batch 64, up to 5 epochs.

    nnkeras run imdb_transformer                        # downloads IMDB once
    nnkeras run imdb_transformer --set data.dir=FOLDER  # a folder holding Keras's imdb.npz

Not measured here: IMDB cannot be downloaded on the offline build machine
(the experiment runs at smoke size in the tests on an imdb.npz the tests
write).
"""

from nnkeras import DataConfig, Experiment, ModelConfig, TrainConfig

EXPERIMENT = Experiment(
    name="imdb_transformer",
    description="Tutorial chapter 5: Transformer text classifier",
    data=DataConfig(name="imdb", vocab_size=10000, seq_len=200),
    model=ModelConfig(name="transformer", params={"embed_dim": 64, "num_heads": 4, "ff_dim": 128}),
    train=TrainConfig(epochs=5, batch_size=64, learning_rate=1e-3, patience=2),
)

if __name__ == "__main__":
    from nnkeras.cli import run_script

    run_script(__file__)
