"""The fast path of the trainer: a whole epoch in one TensorFlow graph call.

For small models on a CPU, `model.fit` spends most of its time between
steps (a Python round trip and a tf.data hand-off per batch), not in the
arithmetic. Here the training set lives as tensors, the epoch's shuffled
order is computed once, and one `tf.function` loops over the batches with
`tf.range`, gathering each batch and calling the model's own `train_step`
(same loss, optimizer, metrics as fit). Callbacks run at epoch granularity
through Keras's `CallbackList`, so TensorBoard, checkpoints, early stopping,
TerminateOnNaN and the progress bar behave as with fit. On a terminal
(verbose=1) the epoch runs as a few calls of the same graph, each over a
range of steps sized to take about half a second, so the bar moves; the
steps, their order and the metrics are the same as in one call. Batch order is exactly that of `training_batches`:
`stateless_shuffle(range(n), seed=(seed, epoch))`, cut into consecutive batches.

XLA (`jit_compile`) is deliberately off: on this loop it compiled for
minutes on a CPU.
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np
import tensorflow as tf

# Above this many bytes of training inputs, copying them into TensorFlow
# would double the memory of the run: plain fit streams them instead.
MAX_IN_MEMORY_BYTES = 2 << 30
# On a terminal, one graph call per this many seconds moves the bar often enough
# to watch, and costs a fraction of a percent (a call's overhead is about a millisecond).
SECONDS_PER_CALL = 0.5


def unsupported_reason(x, model) -> str | None:
    """Why the fast path cannot train on `x`, or None when it can."""
    arrays = x.values() if isinstance(x, dict) else [x]
    size = sum(np.asarray(a).nbytes for a in arrays)
    if size > MAX_IN_MEMORY_BYTES:
        return f"the training inputs take {size / 2**30:.1f} GiB, more than the fast path keeps in memory"
    if model.distribute_strategy.num_replicas_in_sync > 1:
        return "the model is replicated by a tf.distribute strategy"
    return None


def epoch_order(n: int, seed: int, epoch):
    """The shuffled example order of one epoch: a function of (seed, epoch) only."""
    seeds = tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch, tf.int64)])
    return tf.random.experimental.stateless_shuffle(tf.range(n), seed=seeds)


class EpochRunner:
    """Runs whole epochs of `model.train_step` on in-memory data inside one graph."""

    def __init__(self, model, x, y, batch_size: int):
        self.model, self.batch_size = model, batch_size
        self.n = len(y)
        self.steps = math.ceil(self.n / batch_size)
        self.features = tf.nest.map_structure(tf.constant, x)
        self.labels = tf.constant(y)
        self.build_state(tf.nest.map_structure(lambda column: column[:batch_size], x), y[:batch_size])
        # autograph=False: the loop is written as tf.while_loop, so TensorFlow need not transpile this
        # method's source (and, through it, train_step's) on every trace: 0.2 s of CPU per trace.
        # Keras's own train function is traced without autograph too.
        self._epoch = tf.function(self._run_epoch, reduce_retracing=True, autograph=False)
        self._steps_per_call = 1  # on a terminal: measured by each call for the next
        self._predict = make_predict_function(model)  # one trace for every epoch's validation

    def build_state(self, x_batch, y_batch) -> None:
        """Create the optimizer's and the compiled metrics' variables before the epoch is traced.

        A tf.function that creates variables on its first call is traced twice;
        the epoch loop is the costliest trace of a small run (about half a
        second for the tutorial's MLP), so build that state eagerly, as fit does.
        """
        if not self.model.optimizer.built:  # a resumed model brings its optimizer state
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.compute_metrics(x_batch, y_batch, self.model(x_batch, training=False))
        self.model.reset_metrics()

    def _run_epoch(self, order, start, stop):
        def step(i):
            idx = order[i * self.batch_size: (i + 1) * self.batch_size]
            batch = tf.nest.map_structure(lambda column: tf.gather(column, idx), self.features)
            self.model.train_step((batch, tf.gather(self.labels, idx)))
            return (i + 1,)

        tf.while_loop(lambda i: i < stop, step, (start,))
        return self.model.get_metrics_result()  # loss and metrics averaged over the epoch

    def run(self, seed: int, epoch: int) -> dict:
        """One epoch in one graph call; its loss and metrics."""
        *_, (_, logs) = self.run_in_parts(seed, epoch, split=False)
        return logs

    def run_in_parts(self, seed: int, epoch: int, split: bool = True):
        """Yields (steps done, loss and metrics so far) after each graph call of one epoch.

        With `split`, a call covers as many steps as the last one ran in
        SECONDS_PER_CALL (the very first: one step, which pays the trace);
        the metrics accumulate across calls, as in one call.
        """
        self.model.reset_metrics()
        order = epoch_order(self.n, seed, epoch)
        done = 0
        while done < self.steps:
            stop = min(done + (self._steps_per_call if split else self.steps), self.steps)
            started = time.perf_counter()
            logs = self._epoch(order, tf.constant(done), tf.constant(stop))
            logs = {k: float(v) for k, v in logs.items()}  # waits for the call to finish
            seconds = time.perf_counter() - started
            if split:
                self._steps_per_call = max(1, int(SECONDS_PER_CALL * (stop - done) / max(seconds, 1e-6)))
            done = stop
            yield done, logs

    def validate(self, validation: tuple) -> dict:
        """Loss and accuracy on (x_val, y_val), in graph. Unlike fit, no on_test_* callbacks
        fire: TensorBoard shows the per-epoch val curves, not its evaluation_*_vs_iterations extras."""
        loss, accuracy, _ = evaluate_in_memory(self.model, *validation, predict=self._predict)
        return {"loss": loss, "accuracy": accuracy}


def fit_in_memory(model, x, y, *, batch_size: int, seed: int, first_epoch: int, epochs: int,
                  validation, callbacks: list, verbose: int, runner: EpochRunner | None = None) -> None:
    """`model.fit` for in-memory data, epoch by epoch; `validation` is (x_val, y_val).

    `runner` runs the epochs (default: an EpochRunner; the distributed path passes its own).
    """
    runner = runner or EpochRunner(model, x, y, batch_size)
    callback_list = keras.callbacks.CallbackList(
        callbacks, add_history=True, add_progbar=verbose != 0, model=model,
        verbose=verbose, epochs=epochs, steps=runner.steps)
    model.stop_training = False
    callback_list.on_train_begin()
    logs = {}
    for epoch in range(first_epoch, epochs):
        callback_list.on_epoch_begin(epoch)
        # A bar on a terminal moves within the epoch; a log gets one line per epoch.
        callback_list.on_train_batch_begin(0)
        for done, logs in runner.run_in_parts(seed, epoch, split=verbose == 1):
            callback_list.on_train_batch_end(done - 1, logs)  # TerminateOnNaN and the progress bar
        val_logs = runner.validate(validation)
        logs.update({f"val_{k}": float(v) for k, v in val_logs.items()})
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end(logs)


def make_predict_function(model, batch_size: int = 1024):
    """A traced loop over batches of `model(x, training=False)`; keep it to call it again
    (a fresh tf.function per call would retrace, and TensorFlow warns about it)."""

    @tf.function(reduce_retracing=True, autograph=False)  # a tf.while_loop: nothing to transpile (see EpochRunner)
    def run(features):
        n = tf.shape(tf.nest.flatten(features)[0])[0]
        steps = (n + batch_size - 1) // batch_size

        def step(i, outputs):
            batch = tf.nest.map_structure(lambda column: column[i * batch_size: (i + 1) * batch_size], features)
            return i + 1, outputs.write(i, tf.cast(model(batch, training=False), tf.float32))

        _, outputs = tf.while_loop(lambda i, _: i < steps, step,
                                   (tf.constant(0), tf.TensorArray(tf.float32, size=steps, infer_shape=False)))
        return outputs.concat()

    return run


def predict_in_memory(model, x, batch_size: int = 1024, predict=None) -> np.ndarray:
    """Logits for in-memory inputs, every batch inside one graph call (inference mode)."""
    predict = predict or make_predict_function(model, batch_size)
    return predict(tf.nest.map_structure(tf.constant, x)).numpy()


def evaluate_in_memory(model, x, y, batch_size: int = 1024, predict=None) -> tuple[float, float, np.ndarray]:
    """(loss, accuracy, logits) in one pass; the loss as model.evaluate reports it
    (the compiled loss averaged over examples, plus regularisation penalties)."""
    logits = predict_in_memory(model, x, batch_size, predict)
    loss = float(model.loss(y, logits)) + sum(float(penalty) for penalty in model.losses)
    accuracy = float(np.mean(np.argmax(logits, axis=1) == np.asarray(y)))
    return loss, accuracy, logits
