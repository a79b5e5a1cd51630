"""The one trainer: `train(experiment, run_dir) -> RunResult`.

Everything an experiment needs happens here, in this order: check the config,
seed every generator, load the data, build the model (all before the run
directory exists, so bad input writes nothing), then compile, fit with the
callbacks, evaluate on the test set and write the run directory.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of the output

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from nnkeras import data as datasets  # noqa: E402
from nnkeras import distributed, fastfit, models, report, runs  # noqa: E402
from nnkeras.callbacks import (  # noqa: E402
    RunCheckpoint, confusion_matrix, forget_epochs_from, write_graph, write_hparams, write_test_summaries)
from nnkeras.config import Experiment, TrainConfig, check_name, flat, validate  # noqa: E402
from nnkeras.errors import NNKerasError  # noqa: E402
from nnkeras.embeddings import embedding_metrics  # noqa: E402


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict
    history: list[dict] = field(default_factory=list)


def make_optimizer(cfg: TrainConfig):
    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(cfg.learning_rate, momentum=cfg.momentum)
    return {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW,
            "rmsprop": keras.optimizers.RMSprop}[cfg.optimizer](cfg.learning_rate)


def compile_model(model, cfg: TrainConfig, loss) -> None:
    # The builders output logits, so the loss applies the softmax: once.
    model.compile(
        optimizer=make_optimizer(cfg),
        loss=loss,
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )


def training_batches(x, y, batch_size: int, seed: int, first_epoch: int, epochs: int):
    """Batches for epochs `first_epoch..epochs-1`, shuffled by (seed, epoch), for plain model.fit.

    The order of epoch k depends only on the seed and k (the same order as the
    fast path's), so a resumed run sees exactly the batches an uninterrupted
    one would have seen.
    """
    n = len(y)
    features = tf.nest.map_structure(tf.constant, x)  # an array, or a dict of columns
    labels = tf.constant(y)

    def one_epoch(epoch):
        return tf.data.Dataset.from_tensor_slices(fastfit.epoch_order(n, seed, epoch)).batch(batch_size)

    batches = tf.data.Dataset.range(first_epoch, epochs).flat_map(one_epoch)
    def gather(idx):
        return tf.nest.map_structure(lambda column: tf.gather(column, idx), features), tf.gather(labels, idx)

    return batches.map(gather).prefetch(tf.data.AUTOTUNE)


def in_batches(x, y=None, batch_size: int = 512):
    """A tf.data pipeline over in-memory inputs (arrays or dicts of columns, strings included)."""
    x = tf.nest.map_structure(tf.constant, x)
    items = x if y is None else (x, tf.constant(y))
    return tf.data.Dataset.from_tensor_slices(items).batch(batch_size)


def train(experiment: Experiment, run_dir: str | Path, *, resume: bool = False, verbose: int = 0,
          dataset: datasets.Dataset | None = None) -> RunResult:
    """Train `experiment` into `run_dir` (or continue it there with `resume=True`)."""
    from nnkeras import scratch

    if scratch.handles(experiment):  # the NumPy MLP: its own loop, the same callbacks and run directory
        from nnkeras.scratch.run import train_scratch

        return train_scratch(experiment, run_dir, resume=resume, verbose=verbose, dataset=dataset)
    validate(experiment)
    with released_graphs():  # groups and searches train many models in one process
        return _train_keras(experiment, Path(run_dir), resume, verbose, dataset)


@contextlib.contextmanager
def released_graphs():
    """Let a run's traced TensorFlow graphs go when it ends, so memory stays flat.

    Each time a `tf.custom_gradient` is traced in graph mode (Keras's train
    step does, through tf.distribute's all_reduce), TensorFlow registers its
    gradient function in a process-wide registry and never removes it; that
    function holds the whole traced train step, so `clear_session` frees
    nothing: about 6 MB more per run (benchmarks/tuning_memory.py). The
    entries a run adds serve only its own graphs, dead once it ends.
    """
    from tensorflow.python.framework import ops

    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    before = set(registry or ())
    try:
        yield
    finally:
        for name in set(registry or ()) - before:
            if name.startswith("CustomGradient-"):
                del registry[name]
        gc.collect()


def _train_keras(experiment: Experiment, run_dir: Path, resume: bool, verbose: int, dataset) -> RunResult:
    # Before TensorFlow starts: a bad TF_CONFIG fails here, and collectives are set up once.
    strategy = distributed.strategy_for(experiment.train.distribution)
    if strategy is not None:
        distributed.check_batch_size(experiment.train.batch_size, strategy)
    keras.backend.clear_session()  # free the previous run's graphs: groups and searches train many models
    keras.utils.set_random_seed(experiment.seed)
    tf.config.experimental.enable_op_determinism()
    data = dataset or datasets.load(experiment.data, experiment.seed)
    state = read_state(run_dir) if resume else None  # on every worker: the chief's last checkpoint
    with strategy.scope() if strategy else contextlib.nullcontext():  # variables replicated from birth
        model, state = _model(experiment, data, run_dir, state)
    chief = distributed.is_chief(experiment.train.distribution)
    write_dir = run_dir if chief else Path(tempfile.mkdtemp(prefix="nnkeras-worker-")) / run_dir.name
    if not chief and resume and (run_dir / runs.CHECKPOINTS).is_dir():  # start from the chief's checkpoints
        shutil.copytree(run_dir / runs.CHECKPOINTS, write_dir / runs.CHECKPOINTS)
    try:
        prepare_run_dir(write_dir, experiment, data, resume)
        cfg = experiment.train
        finished = state["stop_reason"] or state["epoch"] >= cfg.epochs
        if not finished:
            _fit(model, data, experiment, write_dir, state, verbose, strategy)
        result = finish_run(model, data, experiment, write_dir, state)
    finally:
        if not chief:  # only the chief keeps a run directory
            shutil.rmtree(write_dir.parent, ignore_errors=True)
    return RunResult(run_dir, result.metrics, result.history)


def _model(experiment: Experiment, data, run_dir: Path, state: dict | None):
    """The compiled model and run state: from the last checkpoint, or fresh."""
    if state and state["checkpoint"]:
        return models.load_model(run_dir / runs.CHECKPOINTS / state["checkpoint"]), state
    model = models.build(experiment.model.name, data.spec, experiment.model.params)
    compile_model(model, experiment.train, models.loss_for(experiment.model.name, experiment.model.params))
    return model, RunCheckpoint.fresh_state()


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
    run_dir.mkdir(parents=True, exist_ok=resume)
    if resume:  # one process writes a run directory: what a killed one left half-written is garbage
        runs.remove_temporaries(run_dir)
    runs.write_atomic(run_dir / runs.CONFIG, experiment.to_json())
    runs.write_json(run_dir / runs.DATA_SPEC, data.spec.to_dict())


def _fit(model, data, experiment: Experiment, run_dir: Path, state: dict, verbose: int, strategy=None) -> None:
    cfg = experiment.train
    tb_dir = run_dir / runs.TENSORBOARD
    first_epoch = state["epoch"]
    if first_epoch == 0:
        write_hparams(tb_dir, flat(experiment), run_id=f"{experiment.name}/{run_dir.name}")
        write_graph(tb_dir, model)
    else:  # resumed: this run logs epochs first_epoch.. again
        forget_epochs_from(tb_dir, first_epoch)
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.TensorBoard(log_dir=str(tb_dir), histogram_freq=cfg.histogram_freq),
        RunCheckpoint(run_dir, state, patience=cfg.patience),
    ]
    if cfg.gradient_norms:  # opt-in: one more forward and backward pass per epoch, on a fixed batch
        from nnkeras.callbacks import GradientNorms
        from nnkeras.data.base import take

        callbacks.insert(-1, GradientNorms(run_dir, take(data.x_train, slice(0, 256)), data.y_train[:256]))
    runner, reason = None, "train.fast_path is false"
    if strategy:  # model.fit fails under MultiWorkerMirroredStrategy: our own replicated step
        runner, reason = distributed.DistributedEpochRunner(model, data.x_train, data.y_train, cfg.batch_size,
                                                            strategy), None
    elif cfg.fast_path:
        reason = fastfit.unsupported_reason(data.x_train, model)
    if reason is None:
        fastfit.fit_in_memory(model, data.x_train, data.y_train, batch_size=cfg.batch_size, seed=experiment.seed,
                              first_epoch=first_epoch, epochs=cfg.epochs, validation=(data.x_val, data.y_val),
                              callbacks=callbacks, verbose=verbose, runner=runner)
        return
    if cfg.fast_path:
        print(f"nnkeras: training with plain model.fit: {reason}", flush=True)
    model.fit(
        training_batches(data.x_train, data.y_train, cfg.batch_size, experiment.seed, first_epoch, cfg.epochs),
        steps_per_epoch=math.ceil(len(data.y_train) / cfg.batch_size),
        initial_epoch=first_epoch,
        epochs=cfg.epochs,
        validation_data=in_batches(data.x_val, data.y_val, max(cfg.batch_size, 256)),
        callbacks=callbacks,
        shuffle=False,  # training_batches already shuffles, reproducibly
        verbose=verbose,
    )


def finish_run(model, data, experiment: Experiment, run_dir: Path, state: dict) -> RunResult:
    """Evaluate the best model on the test set and write the rest of the run directory."""
    best = run_dir / runs.CHECKPOINTS / runs.BEST
    if best.is_file():
        model = models.load_model(best)
    runs.save_model_atomic(model, run_dir / runs.MODEL)
    loss, accuracy, logits = fastfit.evaluate_in_memory(model, data.x_test, data.y_test)
    matrix = confusion_matrix(data.y_test, np.argmax(logits, axis=1), data.spec.num_classes)
    epochs_run = state["epoch"]
    title = f"{experiment.name}: test accuracy {accuracy:.4f}"
    png = report.plot_confusion_matrix(matrix, data.spec.class_names, run_dir / runs.CONFUSION_MATRIX, title)
    forget_epochs_from(run_dir / runs.TENSORBOARD / "test", 0)  # a finish cut short by a kill wrote them once
    write_test_summaries(run_dir / runs.TENSORBOARD, max(epochs_run - 1, 0), loss, accuracy, png)
    if state["history"]:
        report.plot_learning_curves(state["history"], run_dir / runs.LEARNING_CURVES)
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
        "versions": {"keras": keras.__version__, "tensorflow": tf.__version__},
    }
    if data.x_holdout is not None:
        metrics.update(embedding_metrics(model, data))
    runs.write_json(run_dir / runs.METRICS, metrics)  # last: its presence marks the run complete
    return RunResult(run_dir, metrics, state["history"])
