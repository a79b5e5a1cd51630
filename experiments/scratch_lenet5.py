"""LeNet-5 trained by the NumPy code of nnkeras.scratch, beside the same network trained by Keras.

The chapter-5 CNN of experiments/mnist_lenet5.py (conv 6@5x5 same -> max-pool
-> conv 16@5x5 -> max-pool -> 120 -> 84 -> 10, ReLU, 61,706 parameters,
Adam 1e-3, batch 64, 10 epochs), twice: every convolution (an im2col gather
and one matrix product), pooling, backward pass and Adam step in float64
NumPy (`numpy`), and the Keras twin trained by Keras (`keras`). Both start
from the same initial weights (the twin's draw); their batch orders differ.

    nnkeras run scratch_lenet5                        # both variants + summary.md / summary.png
    nnkeras run scratch_lenet5 --set train.epochs=3   # a quicker look
    tensorboard --logdir runs/scratch_lenet5          # the two learning curves overlaid

The run directories are normal ones: `nnkeras convert` and `nnkeras serve`
take the numpy variant's model.keras (the NumPy weights in the Keras twin).

Measured on mnist_sample (3,600 train / 400 validation / 1,000 test real
digits, seed 42, 10 epochs; test accuracy of the best epoch by val_loss):

    variant   test accuracy   val accuracy after epochs 1, 3, 5, 10   seconds per epoch
    numpy     0.969           0.895  0.973  0.965  0.970              12-14 (2 free cores)
    keras     0.965           0.895  0.965  0.975  0.975              3-5

The Keras builder's own run, experiments/mnist_lenet5.py on the same data
(its own initial draw), reached 0.962. The NumPy epochs took up to 95 s while
four jobs shared the two cores: the im2col convolution is one matrix product
per layer, but float64 on the CPU, with nothing fused.
"""

from nnkeras import DataConfig, Experiment, ModelConfig, TrainConfig

EXPERIMENTS = [
    Experiment(
        name=engine,
        description=f"Tutorial chapter 5 from scratch: LeNet-5 on mnist_sample, trained by {engine}",
        data=DataConfig(name="mnist_sample", val_fraction=0.1),
        model=ModelConfig(name="scratch_lenet5", params={"activation": "relu"}),
        train=TrainConfig(epochs=10, batch_size=64, optimizer="adam", learning_rate=1e-3, patience=5, engine=engine),
        seed=42,
    )
    for engine in ("numpy", "keras")
]

if __name__ == "__main__":
    from nnkeras.cli import run_script

    run_script(__file__)
