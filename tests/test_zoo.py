"""Every registered builder: builds for its kind of data, predicts finite logits, reloads identically."""

import numpy as np
import pytest

from nnkeras import models
from nnkeras.data import DataSpec
from nnkeras.errors import ConfigError

DIGITS = tuple("0123456789")
MNIST = DataSpec("mnist", (28, 28, 1), 10, DIGITS)
CIFAR = DataSpec("cifar10", (32, 32, 3), 10, DIGITS)
TOKENS = DataSpec("tokens", (20,), 3, ("a", "b", "c"), input_dtype="int32", vocab_size=50)
TABLE = DataSpec("table", (3,), 2, ("no", "yes"), input_dtype="features", features={
    "categorical": {"Sex": ["female", "male"], "Pclass": ["1", "2", "3"]},
    "numeric": {"Age": [30.0, 200.0]},
})

# builder -> (spec it is meant for, small keyword arguments)
CASES = {
    "mlp": (MNIST, {}),
    "lenet5": (MNIST, {}),
    "convnet": (CIFAR, {"filters": (8, 16), "dense": 16, "rotation": 0.1, "shift": 0.1, "flip": True}),
    "rnn": (TOKENS, {"cell": "gru", "units": 8, "embed_dim": 8, "bidirectional": True}),
    "rnn_float_sequence": (DataSpec("adding", (12, 2), 2, ("lo", "hi")), {"cell": "simple_rnn", "units": 4}),
    "lstm_attention": (TOKENS, {"units": 8, "embed_dim": 8, "attention_units": 8}),
    "transformer": (TOKENS, {"embed_dim": 16, "num_heads": 2, "ff_dim": 16}),
    "wide_deep": (TABLE, {"hidden": (8,)}),
    "arcface": (MNIST, {"embedding_dim": 8, "filters": (4, 8)}),
    "scratch_mlp": (MNIST, {"hidden": (8, 8), "activation": "sigmoid", "init": "xavier_sigmoid"}),
    "scratch_lenet5": (MNIST, {"activation": "tanh"}),
    "scratch_lstm": (TOKENS, {"units": 8, "embed_dim": 8}),
    "scratch_lstm_float_sequence": (DataSpec("adding", (12, 2), 2, ("lo", "hi")), {"cell": "simple_rnn", "units": 4}),
    "scratch_transformer": (TOKENS, {"embed_dim": 16, "num_heads": 2, "ff_dim": 16}),
}
# Reference models with a known size.
PINNED_PARAMS = {"mlp": 23_860, "lenet5": 61_706}


def builder_of(case: str) -> str:
    return case if case in models.BUILDERS else case.rsplit("_", 2)[0]


def test_every_builder_has_a_case():
    assert {builder_of(case) for case in CASES} == set(models.BUILDERS)


def example_inputs(spec, n=6, seed=0):
    rng = np.random.default_rng(seed)
    if spec.input_dtype == "int32":
        return rng.integers(0, spec.vocab_size, size=(n, *spec.input_shape)).astype("int32")
    if spec.input_dtype == "features":
        x = {c: rng.choice(v + ["", "unseen"], size=(n, 1)).astype(object) for c, v in spec.features["categorical"].items()}
        x.update({c: rng.normal(30, 10, size=(n, 1)).astype("float32") for c in spec.features["numeric"]})
        x["Age"][0, 0] = np.nan  # a missing value must still give finite logits
        return x
    return rng.normal(size=(n, *spec.input_shape)).astype("float32")


def as_tensors(x):
    import tensorflow as tf

    return tf.nest.map_structure(tf.constant, x)


@pytest.mark.parametrize("name", sorted(CASES))
def test_builder_builds_predicts_and_reloads_identically(name, tmp_path):
    import keras

    spec, kwargs = CASES[name]
    model = models.build(builder_of(name), spec, kwargs)
    assert model.output_shape == (None, spec.num_classes)
    assert all(layer.name for layer in model.layers)
    x = as_tensors(example_inputs(spec))
    logits = model.predict(x, verbose=0)
    assert logits.shape == (6, spec.num_classes) and np.isfinite(logits).all()
    model.save(tmp_path / "model.keras")
    again = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), logits, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name, params", sorted(PINNED_PARAMS.items()))
def test_reference_models_have_their_published_size(name, params):
    assert models.build(name, MNIST, {}).count_params() == params


