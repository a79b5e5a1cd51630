"""Size and single-sample latency of converted models: LiteRT against Keras.

    python benchmarks/tflite_size_latency.py                  # trains the benchmark runs once, then measures
    python benchmarks/tflite_size_latency.py --runs RUN_DIR...   # your own run directories
    python benchmarks/tflite_size_latency.py --repeats 500 --out results.md

For each run and each quantisation mode: the .tflite's bytes (and its share of
the float32 file), accuracy on the run's test split against Keras, and the
p50/p95 latency of ONE example through
- LiteRT:          `LiteRTModel.predict(x)`, quantisation of int8 inputs included,
- Keras model(x):  the eager call an app-less Python user makes,
- Keras predict:   `model.predict(x)`, the other common call.
Then the issue's targets: int8 at most 30% of float32's bytes, int8 accuracy
within 1 point of Keras, LiteRT at least 20x faster than `model(x)`.
This machine is shared and noisy: compare ratios from one session.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchmark_runs import default_runs, percentile  # noqa: E402
from results_file import replace_section  # noqa: E402

MODES = ("none", "dynamic", "float16", "int8", "int8-io")


def timed(call, repeats: int) -> tuple[float, float]:
    """p50 and p95 in milliseconds of `call()`, after a few warm-up calls."""
    for _ in range(5):
        call()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), percentile(samples, 95)


def print_and_save(text: str, out: Path | None, section: str) -> None:
    """Print a benchmark's table; with --out, also put it in that file's `section` (the rest is kept)."""
    print(text, flush=True)
    if out:
        replace_section(out, section, text)


def keras_rows(run, x1, repeats: int) -> dict:
    """Keras timings on one raw example (a table row goes in as string and float tensors)."""
    model = run.model
    if run.features:
        import tensorflow as tf

        x1 = {k: tf.constant(v) for k, v in x1.items()}
    return {"model(x)": timed(lambda: model(x1, training=False), repeats),
            "predict": timed(lambda: model.predict(x1, verbose=0), max(repeats // 5, 20))}


def measure_run(run_dir: Path, repeats: int, workdir: Path) -> list[dict]:
    from nnkeras.export import convert as export
    from nnkeras.export.litert import LiteRTModel

    from nnkeras.data.base import take

    run = export.load_run(run_dir)
    raw1 = take(run.dataset.x_test, slice(0, 1))
    x1 = run.file_inputs(raw1)  # what an app feeds the file: for a table, ids and filled numbers
    keras_times = keras_rows(run, raw1 if run.features else x1, repeats)
    rows = []
    for mode in MODES[:-1] if run.features else MODES:  # tables have no int8-io (one tensor per column)
        out = workdir / f"{run_dir.name}-{mode}.tflite"
        report = export.convert(run_dir, mode, out=out, min_agreement=0.0).report
        litert = LiteRTModel(out, num_threads=1)
        rows.append({"run": run_dir.name, "mode": mode, "bytes": report["bytes"],
                     "keras_accuracy": report["keras_accuracy"], "accuracy": report["converted_accuracy"],
                     "agreement": report["agreement"], "litert": timed(lambda: litert.predict(x1), repeats),
                     **keras_times})
    return rows


def table(rows: list[dict]) -> str:
    float_bytes = {r["run"]: r["bytes"] for r in rows if r["mode"] == "none"}
    lines = ["| run | mode | bytes | % of float32 | Keras acc | TFLite acc | agreement |"
             " LiteRT p50/p95 ms | model(x) p50/p95 ms | predict p50/p95 ms | model(x) / LiteRT |",
             "|" + "---|" * 11]
    for r in rows:
        ms = {k: f"{r[k][0]:.3f} / {r[k][1]:.3f}" for k in ("litert", "model(x)", "predict")}
        lines.append(f"| {r['run']} | {r['mode']} | {r['bytes']:,} | {100 * r['bytes'] / float_bytes[r['run']]:.0f}% |"
                     f" {r['keras_accuracy']:.4f} | {r['accuracy']:.4f} | {r['agreement']:.4f} | {ms['litert']} |"
                     f" {ms['model(x)']} | {ms['predict']} | {r['model(x)'][0] / r['litert'][0]:.0f}x |")
    return "\n".join(lines)


def targets(rows: list[dict]) -> list[str]:
    float_bytes = {r["run"]: r["bytes"] for r in rows if r["mode"] == "none"}
    out = []
    for r in (r for r in rows if r["mode"] == "int8"):
        share = r["bytes"] / float_bytes[r["run"]]
        drop = 100 * (r["keras_accuracy"] - r["accuracy"])
        out.append(f"{r['run']}: int8 size {share:.0%} of float32 (target <= 30%: {'met' if share <= 0.30 else 'MISSED'}),"
                   f" accuracy {drop:+.2f} points below Keras (target <= 1: {'met' if drop <= 1 else 'MISSED'})")
    for r in (r for r in rows if r["mode"] == "none"):
        speedup = r["model(x)"][0] / r["litert"][0]
        out.append(f"{r['run']}: LiteRT float32 {speedup:.0f}x faster than model(x) at p50"
                   f" (target >= 20x: {'met' if speedup >= 20 else 'MISSED'})")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="*", type=Path, help="run directories (default: train the benchmark set)")
    parser.add_argument("--repeats", type=int, default=300, help="timed single-sample calls per measurement")
    parser.add_argument("--workdir", type=Path, default=Path("runs/benchmarks"), help="where runs and files go")
    parser.add_argument("--out", type=Path, help="also write the table and targets into this Markdown file"
                                                 " (its own section; the rest of the file is kept)")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for run_dir in args.runs or default_runs(args.workdir):
        rows += measure_run(run_dir, args.repeats, args.workdir)
    print_and_save(table(rows) + "\n\n" + "\n".join(f"- {line}" for line in targets(rows)) + "\n", args.out,
                   "tflite_size_latency")
    return 0


if __name__ == "__main__":
    sys.exit(main())
