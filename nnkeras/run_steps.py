"""The steps every run takes, whichever engine trains it (Keras or NumPy).

    start           seed every generator and load the data (before anything is written)
    compile_model   the optimizer, the loss on logits, the accuracy metric
    read_state      the checkpoint state a resumed run continues from
    prepare_run_dir config.json and data_spec.json, leftovers of a killed process removed
    begin_logging   TensorBoard's HParams and graph for a new run; for a resumed one,
                    the epochs a killed process logged past its checkpoint are dropped
    finish_run      evaluate the best model on the test set, write model.keras,
                    plots, test summaries and metrics.json (last: the run is complete)

nnkeras.training (the Keras engines) and nnkeras.scratch.run (the NumPy
engine) both stand on this module, so the two cannot drift apart.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from nnkeras import data as datasets
from nnkeras import devices, fastfit, models, plots, precision, runs
from nnkeras.callbacks import (
    RunCheckpoint, confusion_matrix, forget_epochs_from, write_graph, write_hparams, write_test_summaries)
from nnkeras.config import Experiment, TrainConfig, check_name, flat
from nnkeras.embeddings import embedding_metrics
from nnkeras.errors import NNKerasError


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict
    history: list[dict] = field(default_factory=list)


def start(experiment: Experiment, dataset: datasets.Dataset | None = None,
          device: dict | None = None) -> datasets.Dataset:
    """A fresh Keras session, every generator seeded, ops deterministic; the line saying what the run trains on
    (device: nnkeras.devices.describe, default this machine); the run's data."""
    print(devices.line(device or devices.describe(), experiment.train.distribution), flush=True)
    keras.backend.clear_session()  # free the previous run's graphs: groups and searches train many models
    keras.utils.set_random_seed(experiment.seed)
    tf.config.experimental.enable_op_determinism()
    return dataset or datasets.load(experiment.data, experiment.seed)


def learning_rate(cfg: TrainConfig, steps_per_epoch: int | None = None):
    """cfg.learning_rate, or for train.schedule=warmup_cosine a Keras schedule over all
    epochs * steps_per_epoch steps (saved with the optimizer, so a resumed run continues it)."""
    if cfg.schedule == "constant":
        return cfg.learning_rate
    if not steps_per_epoch:
        raise ValueError("a learning-rate schedule needs the number of steps per epoch")
    total = cfg.epochs * steps_per_epoch
    warmup = min(round(cfg.warmup_fraction * total), total - 1)
    if warmup == 0:
        return keras.optimizers.schedules.CosineDecay(cfg.learning_rate, decay_steps=total)
    return keras.optimizers.schedules.CosineDecay(0.0, decay_steps=total - warmup, warmup_target=cfg.learning_rate,
                                                  warmup_steps=warmup)


def make_optimizer(cfg: TrainConfig, steps_per_epoch: int | None = None):
    rate = learning_rate(cfg, steps_per_epoch)
    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=cfg.momentum)
    return {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW,
            "rmsprop": keras.optimizers.RMSprop}[cfg.optimizer](rate)


def compile_model(model, cfg: TrainConfig, loss, steps_per_epoch: int | None = None) -> None:
    # The builders output logits, so the loss applies the softmax: once.
    model.compile(
        optimizer=make_optimizer(cfg, steps_per_epoch),
        loss=loss,
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )


def read_state(run_dir: Path) -> dict | None:
    path = run_dir / runs.CHECKPOINTS / runs.STATE
    if not path.is_file():
        return None  # killed before the first epoch ended
    state = runs.read_json(path)
    missing = sorted(set(RunCheckpoint.fresh_state()) - set(state)) if isinstance(state, dict) else ["all"]
    if missing:
        raise NNKerasError(f"{path}: not a checkpoint state (missing {', '.join(missing)}); restore the file,"
                           " or start a new run")
    wrong = [key for key, ok in _STATE_TYPES.items() if key in state and not ok(state[key])]
    if wrong:
        raise NNKerasError(f"{path}: not a checkpoint state (wrong type for {', '.join(wrong)}); restore the file,"
                           " or start a new run")
    if state["epoch"] != len(state["history"]):  # one history row per epoch trained
        raise NNKerasError(f"{path}: not a checkpoint state (epoch {state['epoch']} after {len(state['history'])}"
                           " epochs of history); restore the file, or start a new run")
    if state["checkpoint"] is not None:  # a file name inside checkpoints/, never a path elsewhere
        check_name(state["checkpoint"], f"{path}: checkpoint")
    return state


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _count(value) -> bool:
    return _number(value) and isinstance(value, int) and value >= 0


