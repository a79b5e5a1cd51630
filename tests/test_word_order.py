"""The word_order dataset: only the order of two words decides the label, so a bag of words scores chance."""

from __future__ import annotations

import numpy as np
import pytest

from nnkeras import data
from nnkeras.config import DataConfig
from nnkeras.data.text import START
from nnkeras.data.word_order import FIRST, SECOND, load_word_order, order_label
from nnkeras.errors import DataError


@pytest.fixture(scope="module")
def raw():
    return load_word_order(DataConfig(name="word_order", vocab_size=500, seq_len=60, size=4000))


def bag_of_words(x, vocab: int):
    """Counts of each word id in each row (padding id 0 dropped)."""
    counts = np.zeros((len(x), vocab))
    np.add.at(counts, (np.repeat(np.arange(len(x)), x.shape[1]), x.ravel()), 1)
    return counts[:, 1:]


def test_a_bag_of_words_logistic_regression_scores_chance(raw):
    from sklearn.linear_model import LogisticRegression

    classifier = LogisticRegression(max_iter=1000).fit(bag_of_words(raw.x_train, 500), raw.y_train)
    accuracy = classifier.score(bag_of_words(raw.x_test, 500), raw.y_test)
    assert len(raw.y_test) == 800 and abs(accuracy - 0.5) < 0.07  # 0.07 is 4 standard deviations of chance


def test_the_order_of_the_two_markers_decides_the_label(raw):
    from sklearn.linear_model import LogisticRegression

    assert np.array_equal(order_label(raw.x_train), raw.y_train)
    assert ((raw.x_train == FIRST).sum(1) == 1).all() and ((raw.x_train == SECOND).sum(1) == 1).all()
    # One order feature (where FIRST is minus where SECOND is) is all a classifier needs.
    gap = lambda x: (np.argmax(x == FIRST, 1) - np.argmax(x == SECOND, 1))[:, None]  # noqa: E731
    assert LogisticRegression().fit(gap(raw.x_train), raw.y_train).score(gap(raw.x_test), raw.y_test) == 1.0
    swapped = raw.x_test.copy()
    swapped[raw.x_test == FIRST], swapped[raw.x_test == SECOND] = SECOND, FIRST
    assert np.array_equal(order_label(swapped), 1 - raw.y_test)  # same words, other order: other label
    assert 0.45 < raw.y_train.mean() < 0.55


def test_reviews_have_different_lengths_padded_at_the_front_as_imdb(raw):
    lengths = (raw.x_train != 0).sum(1)
    assert lengths.min() >= 6 and lengths.max() == 60 and len(np.unique(lengths)) > 40
    first = raw.x_train.shape[1] - lengths  # index of each review's first token
    assert (raw.x_train[np.arange(len(lengths)), first] == START).all()
    assert all((row[:start] == 0).all() and (row[start:] != 0).all() for row, start in zip(raw.x_train, first))


def test_generated_the_same_every_time_and_registered():
    cfg = DataConfig(name="word_order", vocab_size=50, seq_len=20, size=100)
    one, two = load_word_order(cfg), load_word_order(cfg)
    assert np.array_equal(one.x_train, two.x_train) and np.array_equal(one.y_test, two.y_test)
    ds = data.load(cfg, seed=0)
    assert ds.spec.vocab_size == 50 and ds.x_train.dtype == np.int32 and ds.x_train.max() < 50
    assert "word_order" in data.describe()


@pytest.mark.parametrize("cfg, message", [
    ({"seq_len": 3}, "data.seq_len must be at least 4"),
    ({"vocab_size": 5}, "data.vocab_size must be above 5"),
])
def test_too_small_settings_are_one_line(cfg, message):
    with pytest.raises(DataError, match=message) as caught:
        load_word_order(DataConfig(name="word_order", **cfg))
    assert "\n" not in str(caught.value)
