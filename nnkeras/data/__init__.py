"""Dataset registry: name -> loader. `load(cfg, seed)` returns normalised splits.

Every loader is listed here, so the registry is complete whatever was imported
before. Loaders import heavy packages (Keras, scikit-learn, mlxtend) only when
called, so `nnkeras list` stays quick.
"""

from __future__ import annotations

from nnkeras.data.base import Dataset, DataSpec, RawSplits, split
from nnkeras.data.cifar import load_cifar10
from nnkeras.data.image_folder import load_image_folder
from nnkeras.data.images import load_digits, load_fashion_mnist, load_mnist, load_mnist_sample
from nnkeras.data.synthetic import load_synthetic
from nnkeras.data.tabular import load_titanic
from nnkeras.data.text import load_adding, load_imdb, load_long_range
from nnkeras.data.word_order import load_word_order
from nnkeras.errors import ConfigError

DATASETS = {
    "mnist": load_mnist,
    "fashion_mnist": load_fashion_mnist,
    "mnist_sample": load_mnist_sample,
    "digits": load_digits,
    "synthetic": load_synthetic,
    "cifar10": load_cifar10,
    "imdb": load_imdb,
    "long_range": load_long_range,
    "adding": load_adding,
    "word_order": load_word_order,
    "titanic": load_titanic,
    "image_folder": load_image_folder,
}


def describe() -> dict[str, str]:
    """Dataset name -> one-line description (the loader's docstring)."""
    return {name: loader.__doc__.strip().splitlines()[0] for name, loader in DATASETS.items()}


def load(cfg, seed: int) -> Dataset:
    """Load dataset `cfg.name` and split it into train / validation / test."""
    if cfg.name not in DATASETS:
        raise ConfigError(f"data.name '{cfg.name}' is not a dataset; choose one of {', '.join(DATASETS)}")
    raw = DATASETS[cfg.name](cfg)
    return split(raw, cfg.val_fraction, seed, cfg.limit, tuple(cfg.holdout_classes))


__all__ = ["DATASETS", "Dataset", "DataSpec", "RawSplits", "describe", "load"]
