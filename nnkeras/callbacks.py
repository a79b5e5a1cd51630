"""Callbacks and TensorBoard extras used by the trainer.

`RunCheckpoint` is the run's memory between processes: it saves the model
(with its optimizer state), the history, the best validation loss and the
early-stopping counter, after the last epoch and after any epoch that ends
`train.checkpoint_seconds` after the previous checkpoint (after every epoch
when epochs are longer than that, or the setting is 0). Keras's own EarlyStopping and
BackupAndRestore would each keep half of that and EarlyStopping forgets its
patience counter on restart, so one callback keeps all of it, atomically.
"""

from __future__ import annotations

import csv
import io
import math
import os
import time
from pathlib import Path

import keras
import numpy as np

from nnkeras import runs

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds")


class RunCheckpoint(keras.callbacks.Callback):
    """Checkpoint, best model, history and early stopping on `val_loss`, kill-safe."""

    def __init__(self, run_dir: Path, state: dict, patience: int, every_seconds: float = 0.0):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.folder = self.run_dir / runs.CHECKPOINTS
        self.state = state
        self.patience = patience
        # A checkpoint costs about as much as an epoch of a small model (a model save and three fsyncs):
        # short epochs are checkpointed once per `every_seconds`, the best among them kept in memory meanwhile.
        self.every_seconds = every_seconds
        self._epoch_start = self._saved_at = 0.0
        self._best = None  # the values of save_variables() at a best epoch not checkpointed yet

    @staticmethod
    def fresh_state() -> dict:
        return {"epoch": 0, "checkpoint": None, "history": [], "best_val_loss": None,
                "best_epoch": None, "wait": 0, "stop_reason": None, "train_seconds": 0.0}

    def on_train_begin(self, logs=None):
        # model.keras does not keep the state of the seed generators behind dropout
        # and augmentation layers: a reloaded model starts them afresh and would draw
        # other masks than the uninterrupted run. Put back the state saved with the
        # checkpoint, so a resumed run continues bit for bit (tests/test_determinism.py).
        saved = self.state.get("seed_generators")
        variables = seed_generator_states(self.model)
        if saved and len(saved) == len(variables):
            for variable, value in zip(variables, saved):
                variable.assign(np.asarray(value, dtype=variable.dtype))

        self._saved_at = time.perf_counter()
        if type(self.model.distribute_strategy).__name__ != "_DefaultDistributionStrategy":
            self.every_seconds = 0.0  # tf.distribute's workers decide alike only epoch by epoch: every epoch

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        seconds = time.perf_counter() - self._epoch_start
        # convert_to_numpy: under a tf.distribute strategy the rate is a MirroredVariable, which float() refuses.
        learning_rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        row = {"epoch": epoch + 1, "learning_rate": learning_rate, "seconds": seconds}
        row.update({k: float(logs[k]) for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in logs})
        state = self.state
        state["history"].append(row)
        state["train_seconds"] += seconds
        val_loss = row.get("val_loss", math.nan)
        self.folder.mkdir(exist_ok=True)
        improved = math.isfinite(val_loss) and (state["best_val_loss"] is None or val_loss < state["best_val_loss"])
        if improved:
            state.update(best_val_loss=val_loss, best_epoch=epoch + 1, wait=0)
        else:
            state["wait"] += 1
        if not math.isfinite(row.get("loss", 0.0)):
            state["stop_reason"] = "diverged"  # TerminateOnNaN has stopped the fit
        elif self.patience and state["wait"] >= self.patience:
            state["stop_reason"] = "stopped_early"
            self.model.stop_training = True
        last = state["stop_reason"] or epoch + 1 >= self.params.get("epochs", math.inf)
        if last or time.perf_counter() - self._saved_at >= self.every_seconds:
            self._save(epoch + 1, improved)
        elif improved:  # this epoch's model is the best, but it gets no checkpoint of its own
            self._best = [keras.ops.convert_to_numpy(v) for v in save_variables(self.model)]

    def on_train_end(self, logs=None):
        if self.state["epoch"] < len(self.state["history"]):  # stopped by someone else after an unsaved epoch
            self._save(len(self.state["history"]), improved=False)

    def _save(self, epochs_done: int, improved: bool) -> None:
        # Model first under a new name (and its copy as the best model), then
        # history.csv, then the state that points to both: a kill before the
        # state leaves the previous state and its checkpoint intact (the resumed
        # run trains that epoch again and rewrites its history row and best
        # model). History after the state would lose the last row for good: a
        # run whose state says "done" is never fitted again.
        # The best model of the state about to be written is on disk first: a byte copy of this
        # checkpoint if this epoch is the best, else, for a best epoch since the last checkpoint,
        # that epoch's model, saved from the values kept in memory.
        name = f"epoch-{epochs_done:04d}.keras"
        runs.save_model_atomic(self.model, self.folder / name)
        if improved:  # a byte copy: saving the model twice costs as much as the epoch of a small model
            runs.write_atomic(self.folder / runs.BEST, (self.folder / name).read_bytes())
        elif self._best is not None:
            self._save_best_from_memory()
        self._best = None
        generators = [keras.ops.convert_to_numpy(v).tolist() for v in seed_generator_states(self.model)]
        self.state.update(epoch=epochs_done, checkpoint=name, seed_generators=generators)
        write_history(self.run_dir / runs.HISTORY, self.state["history"])
        runs.write_json(self.folder / runs.STATE, self.state)
        # Every older epoch file, not only the previous one: a kill right after
        # the state was written would otherwise leave an orphan for good.
        for old in self.folder.glob("epoch-*.keras"):
            if old.name != name:
                old.unlink(missing_ok=True)
        self._saved_at = time.perf_counter()

    def _save_best_from_memory(self) -> None:
        """best.keras from the values kept at the best epoch; the model gets its own values back after."""
        variables = save_variables(self.model)
        current = [keras.ops.convert_to_numpy(v) for v in variables]
        try:
            for variable, value in zip(variables, self._best):
                variable.assign(value)
            runs.save_model_atomic(self.model, self.folder / runs.BEST)
        finally:
            for variable, value in zip(variables, current):
                variable.assign(value)


