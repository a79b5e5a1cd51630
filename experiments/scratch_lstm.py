"""An LSTM trained by the NumPy code of nnkeras.scratch on the adding problem, beside Keras.

The adding problem of experiments/rnn_vs_lstm.py at length 30 (each step a
random value and a marker; are the two marked values above 1 in sum? one
marker sits in the first 3 steps, so the answer must be carried across the
sequence), 8,000 sequences, an LSTM of 32 units reading the last state,
Adam 3e-3, batch 64, 20 epochs; chance is 50%. Twice: the gates, the cell
state and backpropagation through time in float64 NumPy (`numpy`), and the
Keras twin trained by Keras (`keras`). Both start from the same initial
weights (the twin's draw: Keras's orthogonal recurrent kernel, forget bias 1);
their batch orders differ.

    nnkeras run scratch_lstm                                   # both variants + summary.md
    nnkeras run scratch_lstm --set model.cell=simple_rnn       # the NumPy SimpleRNN instead
    nnkeras run scratch_lstm --set data.name=long_range --set data.seq_len=20 --set data.num_classes=4
                                                               # token ids through an embedding

The twin's LSTM is unrolled (model.unroll, on by default), so `nnkeras convert`
turns the numpy variant's model.keras into a TFLite file of builtin ops.

Measured (seed 42, 7,200 train / 800 validation / 1,600 test sequences, 20
epochs; test accuracy of the best epoch by val_loss):

    variant   test accuracy   val accuracy after epochs 1, 5, 10, 20   seconds per epoch
    numpy     0.975           0.509  0.931  0.914  0.955               5-7
    keras     0.972           0.535  0.890  0.964  0.961               2-3

experiments/rnn_vs_lstm.py's Keras LSTM reached 0.973 at this length. Both
engines leave chance after the same 2-3 epochs and end within half a point.
"""

from nnkeras import DataConfig, Experiment, ModelConfig, TrainConfig

EXPERIMENTS = [
    Experiment(
        name=engine,
        description=f"Tutorial chapter 5 from scratch: LSTM on the adding problem (length 30), trained by {engine}",
        data=DataConfig(name="adding", seq_len=30, size=8000),
        model=ModelConfig(name="scratch_lstm", params={"cell": "lstm", "units": 32}),
        train=TrainConfig(epochs=20, batch_size=64, optimizer="adam", learning_rate=3e-3, patience=0, engine=engine),
        seed=42,
    )
    for engine in ("numpy", "keras")
]

if __name__ == "__main__":
    from nnkeras.cli import run_script

    run_script(__file__)
