"""The NumPy LeNet-5, LSTM and Transformer trained as experiments (nnkeras.scratch.run).

Each writes the run directory a Keras run of its twin writes (files, TensorBoard
tags), resumes to the same end, holds its NumPy weights in model.keras, and
(slow) converts to TFLite and serves predictions equal to the NumPy forward pass.
"""

import inspect
import json

import numpy as np
import pytest

from nnkeras import models, runs
from nnkeras.config import DataConfig, Experiment, ModelConfig, TrainConfig

NEW_MODELS = ("scratch_lenet5", "scratch_lstm", "scratch_transformer")
TOKENS = DataConfig(name="long_range", seq_len=6, num_classes=3, size=240, val_fraction=0.2)
# case -> (model, its data, small builder arguments); the data is generated, so every run is offline
CASES = {
    "scratch_lenet5": ("scratch_lenet5", DataConfig(name="synthetic", shape=(12, 12, 1), num_classes=3, size=240,
                                                    val_fraction=0.2), {"activation": "relu"}),
    "scratch_lstm": ("scratch_lstm", DataConfig(name="adding", seq_len=8, size=240, val_fraction=0.2),
                     {"units": 8, "dropout": 0.2}),
    "scratch_lstm_tokens": ("scratch_lstm", TOKENS, {"units": 8, "embed_dim": 4}),
    "scratch_transformer": ("scratch_transformer", TOKENS, {"embed_dim": 8, "num_heads": 2, "ff_dim": 8, "dropout": 0.1}),
    "scratch_transformer_pre_masked": ("scratch_transformer", TOKENS, {
        "embed_dim": 8, "num_heads": 2, "ff_dim": 8, "dropout": 0.1, "norm": "pre", "mask_padding": True}),
}


def experiment(case: str, engine: str = "auto", epochs: int = 2, **train) -> Experiment:
    model, data, params = CASES[case]
    return Experiment(name=case, data=data, model=ModelConfig(model, dict(params)),
                      train=TrainConfig(**{"epochs": epochs, "batch_size": 32, "learning_rate": 1e-2,
                                           "engine": engine, **train}), seed=5)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """case -> its NumPy run, trained on first use."""
    from nnkeras.training import train

    root, made = tmp_path_factory.mktemp("scratch_nets"), {}

    def run_of(case):
        if case not in made:
            made[case] = train(experiment(case), root / case)
        return made[case]

    return run_of


