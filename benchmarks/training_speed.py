"""Training speed: nnkeras's trainer against plain Keras `model.fit`, same session, same data.

    python benchmarks/training_speed.py              # every job, 3 repeats
    python benchmarks/training_speed.py --repeats 5 --jobs mlp

Each measurement runs in a fresh subprocess (so peak memory is per job):
- plain:   the obvious Keras script: build the same model, compile(adam,
           sparse CE from logits), fit(x, y, batch_size=64, epochs=E), evaluate, predict;
- nnkeras: `nnkeras.training.train` on the same arrays, writing a full run
           directory (TensorBoard, checkpoints, plots), then the reloaded
           model through nnkeras's in-graph evaluate/predict.
- nnkeras_tty: the same as nnkeras, with stdout a terminal (a pseudo-terminal
           here) and verbose=1, as `nnkeras run` in a shell: the epoch runs as
           a few graph calls so the progress bar moves within it (target: at
           most 3% slower than nnkeras, whose epoch is one call).
- torch:   the tutorial's PyTorch script (torch_tutorial.py, its double
           softmax fixed: DataLoader batch 64 shuffled, Adam 1e-3) run by
           /work/venv-torch/bin/python on the same arrays (speed_data.make_data,
           or the real digits handed over in an .npz); skipped with one line
           when that venv is missing.
- torch_1thread: the same with torch.set_num_threads(1). PyTorch's default
           (a thread per core, spinning OpenMP workers) is several times slower
           when other processes share the 2 cores; "vs torch" ratios are
           against the faster of the two torch rows.
`--paths` picks paths (plain always runs).
Two training times for nnkeras: "train" is the run's train_seconds (the
epochs, each with its validation pass, which the plain script skips, and
the TensorBoard writes); "fit call" is the whole fast-path call around them
(the data copied into tensors, variables built, checkpoints written after
every epoch). For plain, both are the `model.fit` call.
Data: synthetic arrays of MNIST's real shape (60,000 x 28x28x1, 10 classes)
for speed; job mlp_real repeats the MLP job on the 5,000 real digits of
mnist_sample for the accuracy column (nnkeras trains on 90% of the pool and
keeps 10% for validation; the plain and torch scripts train on all of it).
Printed: medians over the repeats, ratios against plain and against torch, peak
resident memory, and the machine (cores, load average: this machine is shared
and noisy, so compare ratios from one session, not absolute seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from speed_data import make_data

TORCH_PYTHON = Path("/work/venv-torch/bin/python")  # PyTorch's own venv: never a dependency of nnkeras
PATHS = ("plain", "nnkeras", "nnkeras_tty", "torch", "torch_1thread")
JOBS = {  # job -> (builder, builder kwargs, epochs, data)
    "mlp": ("mlp", {"hidden": (30,)}, 5, "synthetic"),
    "lenet5": ("lenet5", {}, 1, "synthetic"),
    "mlp_real": ("mlp", {"hidden": (30,)}, 5, "mnist_sample"),  # the accuracy column on real digits
}


def job_arrays(job: str):
    """x, y (the training pool), x_test, y_test, spec of a job; every path trains on these."""
    import numpy as np

    from nnkeras.data import DataSpec

    source = JOBS[job][3]
    if source == "synthetic":
        x, y = make_data()
        return x, y, x[:10_000], y[:10_000], DataSpec("synthetic", (28, 28, 1), 10, tuple("0123456789"))
    # real digits: train on the training pool (the validation share included), score on the test set
    from nnkeras import data as datasets
    from nnkeras.config import DataConfig

    real = datasets.load(DataConfig(name=source), seed=0)
    x, y = np.concatenate([real.x_val, real.x_train]), np.concatenate([real.y_val, real.y_train])
    return x, y, real.x_test, real.y_test, real.spec


def measure(job: str, path: str) -> dict:
    """One measurement in this process; returns seconds per phase."""
    start = time.perf_counter()
    import keras

    from nnkeras import models
    from nnkeras.data import Dataset

    builder, kwargs, epochs, _ = JOBS[job]
    x, y, x_test, y_test, spec = job_arrays(job)
    out = {"import_and_data": time.perf_counter() - start}
    if path == "plain":
        keras.utils.set_random_seed(0)
        model = models.build(builder, spec, kwargs)
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        t = time.perf_counter()
        model.fit(x, y, batch_size=64, epochs=epochs, verbose=0)
        out["train"] = out["fit_call"] = time.perf_counter() - t
        t = time.perf_counter()
        out["test_accuracy"] = float(model.evaluate(x_test, y_test, verbose=0)[1])
        out["evaluate"] = time.perf_counter() - t
        t = time.perf_counter()
        model.predict(x_test, verbose=0)
        out["predict"] = time.perf_counter() - t
    else:  # nnkeras, nnkeras_tty
        from nnkeras import fastfit
        from nnkeras.config import DataConfig, Experiment, ModelConfig, TrainConfig
        from nnkeras.training import train

        n_val = len(y) // 10
        data = Dataset(x[n_val:], y[n_val:], x[:n_val], y[:n_val], x_test, y_test, spec)
        experiment = Experiment("speed", data=DataConfig(name="synthetic"), seed=0,
                                model=ModelConfig(name=builder, params=kwargs),
                                train=TrainConfig(epochs=epochs, batch_size=64, patience=0, histogram_freq=0))
        fit_seconds = []
        fit_in_memory = fastfit.fit_in_memory

        def timed_fit(*args, **kwargs):  # the whole fast-path call: data to tensors, tracing, checkpoints
            t = time.perf_counter()
            fit_in_memory(*args, **kwargs)
            fit_seconds.append(time.perf_counter() - t)

        fastfit.fit_in_memory = timed_fit
        with tempfile.TemporaryDirectory() as tmp:
            result = train(experiment, f"{tmp}/run", dataset=data, verbose=1 if path == "nnkeras_tty" else 0)
            model = keras.models.load_model(f"{tmp}/run/model.keras")
        out["train"] = result.metrics["train_seconds"]
        out["fit_call"] = fit_seconds[0]
        out["test_accuracy"] = result.metrics["test_accuracy"]
        t = time.perf_counter()
        fastfit.evaluate_in_memory(model, x_test, y_test)
        out["evaluate"] = time.perf_counter() - t
        t = time.perf_counter()
        fastfit.predict_in_memory(model, x_test)
        out["predict"] = time.perf_counter() - t
    out["process"] = time.perf_counter() - start
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def run_child(job: str, path: str, arrays: str | None = None) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if path.startswith("torch"):  # the tutorial's PyTorch script in its own venv, on the same arrays
        command = [str(TORCH_PYTHON), str(Path(__file__).with_name("torch_tutorial.py")), "speed", JOBS[job][0]]
        command += (["--npz", arrays] if arrays else []) + (["--threads", "1"] if path == "torch_1thread" else [])
    else:
        command = [sys.executable, __file__, "--child", job, path]
    if path == "nnkeras_tty":
        return run_on_terminal(command, env)
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{job}/{path} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def dump_arrays(job: str, npz: str) -> None:
    """A real-data job's arrays to a file, for the torch venv, which has neither nnkeras nor its loaders."""
    import numpy as np

    x, y, x_test, y_test, _ = job_arrays(job)
    np.savez(npz, x=x, y=y, x_test=x_test, y_test=y_test)