_STATE_TYPES = {  # what RunCheckpoint writes, checked before a resumed run trusts it
    "epoch": _count, "wait": _count, "best_epoch": lambda v: v is None or _count(v),
    "train_seconds": _number, "best_val_loss": lambda v: v is None or _number(v),
    "history": lambda v: isinstance(v, list) and all(isinstance(row, dict) for row in v),
    "checkpoint": lambda v: v is None or isinstance(v, str), "stop_reason": lambda v: v is None or isinstance(v, str),
    "seed_generators": lambda v: isinstance(v, list),
}


def prepare_run_dir(run_dir: Path, experiment: Experiment, data, resume: bool) -> None:
    # One process writes a run directory (held until train() returns): a second is refused here, before
    # it touches anything; a new one is made atomically, so two runs never share an id.
    runs.make_run_dir(run_dir, resume)
    if resume:  # one process writes a run directory: what a killed one left half-written is garbage
        runs.remove_temporaries(run_dir)
    runs.write_atomic(run_dir / runs.CONFIG, experiment.to_json())
    runs.write_json(run_dir / runs.DATA_SPEC, data.spec.to_dict())


def begin_logging(run_dir: Path, experiment: Experiment, model, first_epoch: int) -> None:
    """HParams and graph for a new run; a resumed one logs epochs first_epoch.. again, so
    what a killed process had logged of them is dropped first (TensorBoard shows each epoch once)."""
    tb_dir = run_dir / runs.TENSORBOARD
    if first_epoch == 0:
        write_hparams(tb_dir, flat(experiment), run_id=f"{experiment.name}/{run_dir.name}")
        write_graph(tb_dir, model)
    else:
        forget_epochs_from(tb_dir, first_epoch)


def finish_run(model, data, experiment: Experiment, run_dir: Path, state: dict, device: dict | None = None) -> RunResult:
    """Evaluate the best model on the test set and write the rest of the run directory.

    device: what trained it (nnkeras.devices.describe; default: this machine, no strategy).
    A mixed-precision model is evaluated and saved as its float32 copy: the model that ships.
    """
    best = run_dir / runs.CHECKPOINTS / runs.BEST
    if best.is_file():
        model = models.load_model(best)
    if experiment.train.mixed_precision != "none":
        model = precision.float32_copy(model, lambda: _built(experiment, data.spec))
    runs.save_model_atomic(model, run_dir / runs.MODEL)
    loss, accuracy, logits = fastfit.evaluate_in_memory(model, data.x_test, data.y_test)
    epochs_run = state["epoch"]
    png = None
    if data.spec.num_classes <= plots.MAX_CONFUSION_CLASSES:
        matrix = confusion_matrix(data.y_test, np.argmax(logits, axis=1), data.spec.num_classes)
        title = f"{experiment.name}: test accuracy {accuracy:.4f}"
        png = plots.plot_confusion_matrix(matrix, data.spec.class_names, run_dir / runs.CONFUSION_MATRIX, title)
    else:
        print(f"nnkeras: no {runs.CONFUSION_MATRIX}: {data.spec.num_classes} classes is more than a readable"
              f" figure holds ({plots.MAX_CONFUSION_CLASSES}); the run is complete without it", flush=True)
    forget_epochs_from(run_dir / runs.TENSORBOARD / "test", 0)  # a finish cut short by a kill wrote them once
    device = device or devices.describe()
    write_test_summaries(run_dir / runs.TENSORBOARD, max(epochs_run - 1, 0), loss, accuracy, png,
                         devices.line(device, experiment.train.distribution))
    if state["history"]:
        plots.plot_learning_curves(state["history"], run_dir / runs.LEARNING_CURVES)
    metrics = {
        "experiment": experiment.name,
        "status": state["stop_reason"] or "complete",
        "test_accuracy": float(accuracy),
        "test_loss": float(loss),
        "epochs_run": epochs_run,
        "best_epoch": state["best_epoch"],
        "best_val_loss": state["best_val_loss"],
        "train_seconds": round(state["train_seconds"], 3),
        "params": int(model.count_params()),
        "dataset": data.spec.name,
        **data.sizes(),
        "seed": experiment.seed,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "device": device,
        "mixed_precision": experiment.train.mixed_precision,
        "versions": {"keras": keras.__version__, "tensorflow": tf.__version__},
    }
    if data.x_holdout is not None:
        metrics.update(embedding_metrics(model, data))
    runs.write_json(run_dir / runs.METRICS, metrics)  # last: its presence marks the run complete
    return RunResult(run_dir, metrics, state["history"])


def _built(experiment: Experiment, spec):
    """A fresh, compiled model of the experiment's builder (the float32 copy of a mixed-precision run)."""
    model = models.build(experiment.model.name, spec, experiment.model.params)
    compile_model(model, experiment.train, models.loss_for(experiment.model.name, experiment.model.params))
    model.optimizer.build(model.trainable_variables)  # saved with its variables: loading it back warns of none
    return model