def _tags(folder) -> set[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    events.Reload()
    return {tag for tag in events.Tags()["tensors"] if not tag.startswith("evaluation_")}


def restored_net(run_dir, case):
    """The NumPy network of a finished run, with the float64 weights of its last checkpoint."""
    import keras

    from nnkeras.data import DataSpec
    from nnkeras.scratch.run import SCRATCH_STATE, network_for

    spec = DataSpec.from_dict(runs.read_json(run_dir / runs.DATA_SPEC), "data_spec.json")
    twin = models.build(experiment(case).model.name, spec, experiment(case).model.params)
    net = network_for(experiment(case), spec, twin)
    state = json.loads((run_dir / runs.CHECKPOINTS / runs.STATE).read_text())
    with np.load(run_dir / runs.CHECKPOINTS / SCRATCH_STATE.format(state["epoch"])) as saved:
        for i, param in enumerate(net.params()):
            param[...] = saved[f"param_{i}"]
    keras.backend.clear_session()
    return net


def test_the_new_models_are_numpy_models_whose_twins_pass_every_builder_argument():
    from nnkeras.models import scratch_twin
    from nnkeras.models.recurrent import build_rnn
    from nnkeras.models.transformer import build_transformer
    from nnkeras.scratch.run import NETWORKS

    assert set(NETWORKS) == set(models.NUMPY_MODELS) >= set(NEW_MODELS)
    assert all(models.engine_for(name) == "numpy" for name in NEW_MODELS)
    # A builder argument the twin leaves to its default could change under it (and part it from
    # the NumPy network): every one must appear by name in the twin's call.
    for twin, builder in ((scratch_twin.build_scratch_transformer, build_transformer),
                          (scratch_twin.build_scratch_lstm, build_rnn)):
        source = inspect.getsource(twin)
        for argument in list(inspect.signature(builder).parameters)[1:]:
            assert f"{argument}=" in source, (twin.__name__, argument)


@pytest.mark.parametrize("case", NEW_MODELS)
def test_numpy_run_writes_what_a_keras_run_of_its_twin_writes(trained, case, tmp_path):
    from nnkeras.training import train

    scratch = trained(case)
    keras_run = train(experiment(case, engine="keras"), tmp_path / "keras")
    assert json.loads((scratch.run_dir / runs.CONFIG).read_text())["train"]["engine"] == "numpy"
    assert {p.name for p in scratch.run_dir.iterdir()} == {p.name for p in keras_run.run_dir.iterdir()}
    assert set(scratch.metrics) == set(keras_run.metrics)
    assert scratch.metrics["params"] == keras_run.metrics["params"]
    assert scratch.metrics["epochs_run"] == 2 and 0.0 <= scratch.metrics["test_accuracy"] <= 1.0
    for split in ("train", "validation", "test"):
        assert _tags(scratch.run_dir / runs.TENSORBOARD / split) == _tags(keras_run.run_dir / runs.TENSORBOARD / split)
    assert [row["epoch"] for row in scratch.history] == [1, 2]


@pytest.mark.parametrize("case", list(CASES))
def test_model_keras_computes_what_the_numpy_network_computes(trained, case):
    from nnkeras import data

    result = trained(case)
    assert result.metrics["best_epoch"] == 2  # so model.keras holds the last checkpoint's weights
    model = models.load_model(result.run_dir / runs.MODEL)
    ds = data.load(experiment(case).data, seed=5)
    keras_logits = np.asarray(model.predict(ds.x_test, verbose=0))
    numpy_logits = restored_net(result.run_dir, case).logits(np.asarray(ds.x_test))
    np.testing.assert_allclose(keras_logits, numpy_logits, rtol=1e-4, atol=1e-4)  # float32 against float64
    assert np.mean(keras_logits.argmax(1) == numpy_logits.argmax(1)) == 1.0


@pytest.mark.parametrize("case", ["scratch_transformer", pytest.param("scratch_lstm", marks=pytest.mark.slow)])
def test_resumed_run_with_dropout_ends_where_an_uninterrupted_one_does(tmp_path, case):
    """Batches and dropout masks depend on (seed, epoch) alone, so the float64 path continues exactly."""
    from nnkeras.training import train

    straight = train(experiment(case, epochs=3), tmp_path / "straight")
    train(experiment(case, epochs=1), tmp_path / "cut")
    (tmp_path / "cut" / runs.METRICS).unlink()  # as if killed after epoch 1
    resumed = train(experiment(case, epochs=3), tmp_path / "cut", resume=True)
    assert [r["val_loss"] for r in resumed.history] == [r["val_loss"] for r in straight.history]
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in straight.history]
    assert resumed.metrics["test_loss"] == straight.metrics["test_loss"]


def test_gradient_norms_of_a_numpy_lenet5_name_its_layers(tmp_path):
    from nnkeras.training import train

    result = train(experiment("scratch_lenet5", gradient_norms=True), tmp_path / "run")
    header = (result.run_dir / "gradient_norms.csv").read_text().splitlines()[0].split(",")
    assert header == ["epoch", "conv_1", "conv_2", "dense_120", "dense_84", "logits"]
    assert (result.run_dir / "gradient_norms.png").is_file()


def test_float_sequences_into_a_token_model_fail_in_one_line_before_writing(tmp_path):
    from nnkeras.errors import ConfigError
    from nnkeras.training import train

    wrong = experiment("scratch_transformer")
    wrong.data = CASES["scratch_lstm"][1]
    with pytest.raises(ConfigError) as info:
        train(wrong, tmp_path / "run")
    assert "scratch_transformer" in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
@pytest.mark.parametrize("case", NEW_MODELS)
def test_numpy_run_converts_and_serves_the_numpy_predictions(trained, case):
    """`nnkeras convert` (builtin TFLite ops, verified on the test split), then `nnkeras serve`'s
    /predict on raw test inputs: the probabilities of the NumPy forward pass."""
    from nnkeras import data
    from nnkeras.export import convert as export
    from nnkeras.scratch.activations import softmax
    from nnkeras.serve.app import create_app

    run_dir = trained(case).run_dir
    report = export.convert(run_dir, "none").report
    assert report["passed"] and report["agreement"] == 1.0, report
    cfg = experiment(case).data
    raw = data.DATASETS[cfg.name](cfg)
    answer = create_app(run_dir / "model.tflite").test_client().post(
        "/predict", json={"instances": raw.x_test[:40].tolist()})
    assert answer.status_code == 200, answer.get_json()
    served = np.array([p["probabilities"] for p in answer.get_json()["predictions"]])
    expected = softmax(restored_net(run_dir, case).logits(np.asarray(data.load(cfg, seed=5).x_test[:40])))
    np.testing.assert_allclose(served, expected, atol=1e-4)
    assert np.array_equal(served.argmax(1), expected.argmax(1))
