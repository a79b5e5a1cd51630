"""LeNet-5 on MNIST: the tutorial's chapter-5 CNN.

conv 6@5x5 (same) -> max-pool -> conv 16@5x5 -> max-pool -> dense 120 -> 84 -> 10,
ReLU, 61,706 parameters; Adam 1e-3, batch 64, up to 10 epochs with early
stopping on val_loss (patience 5).

    nnkeras run mnist_lenet5                               # downloads MNIST once
    nnkeras run mnist_lenet5 --set data.dir=~/data/mnist   # the four IDX gz files
    nnkeras run mnist_lenet5 --set data.name=mnist_sample  # offline, 5,000 real digits

Expected on full MNIST: about 99% (the 1998 paper reports 0.95% error).
Measured on mnist_sample (3,600 train / 400 validation / 1,000 test, seed 42,
10 epochs): test accuracy 0.962, against 0.907 for the 784-30-10 MLP on the
same data. Full MNIST could not be fetched on the offline build machine.
"""

from nnkeras import DataConfig, Experiment, ModelConfig, TrainConfig

EXPERIMENT = Experiment(
    name="mnist_lenet5",
    description="Tutorial chapter 5: LeNet-5 on MNIST",
    data=DataConfig(name="mnist"),
    model=ModelConfig(name="lenet5", params={"activation": "relu"}),
    train=TrainConfig(epochs=10, batch_size=64, learning_rate=1e-3, patience=5),
)

if __name__ == "__main__":
    from nnkeras.cli import run_script

    run_script(__file__)
