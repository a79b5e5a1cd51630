"""A Transformer encoder trained by the NumPy code of nnkeras.scratch, beside Keras.

The long_range task: the class is the first of 20 tokens, the other 19 are
noise that includes the class tokens themselves; 4 classes (chance 25%),
4,000 sequences. One encoder block as nnkeras.models.transformer builds it
(token + position embedding of 32, 4-head self-attention, a 64-unit
feed-forward net, residuals, post-norm layer norm, dropout 0.1, average over
positions), Adam 1e-3, batch 64, 10 epochs. Twice: attention, layer norm,
their backward passes and Adam in float64 NumPy (`numpy`), and the Keras twin
trained by Keras (`keras`). Both start from the same initial weights (the
twin's draw); batch orders and dropout masks differ.

Attention reaches the first token from every position in one step: no state
has to carry it through 19 noisy steps, as in an RNN.

    nnkeras run scratch_transformer                       # both variants + summary.md
    nnkeras run scratch_transformer --set data.seq_len=40 --set model.num_blocks=2
    nnkeras run scratch_transformer --set model.norm=pre --set model.mask_padding=true --set data.name=word_order
                                                          # pre-norm, padding mask, front-padded text

Measured (seed 42, 3,600 train / 400 validation / 800 test sequences, 10
epochs; test accuracy of the best epoch by val_loss):

    variant   test accuracy   val accuracy after epochs 1, 2, 3, 4, 5   seconds per epoch
    numpy     1.000           0.600  0.643  0.715  0.995  1.000         15-42 (shared cores)
    keras     1.000           0.625  0.628  0.713  1.000  1.000         1.5-2.5

Both engines take the same path: two epochs near 0.6 (guessing from the
noise, where a class token also shows up), then within one epoch the
attention finds the first position and the task is solved.
"""

from nnkeras import DataConfig, Experiment, ModelConfig, TrainConfig

EXPERIMENTS = [
    Experiment(
        name=engine,
        description=f"Tutorial chapter 6 from scratch: Transformer encoder on long_range, trained by {engine}",
        data=DataConfig(name="long_range", seq_len=20, num_classes=4, size=4000),
        model=ModelConfig(name="scratch_transformer", params={
            "embed_dim": 32, "num_heads": 4, "ff_dim": 64, "num_blocks": 1, "dropout": 0.1, "max_len": 0}),
        train=TrainConfig(epochs=10, batch_size=64, optimizer="adam", learning_rate=1e-3, patience=0, engine=engine),
        seed=42,
    )
    for engine in ("numpy", "keras")
]

if __name__ == "__main__":
    from nnkeras.cli import run_script

    run_script(__file__)
