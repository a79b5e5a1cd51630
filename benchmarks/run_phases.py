"""Where the seconds of one `nnkeras run` go: the CLI in this process, its steps timed by wrappers.

    python benchmarks/run_phases.py -- mnist_mlp --set data.dir=DIR --runs-dir OUT

Each phase is a function of nnkeras (or of Keras and TensorFlow it calls)
wrapped with a timer before the command runs; a phase's seconds include the
phases inside it (the table is indented by nesting). "imports" is the time
to the first line of the command; TensorFlow's and Keras's own import is
timed apart. The whole process is timed from its first line, so what no
phase covers is shown as the remainder.
"""

from __future__ import annotations

import importlib
import sys
import time

START = time.perf_counter()

PHASES = [  # (module, attribute path, label): outermost first
    ("nnkeras.launch", "prepare", "config: --set overrides and builder defaults"),
    ("nnkeras.training", "train", "train(): everything after the config"),
    ("nnkeras.devices", "describe", "device lookup"),
    ("nnkeras.run_steps", "start", "seed, determinism, data"),
    ("nnkeras.data", "load", "data: read and split"),
    ("nnkeras.data", "split", "data: split, normalise, checks"),
    ("nnkeras.training", "_model", "build and compile"),
    ("nnkeras.training", "prepare_run_dir", "run directory, config.json"),
    ("nnkeras.training", "begin_logging", "TensorBoard HParams and graph"),
    ("nnkeras.fastfit", "EpochRunner.__init__", "fast path: tensors, optimizer and metric state"),
    ("nnkeras.fastfit", "EpochRunner.build_state", "optimizer and metric variables"),
    ("nnkeras.fastfit", "make_predict_function", "predict function (not traced yet)"),
    ("nnkeras.fastfit", "EpochRunner.validate", "validation passes"),
    ("keras.src.callbacks.tensorboard", "TensorBoard.on_epoch_end", "TensorBoard per epoch (scalars, histograms)"),
    ("keras.src.callbacks.tensorboard", "TensorBoard.on_train_begin", "TensorBoard writers"),
    ("keras.src.callbacks.tensorboard", "TensorBoard.on_train_end", "TensorBoard close"),
    ("nnkeras.callbacks", "RunCheckpoint.on_epoch_end", "checkpoint per epoch"),
    ("nnkeras.run_steps", "finish_run", "finish: best model, test, files"),
    ("nnkeras.models", "load_model", "load a .keras model"),
    ("nnkeras.runs", "save_model_atomic", "save a .keras model"),
    ("nnkeras.fastfit", "evaluate_in_memory", "evaluate (test and validation)"),
    ("nnkeras.plots", "plot_confusion_matrix", "confusion matrix figure"),
    ("nnkeras.run_steps", "write_test_summaries", "TensorBoard test summaries"),
    ("nnkeras.plots", "plot_learning_curves", "learning curves figure"),
    ("nnkeras.runs", "release", "release the run's lock"),
]

seconds: dict[str, float] = {}
cpu: dict[str, float] = {}  # process CPU seconds (all threads): on a shared machine wall time waits for a core
calls: dict[str, int] = {}
depth = [0]
order: list[tuple[int, str]] = []


def timed(label, function):
    def wrapper(*args, **kwargs):
        if label not in seconds:
            order.append((depth[0], label))
            seconds[label], cpu[label], calls[label] = 0.0, 0.0, 0
        depth[0] += 1
        t, c = time.perf_counter(), time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[label] += time.perf_counter() - t
            cpu[label] += time.process_time() - c
            calls[label] += 1
            depth[0] -= 1

    return wrapper


def install() -> None:
    for module_name, attribute, label in PHASES:
        module = importlib.import_module(module_name)
        owner, name = module, attribute
        if "." in attribute:
            class_name, name = attribute.split(".")
            owner = getattr(module, class_name)
        if owner is module and module_name == "nnkeras.run_steps":
            # imported by name into training.py: patch the name there too
            import nnkeras.training as training
            if hasattr(training, name):
                setattr(training, name, timed(label, getattr(training, name)))
                continue
        setattr(owner, name, timed(label, getattr(owner, name)))


def main() -> None:
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    rows = []

    def step(label, t, c):
        rows.append((label, time.perf_counter() - t, time.process_time() - c))
        return time.perf_counter(), time.process_time()

    t, c = time.perf_counter(), time.process_time()
    t, c = step("python start-up to here", START, 0.0)
    import tensorflow  # noqa: F401  TensorFlow's own import (it imports Keras): the floor every Keras script pays
    t, c = step("import tensorflow (and keras with it)", t, c)
    import nnkeras.cli
    import nnkeras.fastfit as fastfit
    import nnkeras.training  # noqa: F401
    t, c = step("import nnkeras (cli, training, fastfit, their imports)", t, c)
    # The epoch calls (a generator: timed while consumed), apart from the validation run between them.
    original = fastfit.EpochRunner.run_in_parts
    consume = timed("epochs: graph calls (trace included)", lambda *args, **kwargs: list(original(*args, **kwargs)))
    fastfit.EpochRunner.run_in_parts = lambda self, *args, **kwargs: iter(consume(self, *args, **kwargs))
    install()
    t, c = step("import the phases' modules (the timers' set-up)", t, c)
    nnkeras.cli.main(["run", *argv])
    step("the command", t, c)
    print("\n| phase | wall s | CPU s | calls |\n|---|---:|---:|---:|")
    for label, wall, used in rows[:-1]:
        print(f"| {label} | {wall:.2f} | {used:.2f} | 1 |")
    print(f"| {rows[-1][0]} | {rows[-1][1]:.2f} | {rows[-1][2]:.2f} | 1 |")
    for level, label in order:
        print(f"| {'. ' * (level + 1)}{label} | {seconds[label]:.2f} | {cpu[label]:.2f} | {calls[label]} |")
    print(f"| whole process (from its first line) | {time.perf_counter() - START:.2f} | {time.process_time():.2f} | |")


if __name__ == "__main__":
    main()
