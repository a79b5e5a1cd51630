"""The Transformer builder on the project's own attention layer: the formula equals Keras's
MultiHeadAttention, padding changes nothing, every variant saves, reloads and converts to
builtin-only TFLite."""

from __future__ import annotations

import numpy as np
import pytest

from nnkeras.data import DataSpec
from nnkeras.errors import ConfigError
from test_export import builtin_only

CLASSES = ("a", "b")
SMALL = {"embed_dim": 8, "num_heads": 2, "ff_dim": 8, "num_blocks": 2}
VARIANTS = {
    "defaults": {},  # pre-norm, attention pooling, sinusoidal positions, padding masked
    "cls_learned": {"pooling": "cls", "positions": "learned"},
    "average_post": {"pooling": "average", "norm": "post", "positions": "learned"},
    "unmasked": {"mask_padding": False, "norm": "post"},
}


def token_spec(seq_len: int, vocab: int = 30) -> DataSpec:
    return DataSpec("tokens", (seq_len,), 2, CLASSES, input_dtype="int32", vocab_size=vocab)


def front_padded(reviews, length: int) -> np.ndarray:
    """Reviews padded with 0 at the front, as IMDB's are."""
    out = np.zeros((len(reviews), length), dtype=np.int32)
    for i, review in enumerate(reviews):
        out[i, length - len(review):] = review
    return out


def transformer(seq_len, **params):
    from nnkeras.models.transformer import build_transformer

    return build_transformer(token_spec(seq_len), **{**SMALL, **params})


@pytest.mark.parametrize("masked", [False, True])
def test_own_attention_equals_keras_multi_head_attention(masked):
    import keras

    from nnkeras.layers import MultiHeadSelfAttention

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 7, 8)).astype("float32")
    keep = (rng.uniform(size=(3, 7)) > 0.4).astype("float32")
    keep[:, -1] = 1.0  # every row keeps a key
    theirs = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)
    theirs(x, x)
    mine = MultiHeadSelfAttention(num_heads=2, key_dim=4)
    mine(x)
    for w in theirs.weights:  # biases too (Keras starts them at 0), so every term of the formula is compared
        if "bias" in w.path:
            w.assign(0.1 * rng.normal(size=w.shape).astype("float32"))
    mine.set_weights(theirs.get_weights())  # the same layout: shapes and order
    expected = theirs(x, x, attention_mask=keep[:, None, :].astype(bool)) if masked else theirs(x, x)
    got = mine(x, keep=keep) if masked else mine(x)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), atol=1e-6)


def test_padded_keys_receive_no_attention():
    from nnkeras.layers import MultiHeadSelfAttention

    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 6, 8)).astype("float32")
    keep = np.ones((2, 6), "float32")
    keep[:, :2] = 0.0
    layer = MultiHeadSelfAttention(num_heads=2, key_dim=4)
    before = np.asarray(layer(x, keep=keep))
    x[:, :2] = rng.normal(size=(2, 2, 8)) * 100  # whatever the padded positions hold
    after = np.asarray(layer(x, keep=keep))
    np.testing.assert_allclose(after[:, 2:], before[:, 2:], atol=1e-5)


@pytest.mark.parametrize("variant", ["defaults", "cls_learned", "average_post"])
def test_a_review_padded_to_200_or_400_gives_the_same_logits(variant):
    rng = np.random.default_rng(2)
    reviews = [rng.integers(1, 30, size=n) for n in (5, 60, 200)]
    long_model = transformer(400, max_len=400, **VARIANTS[variant])
    short_model = transformer(200, max_len=400, **VARIANTS[variant])
    short_model.set_weights(long_model.get_weights())
    long_logits = np.asarray(long_model(front_padded(reviews, 400)))
    short_logits = np.asarray(short_model(front_padded(reviews, 200)))
    np.testing.assert_allclose(short_logits, long_logits, atol=1e-5)


def test_without_the_mask_padding_changes_the_logits():
    """Control: the claim above is not trivially true."""
    rng = np.random.default_rng(2)
    reviews = [rng.integers(1, 30, size=n) for n in (5, 60)]
    long_model = transformer(400, max_len=400, **VARIANTS["unmasked"])
    short_model = transformer(200, max_len=400, **VARIANTS["unmasked"])
    short_model.set_weights(long_model.get_weights())
    gap = np.abs(np.asarray(long_model(front_padded(reviews, 400))) - np.asarray(short_model(front_padded(reviews, 200))))
    assert gap.max() > 1e-3


def test_the_attention_formula_of_the_tutorial_runs_in_the_model():
    model = transformer(12)
    kinds = {type(layer).__name__ for layer in model.layers}
    assert "MultiHeadSelfAttention" in kinds and "MultiHeadAttention" not in kinds


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_variant_reloads_from_model_keras(tmp_path, variant):
    from nnkeras import models

    model = transformer(12, **VARIANTS[variant])
    x = front_padded([np.arange(1, 6), np.arange(3, 15)], 12)
    model.save(tmp_path / "model.keras")
    again = models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(model(x)), atol=1e-6)


@pytest.mark.parametrize("variant", ["defaults", "cls_learned", "unmasked"])
def test_converts_to_builtin_only_tflite_and_agrees(tmp_path, variant):
    import tensorflow as tf

    from nnkeras.export.convert import export_saved_model
    from nnkeras.quiet import quiet_stderr
    from nnkeras.export.litert import LiteRTModel

    model = transformer(12, **VARIANTS[variant])
    converter = tf.lite.TFLiteConverter.from_saved_model(str(export_saved_model(model, tmp_path)))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    with quiet_stderr():
        content = converter.convert()
    (tmp_path / "model.tflite").write_bytes(content)
    assert builtin_only(tmp_path / "model.tflite")
    x = front_padded([np.arange(1, 4), np.arange(2, 14), [], [7] * 12], 12)
    np.testing.assert_allclose(LiteRTModel(content).predict(x), np.asarray(model(x)), atol=1e-5)


@pytest.mark.parametrize("key, value, message", [
    ("norm", "middle", "model.norm must be one of pre, post, got 'middle'"),
    ("pooling", "max", "model.pooling must be one of average, cls, attention"),
    ("positions", "rotary", "model.positions must be one of learned, sinusoidal"),
])
def test_a_bad_choice_is_one_line_naming_the_key(key, value, message):
    from nnkeras import models

    with pytest.raises(ConfigError, match=message) as caught:
        models.build("transformer", token_spec(12), {**SMALL, key: value})
    assert "\n" not in str(caught.value)
