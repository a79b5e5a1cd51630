"""`nnkeras run scratch_*`: a NumPy network trained into a normal run directory.

The NumPy models (models.NUMPY_MODELS: scratch_mlp, scratch_lenet5,
scratch_lstm, scratch_transformer) each have a scratch network (`NETWORKS`
below: nnkeras.scratch.mlp or nnkeras.scratch.nets) and a Keras twin, the
registry's builder (`nnkeras.models.scratch_twin`), with the same layers
under the same names.

This is a custom training loop in Keras's sense: NumPy does every forward
pass, backward pass and update, and the callbacks of the Keras trainer
(TensorBoard, RunCheckpoint, GradientNorms) are driven through a
`keras.callbacks.CallbackList` whose model is the Keras twin, refreshed with
the scratch weights before every epoch end. So a scratch run has the files,
TensorBoard tags, checkpoints, early stopping and divergence handling of a
Keras run by construction; its best model is saved as model.keras and
`nnkeras.run_steps.finish_run` scores it on the test set exactly as it scores
any run (the twin computes what the scratch net computes, in float32: see
tests/test_scratch_keras.py and tests/test_scratch_models.py), so export and
serving take a scratch run like any other.

The MLP draws its own initial weights (model.init, the lesson of chapter 2);
the other networks start from the twin's Keras draw, so train.engine=numpy
and train.engine=keras begin at the same point.

The NumPy state (float64 weights and optimiser moments) is checkpointed
beside the twin's at every epoch, so `--resume` continues the float64 run
where it stopped, not from float32 copies. Batch order and dropout masks
depend on (seed, epoch) alone (nnkeras.scratch.fit.train_epoch), so a resumed
run takes the steps an uninterrupted one takes.
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
from nnkeras.scratch import nets, optimizers
from nnkeras.scratch.fit import evaluate, train_epoch
from nnkeras.scratch.mlp import MLP
from nnkeras.scratch.network import Network
from nnkeras.scratch.twin import copy_to_keras
from nnkeras.run_steps import RunResult, begin_logging, compile_model, finish_run, prepare_run_dir, read_state, start

SCRATCH_STATE = "scratch-epoch-{:04d}.npz"
SCRATCH_STATES = "scratch-epoch-*.npz"  # every epoch's, for the cleanup
GRADIENT_BATCH = 256  # examples of the fixed batch the gradient norms are measured on
EVALUATION_BATCH = 256  # examples per forward pass in validation: bounds the memory of im2col on images


def train_scratch(experiment: Experiment, run_dir: str | Path, *, resume: bool = False, verbose: int = 0,
                  dataset: datasets.Dataset | None = None) -> RunResult:
    """Train the NumPy network of `experiment` into `run_dir`: what `nnkeras.training.train` calls for
    train.engine=numpy (the experiment comes checked, its engine resolved)."""
    cfg = experiment.train
    optimizer = optimizers.make(cfg.optimizer, cfg.learning_rate, cfg.momentum)
    data = start(experiment, dataset)  # seeds the twin's throwaway initial draw; the net has its own generator
    twin = models.build(experiment.model.name, data.spec, experiment.model.params)
    compile_model(twin, cfg, models.loss_for(experiment.model.name, experiment.model.params))
    # The twin's Keras optimizer never steps (it gives the callbacks the learning rate); building
    # its slots now saves them with every checkpoint, so reloading one does not warn about them.
    twin.optimizer.build(twin.trainable_variables)
    net = network_for(experiment, data.spec, twin)
    splits = {split: _checked(net, experiment.model.name, getattr(data, f"x_{split}"), getattr(data, f"y_{split}"), split)
              for split in ("train", "val", "test")}  # bad data fails here, before anything is written
    run_dir = Path(run_dir)
    state = (_restore(run_dir, net, optimizer) if resume else None) or RunCheckpoint.fresh_state()
    copy_to_keras(net, twin)
    prepare_run_dir(run_dir, experiment, data, resume)
    if not (state["stop_reason"] or state["epoch"] >= cfg.epochs):
        _fit(net, optimizer, twin, splits, experiment, run_dir, state, verbose)
    return finish_run(twin, data, experiment, run_dir, state)


def _mlp(spec, params: dict, seed: int, twin) -> MLP:
    sizes = (int(np.prod(spec.input_shape)), *params["hidden"], spec.num_classes)
    return MLP.create(sizes, hidden=params["activation"], output="softmax", loss="categorical_crossentropy",
                      init=params["init"], seed=seed)


def _lenet5(spec, params: dict, seed: int, twin) -> Network:
    return nets.from_keras(nets.lenet5(spec.input_shape, spec.num_classes, params["activation"], seed), twin)


def _lstm(spec, params: dict, seed: int, twin) -> Network:
    vocab_size = spec.vocab_size if spec.input_dtype == "int32" else None  # token ids, or float sequences
    net = nets.rnn(spec.input_shape, spec.num_classes, params["cell"], params["units"], params["embed_dim"],
                   vocab_size, params["dropout"], seed)
    return nets.from_keras(net, twin)


def _transformer(spec, params: dict, seed: int, twin) -> Network:
    net = nets.transformer(spec.input_shape[0], spec.vocab_size, spec.num_classes, params["embed_dim"],
                           params["num_heads"], params["ff_dim"], params["num_blocks"], params["dropout"],
                           params["max_len"], norm_first=params["norm"] == "pre",
                           mask_padding=params["mask_padding"], seed=seed)
    return nets.from_keras(net, twin)


# NumPy model -> its scratch network, made from (data spec, the builder's arguments, seed, the Keras twin).
NETWORKS = {"scratch_mlp": _mlp, "scratch_lenet5": _lenet5, "scratch_lstm": _lstm, "scratch_transformer": _transformer}


def network_for(experiment: Experiment, spec, twin) -> MLP | Network:
    """The scratch network of `experiment`'s NumPy model, with the twin's architecture (builder defaults filled in)."""
    name = experiment.model.name
    params = {**models.builder_defaults(name), **experiment.model.params}
    return NETWORKS[name](spec, params, experiment.seed, twin)


def _checked(net, model_name: str, x, y, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Checked float64 inputs (token ids: int64) and one-hot targets of one split, or a DataError naming the split."""
    if isinstance(x, dict):
        raise DataError(f"{model_name} needs array inputs; the {split} split is a table of columns (use a Keras model)")
    x = np.asarray(x)
    if isinstance(net, MLP):  # the chapter-2 MLP takes flat vectors; the other networks take the data's shape
        x = x.reshape(len(x), -1)
    try:
        return net.check(x, y)
    except DataError as exc:
        raise DataError(f"{split} split: {exc}") from None


