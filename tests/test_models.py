import numpy as np
import pytest

from nnkeras import models
from nnkeras.data import DataSpec
from nnkeras.errors import ConfigError

MNIST = DataSpec("mnist", (28, 28, 1), 10, tuple("0123456789"))


def test_tutorial_mlp_has_23860_parameters_and_outputs_logits():
    model = models.build_mlp(MNIST, hidden=(30,))
    assert model.count_params() == 23_860  # 784*30 + 30 + 30*10 + 10
    assert model.output_shape == (None, 10)
    assert [layer.name for layer in model.layers] == ["inputs", "flatten", "dense_1", "relu_1", "logits"]
    assert model.get_layer("logits").get_config()["activation"] == "linear"  # softmax lives in the loss


def test_mlp_options_add_named_layers():
    model = models.build_mlp(MNIST, hidden=(64, 32), activation="tanh", dropout=0.3, l2=1e-4, batch_norm=True)
    names = [layer.name for layer in model.layers]
    assert names[2:] == ["dense_1", "batch_norm_1", "tanh_1", "dropout_1",
                         "dense_2", "batch_norm_2", "tanh_2", "dropout_2", "logits"]
    assert len(model.losses) == 3  # one L2 penalty per Dense kernel


@pytest.mark.parametrize("kwargs, message", [
    ({"hidden": (30, 0)}, "model.hidden must be positive integers"),
    ({"activation": "softmaxx"}, "model.activation must be one of"),
    ({"dropout": 1.0}, "model.dropout must be in [0, 1)"),
    ({"l2": -1.0}, "model.l2 must be >= 0"),
    ({"hiddn": (3,)}, "model.hiddn is not an argument of the 'mlp' builder"),
])
def test_bad_builder_arguments_fail_with_the_key(kwargs, message):
    with pytest.raises(ConfigError) as info:
        models.build("mlp", MNIST, kwargs)
    assert message in str(info.value)


def test_unknown_builder_lists_the_known_ones():
    with pytest.raises(ConfigError, match="choose one of mlp"):
        models.build("resnet", MNIST, {})


def test_model_reloads_from_keras_file_and_predicts_the_same(tmp_path):
    import keras

    model = models.build_mlp(MNIST, hidden=(16,), batch_norm=True, dropout=0.2)
    x = np.random.default_rng(0).normal(size=(8, 28, 28, 1)).astype("float32")
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(model.predict(x, verbose=0), again.predict(x, verbose=0))


@pytest.mark.parametrize("mask_padding", [True, False])
def test_lstm_attention_gives_a_review_the_same_logits_padded_to_20_or_40(mask_padding):
    """The BiLSTM skips padding and the pooling leaves it out; unmasked (the control), padding counts."""
    from test_transformer import front_padded, token_spec

    rng = np.random.default_rng(2)
    reviews = [rng.integers(1, 30, size=n) for n in (2, 9, 20)]  # short lengths: an eager LSTM steps in Python
    small = {"units": 4, "embed_dim": 4, "attention_units": 4, "mask_padding": mask_padding}
    long_model = models.build("lstm_attention", token_spec(40), small)
    short_model = models.build("lstm_attention", token_spec(20), small)
    short_model.set_weights(long_model.get_weights())
    gap = np.abs(np.asarray(long_model(front_padded(reviews, 40))) - np.asarray(short_model(front_padded(reviews, 20))))
    assert gap.max() < 1e-5 if mask_padding else gap.max() > 1e-3
