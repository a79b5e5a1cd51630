"""Scratch training as an experiment: run directory, TensorBoard tags, seeds, resume, errors, CLI."""

import json

import numpy as np
import pytest

from nnkeras import runs
from nnkeras.config import DataConfig, Experiment, ModelConfig, TrainConfig
from nnkeras.errors import ConfigError, DataError

from conftest import kill_after_first_checkpoint


def experiment(model="scratch_mlp", **train):
    params = {"hidden": (16,)} if model == "mlp" else {"hidden": (16,), "init": "xavier"}
    return Experiment(
        name="tiny",
        data=DataConfig(name="synthetic", shape=(6, 6, 1), num_classes=3, size=300, val_fraction=0.2),
        model=ModelConfig(name=model, params=params),
        train=TrainConfig(**{"epochs": 3, "batch_size": 32, "optimizer": "adam", "learning_rate": 3e-3, **train}),
        seed=3,
    )


@pytest.fixture(scope="module")
def both_runs(tmp_path_factory):
    """The same tiny experiment trained by NumPy and by Keras."""
    from nnkeras.training import train

    root = tmp_path_factory.mktemp("runs")
    return train(experiment(), root / "scratch"), train(experiment("mlp"), root / "keras")


def _files(run_dir):
    return {p.relative_to(run_dir).parts[0] for p in run_dir.iterdir()}


def _tags(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    events.Reload()
    return events


def test_scratch_run_has_the_files_metrics_and_tags_of_a_keras_run(both_runs):
    scratch, keras_run = both_runs
    assert _files(scratch.run_dir) == _files(keras_run.run_dir)
    assert {runs.MODEL, runs.METRICS, runs.HISTORY, runs.LEARNING_CURVES, runs.CONFUSION_MATRIX} <= _files(scratch.run_dir)
    assert set(scratch.metrics) == set(keras_run.metrics)
    assert scratch.metrics["params"] == keras_run.metrics["params"] == 36 * 16 + 16 + 16 * 3 + 3
    assert scratch.metrics["n_train"] == 240 and scratch.metrics["epochs_run"] == 3
    assert scratch.metrics["test_accuracy"] > 0.6  # three separable classes: well above chance
    # model.fit's validation also logs evaluation_*_vs_iterations (the scratch loop hooks validation
    # the same way); a Keras run on the trainer's in-memory fast path may not: those are left aside.
    per_epoch = lambda folder: {t for t in _tags(folder).Tags()["tensors"] if not t.startswith("evaluation_")}  # noqa: E731
    for run in ("train", "validation", "test"):
        tb = runs.TENSORBOARD
        assert per_epoch(scratch.run_dir / tb / run) == per_epoch(keras_run.run_dir / tb / run), run
    train_tags = _tags(scratch.run_dir / runs.TENSORBOARD / "train")
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate", "dense_1/kernel/histogram"} <= set(train_tags.Tags()["tensors"])
    assert [e.step for e in train_tags.Tensors("epoch_loss")] == [0, 1, 2]
    header = (scratch.run_dir / runs.HISTORY).read_text().splitlines()[0]
    assert header == (keras_run.run_dir / runs.HISTORY).read_text().splitlines()[0]


def test_history_shows_learning_and_matches_the_logged_curves(both_runs):
    scratch = both_runs[0]
    history = scratch.history
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert history[-1]["loss"] < history[0]["loss"] and history[-1]["val_loss"] < history[0]["val_loss"]
    from tensorboard.util import tensor_util

    logged = [float(tensor_util.make_ndarray(e.tensor_proto))
              for e in _tags(scratch.run_dir / runs.TENSORBOARD / "validation").Tensors("epoch_loss")]
    np.testing.assert_allclose(logged, [row["val_loss"] for row in history], rtol=1e-6)


def test_model_keras_holds_the_scratch_weights_and_scores_the_reported_accuracy(both_runs):
    import keras

    from nnkeras import data

    scratch = both_runs[0]
    assert scratch.metrics["best_epoch"] == 3  # val_loss fell every epoch: the best weights are the last
    model = keras.models.load_model(scratch.run_dir / runs.MODEL)
    with np.load(scratch.run_dir / runs.CHECKPOINTS / "scratch-epoch-0003.npz") as saved:
        np.testing.assert_allclose(np.asarray(model.get_layer("dense_1").kernel), saved["param_0"].T, rtol=1e-6)
        np.testing.assert_allclose(np.asarray(model.get_layer("logits").bias), saved["param_3"], rtol=1e-6)
    ds = data.load(experiment().data, seed=3)
    loss, accuracy = model.evaluate(ds.x_test, ds.y_test, verbose=0)
    assert accuracy == pytest.approx(scratch.metrics["test_accuracy"], abs=1e-7)


def test_same_seed_gives_the_same_metrics_and_another_seed_does_not(both_runs, tmp_path):
    from nnkeras.training import train

    again = train(experiment(), tmp_path / "again")
    assert again.metrics["test_loss"] == both_runs[0].metrics["test_loss"]
    untimed = lambda history: [{k: v for k, v in row.items() if k != "seconds"} for row in history]  # noqa: E731
    assert untimed(again.history) == untimed(both_runs[0].history)
    other = experiment()
    other.seed = 4
    assert train(other, tmp_path / "other").metrics["test_loss"] != both_runs[0].metrics["test_loss"]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path, optimizer):
    from nnkeras.training import train

    settings = {"optimizer": optimizer, "momentum": 0.9 if optimizer == "sgd" else 0.0,
                "learning_rate": 0.05 if optimizer == "sgd" else 3e-3}
    straight = train(experiment(epochs=4, **settings), tmp_path / "straight")
    train(experiment(epochs=2, **settings), tmp_path / "cut")
    (tmp_path / "cut" / runs.METRICS).unlink()  # as if killed after epoch 2
    resumed = train(experiment(epochs=4, **settings), tmp_path / "cut", resume=True)
    assert resumed.metrics["epochs_run"] == 4
    assert resumed.metrics["test_loss"] == straight.metrics["test_loss"]  # float64 state and batches restored
    assert [r["val_loss"] for r in resumed.history] == [r["val_loss"] for r in straight.history]
    assert sorted(p.name for p in (tmp_path / "cut" / runs.CHECKPOINTS).glob("scratch-*")) == ["scratch-epoch-0004.npz"]


