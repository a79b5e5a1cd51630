"""Seconds per epoch of the CNNs (LeNet-5, convnet): nnkeras's fast path against plain `model.fit`,
and the arithmetic floor of each model on this CPU.

    python benchmarks/model_epochs.py                        # lenet5 (60,000) and convnet (3,200), 5 repeats
    python benchmarks/model_epochs.py --jobs lenet5 --repeats 2 --paths fit nnkeras nnkeras_jit

Each measurement is a fresh subprocess that builds the model (seed 0), compiles it (Adam 1e-3,
sparse CE from logits, accuracy) and trains E epochs at batch 64:
- fit:         `model.fit(x, y, batch_size=64, epochs=E)`, the plain Keras script;
- nnkeras:     `fastfit.fit_in_memory`, the trainer's fast path (the whole epoch in one graph
               call; its epoch includes a validation pass over 64 examples);
- floor:       the bare forward + backward pass of a batch (consecutive rows; gradients computed,
               not applied; no optimizer, no metrics) in a tight in-graph loop, as many times as an
               epoch has steps: what the arithmetic of the model costs on this CPU, so no loop
               around `train_step` can be faster than this;
- nnkeras_jit: the fast path with each step XLA-compiled (`tf.function(train_step, jit_compile=True)`
               inside the epoch loop), kept as a path to show what it does;
- nnkeras_inter1: the fast path with TensorFlow's inter-op pool at 1 thread (intra-op as default);
- nnkeras_bf16: the fast path with the model built under Keras's mixed_bfloat16 policy (the
               trainer's train.mixed_precision=mixed_bfloat16: bfloat16 compute, float32 variables
               and logits), for CPUs whose oneDNN has bfloat16 kernels (AVX512-BF16, AMX).
Data: random arrays of the real shapes (MNIST 28x28x1, CIFAR-10 32x32x3, 10 classes): the
arithmetic depends on the shape, not on the pixels. The repeats alternate the paths, so a change
of load hits them alike; printed are medians of the later epochs (the first holds the tracing)
and ratios to fit, with the load average at the start and end (the machine is shared).
sequence_speed.py uses the same machinery for the IMDB models.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

JOBS = {  # job -> (builder, builder arguments, input shape, examples per epoch by default)
    "lenet5": ("lenet5", {}, (28, 28, 1), 60_000),
    # CIFAR-10 has 50,000 training images; an epoch of them takes minutes here, so the default is
    # 3,200 (50 steps): the time per step, which decides the ratios, does not depend on the count.
    "convnet": ("convnet", {}, (32, 32, 3), 3_200),
}
PATHS = ("fit", "nnkeras", "floor")
EXTRA_PATHS = ("nnkeras_jit", "nnkeras_inter1", "nnkeras_bf16")
BATCH = 64


def compiled(builder: str, spec, params: dict, jit_compile: bool = False, mixed: str = "none"):
    import keras

    from nnkeras import models, precision

    keras.utils.set_random_seed(0)
    with precision.policy(mixed):  # as the trainer builds it
        model = models.build(builder, spec, params)
    if mixed != "none":
        model = precision.with_float32_logits(model)
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], jit_compile=jit_compile)
    return model


def epoch_seconds(model, x, y, path: str, epochs: int) -> list[float]:
    """Seconds of each of `epochs` epochs of `model` on (x, y) along `path`, in this process."""
    import keras
    import tensorflow as tf

    from nnkeras import fastfit

    if path == "floor":
        return floor_seconds(model, x, y, epochs)
    seconds = []

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.start)

    if path in ("fit", "fit_jit"):  # fit_jit: the model was compiled with jit_compile=True
        model.fit(x, y, batch_size=BATCH, epochs=epochs, callbacks=[EpochTimer()], verbose=0, shuffle=True)
        return seconds
    runner = fastfit.EpochRunner(model, x, y, BATCH)
    if path == "nnkeras_jit":
        step = tf.function(model.train_step, jit_compile=True)

        def run_epoch(order, start, stop):  # EpochRunner._run_epoch with the step compiled by XLA
            for i in tf.range(start, stop):
                idx = order[i * BATCH:(i + 1) * BATCH]
                step((tf.nest.map_structure(lambda column: tf.gather(column, idx), runner.features),
                      tf.gather(runner.labels, idx)))
            return model.get_metrics_result()

        runner._epoch = tf.function(run_epoch)
    fastfit.fit_in_memory(model, x, y, batch_size=BATCH, seed=0, first_epoch=0, epochs=epochs,
                          validation=(x[:BATCH], y[:BATCH]), callbacks=[EpochTimer()], verbose=0, runner=runner)
    return seconds


def floor_seconds(model, x, y, epochs: int) -> list[float]:
    """Forward + backward of one fixed batch, an epoch's worth of steps in one graph call, per epoch."""
    import tensorflow as tf

    features, labels = tf.constant(x), tf.constant(y)
    steps = math.ceil(len(y) / BATCH)

    @tf.function
    def passes(n):
        total = tf.constant(0.0)
        for i in tf.range(n):
            # Consecutive rows (the cheapest way to a batch), a new batch each step, so that no
            # optimisation can find the same work in every turn of the loop and do it once.
            batch_x, batch_y = features[i * BATCH:(i + 1) * BATCH], labels[i * BATCH:(i + 1) * BATCH]
            with tf.GradientTape() as tape:
                loss = model.compute_loss(x=batch_x, y=batch_y, y_pred=model(batch_x, training=True))
            gradients = tape.gradient(loss, model.trainable_variables)
            # Summing every gradient into the loop's result keeps the backward pass from being pruned.
            total += tf.add_n([tf.reduce_sum(g) for g in gradients])
        return total

    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        passes(tf.constant(steps)).numpy()
        seconds.append(time.perf_counter() - start)
    return seconds