def save_variables(model) -> list:
    """What model.save writes of a compiled model: its weights and its optimizer's state."""
    return [*model.weights, *model.optimizer.variables]


def seed_generator_states(model) -> list:
    """The state variables of the model's random layers, in layer order (the same after a reload)."""
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def write_history(path: Path, history: list[dict]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=HISTORY_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(history)
    runs.write_atomic(path, text.getvalue())


def forget_epochs_from(tb_dir: Path, epoch: int) -> None:
    """Drop the summaries of epochs >= `epoch` from the run's TensorBoard event files.

    A killed run may have logged epochs past its last checkpoint; the resumed
    run trains them again and logs them again, and TensorBoard would draw both
    (it purges nothing for TF2 event files). A file that needs it is rewritten
    under another name, then renamed over the old one; a last record cut by
    the kill goes too.
    """
    import tensorflow as tf
    from tensorboard.compat.proto import event_pb2

    for path in sorted(Path(tb_dir).rglob("events.out.tfevents.*")):
        kept, dropped = [], False
        try:
            for record in tf.data.TFRecordDataset(str(path)):
                event = event_pb2.Event.FromString(record.numpy())
                if event.HasField("summary") and event.step >= epoch:
                    dropped = True
                else:
                    kept.append(record.numpy())
        except tf.errors.DataLossError:  # the record the kill cut short
            dropped = True
        if dropped:
            tmp = path.with_name(".rewritten.tmp")  # no "tfevents" in the name: TensorBoard must not read it
            with tf.io.TFRecordWriter(str(tmp)) as writer:
                for record in kept:
                    writer.write(record)
            os.replace(tmp, path)


# How config.flat writes a setting left unset (None, an empty tuple, list, dict or string): not shown in HParams.
UNSET = {"None", "()", "[]", "{}", ""}


def write_hparams(tb_dir: Path, hparams: dict, run_id: str) -> None:
    """The run's own summaries in tb/ (the parent of train/, validation/, test/, as the HParams
    plugin needs): the settings that define the run as an HParams session, so runs compare in
    one table, and the same settings as a text card, so the `tb` run TensorBoard lists is not empty.

    `hparams` is config.flat(experiment); settings left unset (data.dir=None,
    data.holdout_classes=()) are left out: they would only add empty columns.
    """
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    settings = {key: value for key, value in hparams.items() if not (isinstance(value, str) and value in UNSET)}
    card = "| setting | value |\n|---|---|\n" + "\n".join(f"| {key} | {value} |" for key, value in settings.items())
    with tf.summary.create_file_writer(str(tb_dir)).as_default():
        hp.hparams(settings, trial_id=run_id)
        tf.summary.text("run", card, step=0)


def write_graph(tb_dir: Path, model) -> None:
    """The model's forward-pass op graph, for TensorBoard's Graphs tab.

    Keras 3's TensorBoard callback writes only the conceptual (layer) graph.
    """
    import tensorflow as tf

    signature = tf.nest.map_structure(lambda t: tf.TensorSpec(t.shape, t.dtype), model.input)
    forward = tf.function(lambda x: model(x, training=False))
    graph = forward.get_concrete_function(signature).graph
    with tf.summary.create_file_writer(str(Path(tb_dir) / "train")).as_default():
        tf.summary.graph(graph)


def write_test_summaries(tb_dir: Path, step: int, loss: float, accuracy: float, confusion_png: bytes | None,
                         device_line: str) -> None:
    """Test scores beside the per-epoch curves (same tags, `test` run), the confusion matrix, and
    what trained the model (nnkeras.devices.line, as the console and metrics.json's "device" say)."""
    import tensorflow as tf

    with tf.summary.create_file_writer(str(Path(tb_dir) / "test")).as_default():
        tf.summary.scalar("epoch_loss", loss, step=step)
        tf.summary.scalar("epoch_accuracy", accuracy, step=step)
        if confusion_png is not None:  # None: too many classes to draw (plots.MAX_CONFUSION_CLASSES)
            tf.summary.image("confusion_matrix", tf.io.decode_png(confusion_png, channels=4)[tf.newaxis], step=step)
        tf.summary.text("device", device_line, step=step)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


class GradientNorms(keras.callbacks.Callback):
    """Per-layer gradient norms on a fixed batch at every epoch end (`train.gradient_norms`).

    The gradient of the loss with respect to each layer's kernel is taken on
    the same batch every epoch, in inference mode (dropout would add noise to
    the comparison), and written three ways: TensorBoard scalars
    `gradient_norm/<layer>` and histograms `gradient/<layer>` (train run),
    `gradient_norms.csv` (every epoch) and `gradient_norms.png` (once, at the
    end). Vanishing gradients show as norms shrinking layer by layer towards
    the input. A resumed run reloads the CSV and replaces the rows of the
    epochs it trains again.
    """

    CSV = "gradient_norms.csv"
    PLOT = "gradient_norms.png"

    def __init__(self, run_dir: Path, x, y):
        super().__init__()
        self.run_dir, self.x, self.y = Path(run_dir), x, y
        self.rows: list[dict] = []
        self._writer = None

    def kernel_gradients(self) -> dict[str, np.ndarray]:
        """dL/dkernel of every layer that has a kernel, by layer name, input side first."""
        import tensorflow as tf

        layers = [layer for layer in self.model.layers if getattr(layer, "kernel", None) is not None]
        with tf.GradientTape() as tape:
            loss = self.model.loss(self.y, self.model(self.x, training=False))
        grads = tape.gradient(loss, [layer.kernel for layer in layers])
        return {layer.name: np.asarray(g) for layer, g in zip(layers, grads)}

    def on_train_begin(self, logs=None):
        import pandas as pd
        import tensorflow as tf

        path = self.run_dir / self.CSV
        self.rows = pd.read_csv(path).to_dict("records") if path.is_file() else []
        self._writer = tf.summary.create_file_writer(str(self.run_dir / runs.TENSORBOARD / "train"))

    def on_epoch_end(self, epoch, logs=None):
        import pandas as pd
        import tensorflow as tf

        grads = self.kernel_gradients()
        norms = {name: float(np.linalg.norm(g)) for name, g in grads.items()}
        with self._writer.as_default():
            for name, g in grads.items():
                tf.summary.scalar(f"gradient_norm/{name}", norms[name], step=epoch)
                tf.summary.histogram(f"gradient/{name}", g, step=epoch)
        self._writer.flush()
        self.rows = [r for r in self.rows if r["epoch"] <= epoch] + [{"epoch": epoch + 1, **norms}]
        runs.write_atomic(self.run_dir / self.CSV, pd.DataFrame(self.rows).to_csv(index=False))

    def on_train_end(self, logs=None):
        from nnkeras.plots import plot_gradient_norms

        self._writer.close()
        if self.rows:  # plotted once: a figure costs about as much as an epoch of a small model
            plot_gradient_norms(self.rows, self.run_dir / self.PLOT, f"{self.run_dir.name}: gradient norm per layer")
