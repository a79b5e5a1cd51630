"""Vanishing gradients: ten sigmoid layers against ReLU, and against a better initialisation.

The tutorial's chapter 2 warns that gradients shrink on their way back through
many sigmoid layers: each layer multiplies the backward signal by W^T and by
sigmoid' <= 1/4. Four networks of ten hidden layers of 32 units, each trained
twice, by the NumPy code of nnkeras.scratch and by Keras (`train.engine`),
with SGD + momentum so that nothing rescales the gradients per weight (Adam would):

    sigmoid_small       sigmoid, weights N(0, 0.01^2): the signal dies both ways
    sigmoid_xavier      sigmoid, Xavier/Glorot uniform (Keras's default)
    sigmoid_xavier_x4   sigmoid, 4 x Xavier's range (Glorot & Bengio's advice for sigmoid)
    relu_he             ReLU, He uniform

Every epoch the norm of dL/dW of every layer is measured on a fixed batch of
256 training images (train.gradient_norms): TensorBoard scalars
`gradient_norm/<layer>` and histograms `gradient/<layer>`, plus
gradient_norms.csv and gradient_norms.png in each variant's run directory.

    nnkeras run vanishing_gradients                # eight runs + summary.md / summary.png
    tensorboard --logdir runs/vanishing_gradients  # filter the scalars by "gradient_norm"

Measured on mnist_sample (3,600 train images, seed 42, 10 epochs). The ratio is
||dL/dW|| of the first hidden layer over that of the output layer after epoch 1:

    variant              engine  ratio     test accuracy
    sigmoid_small        numpy   5.5e-18   0.084  (chance: nothing below the top layers moves)
                         keras   1.8e-17   0.097
    sigmoid_xavier       numpy   7.7e-06   0.095  (a factor ~3 lost per layer: still stuck)
                         keras   2.1e-05   0.095
    sigmoid_xavier_x4    numpy   4.8e-02   0.614  (learning, slowly)
                         keras   6.8e-01   0.841
    relu_he              numpy   6.9e-01   0.903
                         keras   6.0e-01   0.883

The two engines draw different initial weights and batch orders, so their
numbers differ (most for sigmoid_xavier_x4, which sits near the edge), but
they tell the same story.
"""

from nnkeras import DataConfig, Experiment, ModelConfig, TrainConfig

VARIANTS = {  # name -> (hidden activation, initialisation)
    "sigmoid_small": ("sigmoid", "small"),
    "sigmoid_xavier": ("sigmoid", "xavier"),
    "sigmoid_xavier_x4": ("sigmoid", "xavier_sigmoid"),
    "relu_he": ("relu", "he"),
}

EXPERIMENTS = [
    Experiment(
        name=f"{engine}_{name}",
        description=f"10 x 32 {activation} layers, {init} initialisation, trained by {engine}",
        data=DataConfig(name="mnist_sample", val_fraction=0.1),
        model=ModelConfig(name="scratch_mlp", params={
            "hidden": (32,) * 10, "activation": activation, "init": init}),
        train=TrainConfig(epochs=10, batch_size=64, optimizer="sgd", learning_rate=0.03, momentum=0.9,
                          patience=0, gradient_norms=True, engine=engine),
        seed=42,
    )
    for engine in ("numpy", "keras")
    for name, (activation, init) in VARIANTS.items()
]

if __name__ == "__main__":
    import sys

    from nnkeras.cli import main

    sys.exit(main(["run", __file__, *sys.argv[1:]]))
