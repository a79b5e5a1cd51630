"""CIFAR-10: a flattened MLP against a small CNN (tutorial chapter 4's point).

Flattening a colour image throws away which pixels are neighbours; the CNN
keeps it, with fewer parameters. Both: Adam 1e-3, batch 64, up to 20 epochs,
early stopping (patience 5).

    nnkeras run cifar10_mlp_vs_cnn                                      # downloads CIFAR-10
    nnkeras run cifar10_mlp_vs_cnn --set data.dir=~/data/cifar-10-batches-py

Not measured here: CIFAR-10 cannot be downloaded on the offline build
machine (the experiment runs at smoke size in the tests on batches the tests
write). Run it where CIFAR-10 can be had and read runs/.../summary.md.
"""

from nnkeras import DataConfig, Experiment, ModelConfig, TrainConfig

DATA = DataConfig(name="cifar10")
TRAIN = TrainConfig(epochs=20, batch_size=64, learning_rate=1e-3, patience=5)

EXPERIMENTS = [
    Experiment(name="mlp", data=DATA, train=TRAIN,
               model=ModelConfig(name="mlp", params={"hidden": (512, 256), "dropout": 0.2})),
    Experiment(name="cnn", data=DATA, train=TRAIN,
               model=ModelConfig(name="convnet", params={"filters": (32, 64), "dropout": 0.25, "flip": True})),
]

if __name__ == "__main__":
    from nnkeras.cli import run_script

    run_script(__file__)
