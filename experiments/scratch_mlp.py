"""The chapter-3 MNIST MLP (784-30-10) trained by the NumPy code of nnkeras.scratch.

Same hyperparameters as experiments/mnist_mlp.py (one hidden layer of 30 ReLU
units, softmax + cross-entropy, Adam 1e-3, batch 64, 5 epochs, Xavier
initialisation = Keras's glorot_uniform), but every forward pass, backward
pass and Adam step is NumPy in float64. The run directory is a normal one:
TensorBoard shows both runs' curves side by side, and model.keras holds the
scratch weights in the equivalent Keras model, ready for export and serving.

    nnkeras run scratch_mlp                               # bundled 5,000 MNIST digits, offline
    nnkeras run scratch_mlp --set train.optimizer=sgd --set train.learning_rate=0.05 --set train.momentum=0.9  # 0.909
    nnkeras run scratch_mlp --set model.hidden=128,64 --set model.activation=tanh

Measured on mnist_sample (3,600 train, 400 validation, 1,000 test), Keras 3.15,
against `nnkeras run mnist_mlp --set data.name=mnist_sample` (the same
hyperparameters trained by Keras):

    seed 42          scratch 0.896   Keras 0.907   (1.1 points apart)
    seeds 1-5        scratch 0.895 0.904 0.904 0.897 0.890   mean 0.898
                     Keras   0.901 0.903 0.906 0.912 0.902   mean 0.905

Within 2 points on every seed; what remains is the draw of initial weights and
of batch order, which differ between the two engines. With the same weights
and batches the two follow the same path to 1e-9 (tests/test_scratch_keras.py).
"""

from nnkeras import DataConfig, Experiment, ModelConfig, TrainConfig

EXPERIMENT = Experiment(
    name="scratch_mlp",
    description="Tutorial chapter 2-3 from scratch: NumPy MLP 784-30-10, Adam 1e-3, batch 64, 5 epochs",
    data=DataConfig(name="mnist_sample", val_fraction=0.1),
    model=ModelConfig(name="scratch_mlp", params={"hidden": (30,), "activation": "relu", "init": "xavier"}),
    train=TrainConfig(epochs=5, batch_size=64, optimizer="adam", learning_rate=1e-3, patience=5),
    seed=42,
)

if __name__ == "__main__":
    import sys

    from nnkeras.cli import main

    sys.exit(main(["run", __file__, *sys.argv[1:]]))
