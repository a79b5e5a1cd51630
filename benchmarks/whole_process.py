"""The MLP job as whole processes, timed from outside: `nnkeras run` against a plain Keras script and PyTorch.

    python benchmarks/whole_process.py                # 5 alternating repeats
    python benchmarks/whole_process.py --repeats 3 --paths nnkeras plain

Every path reads the same file, make_data's 60,000 + 10,000 images written as
Keras's mnist.npz (uint8 pixels), and does the tutorial's job end to end:
- nnkeras: `python -m nnkeras run mnist_mlp --set data.dir=DIR` (everything
           a run writes: checkpoints, TensorBoard, plots, confusion matrix);
- plain:   keras_tutorial.py, the Keras-guide script (fit with validation,
           evaluate, model.save), nothing more;
- torch, torch_1thread: torch_tutorial.py's `job` in /work/venv-torch
           (PyTorch's default threads, and one thread; skipped with one line
           when that venv is missing).
Per process: wall seconds, user+sys CPU seconds and peak resident memory of
the child (os.wait4), medians over the repeats; ratios against plain and
against the faster torch row. The machine is shared: the load is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from speed_data import write_mnist_npz  # noqa: E402
from training_speed import TORCH_PYTHON  # noqa: E402

PATHS = ("plain", "nnkeras", "torch", "torch_1thread")


def command(path: str, data_dir: Path, out_dir: Path) -> list[str]:
    npz = str(data_dir / "mnist.npz")
    if path == "nnkeras":
        return [sys.executable, "-m", "nnkeras", "run", "mnist_mlp", "--set", f"data.dir={data_dir}",
                "--runs-dir", str(out_dir)]
    if path == "plain":
        return [sys.executable, str(HERE / "keras_tutorial.py"), npz, str(out_dir)]
    threads = ["--threads", "1"] if path == "torch_1thread" else []
    return [str(TORCH_PYTHON), str(HERE / "torch_tutorial.py"), "job", npz, str(out_dir), *threads]


def run_timed(argv: list[str]) -> tuple[dict, str]:
    """Wall, user+sys and peak RSS of one child process (os.wait4), and what it printed."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}  # what nnkeras sets for itself
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        child = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=HERE.parent)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{text[-2000:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss": usage.ru_maxrss / 1024}, text


def measure(argv: list[str]) -> dict:
    """run_timed, and the test accuracy the job printed last."""
    timing, text = run_timed(argv)
    accuracy = next((line.split()[2] for line in reversed(text.splitlines()) if line.startswith("test accuracy")), "?")
    return {**timing, "accuracy": float(accuracy.rstrip(","))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=PATHS)
    args = parser.parse_args()
    paths = ["plain"] + [p for p in PATHS if p in args.paths and p != "plain"]
    if any(p.startswith("torch") for p in paths) and not TORCH_PYTHON.exists():
        print(f"torch: skipped, no {TORCH_PYTHON}")
        paths = [p for p in paths if not p.startswith("torch")]
    print(f"{time.strftime('%Y-%m-%d %H:%M')} UTC, {os.cpu_count()} cores, load {os.getloadavg()}")
    results = {p: [] for p in paths}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        write_mnist_npz(data_dir / "mnist.npz")
        for repeat in range(args.repeats):  # alternate: a change of load hits every path alike
            for path in paths:
                results[path].append(measure(command(path, data_dir, Path(tmp) / f"{path}-{repeat}")))
                r = results[path][-1]
                print(f"  repeat {repeat + 1} {path}: {r['wall']:.2f} s wall, {r['cpu']:.2f} s cpu,"
                      f" {r['rss']:.0f} MB, acc {r['accuracy']:.4f}", flush=True)
    median = {p: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for p, rs in results.items()}
    torch_rows = [median[p] for p in paths if p.startswith("torch")]
    torch_base = min(torch_rows, key=lambda m: m["wall"]) if torch_rows else None
    print("\n| path | wall s | user+sys s | peak RSS MB | test acc | wall vs plain | wall vs torch | RSS vs plain |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for path, m in median.items():
        vs_torch = f"{m['wall'] / torch_base['wall']:.2f}x" if torch_base else "-"
        print(f"| {path} | {m['wall']:.2f} | {m['cpu']:.2f} | {m['rss']:.0f} | {m['accuracy']:.4f} |"
              f" {m['wall'] / median['plain']['wall']:.2f}x | {vs_torch} | {m['rss'] / median['plain']['rss']:.2f}x |")
    print(f"\nload at end {os.getloadavg()}; medians of {args.repeats} alternating repeats")


if __name__ == "__main__":
    main()
