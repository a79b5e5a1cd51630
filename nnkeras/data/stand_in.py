"""Generated stand-ins for the datasets that Keras downloads, for `--smoke` runs offline.

A smoke run checks the pipeline (loader, model, trainer, run directory), not
the data. When mnist, fashion_mnist, cifar10 or imdb is neither in data.dir nor
in Keras's cache and cannot be downloaded, a smoke run trains on generated data
in exactly the form `keras.datasets.<name>.load_data()` returns (same shapes,
dtypes, classes and id conventions), so every later step runs unchanged. A full
run never does this: it stops with the download error that says how to supply
the files.
"""

from __future__ import annotations

import numpy as np

N_TRAIN, N_TEST = 600, 200
# load_data()'s images: uint8 pixels, one integer label per image (cifar10 as an (n, 1) column).
IMAGES = {"mnist": (28, 28), "fashion_mnist": (28, 28), "cifar10": (32, 32, 3)}
IMDB_START, IMDB_FIRST_WORD = 1, 3  # Keras's imdb ids: 1 starts a review, words from 3 (0 pads, 2 is OOV)


def available(name: str) -> bool:
    return name in IMAGES or name == "imdb"


def load_data(name: str, num_words: int | None = None):
    """((x_train, y_train), (x_test, y_test)) shaped as keras.datasets.<name>.load_data(num_words=...)."""
    rng = np.random.default_rng(0)
    if name == "imdb":
        return tuple(_reviews(rng, n, num_words or 10000) for n in (N_TRAIN, N_TEST))
    return tuple(_images(rng, n, IMAGES[name], column=name == "cifar10") for n in (N_TRAIN, N_TEST))


def describe(name: str) -> str:
    form = "reviews of 20-150 token ids" if name == "imdb" else "images of " + "x".join(map(str, IMAGES[name]))
    return f"{N_TRAIN} + {N_TEST} generated {form}"


def _images(rng, n: int, shape: tuple[int, ...], column: bool):
    # Each class gets its own mean brightness, so the pipeline has something to learn.
    labels = rng.integers(0, 10, size=n)
    pixels = rng.normal(40.0 + 20.0 * labels.reshape(-1, *[1] * len(shape)), 30.0, size=(n, *shape))
    labels = labels.reshape(-1, 1) if column else labels
    return np.clip(pixels, 0, 255).astype(np.uint8), labels.astype(np.int64)


def _reviews(rng, n: int, num_words: int):
    labels = rng.integers(0, 2, size=n)
    # A positive review draws most words from the upper half of the vocabulary, a negative one from the
    # lower half. Ids stay below num_words (the embedding's size); a vocabulary of 3 leaves only OOV (2).
    top = max(num_words, IMDB_FIRST_WORD + 2)
    middle = (IMDB_FIRST_WORD + top) // 2
    reviews = np.empty(n, dtype=object)
    for i, label in enumerate(labels):
        length = rng.integers(20, 151)
        low, high = (middle, top) if label else (IMDB_FIRST_WORD, middle)
        words = np.where(rng.random(length) < 0.7, rng.integers(low, high, size=length),
                         rng.integers(IMDB_FIRST_WORD, top, size=length))
        reviews[i] = [IMDB_START] + np.minimum(words, num_words - 1).tolist()
    return reviews, labels.astype(np.int64)
