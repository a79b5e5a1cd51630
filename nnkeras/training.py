"""The one trainer: `train(experiment, run_dir) -> RunResult`, and its Keras engine.

Everything an experiment needs happens in this order: check the config,
seed every generator, load the data, build the model (all before the run
directory exists, so bad input writes nothing), then compile, fit with the
callbacks, evaluate on the test set and write the run directory.

`train.engine` says who trains: `keras` (the fast path, model.fit or
tf.distribute, below) or `numpy` (nnkeras.scratch.run); `auto` takes the
model's own kind (models.engine_for). The steps both share are in run_steps.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of the output

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from nnkeras import data as datasets  # noqa: E402
from nnkeras import devices, distributed, fastfit, models, precision, runs  # noqa: E402
from nnkeras.callbacks import RunCheckpoint  # noqa: E402
from nnkeras.config import Experiment, validate  # noqa: E402
from nnkeras.errors import ConfigError  # noqa: E402
from nnkeras.run_steps import (  # noqa: E402
    RunResult, begin_logging, compile_model, finish_run, prepare_run_dir, read_state, start)


def with_engine(experiment: Experiment) -> Experiment:
    """`experiment` with train.engine resolved (`auto` -> the model's kind), as config.json records it."""
    validate(experiment)
    engine = models.engine_for(experiment.model.name, experiment.train.engine)
    return dataclasses.replace(experiment, train=dataclasses.replace(experiment.train, engine=engine))


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
    experiment = with_engine(experiment)
    try:
        if resume and Path(run_dir).is_dir() and distributed.is_chief(experiment.train.distribution):
            runs.hold_run(run_dir)  # before reading its checkpoint, which a live holder replaces each epoch
        if experiment.train.engine == "numpy":  # its own loop; the same callbacks, steps and run directory
            if experiment.train.schedule != "constant":
                raise ConfigError(f"train.schedule={experiment.train.schedule} is for the Keras engine; the NumPy"
                                  " optimizers take a constant rate: use train.schedule=constant")
            if experiment.train.mixed_precision != "none":
                raise ConfigError("train.mixed_precision is for the Keras engine; the NumPy models compute in"
                                  " float64 (set train.mixed_precision=none)")
            from nnkeras.scratch.run import train_scratch

            return train_scratch(experiment, Path(run_dir), resume=resume, verbose=verbose, dataset=dataset)
        with released_graphs():  # groups and searches train many models in one process
            return _train_keras(experiment, Path(run_dir), resume, verbose, dataset)
    finally:
        runs.release(run_dir)  # held since run_steps.prepare_run_dir


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
        # No gc.collect() here: the next run's start() clears the Keras session, which collects (a full
        # collection costs 0.2 s among TensorFlow's objects, twice per trial before), and a process that
        # ends after its run needs none.


def _train_keras(experiment: Experiment, run_dir: Path, resume: bool, verbose: int, dataset) -> RunResult:
    # Before TensorFlow starts: a bad TF_CONFIG fails here, and collectives are set up once.
    strategy = distributed.strategy_for(experiment.train.distribution)
    if strategy is not None:
        distributed.check_batch_size(experiment.train.batch_size, strategy)
    if experiment.train.distribution == "multi_worker":  # the chief's clock named the run
        run_dir = distributed.chief_run_dir(strategy, run_dir)
    device = devices.describe(strategy)
    precision.check(experiment.train.mixed_precision, device)
    data = start(experiment, dataset, device)
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
        result = finish_run(model, data, experiment, write_dir, state, device)
    finally:
        if not chief:  # only the chief keeps a run directory
            runs.release(write_dir)
            shutil.rmtree(write_dir.parent, ignore_errors=True)
    return RunResult(run_dir, result.metrics, result.history)


def _model(experiment: Experiment, data, run_dir: Path, state: dict | None):
    """The compiled model and run state: from the last checkpoint, or fresh."""
    if state and state["checkpoint"]:
        return models.load_model(run_dir / runs.CHECKPOINTS / state["checkpoint"]), state
    with precision.policy(experiment.train.mixed_precision):
        model = models.build(experiment.model.name, data.spec, experiment.model.params)
        if experiment.train.mixed_precision != "none":
            model = precision.with_float32_logits(model)
    steps_per_epoch = math.ceil(len(data.y_train) / experiment.train.batch_size)
    compile_model(model, experiment.train, models.loss_for(experiment.model.name, experiment.model.params),
                  steps_per_epoch)
    return model, RunCheckpoint.fresh_state()


def _fit(model, data, experiment: Experiment, run_dir: Path, state: dict, verbose: int, strategy=None) -> None:
    cfg = experiment.train
    tb_dir = run_dir / runs.TENSORBOARD
    first_epoch = state["epoch"]
    begin_logging(run_dir, experiment, model, first_epoch)
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.TensorBoard(log_dir=str(tb_dir), histogram_freq=cfg.histogram_freq),
        RunCheckpoint(run_dir, state, patience=cfg.patience, every_seconds=cfg.checkpoint_seconds),
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


