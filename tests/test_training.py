"""One smoke run end to end, checked file by file, and its TensorBoard logs."""

import csv
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest

from conftest import REPO, kill_after_first_checkpoint
from nnkeras import runs
from nnkeras.config import DataConfig, Experiment, ModelConfig, TrainConfig


def smoke_experiment(**train):
    return Experiment(
        name="smoke",
        data=DataConfig(name="synthetic", shape=(6, 6, 1), num_classes=3, size=400, val_fraction=0.2),
        model=ModelConfig(name="mlp", params={"hidden": (16,)}),
        train=TrainConfig(**{"epochs": 3, "batch_size": 32, **train}),
        seed=3,
    )


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    from nnkeras.training import train

    run_dir = tmp_path_factory.mktemp("runs") / "smoke" / "r1"
    return train(smoke_experiment(), run_dir)


def test_run_directory_holds_every_file(smoke_run):
    run_dir = smoke_run.run_dir
    for name in (runs.CONFIG, runs.DATA_SPEC, runs.MODEL, runs.METRICS, runs.HISTORY,
                 runs.LEARNING_CURVES, runs.CONFUSION_MATRIX, runs.TENSORBOARD):
        assert (run_dir / name).exists(), name
    for png in (runs.LEARNING_CURVES, runs.CONFUSION_MATRIX):
        assert (run_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(run_dir.rglob("*.tmp*"))  # no temporary file left behind
    # Atomic writes keep the usual permissions: whoever may read model.keras may read the rest.
    modes = {name: (run_dir / name).stat().st_mode & 0o777 for name in (runs.MODEL, runs.CONFIG, runs.METRICS,
                                                                         runs.HISTORY, runs.CONFUSION_MATRIX)}
    assert len(set(modes.values())) == 1, modes


def test_metrics_and_history_describe_the_run(smoke_run):
    metrics = json.loads((smoke_run.run_dir / runs.METRICS).read_text())
    for key in ("test_accuracy", "test_loss", "epochs_run", "train_seconds", "params", "dataset", "n_train"):
        assert key in metrics
    assert metrics["epochs_run"] == 3 and metrics["dataset"] == "synthetic" and metrics["n_train"] == 320
    assert metrics["params"] == 36 * 16 + 16 + 16 * 3 + 3
    assert metrics["test_accuracy"] > 0.6  # three separable classes: well above chance (0.33)
    rows = list(csv.DictReader((smoke_run.run_dir / runs.HISTORY).open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"} <= set(rows[0])
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    saved = Experiment.load(smoke_run.run_dir / runs.CONFIG)
    assert saved.train.engine == "keras"  # `auto` resolved: config.json says who trained it
    assert dataclasses.replace(saved, train=dataclasses.replace(saved.train, engine="auto")) == smoke_experiment()


def test_saved_model_reloads_and_scores_the_reported_accuracy(smoke_run):
    import keras

    from nnkeras import data

    model = keras.models.load_model(smoke_run.run_dir / runs.MODEL)
    ds = data.load(smoke_experiment().data, seed=3)
    loss, accuracy = model.evaluate(ds.x_test, ds.y_test, verbose=0)
    assert accuracy == pytest.approx(smoke_run.metrics["test_accuracy"], abs=1e-7)
    assert loss == pytest.approx(smoke_run.metrics["test_loss"], rel=1e-5)


def _tags(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    events.Reload()
    return events


def test_tensorboard_logs_scalars_histograms_graph_hparams_and_confusion_matrix(smoke_run):
    tb = smoke_run.run_dir / runs.TENSORBOARD
    train = _tags(tb / "train")
    tags = set(train.Tags()["tensors"])
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate", "dense_1/kernel/histogram"} <= tags
    assert train.Tags()["graph"]
    assert [e.step for e in train.Tensors("epoch_loss")] == [0, 1, 2]
    validation = set(_tags(tb / "validation").Tags()["tensors"])
    assert {"epoch_loss", "epoch_accuracy"} <= validation
    test = _tags(tb / "test")
    assert {"epoch_accuracy", "confusion_matrix"} <= set(test.Tags()["tensors"])
    from tensorboard.util import tensor_util

    logged = tensor_util.make_ndarray(test.Tensors("epoch_accuracy")[0].tensor_proto)
    assert float(logged) == pytest.approx(smoke_run.metrics["test_accuracy"])
    # What trained it, in TensorBoard as on the console and in metrics.json.
    from nnkeras import devices

    (device,) = [tensor_util.make_ndarray(e.tensor_proto).item().decode() for e in test.Tensors("device")]
    assert device == devices.line(smoke_run.metrics["device"]) and device.startswith("nnkeras: training on ")
    assert "_hparams_/session_start_info" in _tags(tb).Tags()["tensors"]


def test_hparams_show_only_the_settings_that_are_set(smoke_run):
    from tensorboard.plugins.hparams import metadata

    tb = _tags(smoke_run.run_dir / runs.TENSORBOARD)
    content = tb.SummaryMetadata(metadata.SESSION_START_INFO_TAG).plugin_data.content
    shown = metadata.parse_session_start_info_plugin_data(content).hparams
    assert shown["train.epochs"].number_value == 3 and shown["model.hidden"].string_value == "(16,)"
    # The smoke experiment leaves data.dir at None and data.holdout_classes at (): no empty columns for them.
    assert "data.dir" not in shown and "data.holdout_classes" not in shown
    assert not [key for key, value in shown.items() if value.string_value in ("None", "()", "{}", "")
                and value.WhichOneof("kind") == "string_value"]


def test_every_run_tensorboard_lists_shows_scalars_or_text(smoke_run):
    """`tensorboard --logdir runs` lists each folder with event files as a run: none of them may be empty."""
    from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer

    runs_dir = smoke_run.run_dir.parent.parent
    multiplexer = EventMultiplexer().AddRunsFromDirectory(str(runs_dir))
    multiplexer.Reload()
    shown = {plugin: multiplexer.PluginRunToTagToContent(plugin) for plugin in ("scalars", "text")}
    listed = sorted(multiplexer.Runs())
    assert "smoke/r1/tb" in listed and "smoke/r1/tb/train" in listed
    assert [run for run in listed if not any(shown[plugin].get(run) for plugin in shown)] == []


def test_same_seed_gives_the_same_metrics(smoke_run, tmp_path):
    from nnkeras.training import train

    again = train(smoke_experiment(), tmp_path / "again")
    assert again.metrics["test_loss"] == smoke_run.metrics["test_loss"]
    assert again.metrics["test_accuracy"] == smoke_run.metrics["test_accuracy"]


def test_a_run_with_thousands_of_classes_completes_without_its_confusion_figure(tmp_path, capsys):
    """2000 classes: the figure would be 100,000 pixels square; the run skips it in one line and completes."""
    from nnkeras.training import train

    experiment = dataclasses.replace(
        smoke_experiment(epochs=1), data=DataConfig(name="synthetic", shape=(2, 2, 1), num_classes=2000, size=2000))
    result = train(experiment, tmp_path / "r")
    assert result.metrics["status"] == "complete" and (result.run_dir / runs.MODEL).is_file()
    assert not (result.run_dir / runs.CONFUSION_MATRIX).exists()
    assert "no confusion_matrix.png: 2000 classes" in capsys.readouterr().out
    assert "epoch_accuracy" in _tags(result.run_dir / runs.TENSORBOARD / "test").Tags()["tensors"]


def test_early_stopping_stops_when_val_loss_stalls(tmp_path):
    from nnkeras.training import train

    # A learning rate this small leaves val_loss flat to the last digit rounding:
    # with patience 1 the run must stop well before 30 epochs.
    result = train(smoke_experiment(epochs=30, patience=1, learning_rate=1e-9, optimizer="sgd"), tmp_path / "r")
    assert result.metrics["status"] == "stopped_early"
    assert result.metrics["epochs_run"] < 30


def test_killed_run_resumes_and_matches_an_uninterrupted_one(tmp_path, smoke_run):
    """SIGKILL a real `nnkeras run` after its first epoch, then `--resume` it."""
    from nnkeras.training import train

    experiment = smoke_experiment(epochs=6, checkpoint_seconds=0)  # a checkpoint every epoch, one to kill after
    experiment_file = tmp_path / "long.py"
    experiment_file.write_text(
        "from nnkeras import DataConfig, Experiment, ModelConfig, TrainConfig\n"
        f"EXPERIMENT = Experiment.from_dict({json.loads(experiment.to_json())!r})\n"
    )
    runs_dir = tmp_path / "runs"
    run_dir = kill_after_first_checkpoint(experiment_file, runs_dir, "smoke")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    # What a kill inside write_atomic leaves: names with the dead process's pid, never reused.
    leftovers = [run_dir / ".history.csv.4242.tmp", run_dir / runs.CHECKPOINTS / ".state.json.4242.tmp"]
    for leftover in leftovers:
        leftover.write_text("half")

    resumed = subprocess.run([sys.executable, "-m", "nnkeras", "run", "--resume", str(run_dir)],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "test accuracy:" in resumed.stdout
    metrics = json.loads((run_dir / runs.METRICS).read_text())
    assert metrics["epochs_run"] == 6
    rows = list(csv.DictReader((run_dir / runs.HISTORY).open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert not any(leftover.exists() for leftover in leftovers)  # the resumed run removed them
    logged = [e.step for e in _tags(run_dir / runs.TENSORBOARD / "train").Tensors("epoch_loss")]
    assert sorted(logged) == [0, 1, 2, 3, 4, 5]  # each epoch once, even one the killed process had logged
    # Batches depend only on (seed, epoch) and the optimizer state is in the
    # checkpoint, so the resumed run ends where an uninterrupted one does.
    straight = train(experiment, tmp_path / "straight")
    assert metrics["test_loss"] == pytest.approx(straight.metrics["test_loss"], rel=1e-5)
    assert metrics["test_accuracy"] == straight.metrics["test_accuracy"]


def test_a_resumed_run_forgets_the_epochs_it_logs_again(tmp_path):
    # A killed run may have logged epochs past its last checkpoint (here 3 and 4,
    # the last record torn by the kill); the resumed run, from epoch 3, drops them first.
    import tensorflow as tf

    from nnkeras.callbacks import forget_epochs_from

    with tf.summary.create_file_writer(str(tmp_path / "train")).as_default():
        for step in range(5):
            tf.summary.scalar("epoch_loss", 1.0 / (step + 1), step=step)
    (path,) = (tmp_path / "train").glob("events.out.tfevents.*")
    path.write_bytes(path.read_bytes()[:-7])
    forget_epochs_from(tmp_path, 3)
    assert [e.step for e in _tags(tmp_path / "train").Tensors("epoch_loss")] == [0, 1, 2]
    assert [p.name for p in (tmp_path / "train").iterdir()] == [path.name]  # rewritten in place, nothing left over


def test_a_run_killed_while_finishing_logs_its_test_scores_once(tmp_path, smoke_run):
    from nnkeras.training import train

    run_dir = shutil.copytree(smoke_run.run_dir, tmp_path / "run")
    (run_dir / runs.METRICS).unlink()  # killed after the test summaries, before metrics.json
    train(smoke_experiment(), run_dir, resume=True)
    test = _tags(run_dir / runs.TENSORBOARD / "test")
    assert len(test.Tensors("epoch_accuracy")) == 1 and len(test.Tensors("confusion_matrix")) == 1


def test_diverging_run_stops_and_keeps_its_best_finite_model(tmp_path):
    from nnkeras.training import train

    # SGD at learning rate 10 blows the loss up by orders of magnitude per epoch.
    result = train(smoke_experiment(epochs=30, patience=0, learning_rate=10.0, optimizer="sgd"), tmp_path / "r")
    assert result.metrics["status"] == "diverged"
    assert result.metrics["epochs_run"] < 30
    assert result.metrics["best_epoch"] == 1
    assert np.isfinite(result.metrics["test_loss"])


def test_checkpoints_once_per_checkpoint_seconds_keep_the_best_model_and_resume_bit_identical(tmp_path, monkeypatch):
    """Short epochs are checkpointed once per train.checkpoint_seconds: the best model of an epoch
    without a checkpoint is kept in memory and written with the next one, and a run stopped
    between checkpoints resumes to the result of a run checkpointed after every epoch."""
    from nnkeras import callbacks, models
    from nnkeras.training import train

    # A learning rate that overfits the small set: val_loss turns up before the last epoch.
    every = smoke_experiment(epochs=12, patience=0, learning_rate=0.05, checkpoint_seconds=0)
    straight = train(every, tmp_path / "every")
    assert straight.metrics["best_epoch"] < straight.metrics["epochs_run"]  # the in-memory best is exercised

    clock = iter(range(10**6))  # the callback's clock moves one second per reading: checkpoints at fixed epochs
    monkeypatch.setattr(callbacks, "time", types.SimpleNamespace(perf_counter=lambda: float(next(clock))))
    end_of_epoch, saved = callbacks.RunCheckpoint.on_epoch_end, []

    def killed_after_epoch_8(self, epoch, logs=None):
        before = self.state["epoch"]
        end_of_epoch(self, epoch, logs)
        saved.append(self.state["epoch"] != before)
        if epoch + 1 == 8:
            raise KeyboardInterrupt  # the kill: what the last checkpoint holds is all that is left

    monkeypatch.setattr(callbacks.RunCheckpoint, "on_epoch_end", killed_after_epoch_8)
    from_memory, best_from_memory = [], callbacks.RunCheckpoint._save_best_from_memory
    monkeypatch.setattr(callbacks.RunCheckpoint, "_save_best_from_memory",
                        lambda self: from_memory.append(1) or best_from_memory(self))
    throttled = dataclasses.replace(every, train=dataclasses.replace(every.train, checkpoint_seconds=5.0))
    with pytest.raises(KeyboardInterrupt):
        train(throttled, tmp_path / "throttled")
    assert 1 < saved.count(True) < len(saved)  # some epochs were checkpointed, not all
    monkeypatch.undo()
    monkeypatch.setattr(callbacks.RunCheckpoint, "_save_best_from_memory",
                        lambda self: from_memory.append(1) or best_from_memory(self))
    resumed = train(throttled, tmp_path / "throttled", resume=True)
    assert from_memory  # a best epoch without its own checkpoint was written from memory
    for key in ("test_loss", "test_accuracy", "epochs_run", "best_epoch", "best_val_loss"):
        assert resumed.metrics[key] == straight.metrics[key], key
    for a, b in zip(models.load_model(tmp_path / "throttled" / runs.MODEL).get_weights(),
                    models.load_model(tmp_path / "every" / runs.MODEL).get_weights()):
        assert np.array_equal(a, b)
