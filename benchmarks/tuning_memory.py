"""Resident memory over a long search: does it stay flat from trial to trial?

    python benchmarks/tuning_memory.py          # 30 trials
    python benchmarks/tuning_memory.py 60       # more

One process runs a random search of N small trials (an MLP of 1-3 layers of
up to 256 units on synthetic 28x28 data, 2 epochs each), exactly as
`nnkeras tune` does: each trial is built and trained by the one trainer,
which clears the Keras session first and drops the graphs the run traced
(training.released_graphs), and the tuner collects garbage after each trial. The tuner records this process's resident memory (VmRSS) at
every trial end in events.jsonl; this prints it per trial, and the growth
from trial 5 (when TensorFlow's one-off allocations are done) to the last.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pandas as pd

JOB = '''
from nnkeras import DataConfig, Experiment, ModelConfig, TrainConfig

EXPERIMENT = Experiment(
    name="memory",
    data=DataConfig(name="synthetic", shape=(28, 28, 1), num_classes=10, size=1000),
    model=ModelConfig(name="mlp"),
    train=TrainConfig(epochs=2, histogram_freq=0),
)


def space(hp):
    return {"model.hidden": (hp.Int("units", 32, 256, step=32),) * hp.Int("depth", 1, 3),
            "train.learning_rate": hp.Float("learning_rate", 1e-4, 1e-2, sampling="log"),
            "train.batch_size": hp.Choice("batch_size", [32, 64, 128])}
'''


def main(trials: int) -> None:
    from nnkeras.tuning import jobs as tuning
    from nnkeras.tuning import search as tuning_search

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "memory.py"
        path.write_text(JOB)
        job = tuning.prepare(tuning.load_job(str(path)), [], max_trials=trials)
        result = tuning_search.run_search(job, Path(tmp) / "runs", retrain=False)
        events = pd.read_json(result.folder / "events.jsonl", lines=True)
    ends = events[events["event"] != "start"].reset_index(drop=True)
    ends.index += 1
    shown = ends[["trial", "event", "rss_mb"]].rename(columns={"event": "status", "rss_mb": "RSS MB"})
    print(shown.rename_axis("#").to_markdown())
    start = ends["rss_mb"].iloc[min(4, len(ends) - 1)]
    last = ends["rss_mb"].iloc[-1]
    print(f"\n{len(ends)} trials: RSS {ends['rss_mb'].iloc[0]:.0f} MB after trial 1, {start:.0f} MB after trial 5,"
          f" {last:.0f} MB after trial {len(ends)} (peak {ends['rss_mb'].max():.0f} MB);"
          f" growth from trial 5: {last - start:+.0f} MB ({(last - start) / max(len(ends) - 5, 1):+.2f} MB per trial)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
