"""train.distribution: bad cluster settings fail in one line; replicated training equals one process.

The multi-worker checks start real worker processes on 127.0.0.1 with
TF_CONFIG, as a cluster manager would (marked slow: two TensorFlow start-ups
on shared cores take about 30 s).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import REPO, run_cli
from nnkeras import runs
from nnkeras.config import DataConfig, Experiment, ModelConfig, TrainConfig
from nnkeras.errors import ConfigError

# Replicas sum their gradients in a different order than one process adds up a
# batch, so float32 round-off is the whole budget; measured here: at most
# 3e-8 (mirrored, 2 epochs) and 1.2e-7 (two workers, 30 epochs, killed and resumed).
ATOL = 1e-5


def experiment(epochs=3, distribution="none"):
    # 240 training examples at a global batch of 32: the last batch of each epoch is short (16).
    return Experiment("dist", data=DataConfig(name="synthetic", shape=(6, 6, 1), num_classes=3, size=300,
                                              val_fraction=0.2),
                      model=ModelConfig(params={"hidden": (16,)}),
                      train=TrainConfig(epochs=epochs, batch_size=32, distribution=distribution), seed=3)


def tf_config(ports, index):
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


@pytest.mark.parametrize("raw, message", [
    ("{not json", "TF_CONFIG is not valid JSON"),
    ('{"task": {"type": "worker", "index": 0}}', "TF_CONFIG has no 'cluster'"),
    ('{"cluster": {"worker": ["127.0.0.1:2222"]}}', "TF_CONFIG has no 'task'"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}',
     "TF_CONFIG task index 2 is out of range: job 'worker' has 2 address(es), so the index must be in 0..1"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}',
     "TF_CONFIG task type 'chief' is not a job of the cluster (worker)"),
    ('{"cluster": {"worker": ["a:1"], "ps": ["b:2"]}, "task": {"type": "worker", "index": 0}}',
     "TF_CONFIG cluster job 'ps' is not supported"),
    ('{"cluster": {"worker": ["no-port"]}, "task": {"type": "worker", "index": 0}}', "'host:port' strings"),
    ("", "train.distribution=multi_worker needs TF_CONFIG"),
])
def test_bad_tf_config_is_one_line_config_error(raw, message):
    from nnkeras import distributed

    with pytest.raises(ConfigError) as error:
        distributed.read_tf_config(raw)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_chief_is_the_chief_task_or_worker_zero():
    from nnkeras import distributed

    two = '{"cluster": {"worker": ["a:1", "b:2"]%s}, "task": {"type": "%s", "index": %d}}'
    assert distributed.read_tf_config(two % ("", "worker", 0)).is_chief
    assert not distributed.read_tf_config(two % ("", "worker", 1)).is_chief
    assert distributed.read_tf_config(two % (', "chief": ["c:3"]', "chief", 0)).is_chief
    assert not distributed.read_tf_config(two % (', "chief": ["c:3"]', "worker", 0)).is_chief


def test_global_batch_must_split_over_the_replicas():
    from nnkeras import distributed

    class TwoReplicas:
        num_replicas_in_sync = 2

    assert distributed.check_batch_size(64, TwoReplicas()) == 32
    with pytest.raises(ConfigError, match="train.batch_size=33 is the global batch and must be a multiple of the 2"):
        distributed.check_batch_size(33, TwoReplicas())


def test_bad_settings_stop_the_cli_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 3}}')
    result = run_cli("run", "mnist_mlp", "--set", "train.distribution=multi_worker", "--runs-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (  # after TensorFlow's own start-up notices
        "error: TF_CONFIG task index 3 is out of range: job 'worker' has 1 address(es), so the index must be in 0..0")
    unknown = run_cli("run", "mnist_mlp", "--set", "train.distribution=horovod", "--runs-dir", str(tmp_path))
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines()[-1] == ("error: train.distribution must be one of none, mirrored,"
                                                       " multi_worker (got 'horovod')")
    assert "Traceback" not in result.stderr + unknown.stderr
    assert not any(tmp_path.iterdir())


MIRRORED_SCRIPT = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from nnkeras.config import Experiment
from nnkeras.training import train
from nnkeras import distributed
weights = {}
for name in ("mirrored", "none"):
    raw = json.loads(sys.argv[1]); raw["train"]["distribution"] = name
    result = train(Experiment.from_dict(raw), sys.argv[2] + "/" + name)
    weights[name] = [w.tolist() for w in keras.models.load_model(result.run_dir / "model.keras").get_weights()]
print(json.dumps({"replicas": distributed.strategy_for("mirrored").num_replicas_in_sync, **weights}))
"""


def test_mirrored_on_two_logical_cpus_gives_the_weights_of_one_process(tmp_path):
    """One host, two replicas (the CPU split in two): the same weights as an unreplicated run."""
    out = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT, experiment(epochs=2).to_json(), str(tmp_path)],
                         cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    for a, b in zip(result["mirrored"], result["none"]):
        np.testing.assert_allclose(a, b, rtol=0, atol=ATOL)
    assert (tmp_path / "mirrored" / runs.METRICS).is_file()


# ----------------------------------------------------------------------------
# Two worker processes on 127.0.0.1


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start_workers(tmp_path, ports, args, tag):
    """One `nnkeras` process per worker, each with its TF_CONFIG and its own TMPDIR (to see what it leaves)."""
    processes = []
    for index in range(len(ports)):
        scratch = tmp_path / f"tmp-{tag}-{index}"
        scratch.mkdir()
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_CONFIG": tf_config(ports, index), "TMPDIR": str(scratch),
               "TZ": f"UTC+{3 * index}"}  # clocks that disagree, as two hosts' may: a run is named by the chief's
        log = open(tmp_path / f"{tag}-{index}.log", "w")
        processes.append(subprocess.Popen([sys.executable, "-m", "nnkeras", *args], cwd=REPO, env=env,
                                          stdout=log, stderr=subprocess.STDOUT))
    return processes


