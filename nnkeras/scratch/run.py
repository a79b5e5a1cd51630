"""`nnkeras run scratch_mlp`: the NumPy MLP trained into a normal run directory.

This is a custom training loop in Keras's sense: NumPy does every forward
pass, backward pass and update, and the callbacks of the Keras trainer
(TensorBoard, RunCheckpoint, GradientNorms) are driven through a
`keras.callbacks.CallbackList` whose model is the Keras twin
(`nnkeras.models.scratch_twin`), refreshed with the scratch weights before every
epoch end. So a scratch run has the files, TensorBoard tags, checkpoints,
early stopping and divergence handling of a Keras run by construction; its
best model is saved as model.keras and `nnkeras.run_steps.finish_run` scores it
on the test set exactly as it scores any run (the twin computes what the
scratch net computes, in float32: see tests/test_scratch_keras.py), so
export and serving take a scratch run like any other.

The NumPy state (float64 weights and optimiser moments) is checkpointed
beside the twin's at every epoch, so `--resume` continues the float64 run
where it stopped, not from float32 copies.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import keras
import numpy as np

from nnkeras import data as datasets
from nnkeras import models, runs
from nnkeras.callbacks import GradientNorms, RunCheckpoint
from nnkeras.config import Experiment
from nnkeras.errors import DataError
from nnkeras.scratch import optimizers
from nnkeras.scratch.fit import evaluate, kernel_gradients, train_epoch
from nnkeras.scratch.mlp import MLP
from nnkeras.scratch.twin import copy_to_keras
from nnkeras.run_steps import RunResult, begin_logging, compile_model, finish_run, prepare_run_dir, read_state, start

SCRATCH_STATE = "scratch-epoch-{:04d}.npz"
SCRATCH_STATES = "scratch-epoch-*.npz"  # every epoch's, for the cleanup
GRADIENT_BATCH = 256  # examples of the fixed batch the gradient norms are measured on


def train_scratch(experiment: Experiment, run_dir: str | Path, *, resume: bool = False, verbose: int = 0,
                  dataset: datasets.Dataset | None = None) -> RunResult:
    """Train the NumPy MLP of `experiment` into `run_dir`: what `nnkeras.training.train` calls for
    train.engine=numpy (the experiment comes checked, its engine resolved)."""
    cfg = experiment.train
    optimizer = optimizers.make(cfg.optimizer, cfg.learning_rate, cfg.momentum)
    data = start(experiment, dataset)  # seeds the twin's throwaway initial draw; the net has its own generator
    twin = models.build(experiment.model.name, data.spec, experiment.model.params)
    compile_model(twin, cfg, models.loss_for(experiment.model.name, experiment.model.params))
    # The twin's Keras optimizer never steps (it gives the callbacks the learning rate); building
    # its slots now saves them with every checkpoint, so reloading one does not warn about them.
    twin.optimizer.build(twin.trainable_variables)
    net = _network(experiment, data.spec)
    splits = {split: _checked(net, getattr(data, f"x_{split}"), getattr(data, f"y_{split}"), split)
              for split in ("train", "val", "test")}  # bad data fails here, before anything is written
    run_dir = Path(run_dir)
    state = (_restore(run_dir, net, optimizer) if resume else None) or RunCheckpoint.fresh_state()
    copy_to_keras(net, twin)
    prepare_run_dir(run_dir, experiment, data, resume)
    if not (state["stop_reason"] or state["epoch"] >= cfg.epochs):
        _fit(net, optimizer, twin, splits, experiment, run_dir, state, verbose)
    return finish_run(twin, data, experiment, run_dir, state)


def _network(experiment: Experiment, spec) -> MLP:
    params = {**models.builder_defaults(experiment.model.name), **experiment.model.params}
    sizes = (int(np.prod(spec.input_shape)), *params["hidden"], spec.num_classes)
    return MLP.create(sizes, hidden=params["activation"], output="softmax", loss="categorical_crossentropy",
                      init=params["init"], seed=experiment.seed)


def _checked(net: MLP, x, y, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Flattened float64 inputs and one-hot targets of one split, or a DataError naming the split."""
    if isinstance(x, dict):
        raise DataError(f"scratch_mlp needs array inputs; the {split} split is a table of columns (use a Keras model)")
    try:
        return net.check(np.asarray(x).reshape(len(x), -1), y)
    except DataError as exc:
        raise DataError(f"{split} split: {exc}") from None


