"""Searches as real processes: SIGKILL mid-search and rerun; a chief and two workers over gRPC.

Each search runs `python -m nnkeras tune` in its own process, as a user would.
Waiting for a process to reach a state polls the files the search writes
(bounded by a deadline); no assertion depends on how long anything takes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pandas as pd
import pytest

from conftest import REPO, run_cli
from test_tuning import write_job


def tune_command(job, runs_dir, *extra) -> list[str]:
    return [sys.executable, "-m", "nnkeras", "tune", str(job), "--runs-dir", str(runs_dir), *extra]


def start(command) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_until(condition, process: subprocess.Popen, deadline_seconds: float = 300) -> None:
    deadline = time.monotonic() + deadline_seconds
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the search ended before the awaited moment:\n{process.stdout.read()[-3000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("the awaited moment never came")
        time.sleep(0.05)


def events(folder) -> list[dict]:
    lines = (folder / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def completed_trials(folder) -> set[str]:
    """Trials the oracle has recorded as completed (its trial.json files)."""
    done = set()
    for path in folder.glob("trial_*/trial.json"):
        state = json.loads(path.read_text())
        if state["status"] == "COMPLETED":
            done.add(state["trial_id"])
    return done


def test_sigkill_mid_trial_then_the_same_command_continues_and_reruns_no_finished_trial(tmp_path):
    job = write_job(tmp_path, "killed", epochs=4, trials=3, checkpoint_seconds=0)  # a trial checkpointed mid-way
    runs_dir = tmp_path / "runs"
    folder = runs_dir / "search" / "killed" / "random"
    search = start(tune_command(job, runs_dir))
    # The moment: trial 1 has checkpointed at least one epoch (so trial 0 is finished).
    wait_until(lambda: (folder / "trial_1" / "checkpoints" / "state.json").is_file(), search)
    search.send_signal(signal.SIGKILL)
    search.wait()
    done_at_kill = completed_trials(folder)
    metrics_at_kill = {t: (folder / f"trial_{t}" / "metrics.json").read_bytes() for t in done_at_kill}
    history_at_kill = (folder / "trial_1" / "history.csv").read_text().splitlines()
    assert "0" in done_at_kill

    again = run_cli("tune", str(job), "--runs-dir", str(runs_dir))
    assert again.returncode == 0, again.stderr[-3000:]
    trials = pd.read_csv(folder / "trials.csv", dtype={"trial": str})
    assert list(trials["status"]) == ["completed"] * 3  # the count of completed trials only grew
    for trial_id, before in metrics_at_kill.items():  # finished trials were not trained again
        assert (folder / f"trial_{trial_id}" / "metrics.json").read_bytes() == before
    log = events(folder)
    for trial_id in trials["trial"]:
        ends = [i for i, e in enumerate(log) if e["trial"] == trial_id and e["event"] == "completed"]
        starts = [i for i, e in enumerate(log) if e["trial"] == trial_id and e["event"] == "start"]
        assert len(ends) == 1 and max(starts) < ends[0]
    # Trial 1 resumed from its checkpoint: the epochs trained before the kill are kept as they were.
    assert (folder / "trial_1" / "history.csv").read_text().splitlines()[:len(history_at_kill)] == history_at_kill
    assert (folder / "best_run.json").is_file()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_chief_and_two_workers_split_the_trials_and_run_none_twice(tmp_path):
    job = write_job(tmp_path, "shared", epochs=3, trials=6)
    runs_dir = tmp_path / "runs"
    oracle = ["--oracle", f"127.0.0.1:{free_port()}"]
    # Workers first: they wait for the chief's gRPC server, then both ask for trials at once.
    workers = [start(tune_command(job, runs_dir, *oracle, "--worker", name)) for name in ("tuner0", "tuner1")]
    chief = start(tune_command(job, runs_dir, *oracle, "--chief"))
    outputs = [p.communicate(timeout=900)[0] for p in (*workers, chief)]
    assert [p.returncode for p in (*workers, chief)] == [0, 0, 0], outputs[-1][-3000:]

    folder = runs_dir / "search" / "shared" / "random"
    trials = pd.read_csv(folder / "trials.csv", dtype={"trial": str})
    assert len(trials) == 6 and (trials["status"] == "completed").all()
    assert set(trials["tuner"]) == {"tuner0", "tuner1"}  # both workers ran trials
    log = events(folder)
    for trial_id, owner in zip(trials["trial"], trials["tuner"]):
        starts = [e for e in log if e["trial"] == trial_id and e["event"] == "start"]
        assert [e["tuner"] for e in starts] == [owner]  # started once, by the worker trials.csv names
    assert {e["pid"] for e in log} == {workers[0].pid, workers[1].pid}  # the chief trains no trial
    assert json.loads((folder / "best_run.json").read_text())["trial"] in set(trials["trial"])


def test_a_worker_whose_chief_never_comes_stops_at_the_time_limit_or_on_sigterm(tmp_path):
    """Keras Tuner alone waits an hour per call in gRPC; both workers here run at once (one start-up)."""
    job = write_job(tmp_path, "alone", epochs=1, trials=1)
    command = tune_command(job, tmp_path / "runs", "--worker", "tuner0", "--oracle", f"127.0.0.1:{free_port()}")
    limited = subprocess.Popen(command, cwd=REPO, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                                                       "NNKERAS_CHIEF_TIMEOUT": "3"},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    waiting = subprocess.Popen(command, cwd=REPO, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert waiting.stdout.readline().startswith("nnkeras: waiting up to 600 s for the chief at 127.0.0.1:")
    waiting.send_signal(signal.SIGTERM)
    out, err = limited.communicate(timeout=300)
    lines = [line for line in err.splitlines() if line.strip()]
    assert limited.returncode == 2 and len(lines) == 1, err
    assert lines[0].startswith(f"error: no chief answered at {command[-1]} within 3 s; start the chief")
    assert "--chief in place of --worker" in lines[0] and "NNKERAS_CHIEF_TIMEOUT=SECONDS" in lines[0]
    _, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 130 and "Traceback" not in err, err
    assert not (tmp_path / "runs").exists()  # a worker writes nothing before its chief answers


def test_a_chief_gone_mid_search_stops_its_worker_within_the_limit_in_one_line(monkeypatch):
    """After the wait, every call to the chief has the same limit (Keras Tuner's own: 60 minutes)."""
    import grpc
    from concurrent import futures

    import keras_tuner as kt
    from keras_tuner.src.distribute import oracle_client

    from nnkeras.errors import NNKerasError
    from nnkeras.tuning import chief

    port = free_port()
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(port))
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner0")
    monkeypatch.setenv(chief.CHIEF_TIMEOUT_ENV, "1")
    monkeypatch.setattr(oracle_client, "TIMEOUT", oracle_client.TIMEOUT)  # restored after the test
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))  # a chief's server, then the chief dies
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    chief.wait_for_chief()
    server.stop(None).wait()
    client = oracle_client.OracleClient(kt.oracles.RandomSearchOracle(max_trials=1))
    with pytest.raises(NNKerasError, match=f"the chief at 127.0.0.1:{port} stopped answering \\(DEADLINE_EXCEEDED\\)"):
        with chief.answering_chief():
            client.get_space()
    assert oracle_client.TIMEOUT == 1
