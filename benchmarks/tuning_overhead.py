"""Per-trial overhead of a Keras Tuner search: nnkeras's fast path against plain `model.fit`.

    python benchmarks/tuning_overhead.py                 # 5 trials per path, mnist_mlp job
    python benchmarks/tuning_overhead.py --trials 8 --job mnist_lenet5

Two tables, both on the bundled real digits (mnist_sample, offline):

1. Phases of one trial, in this process, through the functions a trial runs
   (`models.build`, `training.compile_model`, then the fast path's
   `EpochRunner` or plain `model.fit`): build, compile, the first epoch
   (tracing the step: the per-trial overhead) and a later epoch (steady
   state). Medians over `--trials` fresh models, `clear_session` between
   them, as the trainer does between trials.
2. A real search: `nnkeras tune JOB --max-trials N` in a subprocess, once
   with the fast path and once with `--set train.fast_path=false`; per
   trial, its wall time (events.jsonl start to end) and the part spent
   outside training epochs (wall minus the run's train_seconds: loading
   data, building, writing the run directory, evaluating).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path


def phase_seconds(job: str, path: str) -> dict:
    """Seconds per phase of one trial's training, for the job's base experiment."""
    import keras

    from nnkeras import data as datasets, fastfit, models
    from nnkeras.tuning.jobs import load_job
    from nnkeras.run_steps import compile_model

    experiment = load_job(job).experiment
    data = datasets.load(experiment.data, experiment.seed)
    cfg = experiment.train
    keras.backend.clear_session()
    keras.utils.set_random_seed(experiment.seed)
    times = {}
    t = time.perf_counter()
    model = models.build(experiment.model.name, data.spec, experiment.model.params)
    times["build"] = time.perf_counter() - t
    t = time.perf_counter()
    compile_model(model, cfg, models.loss_for(experiment.model.name, experiment.model.params))
    times["compile"] = time.perf_counter() - t
    if path == "nnkeras":
        t = time.perf_counter()
        runner = fastfit.EpochRunner(model, data.x_train, data.y_train, cfg.batch_size)
        times["prepare"] = time.perf_counter() - t
        for key, epoch in (("first_epoch", 0), ("later_epoch", 1)):
            t = time.perf_counter()
            runner.run(experiment.seed, epoch)
            times[key] = time.perf_counter() - t
    else:
        ends = []
        timer = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: ends.append(time.perf_counter()))
        t = time.perf_counter()
        model.fit(data.x_train, data.y_train, batch_size=cfg.batch_size, epochs=2, verbose=0, callbacks=[timer])
        times["prepare"] = 0.0  # fit wraps the arrays inside its first epoch
        times["first_epoch"], times["later_epoch"] = ends[0] - t, ends[1] - ends[0]
    times["overhead"] = times["build"] + times["compile"] + times["prepare"] + times["first_epoch"] - times["later_epoch"]
    return times


def search_seconds(job: str, trials: int, fast: bool) -> list[dict]:
    """Wall and non-training seconds of each trial of a real `nnkeras tune` search."""
    with tempfile.TemporaryDirectory() as runs_dir:
        command = [sys.executable, "-m", "nnkeras", "tune", job, "--tuner", "random", "--max-trials", str(trials),
                   "--runs-dir", runs_dir] + ([] if fast else ["--set", "train.fast_path=false"])
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise SystemExit(f"nnkeras tune failed:\n{done.stderr[-2000:]}")
        folder = Path(runs_dir) / "search" / job / "random"
        events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
        started = {e["trial"]: e["time"] for e in events if e["event"] == "start"}
        rows = []
        for e in events:
            if e["event"] != "completed":
                continue
            wall = (datetime.fromisoformat(e["time"]) - datetime.fromisoformat(started[e["trial"]])).total_seconds()
            metrics = json.loads((folder / f"trial_{e['trial']}" / "metrics.json").read_text())
            rows.append({"wall": wall, "outside_training": wall - metrics["train_seconds"],
                         "epochs": metrics["epochs_run"]})
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", default="mnist_mlp")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--child", nargs=2, metavar=("JOB", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # one path per process: each pays TensorFlow's start-up alike
        job, path = args.child
        print(json.dumps([phase_seconds(job, path) for _ in range(args.trials)]))
        return
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; job {args.job}")
    keys = ("build", "compile", "prepare", "first_epoch", "later_epoch", "overhead")
    print("\n| path | " + " | ".join(f"{k} s" for k in keys) + " |")
    print("|---|" + "---:|" * len(keys))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    for path in ("plain", "nnkeras"):
        done = subprocess.run([sys.executable, __file__, "--child", args.job, path, "--trials", str(args.trials)],
                              capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise SystemExit(f"{path} failed:\n{done.stderr[-2000:]}")
        rows = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"| {path} | " + " | ".join(f"{statistics.median(r[k] for r in rows):.3f}" for k in keys) + " |")
    print(f"\n`nnkeras tune {args.job} --max-trials {args.trials}` (random search), medians per trial:\n")
    print("| path | trial wall s | outside training s | epochs |")
    print("|---|---:|---:|---:|")
    for fast in (False, True):
        rows = search_seconds(args.job, args.trials, fast)
        print(f"| {'nnkeras (fast path)' if fast else 'train.fast_path=false (plain fit)'} |"
              f" {statistics.median(r['wall'] for r in rows):.2f} |"
              f" {statistics.median(r['outside_training'] for r in rows):.2f} |"
              f" {statistics.median(r['epochs'] for r in rows):.0f} |")
    print(f"\nload average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
