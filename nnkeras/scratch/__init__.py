"""The tutorial's chapter 2 from scratch, in NumPy: neuron, MLP, backprop, optimisers.

    activations   sigmoid, tanh, ReLU, softmax: forward and the chain-rule step back
    losses        binary / categorical cross-entropy, MSE, with exact gradients
    initializers  small random, Xavier, He
    neuron        the single sigmoid neuron, with shapes checked
    mlp           a multilayer perceptron of any depth, with backpropagation
    optimizers    SGD (momentum) and Adam, written as Keras writes them
    fit           mini-batch training and evaluation
    gradcheck     backprop against central differences, float64
    checks        input checks that run before any training step
    twin          the equivalent Keras model, and copying weights into it
    run           `nnkeras run scratch_mlp`: training into a normal run directory

Everything is float64 and imports only NumPy; `twin` and `run` bring in Keras.
"""

from nnkeras.scratch.mlp import MLP
from nnkeras.scratch.neuron import SigmoidNeuron
from nnkeras.scratch.optimizers import SGD, Adam

MODEL_NAME = "scratch_mlp"


def handles(experiment) -> bool:
    """True for experiments that the NumPy code trains (model scratch_mlp, engine numpy)."""
    model = experiment.model
    return model.name == MODEL_NAME and model.params.get("engine", "numpy") == "numpy"


__all__ = ["MLP", "MODEL_NAME", "SGD", "Adam", "SigmoidNeuron", "handles"]
