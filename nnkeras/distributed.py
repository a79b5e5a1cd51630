"""Scale-out on tf.distribute: `train.distribution = none | mirrored | multi_worker`.

`mirrored` replicates the model over the devices of one host (its GPUs, or
its logical CPUs when it has none); `multi_worker` over the hosts named in
`TF_CONFIG`, one process per host, every process running the same command.

Keras 3's `model.fit` fails under MultiWorkerMirroredStrategy
(keras-team/keras#20585), so the trainer drives the step itself: each epoch's
batches (the same (seed, epoch) order as the fast path) go through
`strategy.experimental_distribute_dataset`, and `strategy.run` computes the
per-example loss, scales it by the *global* batch size
(`tf.nn.compute_average_loss`) and lets the Keras optimizer sum the gradients
over replicas in `apply`. One global step therefore equals one single-process
step on the same batch. `train.batch_size` is the global batch; each replica
gets batch_size / replicas examples.

Only the chief (task `chief`, or `worker` 0 when the cluster has no chief)
writes the run directory; the other workers write to a temporary folder that
they delete at the end (see `training.train`). Each process names a new run
by its own clock, so the workers take the chief's name (`chief_run_dir`) and
report the run where it really is.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from nnkeras import fastfit
from nnkeras.config import seconds_from_env
from nnkeras.errors import ConfigError

# How long a multi_worker process waits for every peer of TF_CONFIG to come up (seconds). TensorFlow's
# own wait has no end, and no signal reaches Python while it lasts.
PEER_TIMEOUT_ENV, DEFAULT_PEER_TIMEOUT = "NNKERAS_PEER_TIMEOUT", 300.0

STRATEGIES = ("none", "mirrored", "multi_worker")
_strategies: dict = {}  # one per process: TensorFlow's collectives can be configured only once


@dataclass(frozen=True)
class Task:
    """This process's place in the TF_CONFIG cluster."""

    type: str
    index: int
    cluster: dict

    @property
    def is_chief(self) -> bool:
        return self.type == "chief" or (self.type == "worker" and self.index == 0 and "chief" not in self.cluster)


def read_tf_config(raw: str | None = None) -> Task:
    """Parse and check TF_CONFIG (or `raw`), or raise a one-line ConfigError."""
    raw = os.environ.get("TF_CONFIG") if raw is None else raw
    if not raw:
        raise ConfigError("train.distribution=multi_worker needs TF_CONFIG, e.g. '{\"cluster\": {\"worker\":"
                          " [\"host1:12345\", \"host2:12345\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}'")
    try:
        spec = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"TF_CONFIG is not valid JSON ({exc})") from None
    if not isinstance(spec, dict):
        raise ConfigError("TF_CONFIG must be a JSON object with 'cluster' and 'task'")
    cluster, task = spec.get("cluster"), spec.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise ConfigError("TF_CONFIG has no 'cluster' (a mapping like {\"worker\": [\"host1:port\", ...]})")
    for job, addresses in cluster.items():
        if job not in ("chief", "worker"):
            raise ConfigError(f"TF_CONFIG cluster job '{job}' is not supported;"
                              " use 'worker' (and optionally one 'chief')")
        if (not isinstance(addresses, list) or not addresses
                or not all(isinstance(a, str) and a.rpartition(":")[2].isdigit() for a in addresses)):
            raise ConfigError(f"TF_CONFIG cluster '{job}' must be a non-empty list of 'host:port' strings")
    if len(cluster.get("chief", [])) > 1:
        raise ConfigError("TF_CONFIG cluster may have one 'chief' at most")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ConfigError("TF_CONFIG has no 'task' with 'type' and 'index', e.g. {\"type\": \"worker\", \"index\": 0}")
    kind, index = task["type"], task["index"]
    if kind not in cluster:
        raise ConfigError(f"TF_CONFIG task type '{kind}' is not a job of the cluster ({', '.join(cluster)})")
    size = len(cluster[kind])
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < size:
        raise ConfigError(f"TF_CONFIG task index {index!r} is out of range: job '{kind}' has {size}"
                          f" address(es), so the index must be in 0..{size - 1}")
    return Task(kind, index, cluster)