class ScratchCheckpoint(RunCheckpoint):
    """RunCheckpoint that also keeps the NumPy weights and optimiser state of every epoch.

    They are written before the parent writes state.json pointing at the new
    epoch, and the previous epoch's file is removed only after, so a kill at
    any moment leaves a state.json whose NumPy file exists.
    """

    def __init__(self, run_dir: Path, state: dict, patience: int, net: MLP | Network, optimizer,
                 every_seconds: float = 0.0):
        super().__init__(run_dir, state, patience, every_seconds)
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


def _restore(run_dir: Path, net: MLP | Network, optimizer) -> dict | None:
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

    def __init__(self, run_dir: Path, net: MLP | Network, x: np.ndarray, t: np.ndarray):
        super().__init__(run_dir, x, t)
        self.net = net

    def kernel_gradients(self) -> dict[str, np.ndarray]:
        return self.net.kernel_gradients(self.x, self.y)


def _fit(net, optimizer, twin, splits, experiment: Experiment, run_dir: Path, state: dict, verbose: int) -> None:
    cfg = experiment.train
    tb_dir = run_dir / runs.TENSORBOARD
    x, t = splits["train"]
    begin_logging(run_dir, experiment, twin, state["epoch"])
    chosen = [keras.callbacks.TensorBoard(log_dir=str(tb_dir), histogram_freq=cfg.histogram_freq),
              ScratchCheckpoint(run_dir, state, cfg.patience, net, optimizer, cfg.checkpoint_seconds)]
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
        val_logs = evaluate(net, *splits["val"], batch_size=EVALUATION_BATCH)
        callbacks.on_test_end(val_logs)
        callbacks.on_epoch_end(epoch, {**logs, **{f"val_{key}": value for key, value in val_logs.items()}})
        if state["stop_reason"]:  # early stopping or divergence, decided by RunCheckpoint
            break
    callbacks.on_train_end()
