"""The tutorial from scratch, in NumPy: neuron, MLP, backprop, optimisers, CNN, LSTM, Transformer.

    activations   sigmoid, tanh, ReLU, softmax: forward and the chain-rule step back
    losses        binary / categorical cross-entropy, MSE, with exact gradients
    initializers  small random, Xavier, He
    neuron        the single sigmoid neuron, with shapes checked
    mlp           a multilayer perceptron of any depth, with backpropagation
    optimizers    SGD (momentum) and Adam, written as Keras writes them
    fit           mini-batch training and evaluation
    gradcheck     backprop against central differences, float64
    checks        input checks that run before any training step
    layers        the layer protocol (forward, backward) and Dense, Flatten, Dropout
    conv          Conv2D (im2col, stride, same/valid) and max-pooling
    recurrent     Embedding, SimpleRNN and LSTM with backpropagation through time
    attention     scaled dot-product and multi-head self-attention, layer norm
    transformer   token + position embedding, Transformer block, encoder
    network       a classifier made of those layers
    nets          LeNet-5, RNN/LSTM and Transformer shaped like the Keras builders
    twin          copying weights into the equivalent Keras model (nnkeras.models.scratch_twin)
    run           the NumPy engine: `nnkeras run scratch_*` (MLP, LeNet-5, LSTM, Transformer) into a normal run directory

Everything is float64 and imports only NumPy; `twin` and `run` bring in Keras.
Each layer beside the Keras layer it equals, and the test that checks it: docs/from_scratch.md.
"""

from nnkeras.scratch.mlp import MLP
from nnkeras.scratch.neuron import SigmoidNeuron
from nnkeras.scratch.optimizers import SGD, Adam

__all__ = ["MLP", "SGD", "Adam", "SigmoidNeuron"]