def run_on_terminal(command: list, env: dict) -> dict:
    """The child with its stdout on a pseudo-terminal (the bar is drawn and read, as a shell would)."""
    import pty

    main_fd, terminal = pty.openpty()
    child = subprocess.Popen(command, stdout=terminal, stderr=subprocess.DEVNULL, env=env)
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(main_fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(main_fd)
    if child.wait() != 0:
        raise SystemExit(f"{command[-2:]} failed:\n{output[-2000:].decode(errors='replace')}")
    lines = output.decode(errors="replace").replace("\r", "\n").splitlines()
    return json.loads(next(line for line in reversed(lines) if line.startswith("{")))


def cli_seconds(*args: str) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nnkeras", *args], capture_output=True, check=True)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", nargs="+", default=["mlp", "lenet5", "mlp_real"], choices=sorted(JOBS))
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=PATHS,
                        help="plain is always measured: the ratios are against it")
    parser.add_argument("--child", nargs=2, metavar=("JOB", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--dump", nargs=2, metavar=("JOB", "NPZ"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child)))
        return
    if args.dump:
        dump_arrays(*args.dump)
        return
    paths = ["plain"] + [p for p in PATHS if p in args.paths and p != "plain"]
    torch_paths = [p for p in paths if p.startswith("torch")]
    if torch_paths and not TORCH_PYTHON.exists():
        print(f"torch: skipped, no {TORCH_PYTHON} (python3 -m venv /work/venv-torch &&"
              " /work/venv-torch/bin/pip install torch==2.13.0 numpy)")
        paths, torch_paths = [p for p in paths if p not in torch_paths], []
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    print("| job | path | train s | fit call s | evaluate s | predict s | process s | peak RSS MB | test acc |"
          " train ratio | fit call ratio | evaluate ratio | predict ratio | train vs torch | fit call vs torch |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    terminal_costs = []
    with tempfile.TemporaryDirectory() as tmp:
        for job in args.jobs:
            arrays = None
            if torch_paths and JOBS[job][3] != "synthetic":
                arrays = f"{tmp}/{job}.npz"
                subprocess.run([sys.executable, __file__, "--dump", job, arrays], check=True,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
            results = {path: [] for path in paths}
            for _ in range(args.repeats):  # alternate, so a change of load hits every path alike
                for path, measurements in results.items():
                    measurements.append(run_child(job, path, arrays))
            median = {p: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for p, rs in results.items()}
            # "vs torch" is against the faster PyTorch row: its default threads lose badly to a loaded machine
            torch_base = min((median[p] for p in torch_paths), key=lambda m: m["train"], default=None)
            for path, m in median.items():
                ratios = " | ".join(f"{m[k] / median['plain'][k]:.2f}x" for k in ("train", "fit_call", "evaluate", "predict"))
                torch_ratios = (" | ".join(f"{m[k] / torch_base[k]:.2f}x" for k in ("train", "fit_call"))
                                if torch_base else "- | -")
                print(f"| {job} | {path} | {m['train']:.2f} | {m['fit_call']:.2f} | {m['evaluate']:.3f} | {m['predict']:.3f} |"
                      f" {m['process']:.2f} | {m['peak_rss_mb']:.0f} | {m['test_accuracy']:.4f} | {ratios} | {torch_ratios} |")
            if "nnkeras_tty" in results and "nnkeras" in results:
                # Paired by repeat (measured back to back): what the moving bar costs over one call per epoch.
                paired = [t["train"] / n["train"] for t, n in zip(results["nnkeras_tty"], results["nnkeras"])]
                terminal_costs.append(f"{job}: nnkeras_tty / nnkeras train time {statistics.median(paired):.3f}x"
                                      f" (each repeat: {', '.join(f'{r:.3f}' for r in paired)})")
    if terminal_costs:
        print("\nprogress bar within the epoch on a terminal (target <= 1.03x):\n  " + "\n  ".join(terminal_costs))
    print(f"\n`nnkeras --help`: {cli_seconds('--help'):.2f} s, `nnkeras list`: {cli_seconds('list'):.2f} s wall")
    print(f"load average at end: {os.getloadavg()[0]:.1f}; medians of {args.repeats} runs")


if __name__ == "__main__":
    main()