def test_unsupported_optimizer_and_bad_model_arguments_fail_before_writing(tmp_path):
    from nnkeras.training import train

    with pytest.raises(ConfigError, match="train.optimizer 'rmsprop' is not implemented in nnkeras.scratch"):
        train(experiment(optimizer="rmsprop"), tmp_path / "a")
    bad = experiment()
    bad.model.params["init"] = "glorot"
    with pytest.raises(ConfigError, match="model.init must be one of small, xavier, xavier_sigmoid, he, got 'glorot'"):
        train(bad, tmp_path / "b")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("split, damage, message", [
    ("x_train", lambda x: np.where(np.arange(x.size).reshape(x.shape) == 40, np.nan, x),
     "train split: inputs hold NaN or infinite values (first in example 1)"),
    ("y_val", lambda y: np.where(np.arange(len(y)) == 2, 7, y), "val split: label 7 of example 2 is outside 0..2"),
    ("y_train", lambda y: y[:-1], "train split: inputs hold 240 examples but targets hold 239"),
])
def test_bad_data_fails_with_one_line_before_writing(tmp_path, split, damage, message):
    import dataclasses

    from nnkeras import data
    from nnkeras.training import train

    ds = data.load(experiment().data, seed=3)
    broken = dataclasses.replace(ds, **{split: damage(getattr(ds, split))})
    with pytest.raises(DataError) as info:
        train(experiment(), tmp_path / "run", dataset=broken)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)
    assert not (tmp_path / "run").exists()


def test_cli_lists_scratch_and_smoke_runs_it_offline(tmp_path, capsys):
    from nnkeras.cli import main

    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    assert "scratch_mlp" in listed.split("models:")[1] and "vanishing_gradients" in listed.split("datasets:")[0]
    assert main(["run", "scratch_mlp", "--smoke", "--set", "model.activation=softmax", "--runs-dir", str(tmp_path)]) == 2
    assert "model.activation must be one of sigmoid, tanh, relu for scratch_mlp" in capsys.readouterr().err
    assert main(["run", "scratch_mlp", "--smoke", "--set", "model.hidden=24", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Epoch 2/2" in out and "test accuracy:" in out
    (run_dir,) = tmp_path.glob("scratch_mlp/*")
    metrics = json.loads((run_dir / runs.METRICS).read_text())
    assert metrics["dataset"] == "mnist_sample" and metrics["epochs_run"] == 2
    assert metrics["params"] == 784 * 24 + 24 + 24 * 10 + 10
    assert metrics["test_accuracy"] > 0.3  # real digits, 460 training images, 2 epochs: well above chance (0.1)
    assert json.loads((run_dir / runs.CONFIG).read_text())["model"]["params"]["hidden"] == [24]


def test_killed_scratch_run_resumes_with_each_epoch_once_in_tensorboard(tmp_path):
    """SIGKILL a real `nnkeras run` of the NumPy engine after a checkpoint, then `--resume` it.

    The kill may land after TensorBoard logged an epoch that no checkpoint
    holds; to make that case certain, the test also logs such an epoch itself
    before resuming. The resumed run trains it again, and must show it once.
    """
    import os
    import subprocess
    import sys
    from pathlib import Path

    import tensorflow as tf

    runs_dir, slow = tmp_path / "runs", experiment(epochs=40, checkpoint_seconds=0)  # a checkpoint every epoch
    experiment_file = tmp_path / "long_scratch.py"
    experiment_file.write_text("from nnkeras import Experiment\n"
                               f"EXPERIMENT = Experiment.from_dict({json.loads(slow.to_json())!r})\n")
    run_dir = kill_after_first_checkpoint(experiment_file, runs_dir, "tiny")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    repo = Path(__file__).resolve().parent.parent
    assert json.loads((run_dir / runs.CONFIG).read_text())["train"]["engine"] == "numpy"
    checkpointed = json.loads((run_dir / runs.CHECKPOINTS / runs.STATE).read_text())["epoch"]
    with tf.summary.create_file_writer(str(run_dir / runs.TENSORBOARD / "train")).as_default():
        tf.summary.scalar("epoch_loss", 99.0, step=checkpointed)  # an epoch logged past the checkpoint

    resumed = subprocess.run([sys.executable, "-m", "nnkeras", "run", "--resume", str(run_dir)],
                             cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    logged = [e.step for e in _tags(run_dir / runs.TENSORBOARD / "train").Tensors("epoch_loss")]
    assert sorted(logged) == list(range(40))  # each epoch once
    assert 99.0 not in [float(tf.make_ndarray(e.tensor_proto)) for e in
                        _tags(run_dir / runs.TENSORBOARD / "train").Tensors("epoch_loss")]
    assert json.loads((run_dir / runs.METRICS).read_text())["epochs_run"] == 40
