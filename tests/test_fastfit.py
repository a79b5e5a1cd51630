"""The trainer's fast path: same numerics as model.fit, same callbacks, announced fallback."""

import math

import numpy as np
import pytest

from nnkeras import fastfit, models
from nnkeras.data import DataSpec
from nnkeras.run_steps import compile_model
from nnkeras.training import in_batches, training_batches

SPEC = DataSpec("s", (5, 5, 1), 3, ("a", "b", "c"))


def data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    x = (rng.normal(size=(n, 5, 5, 1)) + y[:, None, None, None]).astype("float32")
    return x, y


def fresh_model(dropout=0.0):
    import keras

    from nnkeras.config import TrainConfig

    keras.utils.set_random_seed(7)
    model = models.build("mlp", SPEC, {"hidden": (16,), "dropout": dropout})
    compile_model(model, TrainConfig(), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def recorder():
    """A Keras callback that notes the epoch-level hooks it sees."""
    import keras

    class Recorder(keras.callbacks.Callback):
        seen: list = []

        def on_train_begin(self, logs=None):
            self.seen.append("on_train_begin")

        def on_epoch_begin(self, epoch, logs=None):
            self.seen.append(f"on_epoch_begin {epoch}")

        def on_epoch_end(self, epoch, logs=None):
            self.seen.append(f"on_epoch_end {epoch}")

        def on_train_end(self, logs=None):
            self.seen.append("on_train_end")

    return Recorder()


def test_fast_path_gives_the_weights_of_plain_fit():
    x, y = data()
    fast, plain = fresh_model(), fresh_model()
    fastfit.fit_in_memory(fast, x, y, batch_size=32, seed=3, first_epoch=0, epochs=2, validation=(x[:50], y[:50]),
                          callbacks=[], verbose=0)
    plain.fit(training_batches(x, y, 32, 3, 0, 2), steps_per_epoch=math.ceil(len(y) / 32), epochs=2,
              validation_data=in_batches(x[:50], y[:50]), shuffle=False, verbose=0)
    for key in ("loss", "val_loss", "val_accuracy"):  # the logs agree as well
        assert fast.history.history[key][-1] == pytest.approx(plain.history.history[key][-1], rel=1e-4)
    # Same batches in the same order through the same train_step; only the
    # graph that runs them differs, so float32 round-off is the whole budget.
    for a, b in zip(fast.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_the_epoch_is_traced_once_for_every_epoch():
    # Variables made inside the first call would make TensorFlow trace the
    # epoch twice (the costliest part of a small run's start-up).
    x, y = data()
    runner = fastfit.EpochRunner(fresh_model(), x, y, batch_size=32)
    for epoch in range(3):
        runner.run(seed=3, epoch=epoch)
    assert runner._epoch.experimental_get_tracing_count() == 1


def test_every_epoch_callback_fires_and_history_has_validation():
    x, y = data()
    watcher = recorder()
    model = fresh_model(dropout=0.2)
    fastfit.fit_in_memory(model, x, y, batch_size=64, seed=0, first_epoch=1, epochs=3,
                          validation=(x[:50], y[:50]), callbacks=[watcher], verbose=0)
    # Epochs 1 and 2 only: a resumed run starts at its first unfinished epoch.
    assert watcher.seen == ["on_train_begin", "on_epoch_begin 1", "on_epoch_end 1", "on_epoch_begin 2",
                            "on_epoch_end 2", "on_train_end"]
    history = model.history.history
    assert set(history) >= {"loss", "accuracy", "val_loss", "val_accuracy"} and len(history["loss"]) == 2
    assert history["loss"][1] < history["loss"][0]


def test_fallback_to_plain_fit_is_announced(tmp_path, monkeypatch, capsys):
    from nnkeras.config import DataConfig, Experiment, ModelConfig, TrainConfig
    from nnkeras.training import train

    monkeypatch.setattr(fastfit, "MAX_IN_MEMORY_BYTES", 1000)
    experiment = Experiment("fallback", data=DataConfig(name="synthetic", shape=(4,), num_classes=2, size=200),
                            model=ModelConfig(params={"hidden": (4,)}), train=TrainConfig(epochs=2))
    result = train(experiment, tmp_path / "run")
    out = capsys.readouterr().out
    assert "nnkeras: training with plain model.fit: the training inputs take" in out
    assert result.metrics["epochs_run"] == 2


def test_fast_path_can_be_turned_off_silently(tmp_path, capsys):
    from nnkeras.config import DataConfig, Experiment, ModelConfig, TrainConfig
    from nnkeras.training import train

    experiment = Experiment("plain", data=DataConfig(name="synthetic", shape=(4,), num_classes=2, size=200),
                            model=ModelConfig(params={"hidden": (4,)}), train=TrainConfig(epochs=1, fast_path=False))
    train(experiment, tmp_path / "run")
    assert "plain model.fit" not in capsys.readouterr().out


def test_inputs_too_large_for_memory_are_refused(monkeypatch):
    monkeypatch.setattr(fastfit, "MAX_IN_MEMORY_BYTES", 1000)
    model = fresh_model()
    assert fastfit.unsupported_reason(np.zeros(100, dtype="float32"), model) is None  # 400 bytes
    reason = fastfit.unsupported_reason({"a": np.zeros(200, dtype="float32"), "b": np.zeros(100, dtype="float32")}, model)
    assert "more than the fast path keeps in memory" in reason  # 1,200 bytes over two columns


def test_in_graph_evaluation_matches_keras_evaluate_and_predict():
    x, y = data(n=2500)  # not a multiple of the batch size: the last batch is short
    model = models.build("mlp", SPEC, {"hidden": (8,), "l2": 1e-3})  # L2: the loss includes penalties
    from nnkeras.config import TrainConfig
    import keras

    compile_model(model, TrainConfig(), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    loss, accuracy, logits = fastfit.evaluate_in_memory(model, x, y, batch_size=1024)
    keras_loss, keras_accuracy = model.evaluate(x, y, batch_size=256, verbose=0)
    np.testing.assert_allclose(logits, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert loss == pytest.approx(keras_loss, rel=1e-5)
    assert accuracy == pytest.approx(keras_accuracy, abs=1e-6)


def test_an_epoch_split_for_a_terminal_bar_gives_the_same_weights(monkeypatch):
    # verbose=1 (a terminal) runs each epoch as several calls of the same graph so the
    # bar moves; SECONDS_PER_CALL=0 makes every call one step, the most splitting there is.
    import keras

    class Steps(keras.callbacks.Callback):
        seen: list = []

        def on_train_batch_end(self, batch, logs=None):
            self.seen.append((batch, logs["loss"]))

    monkeypatch.setattr(fastfit, "SECONDS_PER_CALL", 0.0)
    x, y = data()
    whole, parts, steps = fresh_model(dropout=0.2), fresh_model(dropout=0.2), Steps()
    for model, verbose, callbacks in ((whole, 0, []), (parts, 1, [steps])):
        fastfit.fit_in_memory(model, x, y, batch_size=32, seed=3, first_epoch=0, epochs=2,
                              validation=(x[:50], y[:50]), callbacks=callbacks, verbose=verbose)
    for a, b in zip(whole.get_weights(), parts.get_weights()):
        np.testing.assert_array_equal(a, b)  # the same steps in the same order: bit for bit
    assert [batch for batch, _ in steps.seen] == list(range(10)) * 2  # 300 examples / 32: 10 steps an epoch
    # The loss shown after the last part is the epoch's loss, as one call reports it.
    assert steps.seen[-1][1] == pytest.approx(whole.history.history["loss"][-1], rel=1e-6)
    assert parts.history.history["loss"] == whole.history.history["loss"]
