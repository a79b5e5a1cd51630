"""`nnkeras run NAME --smoke` works for every shipped experiment with no network and no data folder.

One real process, offline by construction (an empty HOME, so no Keras cache; every proxy
pointed at a closed port, so a download fails at once even on a machine with internet),
runs each experiment through the command line as a user would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO
from nnkeras import runs
from nnkeras.launch import experiment_files

RUN_FILES = (runs.CONFIG, runs.DATA_SPEC, runs.MODEL, runs.METRICS, runs.HISTORY, runs.LEARNING_CURVES,
             runs.CONFUSION_MATRIX, runs.TENSORBOARD)
EXPERIMENTS = sorted(p.stem for p in experiment_files())
DOWNLOADED = {"mnist_mlp": "mnist", "mnist_lenet5": "mnist", "cifar10_mlp_vs_cnn": "cifar10",
              "imdb_lstm_attention": "imdb", "imdb_transformer": "imdb"}
FULL_RUN = "mnist_lenet5"
pytestmark = pytest.mark.timeout(1500)  # the first test waits for a dozen real runs: ~3 min on a quiet machine  # the same command without --smoke: still the download error

DRIVER = """
import contextlib, io, json, sys, time
from nnkeras import cli
runs_dir, commands = sys.argv[1], json.loads(sys.argv[2])
results = {}
for key, argv in commands.items():
    out, err, began = io.StringIO(), io.StringIO(), time.time()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv + ["--runs-dir", f"{runs_dir}/{key}"])
        except BaseException as exc:  # a traceback is a failure of the test, reported by name
            code = f"{type(exc).__name__}: {exc}"
    results[key] = {"code": code, "out": out.getvalue(), "err": err.getvalue(), "seconds": time.time() - began}
    print(key, round(results[key]["seconds"], 1), code, file=sys.stderr, flush=True)
print(json.dumps(results))
"""


def offline_env(home) -> dict:
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "keras_home")}
    closed = "http://127.0.0.1:9"
    env.update(HOME=str(home), KERAS_HOME=str(home / ".keras"), PYTHONPATH=str(REPO),
               http_proxy=closed, https_proxy=closed, HTTP_PROXY=closed, HTTPS_PROXY=closed)
    return env


@pytest.fixture(scope="module")
def offline_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("offline")
    (root / "home").mkdir()
    commands = {name: ["run", name, "--smoke"] for name in EXPERIMENTS}
    commands["full"] = ["run", FULL_RUN]
    done = subprocess.run([sys.executable, "-c", DRIVER, str(root / "runs"), json.dumps(commands)],
                          cwd=root, env=offline_env(root / "home"), capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    return root / "runs", json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_smoke_runs_offline(offline_runs, name):
    runs_dir, results = offline_runs
    result = results[name]
    assert result["code"] == 0, f"{name}: exit {result['code']}\n{result['err'][-2000:]}"
    finished = [path.parent for path in (runs_dir / name).rglob(runs.METRICS)]
    assert finished, f"{name} wrote no {runs.METRICS}"
    for run_dir in finished:  # a normal run directory, as with real data
        missing = [file for file in RUN_FILES if not (run_dir / file).exists()]
        assert not missing, f"{run_dir} lacks {', '.join(missing)}"
    notes = {line for line in result["out"].splitlines() if "cannot be downloaded" in line}
    if name in DOWNLOADED:  # one line, the same for each variant of a group
        assert len(notes) == 1, result["out"][-2000:]
        (note,) = notes
        assert note.startswith(f"nnkeras: {DOWNLOADED[name]} is not on this machine and cannot be downloaded")
        assert note.endswith("(it checks the pipeline, not the data)")
    else:
        assert not notes, f"{name} uses bundled or generated data, yet said: {notes}"


def test_a_full_run_offline_still_stops_with_the_download_error(offline_runs):
    runs_dir, results = offline_runs
    full = results["full"]
    assert full["code"] == 2
    (line,) = full["err"].strip().splitlines()
    assert line.startswith("error: could not download mnist") and "--set data.dir=FOLDER" in line
    assert not list((runs_dir / "full").rglob(runs.METRICS))
