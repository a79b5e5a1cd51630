"""MNIST with a 784-30-10 MLP: the tutorial's chapter-3 experiment.

Exactly the article's setup: pixels scaled to [0, 1] and normalised with
mean 0.1307 and std 0.3081, flattened to 784 values, one hidden layer of 30
ReLU units, 10 outputs, Adam with learning rate 1e-3, batch 64, 5 epochs.
Unlike the article's code, the model outputs logits and the loss applies the
softmax (from_logits=True): its softmax-then-CrossEntropyLoss applied softmax
twice, which slows learning.

    nnkeras run mnist_mlp                                  # downloads MNIST once
    nnkeras run mnist_mlp --set data.dir=~/data/mnist      # the four IDX gz files
    nnkeras run mnist_mlp --set data.name=mnist_sample     # offline: 5,000 real digits
    python experiments/mnist_mlp.py --set train.epochs=10  # same thing, as a script

Expected: above 95% test accuracy on full MNIST (the article's claim; 54,000
train / 6,000 validation here). Measured on the bundled 5,000-digit
mnist_sample (3,600 train, 400 validation, 1,000 test, seed 42): 0.907.
The full set could not be measured on the offline build machine.
"""

from nnkeras import DataConfig, Experiment, ModelConfig, TrainConfig

EXPERIMENT = Experiment(
    name="mnist_mlp",
    description="Tutorial chapter 3: MNIST, MLP 784-30-10, Adam 1e-3, batch 64, 5 epochs",
    data=DataConfig(name="mnist", val_fraction=0.1),
    model=ModelConfig(name="mlp", params={"hidden": (30,), "activation": "relu"}),
    train=TrainConfig(epochs=5, batch_size=64, optimizer="adam", learning_rate=1e-3, patience=5),
    seed=42,
)

if __name__ == "__main__":
    from nnkeras.cli import run_script

    run_script(__file__)