def measure(job: str, path: str, n: int, epochs: int) -> dict:
    import numpy as np

    from nnkeras.data import DataSpec

    if path == "nnkeras_inter1":
        import tensorflow as tf

        tf.config.threading.set_inter_op_parallelism_threads(1)
    builder, params, shape, _ = JOBS[job]
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, size=n)
    x = rng.normal(size=(n, *shape)).astype("float32")
    model = compiled(builder, DataSpec(job, shape, 10, tuple("0123456789")), params, mixed=mixed_for(path))
    return {"epochs": epoch_seconds(model, x, y, base_path(path), epochs)}


def mixed_for(path: str) -> str:
    return "mixed_bfloat16" if path.endswith("_bf16") else "none"


def base_path(path: str) -> str:
    """The loop a path runs (nnkeras_inter1 and nnkeras_bf16 run nnkeras's, set up differently)."""
    return path.replace("_inter1", "").replace("_bf16", "")


def run_child(script: str, args: list) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, script, "--child", *map(str, args)], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args))} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def alternate(script: str, jobs: dict, paths: list, repeats: int, epochs: int) -> None:
    """Runs every (job, path) `repeats` times, paths alternating, and prints one table row each."""
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; batch {BATCH},"
          f" {epochs} epochs a run, medians of {repeats} runs")
    print("| job | examples | path | first epoch s | later epochs s (median) | runs | vs fit | paired vs fit | vs floor |")
    print("|---|---:|---|---:|---:|---|---:|---:|---:|")
    for job, n in jobs.items():
        firsts, laters = {p: [] for p in paths}, {p: [] for p in paths}
        for _ in range(repeats):
            for path in paths:
                seconds = run_child(script, [job, path, n, epochs])["epochs"]
                # Each run as it ends (stderr): a long table shows where it is and what the load was.
                print(f"  {job} {path}: {', '.join(f'{s:.2f}' for s in seconds)} s,"
                      f" load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
                firsts[path].append(seconds[0])
                laters[path].append(statistics.median(seconds[1:] or seconds))
        median = {p: statistics.median(laters[p]) for p in paths}
        for path in paths:
            vs_fit = f"{median[path] / median['fit']:.2f}x" if "fit" in median else ""
            # Per repeat, this path over the fit run next to it; under a moving load the median of these
            # pairs is steadier than a ratio of medians.
            paired = (f"{statistics.median(a / b for a, b in zip(laters[path], laters['fit'])):.2f}x"
                      if "fit" in laters else "")
            vs_floor = f"{median[path] / median['floor']:.2f}x" if "floor" in median else ""
            each = ", ".join(f"{s:.1f}" for s in laters[path])
            print(f"| {job} | {n:,} | {path} | {statistics.median(firsts[path]):.1f} | {median[path]:.2f} | {each} |"
                  f" {vs_fit} | {paired} | {vs_floor} |", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


def add_common_arguments(parser, paths) -> None:
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=paths)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)


def child_or_table(args, measure, script: str, jobs: dict) -> None:
    """In a child: one measurement, printed as JSON; else the alternating table of `jobs` (job -> n)."""
    if args.child:
        job, path, n, epochs = args.child
        print(json.dumps(measure(job, path, int(n), int(epochs))))
        return
    alternate(script, jobs, args.paths, args.repeats, args.epochs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", nargs="+", default=list(JOBS), choices=list(JOBS))
    parser.add_argument("--n", type=int, help="examples per epoch (default: per job, see JOBS)")
    add_common_arguments(parser, PATHS + EXTRA_PATHS)
    args = parser.parse_args()
    child_or_table(args, measure, __file__, {job: args.n or JOBS[job][3] for job in args.jobs})

if __name__ == "__main__":
    main()
