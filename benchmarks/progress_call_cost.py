"""What the moving progress bar can cost at most: one more graph call of the fast path's epoch.

    python benchmarks/progress_call_cost.py

On a terminal the fast path runs an epoch as calls of about 0.5 s (fastfit.SECONDS_PER_CALL)
instead of one, so the bar costs the extra calls. Measured in one process, so the machine's
load moves it less than whole training runs: the tutorial's MLP (60,000 of MNIST's shape,
batch 64), a call over an empty range of steps (what a call adds: the graph launch and
the metrics read back) against a step, and the bound: extra calls per epoch x call / epoch.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    import keras
    import tensorflow as tf
    from speed_data import make_data

    from nnkeras import fastfit, models
    from nnkeras.data import DataSpec

    x, y = make_data()
    x, y = x[6000:], y[6000:]  # the trainer's 90% training share
    keras.utils.set_random_seed(0)
    model = models.build("mlp", DataSpec("synthetic", (28, 28, 1), 10, tuple("0123456789")), {"hidden": (30,)})
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    runner = fastfit.EpochRunner(model, x, y, 64)
    order = fastfit.epoch_order(runner.n, 0, 0)

    def call(start: int, stop: int) -> None:
        logs = runner._epoch(order, tf.constant(start), tf.constant(stop))
        {k: float(v) for k, v in logs.items()}  # as run_in_parts reads them

    call(0, 1)  # the trace
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(200):
            call(5, 5)
        empty = (time.perf_counter() - started) / 200
        started = time.perf_counter()
        for _ in range(20):
            call(0, 20)
        step = (time.perf_counter() - started) / 400
        epoch = runner.steps * step
        calls = max(1, round(epoch / fastfit.SECONDS_PER_CALL))
        print(f"one graph call {empty * 1e3:.2f} ms, one step {step * 1e3:.3f} ms, epoch {epoch:.2f} s"
              f" ({runner.steps} steps, ~{calls} call(s) on a terminal): at most {calls * empty / epoch:.2%}"
              f" an epoch; load {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
