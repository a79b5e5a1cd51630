"""Two processes on one runs folder (issue 15): unique run ids, one writer per run or search.

Real `python -m nnkeras` processes on tiny synthetic data. A run or a search
held by a live process refuses a second one in one line naming the holder's
pid (exit 2, nothing of the first touched); a SIGKILLed holder leaves no lock
behind (the kernel drops an flock with its process). Waiting polls files with
a deadline; no assertion depends on how long anything takes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from test_errors import assert_one_error_line
from test_tuning import write_job
from test_tuning_processes import wait_until
from nnkeras import runs
from nnkeras.errors import NNKerasError

TINY = '''"""A 4-4-3 MLP on 60 synthetic examples."""
from nnkeras import DataConfig, Experiment, ModelConfig, TrainConfig
EXPERIMENT = Experiment(name="tiny", data=DataConfig(name="synthetic", shape=(4,), num_classes=3, size=60),
                        model=ModelConfig(name="mlp", params={"hidden": (4,)}),
                        train=TrainConfig(epochs=2, histogram_freq=0, patience=0), seed=0)
'''


def start(*argv) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, "-m", "nnkeras", *map(str, argv)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen, timeout: float = 240) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def holds_lock(folder: Path, process: subprocess.Popen):
    return lambda: (folder / runs.LOCK).is_file() and (folder / runs.LOCK).read_text().strip() == str(process.pid)


@pytest.fixture
def experiment_file(tmp_path) -> Path:
    path = tmp_path / "tiny.py"
    path.write_text(TINY)
    return path


# ---------------------------------------------------------------- run ids, in this process

def test_a_run_id_is_made_once_and_a_taken_group_id_gives_the_next_one(tmp_path):
    run_dir = tmp_path / "runs" / "tiny" / "20261202-150000"
    runs.make_run_dir(run_dir, resume=False)
    try:
        with pytest.raises(runs.RunIdTaken, match="exists already"):  # what the second of two runs meets
            runs.make_run_dir(run_dir, resume=False)
    finally:
        runs.release(run_dir)
    candidate = runs.new_run_dir(tmp_path / "runs", "group")
    with runs.held(candidate, "fix", new=True) as first:  # as if another process claimed it in the same second
        with runs.held(candidate, "fix", new=True) as second:
            assert (first, second) == (candidate, candidate.with_name(candidate.name + "-2"))
            (second / "group.json").write_text("{}")
            (second / "a").mkdir()
    with pytest.raises(KeyboardInterrupt), runs.held(runs.new_run_dir(tmp_path / "other", "g"), "fix", new=True,
                                                     scaffolding=("group.json",)) as group:
        (group / "group.json").write_text("{}")
        raise KeyboardInterrupt  # Ctrl-C in start-up, before any variant was written
    assert not (tmp_path / "other").exists()
    assert sorted(p.name for p in candidate.parent.iterdir()) == [candidate.name, second.name]  # written: kept


def test_a_held_folder_refuses_a_second_holder_in_one_line_naming_the_pid(tmp_path):
    with runs.held(tmp_path / "run", "continue it with X"):
        with pytest.raises(NNKerasError, match=rf"process {os.getpid()} \(pid\) is writing it; wait for it to end,"
                                               rf" or stop it \(kill {os.getpid()}\), then continue it with X"):
            with runs.held(tmp_path / "run", "continue it with X"):
                pass
    with runs.held(tmp_path / "run", "fix"):  # released at the end of the block
        pass


def test_a_lock_that_is_a_link_or_a_folder_is_refused_not_followed(tmp_path):
    (tmp_path / "outside").write_text("keep")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / runs.LOCK).symlink_to(tmp_path / "outside")
    (tmp_path / "b" / runs.LOCK).mkdir(parents=True)
    for folder in ("a", "b"):
        with pytest.raises(NNKerasError, match="not a lock file"), runs.held(tmp_path / folder, "fix"):
            pass
    assert (tmp_path / "outside").read_text() == "keep"


# ---------------------------------------------------------------- real processes

@pytest.mark.slow
def test_three_runs_started_together_get_three_run_directories(tmp_path, experiment_file):
    processes = [start("run", experiment_file, "--set", f"seed={seed}", "--runs-dir", tmp_path / "runs")
                 for seed in range(3)]
    for process in processes:
        code, _, err = finish(process)
        assert code == 0, err
    finished = runs.find_runs(tmp_path / "runs")
    assert len(finished) == 3 and all(runs.is_complete(d) for d in finished)
    assert sorted(json.loads((d / runs.CONFIG).read_text())["seed"] for d in finished) == [0, 1, 2]


def unfinished_run(tmp_path) -> Path:
    from nnkeras.training import train
    from test_errors import TINY

    run_dir = tmp_path / "runs" / "tiny" / "run"
    # patience=0: no early stop, so a resume given more epochs trains until it is killed
    train(dataclasses.replace(TINY, train=dataclasses.replace(TINY.train, patience=0)), run_dir)
    (run_dir / runs.METRICS).unlink()  # as if interrupted after its last epoch
    return run_dir


@pytest.mark.slow
def test_a_second_resume_of_a_run_being_written_is_refused_and_a_killed_holder_leaves_no_lock(tmp_path):
    run_dir = unfinished_run(tmp_path)
    holder = start("run", "--resume", run_dir, "--set", "train.epochs=100000")
    wait_until(lambda: holds_lock(run_dir, holder)() and runs.read_json(run_dir / "checkpoints" / "state.json")
               ["epoch"] > 2, holder)  # training, past the epochs it was given
    code, _, err = finish(start("run", "--resume", run_dir, "--set", "train.epochs=5"))
    line = assert_one_error_line(code, err, f"{run_dir}: process {holder.pid} (pid) is writing it",
                                 f"kill {holder.pid}", f"nnkeras run --resume {run_dir}")
    assert holder.poll() is None, line  # the holder goes on, its lock untouched
    assert (run_dir / runs.LOCK).read_text().strip() == str(holder.pid)
    holder.send_signal(signal.SIGKILL)
    holder.communicate()
    with runs.held(run_dir, "fix"):  # the killed holder's lock went with it
        assert (run_dir / runs.LOCK).read_text().strip() == str(os.getpid())


@pytest.mark.slow
def test_a_second_identical_tune_is_refused_while_the_first_searches(tmp_path):
    job = write_job(tmp_path, "busy", epochs=100000, trials=2)
    folder = tmp_path / "runs" / "search" / "busy" / "random"
    command = ["tune", job, "--runs-dir", tmp_path / "runs", "--set", "train.patience=0"]  # trains until killed
    holder = start(*command)
    wait_until(lambda: holds_lock(folder, holder)() and any(folder.glob("trial_*/checkpoints/state.json")), holder)
    before = {p: p.read_bytes() for p in (folder / "search.json", folder / runs.LOCK)}
    code, _, err = finish(start(*command))
    assert_one_error_line(code, err, f"{folder}: process {holder.pid} (pid) is writing it",
                          "rerun the same `nnkeras tune` command")
    assert holder.poll() is None
    assert {p: p.read_bytes() for p in before} == before
    code, _, err = finish(start(*command, "--overwrite"))
    assert_one_error_line(code, err, f"process {holder.pid} (pid) is writing it")  # --overwrite deletes nothing
    assert (folder / "search.json").read_bytes() == before[folder / "search.json"]
    holder.kill()
    holder.communicate()


@pytest.mark.slow
def test_sigterm_ends_a_run_like_ctrl_c_and_the_lock_goes_with_it(tmp_path):
    run_dir = unfinished_run(tmp_path)
    holder = start("run", "--resume", run_dir, "--set", "train.epochs=100000")
    wait_until(lambda: holds_lock(run_dir, holder)() and runs.read_json(run_dir / "checkpoints" / "state.json")
               ["epoch"] > 2, holder)
    holder.send_signal(signal.SIGTERM)
    code, _, err = finish(holder)
    assert code == 130 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "interrupted; `nnkeras run --resume RUN_DIR` then continues the run"
    with runs.held(run_dir, "fix"):  # released
        pass