def is_chief(distribution: str) -> bool:
    """Whether this process writes the run directory."""
    return distribution != "multi_worker" or read_tf_config().is_chief


def strategy_for(distribution: str):
    """The tf.distribute strategy of `train.distribution`, or None for `none`.

    Call it before TensorFlow runs anything: MultiWorkerMirroredStrategy must
    configure the collectives before the runtime starts.
    """
    if distribution not in STRATEGIES:
        raise ConfigError(f"train.distribution must be one of {', '.join(STRATEGIES)} (got {distribution!r})")
    if distribution == "none":
        return None
    if distribution == "multi_worker":
        read_tf_config()  # a bad TF_CONFIG fails here, in one line, before TensorFlow starts
    if distribution not in _strategies:
        if distribution == "mirrored":
            gpus = tf.config.list_logical_devices("GPU")
            devices = [d.name for d in gpus or tf.config.list_logical_devices("CPU")]
            _strategies[distribution] = tf.distribute.MirroredStrategy(devices)
        else:
            _strategies[distribution] = _wait_for_peers(read_tf_config(), peer_timeout())
    return _strategies[distribution]


def peer_timeout() -> float:
    return seconds_from_env(PEER_TIMEOUT_ENV, DEFAULT_PEER_TIMEOUT)


def _wait_for_peers(task: Task, timeout: float):
    """MultiWorkerMirroredStrategy, once every peer of TF_CONFIG answers on its port.

    TensorFlow's own wait for peers blocks in C++ with the GIL held: it has no
    end, and neither SIGTERM nor Ctrl-C reaches Python while it lasts. So the
    wait happens here first, in Python, with a time limit: this process listens
    on its own address (so peers waiting the same way see it) and connects to
    each peer until all answer, then hands its port to TensorFlow.
    """
    hold_sigterm()
    waiting = [(job, i, address) for job, addresses in task.cluster.items() for i, address in enumerate(addresses)
               if (job, i) != (task.type, task.index)]
    listener = _listen(task.cluster[task.type][task.index])
    deadline = time.monotonic() + timeout
    try:
        while waiting:
            waiting = [peer for peer in waiting if not _answers(peer[2])]
            if waiting and time.monotonic() > deadline:
                absent = ", ".join(f"{job} {i} at {address}" for job, i, address in waiting)
                raise ConfigError(f"multi_worker: {absent} did not come up within {timeout:g} s; start the same"
                                  f" command there with its own TF_CONFIG, or wait longer ({PEER_TIMEOUT_ENV}=SECONDS)")
            time.sleep(0.5 if waiting else 0)
    finally:
        if listener is not None:
            listener.close()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    hold_sigterm()  # TensorFlow's coordination agent takes SIGTERM over as it starts
    return strategy


def _listen(address: str):
    """A plain listener on this task's port until TensorFlow takes it (None if it cannot bind: TF will say why)."""
    try:
        return socket.create_server(("", int(address.rpartition(":")[2])))
    except OSError:
        return None


