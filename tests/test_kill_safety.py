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
                        train=TrainConfig(epochs=40, batch_size=32, histogram_freq=0), seed=5)


def config_written(runs_dir) -> int | None:
    """When the run's config.json was last written (the trainer rewrites it as training starts)."""
    found = list(runs_dir.glob(f"{EXPERIMENT.name}/*/{runs.CONFIG}"))
    return found[0].stat().st_mtime_ns if found else None


def start_and_kill(command: list[str], runs_dir, delay: float) -> bool:
    """Start `command`; once it has (re)written config.json, i.e. start-up is over, SIGKILL it
    `delay` s later. True if it was killed, False if it ended first."""
    before = config_written(runs_dir)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline and config_written(runs_dir) in (None, before):
        time.sleep(0.02)
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
    for round_ in range(3):
        killed += start_and_kill(command, runs_dir, rng.uniform(0.0, 3.0))
        run_dir = run_dir or next((runs_dir / "killed").iterdir())
        found = audit(run_dir)
        state = run_dir / runs.CHECKPOINTS / runs.STATE
        print(f"round {round_ + 1}: killed at epoch {json.loads(state.read_text())['epoch'] if state.exists() else 0}"
              f", temporary files {found['temporary']}")  # shown with pytest -s
        assert found["broken"] == [], f"after kill {round_ + 1}: {found['broken']}"
        if runs.is_complete(run_dir):
            break
        command = [sys.executable, "-m", "nnkeras", "run", "--resume", str(run_dir)]
    assert killed >= 1, "every run ended before its kill: the test checked nothing"
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
