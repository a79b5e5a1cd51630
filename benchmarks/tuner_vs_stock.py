"""`nnkeras tune mnist_mlp` (10 random trials) against the same search in stock Keras Tuner, whole processes.

    python benchmarks/tuner_vs_stock.py               # 3 alternating repeats
    python benchmarks/tuner_vs_stock.py --repeats 5

- nnkeras: `python -m nnkeras tune mnist_mlp --tuner random --max-trials 10`,
  everything it writes included (a run directory per trial with checkpoints
  and TensorBoard logs, HParams, trials.csv, kill-safe state, the best trial
  retrained into best/);
- stock:   stock_tuner.py, kt.RandomSearch over the same space with
  model.fit, then the best hyperparameters retrained, as the guide does.
Per process: wall, user+sys and peak RSS (os.wait4), trials, best val
accuracy; medians over the repeats and the ratio nnkeras / stock.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from whole_process import run_timed  # noqa: E402


def nnkeras_search(out: Path) -> dict:
    timing, text = run_timed([sys.executable, "-m", "nnkeras", "tune", "mnist_mlp", "--tuner", "random",
                              "--max-trials", "10", "--runs-dir", str(out)])
    trials = re.search(r"trials: (\d+) completed", text)
    best = re.search(r"best trial: \S+ \(val_accuracy ([\d.]+)\)", text)
    return {**timing, "trials": int(trials.group(1)) if trials else 0, "best": float(best.group(1)) if best else 0.0}


def stock_search(out: Path) -> dict:
    timing, text = run_timed([sys.executable, str(HERE / "stock_tuner.py"), str(out)])
    trials = re.search(r"trials: (\d+)", text)
    best = re.search(r"best val_accuracy ([\d.]+)", text)
    return {**timing, "trials": int(trials.group(1)), "best": float(best.group(1))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{time.strftime('%Y-%m-%d %H:%M')} UTC, {os.cpu_count()} cores, load {os.getloadavg()}")
    paths = {"stock": stock_search, "nnkeras": nnkeras_search}
    results = {p: [] for p in paths}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):  # alternate: a change of load hits both alike
            for path, search in paths.items():
                r = search(Path(tmp) / f"{path}-{repeat}")
                results[path].append(r)
                print(f"  repeat {repeat + 1} {path}: {r['wall']:.1f} s wall, {r['cpu']:.1f} s cpu, {r['rss']:.0f} MB,"
                      f" {r['trials']} trials, best val_accuracy {r['best']:.4f}", flush=True)
    median = {p: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for p, rs in results.items()}
    print("\n| path | wall s | user+sys s | peak RSS MB | trials | best val acc | wall vs stock | cpu vs stock |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for path, m in median.items():
        print(f"| {path} | {m['wall']:.1f} | {m['cpu']:.1f} | {m['rss']:.0f} | {m['trials']:.0f} | {m['best']:.4f} |"
              f" {m['wall'] / median['stock']['wall']:.2f}x | {m['cpu'] / median['stock']['cpu']:.2f}x |")
    print(f"\nload at end {os.getloadavg()}; medians of {args.repeats} alternating repeats")


if __name__ == "__main__":
    main()
