"""Word order: a generated text task that only word ORDER decides, padded like IMDB.

Each example is a "review" of random length (a tenth of data.seq_len up to
data.seq_len tokens): Keras's start id 1, then filler words, among which the
two marker words FIRST and SECOND each occur exactly once. Fillers follow
Zipf's law over the rest of the vocabulary (the word of rank r with odds 1/r),
as words in real text do. The label is 1 when
FIRST comes before SECOND. Every example holds the same markers once, and the
fillers are drawn the same way for both labels, so the bag of words (which
words, how often) carries no information: a bag-of-words classifier scores
chance (tests/test_word_order.py measures it with scikit-learn). Reviews are
padded with 0 at the front, as nnkeras.data.text pads IMDB.
"""

from __future__ import annotations

import numpy as np

from nnkeras.data.base import DataSpec, RawSplits, check_generated_size
from nnkeras.data.text import INDEX_FROM, START, pad
from nnkeras.errors import DataError

FIRST, SECOND = INDEX_FROM, INDEX_FROM + 1  # the two marker words (ids 3 and 4, like frequent words in IMDB)
FILLERS_FROM = INDEX_FROM + 2
MIN_LENGTH = 4  # start, two markers, one filler
SEED = 8642  # fixed: the data is the task, not the run


def order_label(ids: np.ndarray) -> np.ndarray:
    """1 where FIRST occurs before SECOND in a row of token ids (the rule, written once)."""
    return (np.argmax(ids == FIRST, axis=1) < np.argmax(ids == SECOND, axis=1)).astype(np.int64)


def _reviews(rng: np.random.Generator, n: int, seq_len: int, vocab: int):
    lengths = rng.integers(max(MIN_LENGTH, seq_len // 10), seq_len + 1, size=n)
    labels = rng.integers(0, 2, size=n)
    zipf = 1.0 / np.arange(1, vocab - FILLERS_FROM + 1)
    fillers = FILLERS_FROM + rng.choice(len(zipf), size=int((lengths - 1).sum()), p=zipf / zipf.sum())
    ends = np.cumsum(lengths - 1)
    reviews = []
    for length, label, end in zip(lengths, labels, ends):
        words = fillers[end - (length - 1):end].copy()
        early, late = np.sort(rng.choice(length - 1, size=2, replace=False))
        words[early], words[late] = (FIRST, SECOND) if label else (SECOND, FIRST)
        reviews.append(np.concatenate([[START], words]))
    return pad(reviews, seq_len), labels.astype(np.int64)


def load_word_order(cfg) -> RawSplits:
    """Word order: is marker word A before marker word B among random words? (generated; bag of words: chance)"""
    if cfg.seq_len < MIN_LENGTH:
        raise DataError(f"word_order: data.seq_len must be at least {MIN_LENGTH} (start, two markers, a filler),"
                        f" got {cfg.seq_len}")
    if cfg.vocab_size <= FILLERS_FROM:
        raise DataError(f"word_order: data.vocab_size must be above {FILLERS_FROM} (padding, start, out-of-vocabulary,"
                        f" two markers and at least one filler word), got {cfg.vocab_size}")
    check_generated_size(cfg, cfg.seq_len, "word_order")
    rng = np.random.default_rng(SEED)
    x_train, y_train = _reviews(rng, cfg.size, cfg.seq_len, cfg.vocab_size)
    x_test, y_test = _reviews(rng, max(2, cfg.size // 5), cfg.seq_len, cfg.vocab_size)
    spec = DataSpec("word_order", (cfg.seq_len,), 2, ("second_first", "first_first"), input_dtype="int32",
                    vocab_size=cfg.vocab_size)
    return RawSplits(x_train, y_train, x_test, y_test, spec)
