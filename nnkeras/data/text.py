"""Sequence datasets: IMDB reviews (token ids) and two synthetic long-range memory tasks.

Sequences are padded (with 0) or cut at the front to `data.seq_len`, as
Keras's `pad_sequences` does by default, so the last tokens are always kept.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np

from nnkeras.data import safe_pickle
from nnkeras.data.base import DataSpec, RawSplits, check_generated_size, check_labels, keras_download
from nnkeras.errors import DataError

# Keras's imdb.npz convention: ids are word ranks shifted by 3; 0 pads, 1 starts, 2 is out-of-vocabulary.
START, OOV, INDEX_FROM = 1, 2, 3
NOISE_TOKENS = 30  # long_range: filler ids besides the label ids


def pad(sequences, length: int) -> np.ndarray:
    """Left-pad with 0 (or keep the last `length` tokens) to a (n, length) int32 array."""
    out = np.zeros((len(sequences), length), dtype=np.int32)
    for i, seq in enumerate(sequences):
        seq = list(seq)[-length:]
        if seq:
            out[i, -len(seq):] = seq
    return out


def load_imdb(cfg) -> RawSplits:
    """IMDB movie reviews, 25,000 + 25,000, positive/negative (download, or data.dir with imdb.npz)."""
    if cfg.dir:
        (x_train, y_train), (x_test, y_test) = _read_imdb_npz(Path(cfg.dir).expanduser() / "imdb.npz", cfg.vocab_size)
    else:
        (x_train, y_train), (x_test, y_test) = keras_download(
            "imdb", "Put Keras's imdb.npz in a folder and pass --set data.dir=FOLDER", num_words=cfg.vocab_size,
            stand_in=cfg.stand_in)
    spec = DataSpec("imdb", (cfg.seq_len,), 2, ("negative", "positive"), input_dtype="int32",
                    vocab_size=cfg.vocab_size)
    return RawSplits(pad(x_train, cfg.seq_len), check_labels(y_train, 2, "imdb training labels"),
                     pad(x_test, cfg.seq_len), check_labels(y_test, 2, "imdb test labels"), spec)


def _cap_vocabulary(sequences, vocab_size: int):
    """Keras's encoding: START, then rank+3 per word; ranks past the vocabulary become OOV."""
    return [[START] + [w if w < vocab_size else OOV for w in (np.asarray(s) + INDEX_FROM)] for s in sequences]


def _read_imdb_npz(path: Path, vocab_size: int):
    if not path.is_file():
        raise DataError(f"{path}: file not found; data.dir must hold Keras's imdb.npz")
    try:
        # Keras stores ragged sequences as object arrays, which NumPy pickles:
        # read them with an unpickler that runs no code (Keras's own loader does not).
        archive = safe_pickle.load_npz(path)
        arrays = {k: archive[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except KeyError as exc:
        raise DataError(f"{path}: missing array {exc}; expected Keras's imdb.npz layout") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as exc:
        raise DataError(f"{path}: not a readable .npz archive ({exc}); download it again") from None
    for split in ("train", "test"):
        if len(arrays[f"x_{split}"]) != len(arrays[f"y_{split}"]):
            raise DataError(f"{path}: x_{split} and y_{split} differ in length")
    return ((_cap_vocabulary(arrays["x_train"], vocab_size), arrays["y_train"]),
            (_cap_vocabulary(arrays["x_test"], vocab_size), arrays["y_test"]))


def load_long_range(cfg) -> RawSplits:
    """Long-range memory: the class is the FIRST token of data.seq_len; the rest is noise.

    The noise includes the label ids themselves, so a network cannot learn to
    ignore later tokens: it must keep the first one while lookalikes stream by.
    """
    classes, length = cfg.num_classes, cfg.seq_len
    check_generated_size(cfg, length, "long_range")
    vocab = classes + 1 + NOISE_TOKENS
    rng = np.random.default_rng(4321)  # fixed: the task, not the run

    def sample(n):
        labels = rng.integers(0, classes, size=n)
        tokens = rng.integers(1, vocab, size=(n, length)).astype(np.int32)
        tokens[:, 0] = labels + 1  # ids 1..classes carry the label; 0 stays padding
        return tokens, labels.astype(np.int64)

    x_train, y_train = sample(cfg.size)
    x_test, y_test = sample(max(classes, cfg.size // 5))
    names = tuple(f"first_token_{i + 1}" for i in range(classes))
    spec = DataSpec("long_range", (length,), classes, names, input_dtype="int32", vocab_size=vocab)
    return RawSplits(x_train, y_train, x_test, y_test, spec)


def load_adding(cfg) -> RawSplits:
    """The adding problem: are the two marked values of data.seq_len steps above 1 in sum?

    Each step holds (a random value in [0, 1], a marker 0/1); one marker sits
    in the first tenth of the sequence, the other in the last half. Classic
    long-range benchmark (Hochreiter & Schmidhuber, 1997), here as a balanced
    two-class question so the usual classifiers and metrics apply.
    """
    length = cfg.seq_len
    if length < 4:
        raise DataError(f"data.seq_len must be at least 4 for the adding problem, got {length}")
    check_generated_size(cfg, 2 * length, "adding")
    rng = np.random.default_rng(2468)  # fixed: the task, not the run

    def sample(n):
        x = np.zeros((n, length, 2), dtype=np.float32)
        x[:, :, 0] = rng.uniform(0, 1, size=(n, length))
        rows = np.arange(n)
        first = rng.integers(0, max(1, length // 10), size=n)
        second = rng.integers(length // 2, length, size=n)
        x[rows, first, 1] = x[rows, second, 1] = 1.0
        total = x[rows, first, 0] + x[rows, second, 0]
        return x, (total > 1.0).astype(np.int64)

    x_train, y_train = sample(cfg.size)
    x_test, y_test = sample(max(2, cfg.size // 5))
    spec = DataSpec("adding", (length, 2), 2, ("sum_below_1", "sum_above_1"))
    return RawSplits(x_train, y_train, x_test, y_test, spec)