@pytest.mark.parametrize("name, spec, params, message", [
    ("lenet5", TOKENS, {}, "lenet5 takes float inputs"),
    ("convnet", DataSpec("v", (10,), 2, ("a", "b")), {}, "convnet needs images of shape (height, width, channels)"),
    ("mlp", TOKENS, {}, "mlp takes float inputs"),
    ("rnn", MNIST, {}, "reads sequences of token ids"),
    ("transformer", TOKENS, {"max_len": 10}, "sequences of 20 tokens are longer than model.max_len=10"),
    ("transformer", TOKENS, {"embed_dim": 10, "num_heads": 4}, "model.embed_dim (10) must be a positive multiple"),
    ("rnn", DataSpec("t", (5,), 2, ("a", "b"), input_dtype="int32", vocab_size=0), {}, "vocabulary of at least 2"),
    ("rnn", TOKENS, {"cell": "transformer"}, "model.cell must be one of simple_rnn, lstm, gru"),
    ("wide_deep", MNIST, {}, "wide_deep needs a tabular dataset"),
    ("wide_deep", DataSpec("t", (1,), 2, ("a", "b"), input_dtype="features",
                           features={"categorical": {"Sex": []}, "numeric": {}}), {}, "non-empty vocabulary"),
    ("wide_deep", TABLE, {"crosses": ("Sex:Cabin",)}, "model.crosses"),
    ("arcface", MNIST, {"margin": 2.0}, "model.margin must be in [0, 1.5)"),
    ("lenet5", DataSpec("d", (8, 8, 1), 10, DIGITS), {}, "at least 12x12"),
    ("scratch_lenet5", MNIST, {"activation": "elu"}, "model.activation must be one of sigmoid, tanh, relu for scratch_lenet5"),
    ("scratch_lstm", TOKENS, {"cell": "gru"}, "model.cell must be one of simple_rnn, lstm for scratch_lstm"),
    ("scratch_transformer", MNIST, {}, "reads sequences of token ids"),
])
def test_incompatible_spec_or_argument_fails_at_build_time_naming_it(name, spec, params, message):
    with pytest.raises(ConfigError) as info:
        models.build(name, spec, params)
    assert message in str(info.value)


def test_augmentation_is_identity_at_inference():
    spec, _ = CASES["convnet"]
    model = models.build("convnet", spec, {"filters": (4,), "rotation": 0.2, "shift": 0.2, "flip": True})
    plain = models.build("convnet", spec, {"filters": (4,)})
    plain.set_weights(model.get_weights())
    x = example_inputs(spec)
    np.testing.assert_allclose(model(x, training=False), plain(x, training=False), rtol=1e-6, atol=1e-6)
    assert not np.allclose(model(x, training=True), model(x, training=False))


def test_scaled_dot_product_attention_equals_keras_multi_head_attention():
    import keras
    from keras import ops

    from nnkeras.layers import scaled_dot_product_attention

    heads, key_dim, d_model, seq = 3, 4, 12, 7
    mha = keras.layers.MultiHeadAttention(heads, key_dim)
    x = np.random.default_rng(0).normal(size=(2, seq, d_model)).astype("float32")
    expected = mha(x, x)
    wq, bq, wk, bk, wv, bv, wo, bo = [w.numpy() for w in mha.weights]

    def project(w, b):  # (batch, seq, d_model) x (d_model, heads, key_dim) -> (batch, heads, seq, key_dim)
        return np.transpose(np.einsum("bsd,dhk->bshk", x, w) + b, (0, 2, 1, 3))

    out, weights = scaled_dot_product_attention(project(wq, bq), project(wk, bk), project(wv, bv))
    out = np.transpose(ops.convert_to_numpy(out), (0, 2, 1, 3))  # back to (batch, seq, heads, key_dim)
    manual = np.einsum("bshk,hkd->bsd", out, wo) + bo
    np.testing.assert_allclose(manual, ops.convert_to_numpy(expected), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(weights).sum(axis=-1), 1.0, rtol=1e-6)


def test_attention_mask_blocks_masked_keys():
    from keras import ops

    from nnkeras.layers import scaled_dot_product_attention

    q = k = v = np.eye(3, dtype="float32")[None]
    mask = np.array([[[1, 1, 0]] * 3])
    _, weights = scaled_dot_product_attention(q, k, v, mask)
    assert np.allclose(ops.convert_to_numpy(weights)[..., 2], 0.0)


def test_arcface_loss_is_cross_entropy_without_margin_and_larger_with_it():
    import keras

    from nnkeras.layers import ArcFaceLoss

    cosines = np.array([[0.9, 0.1, -0.2], [0.3, 0.5, 0.0]], dtype="float32")
    labels = np.array([0, 1])
    plain = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, 30 * cosines)
    no_margin = ArcFaceLoss(scale=30.0, margin=0.0)(labels, 30 * cosines)
    with_margin = ArcFaceLoss(scale=30.0, margin=0.5)(labels, 30 * cosines)
    np.testing.assert_allclose(float(no_margin), float(plain), rtol=1e-4)
    assert float(with_margin) > float(plain)
