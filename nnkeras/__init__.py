"""nnkeras: from a NumPy neuron to CNNs, LSTMs and Transformers, and on to a phone.

Importing the package is cheap: TensorFlow loads only when a model is built
or trained (`nnkeras.training`, `nnkeras.models`).
"""

from nnkeras.config import DataConfig, Experiment, ModelConfig, TrainConfig
from nnkeras.errors import ConfigError, DataError, NNKerasError

__version__ = "0.1.0"
__all__ = ["ConfigError", "DataConfig", "DataError", "Experiment", "ModelConfig", "NNKerasError", "TrainConfig"]
