"""SIGKILL a search at random moments until it finishes; check what resume promises each time.

    python benchmarks/tuning_kill.py            # 16 trials, kill after 4-14 s, seed 0
    python benchmarks/tuning_kill.py 12 7       # 12 trials, random seed 7

Starts `nnkeras tune` on a small random search (synthetic data, 3 epochs
per trial), kills it with SIGKILL after a random delay (the moment falls
wherever it falls: TensorFlow start-up, mid-epoch, while Keras Tuner or the
trainer is writing state), and reruns the same command, again and again,
until a run ends by itself. After every kill it checks:

- the search directory still reloads (the next run does not crash);
- the number of completed trials never went down;
- no trial completed before a kill was trained again (metrics.json is byte
  for byte the same, and events.jsonl shows no start after its completion).

Prints one row per round; the last row is the run that finished.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

JOB = '''
from nnkeras import DataConfig, Experiment, ModelConfig, TrainConfig

EXPERIMENT = Experiment(name="killed", data=DataConfig(name="synthetic", shape=(8,), num_classes=3, size=600),
                        model=ModelConfig(name="mlp"), train=TrainConfig(epochs=3, histogram_freq=0))
MAX_TRIALS = {trials}


def space(hp):
    return {{"model.hidden": (hp.Int("units", 4, 64, step=4),),
            "train.learning_rate": hp.Float("learning_rate", 1e-3, 1e-1, sampling="log")}}
'''


def completed(folder: Path) -> dict[str, bytes]:
    """Trials the oracle recorded as completed -> their metrics.json bytes."""
    done = {}
    for path in folder.glob("trial_*/trial.json"):
        state = json.loads(path.read_text())
        if state["status"] == "COMPLETED":
            done[state["trial_id"]] = (path.parent / "metrics.json").read_bytes()
    return done


def restarted_after_completion(folder: Path) -> list[str]:
    finished, bad = set(), []
    path = folder / "events.jsonl"
    for line in path.read_text().splitlines() if path.is_file() else []:
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line the kill cut short
        if event["event"] == "completed":
            finished.add(event["trial"])
        elif event["event"] == "start" and event["trial"] in finished:
            bad.append(event["trial"])
    return bad


def one_round(command, folder: Path, delay: float) -> tuple[str, int]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        process.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        return "killed", process.returncode
    if process.returncode != 0:
        raise SystemExit(f"the search failed after earlier kills:\n{process.stderr.read()[-2000:]}")
    return "finished", 0


def main(trials: int, seed: int) -> None:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        job = Path(tmp) / "killed.py"
        job.write_text(JOB.format(trials=trials))
        folder = Path(tmp) / "runs" / "search" / "killed" / "random"
        command = [sys.executable, "-m", "nnkeras", "tune", str(job), "--runs-dir", str(Path(tmp) / "runs")]
        rows, before, outcome = [], {}, "killed"
        while outcome == "killed":
            delay = rng.uniform(4, 14)
            started = time.monotonic()
            outcome, _ = one_round(command, folder, delay)
            after = completed(folder) if folder.is_dir() else {}
            rows.append({"round": len(rows) + 1, "outcome": outcome, "seconds": round(time.monotonic() - started, 1),
                         "completed": len(after),
                         "finished trials kept": all(after.get(t) == m for t, m in before.items()),
                         "restarted after completion": ",".join(restarted_after_completion(folder)) or "none"})
            before = after
        print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 16, int(sys.argv[2]) if len(sys.argv) > 2 else 0)