class ScratchCheckpoint(RunCheckpoint):
    """RunCheckpoint that also keeps the NumPy weights and optimiser state of every epoch.

    They are written before the parent writes state.json pointing at the new
    epoch, and the previous epoch's file is removed only after, so a kill at
    any moment leaves a state.json whose NumPy file exists.
    """

    def __init__(self, run_dir: Path, state: dict, patience: int, net: MLP, optimizer):
        super().__init__(run_dir, state, patience)
        self.net, self.optimizer = net, optimizer

    def _save(self, epochs_done: int, improved: bool) -> None:
        arrays = {f"param_{i}": p for i, p in enumerate(self.net.params())}
        arrays.update({f"opt_{k}": v for k, v in self.optimizer.state().items()})
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        current = SCRATCH_STATE.format(epochs_done)
        runs.write_atomic(self.folder / current, buffer.getvalue())
        super()._save(epochs_done, improved)
        # Every older epoch file, not only the previous one: a kill right after
        # the parent wrote state.json would otherwise leave an orphan for good.
        for old in self.folder.glob(SCRATCH_STATES):
            if old.name != current:
                old.unlink(missing_ok=True)


def _restore(run_dir: Path, net: MLP, optimizer) -> dict | None:
    """The saved state of an interrupted run, with `net` and `optimizer` set back to it (None: start afresh)."""
    state = read_state(run_dir)
    if not state or not state["checkpoint"]:
        return None  # killed before the first epoch ended
    with np.load(run_dir / runs.CHECKPOINTS / SCRATCH_STATE.format(state["epoch"])) as saved:
        for i, param in enumerate(net.params()):
            param[...] = saved[f"param_{i}"]
        optimizer.load_state({key[4:]: saved[key] for key in saved.files if key.startswith("opt_")})
    return state


class ScratchGradientNorms(GradientNorms):
    """GradientNorms with the gradients of the NumPy backward pass instead of tf.GradientTape."""

    def __init__(self, run_dir: Path, net: MLP, x: np.ndarray, t: np.ndarray):
        super().__init__(run_dir, x, t)
        self.net = net

    def kernel_gradients(self) -> dict[str, np.ndarray]:
        return kernel_gradients(self.net, self.x, self.y)


def _fit(net, optimizer, twin, splits, experiment: Experiment, run_dir: Path, state: dict, verbose: int) -> None:
    cfg = experiment.train
    tb_dir = run_dir / runs.TENSORBOARD
    x, t = splits["train"]
    begin_logging(run_dir, experiment, twin, state["epoch"])
    chosen = [keras.callbacks.TensorBoard(log_dir=str(tb_dir), histogram_freq=cfg.histogram_freq),
              ScratchCheckpoint(run_dir, state, cfg.patience, net, optimizer)]
    if cfg.gradient_norms:
        chosen.insert(1, ScratchGradientNorms(run_dir, net, x[:GRADIENT_BATCH], t[:GRADIENT_BATCH]))
    steps = math.ceil(len(x) / cfg.batch_size)
    callbacks = keras.callbacks.CallbackList(chosen, add_progbar=verbose != 0, model=twin, verbose=verbose,
                                             epochs=cfg.epochs, steps=steps)
    callbacks.on_train_begin()
    for epoch in range(state["epoch"], cfg.epochs):
        callbacks.on_epoch_begin(epoch)
        logs = train_epoch(net, optimizer, x, t, cfg.batch_size, experiment.seed, epoch,
                           on_batch=callbacks.on_train_batch_end)
        # The callbacks log and save the twin, so it must hold this epoch's weights and step count.
        copy_to_keras(net, twin)
        twin.optimizer.iterations.assign((epoch + 1) * steps)
        callbacks.on_test_begin()  # validation, hooked as Keras's fit hooks it (TensorBoard logs it per step too)
        val_logs = evaluate(net, *splits["val"])
        callbacks.on_test_end(val_logs)
        callbacks.on_epoch_end(epoch, {**logs, **{f"val_{key}": value for key, value in val_logs.items()}})
        if state["stop_reason"]:  # early stopping or divergence, decided by RunCheckpoint
            break
    callbacks.on_train_end()
