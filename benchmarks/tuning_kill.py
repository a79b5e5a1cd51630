"""SIGKILL a search at random moments until it finishes; check what resume promises each time.

    python benchmarks/tuning_kill.py            # 16 trials, kill after 4-14 s, seed 0
    python benchmarks/tuning_kill.py 12 7       # 12 trials, random seed 7

`random_kills` (used by benchmarks/kill_safety.py) kills a fixed number of
times instead, each at a moment uniform over an uninterrupted search's wall
time, and compares every finished search with that reference.

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


def one_round(command, folder: Path, delay: float | None, env: dict | None = None) -> tuple[str, int]:
    """Run `command`; SIGKILL it after `delay` seconds (None: let it finish)."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env=env or {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        _, stderr = process.communicate(timeout=delay)  # communicate: a full stderr pipe never stalls it
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.communicate()
        return "killed", process.returncode
    if process.returncode != 0:
        raise SystemExit(f"the search failed after earlier kills:\n{stderr[-2000:]}")
    return "finished", 0


def trial_set(folder: Path) -> pd.DataFrame:
    """What a finished search found: trial id, status, score, epochs and hyperparameters, by trial."""
    table = pd.read_csv(folder / "trials.csv", dtype={"trial": str})
    # tuner/pid/seconds describe who ran a trial and how fast, not what it found.
    return table.drop(columns=["tuner", "seconds", "reason", "run_dir"]).set_index("trial").sort_index()


def random_kills(kills: int, trials: int, seed: int, root: Path, after_kill=None) -> dict:
    """`kills` SIGKILLs, each uniform over a reference search's wall time, then rerun.

    A search that finishes is compared with the uninterrupted reference (same
    trials, hyperparameters and scores) and the next kill starts a new search
    ("cycle"), so later kills too fall anywhere in a search's life, not only
    at its end. `after_kill(folder)` may audit the files a kill left.
    Returns the summary numbers and one row per round.
    """
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    job = root / "killed.py"
    job.write_text(JOB.format(trials=trials))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

    def search(name: str):
        runs_dir = root / name / "runs"
        command = [sys.executable, "-m", "nnkeras", "tune", str(job), "--runs-dir", str(runs_dir)]
        return command, runs_dir / "search" / "killed" / "random"

    # Twice: the second's wall time is the one a warm rerun takes (the first pays for
    # cold caches), and the two must find the same trials.
    for name in ("reference", "reference-2"):
        command, folder = search(name)
        started = time.monotonic()
        one_round(command, folder, None, env)
        reference_seconds = time.monotonic() - started
    reference, mismatches = trial_set(search("reference")[1]), []
    if not trial_set(folder).equals(reference):
        mismatches.append("two uninterrupted searches found different trials")

    rows, cycle, before, killed = [], 1, {}, 0
    command, folder = search(f"cycle-{cycle}")
    while True:
        delay = rng.uniform(0, reference_seconds) if killed < kills else None  # the last round runs to the end
        outcome, _ = one_round(command, folder, delay, env)
        killed += outcome == "killed"
        after = completed(folder) if folder.is_dir() else {}
        row = {"round": len(rows) + 1, "cycle": cycle, "outcome": outcome, "delay": delay, "completed": len(after),
               "finished trials kept": all(after.get(t) == m for t, m in before.items()),
               "restarted after completion": ",".join(restarted_after_completion(folder)) or "none"}
        if outcome == "killed" and after_kill:
            row.update(after_kill(folder))
        rows.append(row)
        before = after
        if outcome == "finished":  # compare with the reference, then start a new search
            found = trial_set(folder)
            row["same trials as reference"] = found.equals(reference)
            if not row["same trials as reference"]:
                mismatches.append(f"cycle {cycle}: trials.csv differs from the reference's\n{found.to_string()}")
            if killed >= kills:
                break
            cycle, before = cycle + 1, {}
            command, folder = search(f"cycle-{cycle}")
    return {"reference_seconds": reference_seconds, "cycles": cycle, "rows": rows, "mismatches": mismatches}


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