def wait_all(processes, tmp_path, tag, timeout=300):
    for index, process in enumerate(processes):
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
        assert process.returncode == 0, (tmp_path / f"{tag}-{index}.log").read_text()[-3000:]


def experiment_file(tmp_path, epochs, group=False):
    """dist.py: the experiment, or a group of it and a variant with another seed (`dist_seed4`)."""
    path = tmp_path / "dist.py"
    raw = json.loads(experiment(epochs, "multi_worker").to_json())
    line = (f"EXPERIMENT = Experiment.from_dict({raw!r})" if not group else
            f"EXPERIMENTS = [Experiment.from_dict({raw!r}), Experiment.from_dict({{**{raw!r}, 'name': 'dist_seed4', 'seed': 4}})]")
    path.write_text(f"from nnkeras import Experiment\n{line}\n")
    return path


def last_checkpoint_weights(run_dir):
    import keras

    state = runs.read_json(run_dir / runs.CHECKPOINTS / runs.STATE)
    return keras.models.load_model(run_dir / runs.CHECKPOINTS / state["checkpoint"]).get_weights()


def assert_same_weights_as_one_process(run_dir, epochs, tmp_path):
    from nnkeras.training import train

    single = train(experiment(epochs), tmp_path / "single")
    for a, b in zip(last_checkpoint_weights(run_dir), last_checkpoint_weights(single.run_dir)):
        np.testing.assert_allclose(a, b, rtol=0, atol=ATOL)
    return single


@pytest.mark.slow
def test_two_workers_train_a_group_together_and_only_the_chief_writes(tmp_path):
    """A group of two variants (the single-run path is the killed-worker test's)."""
    runs_dir = tmp_path / "runs"
    processes = start_workers(tmp_path, free_ports(2), ["run", str(experiment_file(tmp_path, 3, group=True)),
                                                        "--runs-dir", str(runs_dir)], "run")
    wait_all(processes, tmp_path, "run")
    (group_dir,) = (runs_dir / "dist").iterdir()  # the chief's; the other worker wrote to its TMPDIR, then deleted it
    assert sorted(runs.find_runs(runs_dir)) == [group_dir / "dist", group_dir / "dist_seed4"]
    assert (group_dir / "summary.md").is_file()
    assert not any((tmp_path / "tmp-run-1").iterdir())
    metrics = runs.read_json(group_dir / "dist" / runs.METRICS)
    assert metrics["epochs_run"] == 3
    single = assert_same_weights_as_one_process(group_dir / "dist", 3, tmp_path)
    assert metrics["test_accuracy"] == single.metrics["test_accuracy"]
    worker_log = (tmp_path / "run-1.log").read_text()  # the worker ends with the same scores as the chief
    for variant in ("dist", "dist_seed4"):  # the chief's folders, not ones named by the worker's clock
        assert f"run directory: {group_dir / variant}\n" in worker_log
    assert f"summary: {group_dir / 'summary.md'}\n" in worker_log
    assert f"test accuracy: {metrics['test_accuracy']:.4f} (test loss {metrics['test_loss']:.4f}, 3 epochs" in worker_log


@pytest.mark.slow
def test_killed_worker_restarts_and_the_job_resumes_from_the_last_checkpoint(tmp_path):
    """SIGKILL worker 1 mid-training; the chief's collectives abort; both restart with --resume."""
    runs_dir, ports, epochs = tmp_path / "runs", free_ports(2), 30
    processes = start_workers(tmp_path, ports, ["run", str(experiment_file(tmp_path, epochs)),
                                                "--runs-dir", str(runs_dir)], "first")
    deadline, done = time.monotonic() + 240, 0
    while time.monotonic() < deadline and done < 2 and processes[1].poll() is None:
        states = list(runs_dir.glob("dist/*/checkpoints/state.json"))
        done = runs.read_json(states[0])["epoch"] if states else 0  # written atomically: never half a file
        time.sleep(0.05)
    processes[1].send_signal(signal.SIGKILL)
    processes[1].wait()
    assert done >= 2, "the job never reached its second checkpoint"
    # The chief notices the missing heartbeats and stops (about 15 s here); a
    # cluster manager would then restart the failed tasks, as we do.
    try:
        processes[0].wait(timeout=120)
    except subprocess.TimeoutExpired:
        processes[0].kill()
        processes[0].wait()
    run_dir = runs.find_runs(runs_dir)[0]
    stopped_at = runs.read_json(run_dir / runs.CHECKPOINTS / runs.STATE)["epoch"]
    assert 2 <= stopped_at < epochs and not (run_dir / runs.METRICS).exists(), "killed too late"

    wait_all(start_workers(tmp_path, ports, ["run", "--resume", str(run_dir)], "resumed"), tmp_path, "resumed")
    metrics = runs.read_json(run_dir / runs.METRICS)
    assert metrics["epochs_run"] == epochs
    history = runs.read_json(run_dir / runs.CHECKPOINTS / runs.STATE)["history"]
    assert [row["epoch"] for row in history] == list(range(1, epochs + 1))
    epoch_lines = [line for line in (tmp_path / "resumed-1.log").read_text().splitlines() if line.startswith("Epoch ")]
    assert epoch_lines[0] == f"Epoch {stopped_at + 1}/{epochs}"  # the restarted worker redid no epoch
    # The restarted job ends where an uninterrupted single process does.
    assert_same_weights_as_one_process(run_dir, epochs, tmp_path)
