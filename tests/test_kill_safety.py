"""Three SIGKILLs of one `nnkeras run` at random moments of its training, each resumed.

The CI-sized version of benchmarks/kill_safety.py: after every kill, before
resuming, every file in the run directory must read back whole (JSON, CSV,
.keras, PNG; temporary files only under temporary names), and the run that
finally completes must equal an uninterrupted one bit for bit.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import REPO
from nnkeras import runs
from nnkeras.config import DataConfig, Experiment, ModelConfig, TrainConfig

sys.path.insert(0, str(REPO / "benchmarks"))
from kill_safety import audit  # noqa: E402  (the benchmark's file checks, not a copy of them)

# Dropout: the resumed run must also continue the dropout masks exactly.
EXPERIMENT = Experiment(name="killed", data=DataConfig(name="synthetic", shape=(6, 6, 1), num_classes=3, size=400),
                        model=ModelConfig(name="mlp", params={"hidden": (16,), "dropout": 0.2}),
                        train=TrainConfig(epochs=40, batch_size=32, histogram_freq=0, checkpoint_seconds=0),
                        seed=5)  # a checkpoint every epoch: kills land between any two


def epoch_checkpointed(runs_dir) -> int:
    """The last epoch whose checkpoint the run has written (0 before the first)."""
    for state in runs_dir.glob(f"{EXPERIMENT.name}/*/{runs.CHECKPOINTS}/{runs.STATE}"):
        try:
            return json.loads(state.read_text())["epoch"]
        except (OSError, ValueError, KeyError):  # replaced between glob and read
            pass
    return 0


def start_and_kill(command: list[str], runs_dir, epoch: int, delay: float) -> bool:
    """Start `command`; once it has written its own checkpoint of `epoch` or later (a resumed
    run, at least one), SIGKILL it `delay` s later.
    True if it was killed, False if it ended first.

    The moment is counted in epochs, not seconds from the start: on a fast machine the
    whole run takes less than a fixed delay, and the kills would land after it ended."""
    epoch = max(epoch, epoch_checkpointed(runs_dir) + 1)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline and epoch_checkpointed(runs_dir) < epoch:
        time.sleep(0.005)
    try:
        process.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        return True


@pytest.mark.slow
def test_three_random_kills_leave_whole_files_and_the_uninterrupted_result(tmp_path):
    from nnkeras import models
    from nnkeras.training import train

    experiment_file = tmp_path / "killed.py"
    experiment_file.write_text("from nnkeras import Experiment\n"
                               f"EXPERIMENT = Experiment.from_dict({json.loads(EXPERIMENT.to_json())!r})\n")
    runs_dir = tmp_path / "runs"
    rng = random.Random(0)
    command = [sys.executable, "-m", "nnkeras", "run", str(experiment_file), "--runs-dir", str(runs_dir)]
    run_dir, killed = None, 0
    # Three kills at rising epochs, each somewhere inside the epoch that follows its checkpoint.
    for round_, epoch in enumerate(sorted(rng.sample(range(1, EXPERIMENT.train.epochs - 5), 3))):
        killed += start_and_kill(command, runs_dir, epoch, rng.uniform(0.0, 0.05))
        run_dir = run_dir or next((runs_dir / "killed").iterdir())
        found = audit(run_dir)
        state = run_dir / runs.CHECKPOINTS / runs.STATE
        print(f"round {round_ + 1}: killed at epoch {json.loads(state.read_text())['epoch'] if state.exists() else 0}"
              f", temporary files {found['temporary']}")  # shown with pytest -s
        assert found["broken"] == [], f"after kill {round_ + 1}: {found['broken']}"
        if runs.is_complete(run_dir):
            break
        command = [sys.executable, "-m", "nnkeras", "run", "--resume", str(run_dir)]
    assert killed == 3, f"only {killed} of 3 runs were killed before they ended"
    if not runs.is_complete(run_dir):
        finished = subprocess.run(command, cwd=REPO, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                                  capture_output=True, text=True, timeout=300)
        assert finished.returncode == 0, finished.stderr[-2000:]

    straight = train(EXPERIMENT, tmp_path / "straight").run_dir
    for a, b in zip(models.load_model(run_dir / runs.MODEL).get_weights(),
                    models.load_model(straight / runs.MODEL).get_weights()):
        assert np.array_equal(a, b)
    got, want = (json.loads((d / runs.METRICS).read_text()) for d in (run_dir, straight))
    assert (got["test_loss"], got["test_accuracy"], got["epochs_run"]) == \
           (want["test_loss"], want["test_accuracy"], want["epochs_run"])
    assert audit(run_dir)["temporary"] == []  # the finished run cleaned up what the kills left
