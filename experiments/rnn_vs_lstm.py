"""SimpleRNN against LSTM on a long-range memory task (tutorial chapter 5).

The class of a sequence is its FIRST token; everything after it is noise
(dataset long_range). To answer, the network must carry one token across
the whole sequence. SimpleRNN's gradient through tanh steps vanishes as the
sequence grows; the LSTM's cell state carries it. Lengths 10, 50 and 150,
4 classes (chance: 25%), 4,000 sequences, 32 units, 15 epochs.

    nnkeras run rnn_vs_lstm

Measured (seed 42): PENDING.
"""

from nnkeras import DataConfig, Experiment, ModelConfig, TrainConfig

LENGTHS = (10, 50, 150)

EXPERIMENTS = [
    Experiment(
        name=f"{cell}_len{length}",
        data=DataConfig(name="long_range", seq_len=length, num_classes=4, size=4000),
        model=ModelConfig(name="rnn", params={"cell": cell, "units": 32, "embed_dim": 16}),
        train=TrainConfig(epochs=15, batch_size=64, learning_rate=3e-3, patience=0),
    )
    for length in LENGTHS
    for cell in ("simple_rnn", "lstm")
]

if __name__ == "__main__":
    from nnkeras.cli import run_script

    run_script(__file__)
