import dataclasses
import json

import numpy as np
import pytest

from nnkeras import models
from nnkeras.config import DATA_SETTINGS_READ, DataConfig, Experiment, ModelConfig, apply_overrides, flat, smoke
from nnkeras.errors import ConfigError


def base():
    return Experiment(name="t", model=ModelConfig(name="mlp", params={"hidden": (30,)}))


def override(*items):
    return apply_overrides(base(), list(items))


def test_overrides_are_parsed_to_the_field_type():
    exp = override("train.epochs=10", "train.learning_rate=3e-4", "data.limit=none",
                   "data.shape=8,8,1", "seed=7", "data.dir=/x/y")
    assert exp.train.epochs == 10 and isinstance(exp.train.epochs, int)
    assert exp.train.learning_rate == pytest.approx(3e-4)
    assert exp.data.limit is None
    assert exp.data.shape == (8, 8, 1)
    assert exp.seed == 7
    assert exp.data.dir == "/x/y"


def test_model_arguments_are_typed_by_the_builder_signature():
    exp = override("model.hidden=[64, 32]", "model.dropout=0.2", "model.batch_norm=true", "model.activation=tanh")
    assert exp.model.params == {"hidden": (64, 32), "dropout": 0.2, "batch_norm": True, "activation": "tanh"}


def test_overrides_leave_the_original_untouched():
    original = base()
    apply_overrides(original, ["train.epochs=9"])
    assert original.train.epochs == 5


@pytest.mark.parametrize("item, message", [
    ("train.epoch=3", "unknown key 'train.epoch'; did you mean 'train.epochs'?"),
    ("optimiser=adam", "unknown key 'optimiser'"),
    ("train.epochs=ten", "train.epochs must be an integer (got 'ten')"),
    ("train.epochs=0", "train.epochs must be in [1, 100000] (got 0)"),
    ("train.learning_rate=0", "train.learning_rate must be in (0.0, 10.0]"),
    ("train.learning_rate=nan", "train.learning_rate must be a finite number"),
    ("train.optimizer=lbfgs", "train.optimizer must be one of adam, adamw, sgd, rmsprop"),
    ("data.val_fraction=1.5", "data.val_fraction must be in (0.0, 0.9]"),
    ("data.shape=28,x", "data.shape must be an integer"),
    ("train.epochs", "expected KEY=VALUE"),
    ("model.hiden=3", "unknown key 'model.hiden'; did you mean 'model.hidden'?"),
    ("model.dropout=lots", "model.dropout must be a number (got 'lots')"),
])
def test_bad_overrides_name_the_key_and_what_is_allowed(item, message):
    with pytest.raises(ConfigError) as info:
        override(item)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_config_round_trips_through_json():
    exp = override("model.hidden=64,32", "data.shape=8,8,1")
    again = Experiment.from_dict(json.loads(exp.to_json()))
    assert again == exp


def test_config_file_with_unknown_key_is_rejected(tmp_path):
    raw = json.loads(base().to_json())
    raw["train"]["epochz"] = 3
    path = tmp_path / "config.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match="unknown key 'train.epochz'"):
        Experiment.load(path)


def test_flat_gives_tensorboard_friendly_values():
    values = flat(override("model.hidden=64,32"))
    assert values["model.hidden"] == "(64, 32)"
    assert values["train.epochs"] == 5
    assert all(isinstance(v, (bool, int, float, str)) for v in values.values())


def test_smoke_shrinks_but_keeps_the_experiment():
    small = smoke(base())
    assert small.train.epochs == 2 and small.data.limit == 512
    assert small.model == base().model


def test_flat_leaves_out_the_settings_the_run_never_reads():
    """HParams show what defines the run: an image dataset has no sequence length, adam no momentum."""
    values = flat(base())  # mnist, adam, constant learning rate
    assert {"data.name", "data.val_fraction", "data.dir", "train.learning_rate", "model.hidden"} <= set(values)
    assert not {"data.seq_len", "data.vocab_size", "data.shape", "data.num_classes", "data.size",
                "train.momentum", "train.warmup_fraction"} & set(values)
    tokens = flat(override("data.name=long_range", "train.optimizer=sgd", "train.schedule=warmup_cosine"))
    assert {"data.seq_len", "data.num_classes", "data.size", "train.momentum", "train.warmup_fraction"} <= set(tokens)
    assert "data.dir" not in tokens and "data.vocab_size" not in tokens  # long_range sets its own vocabulary


# A different valid value for every data setting; those a dataset does not read must not change its data.
OTHER_VALUES = {"dir": "/nonexistent", "stand_in": True, "vocab_size": 57, "seq_len": 9, "num_classes": 4,
                "size": 50, "shape": (5, 5, 1)}
# Datasets read from files made by conftest's fixtures (the rest are generated or bundled).
FROM_FILES = {"mnist": "mnist_idx_dir", "cifar10": "cifar_dir", "imdb": "imdb_dir", "titanic": "titanic_dir"}
UNCHECKED = {"fashion_mnist": "the mnist loader with other file names", "image_folder": "reads dir and shape only"}


def same_data(a, b) -> bool:
    def equal(x, y):
        if isinstance(x, dict):
            return x.keys() == y.keys() and all(equal(x[k], y[k]) for k in x)
        return x.shape == y.shape and np.array_equal(x, y, equal_nan=x.dtype.kind == "f")  # missing ages
    splits = ("x_train", "y_train", "x_test", "y_test")
    return a.spec == b.spec and all(equal(getattr(a, f), getattr(b, f)) for f in splits)


@pytest.mark.parametrize("name", sorted(set(DATA_SETTINGS_READ) - set(UNCHECKED)))
def test_a_data_setting_flat_leaves_out_does_not_change_the_data(request, name):
    from nnkeras import data

    assert set(DATA_SETTINGS_READ) == set(data.DATASETS)  # a new dataset is listed, and checked here
    base_config = DataConfig(name=name, size=200, seq_len=12, shape=(6, 6, 1), num_classes=3)
    if name in FROM_FILES:
        base_config.dir = str(request.getfixturevalue(FROM_FILES[name]))
    unread = {key: value for key, value in OTHER_VALUES.items() if key not in DATA_SETTINGS_READ[name]}
    changed = dataclasses.replace(base_config, **unread)
    assert same_data(data.DATASETS[name](base_config), data.DATASETS[name](changed)), unread