def _answers(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
        return True
    except OSError:
        return False


def _interrupted(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def hold_sigterm() -> None:
    """SIGTERM ends this process like Ctrl-C (KeyboardInterrupt: the trainer keeps its state)."""
    signal.signal(signal.SIGTERM, _interrupted)


MAX_PATH_BYTES = 4096  # Linux's PATH_MAX


def chief_run_dir(strategy, run_dir: Path) -> Path:
    """The chief's `run_dir`, on every process of the cluster (one collective sum).

    Each chief replica contributes [1, the path's bytes...], every other
    replica zeros; the sum divided by its first element is the chief's path,
    however many replicas each worker has.
    """
    encoded = str(run_dir).encode()[:MAX_PATH_BYTES]
    row = np.zeros(1 + MAX_PATH_BYTES, np.int32)
    if read_tf_config().is_chief:
        row[0], row[1:1 + len(encoded)] = 1, np.frombuffer(encoded, np.uint8)

    @tf.function
    def gather():
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.constant(row)), axis=None)

    total = gather().numpy()
    return Path(bytes((total[1:] // total[0]).astype(np.uint8)).rstrip(b"\0").decode())


def check_batch_size(batch_size: int, strategy) -> int:
    """The per-replica batch size; the global one must split evenly over the replicas."""
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ConfigError(f"train.batch_size={batch_size} is the global batch and must be a multiple of the"
                          f" {replicas} replicas (e.g. {max(1, batch_size // replicas) * replicas})")
    return batch_size // replicas


class DistributedEpochRunner(fastfit.EpochRunner):
    """Whole epochs of a replicated training step; the same batches as the single-process paths."""

    def __init__(self, model, x, y, batch_size: int, strategy):
        check_batch_size(batch_size, strategy)
        self.strategy = strategy
        super().__init__(model, x, y, batch_size)  # the in-memory tensors
        # With autograph, unlike the single-process loop: this one iterates a distributed dataset in Python.
        self._epoch = tf.function(self._run_epoch, reduce_retracing=True)
        self._predict = tf.function(lambda batch: model(batch, training=False))

    def build_state(self, x_batch, y_batch) -> None:
        if not self.model.optimizer.built:  # its slots must be created in cross-replica context
            with self.strategy.scope():
                self.model.optimizer.build(self.model.trainable_variables)
        # The replicated step keeps its own loss and accuracy sums: no compiled metrics to build.

    def _batches(self, seed: int, epoch: int):
        """Epoch `epoch` in global batches, split over replicas (and over workers by DATA sharding)."""
        def gather(idx):
            features = tf.nest.map_structure(lambda column: tf.gather(column, idx), self.features)
            return features, tf.gather(self.labels, idx)

        batches = tf.data.Dataset.from_tensor_slices(fastfit.epoch_order(self.n, seed, epoch))
        batches = batches.batch(self.batch_size).map(gather)
        options = tf.data.Options()
        # Every worker builds the same global batches; each takes its replicas' slices of them.
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return self.strategy.experimental_distribute_dataset(batches.with_options(options))

    def _step(self, batch, global_size):
        x, y = batch
        model = self.model
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            per_example = model.loss.call(y, logits)  # unreduced: the scaling is ours
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_size)
            penalty = tf.add_n(model.losses) if model.losses else tf.constant(0.0)
            loss += tf.nn.scale_regularization_loss(penalty)
        grads = tape.gradient(loss, model.trainable_variables)
        model.optimizer.apply(grads, model.trainable_variables)  # sums the gradients over replicas
        count = tf.cast(tf.shape(y)[0], tf.float32)
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, axis=-1), tf.cast(y, tf.int64)), tf.float32))
        return tf.stack([tf.reduce_sum(per_example) + count * penalty, correct, count])

    def _run_epoch(self, batches):
        totals = tf.zeros(3)
        step = tf.constant(0)
        for batch in batches:
            # The last batch may be short: scale by its real size, as a single process does.
            global_size = tf.minimum(self.batch_size, self.n - step * self.batch_size)
            per_replica = self.strategy.run(self._step, args=(batch, global_size))
            totals += self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
            step += 1
        return totals

    def run_in_parts(self, seed: int, epoch: int, split: bool = True):
        yield self.steps, self.run(seed, epoch)  # one call: the loop reads a distributed dataset to its end

    def run(self, seed: int, epoch: int) -> dict:
        loss_sum, correct, count = self._epoch(self._batches(seed, epoch)).numpy()
        # As Keras's loss tracker: the example-weighted mean of (batch loss + penalties).
        return {"loss": float(loss_sum / count), "accuracy": float(correct / count)}

    def validate(self, validation: tuple) -> dict:
        """Every worker scores the whole validation set with its (identical) weights: all stop alike."""
        loss_sum = correct = count = 0.0
        penalty = float(sum(float(p) for p in self.model.losses))
        x_val, y_val = validation
        batches = tf.data.Dataset.from_tensor_slices((tf.nest.map_structure(tf.constant, x_val), y_val)).batch(256)
        for x, y in batches:
            logits = self._predict(x)
            loss_sum += float(tf.reduce_sum(self.model.loss.call(y, logits))) + penalty * len(y)
            correct += float(tf.reduce_sum(tf.cast(tf.argmax(logits, -1) == tf.cast(y, tf.int64), tf.float32)))
            count += len(y)
        return {"loss": loss_sum / count, "accuracy": correct / count}
