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
    twin          copying weights into the equivalent Keras model (nnkeras.models.scratch_twin)
    run           the NumPy engine: `nnkeras run scratch_mlp` into a normal run directory

Everything is float64 and imports only NumPy; `twin` and `run` bring in Keras.
"""

from nnkeras.scratch.mlp import MLP
from nnkeras.scratch.neuron import SigmoidNeuron
from nnkeras.scratch.optimizers import SGD, Adam

__all__ = ["MLP", "SGD", "Adam", "SigmoidNeuron"]
