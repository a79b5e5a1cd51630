"""Shared test helpers: IDX files written by the test, and a CLI runner."""

from __future__ import annotations

import gzip
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
IDX_NAMES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file's content, written from the format's definition (independent of the reader)."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_idx(path: Path, array: np.ndarray) -> None:
    with gzip.open(path, "wb") as handle:
        handle.write(idx_bytes(array))


def learnable_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """28x28 uint8 images whose label is drawn as a bright horizontal band, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    images = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):
        images[i, 2 + 2 * label : 4 + 2 * label, 4:24] = 250
    return images, labels


@pytest.fixture
def mnist_idx_dir(tmp_path) -> Path:
    """A folder with the four standard MNIST IDX gz files: 600 train, 200 test images."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    for split, n, seed in (("train", 600, 1), ("test", 200, 2)):
        images, labels = learnable_digits(n, seed)
        write_idx(folder / IDX_NAMES[split][0], images)
        write_idx(folder / IDX_NAMES[split][1], labels)
    return folder


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m nnkeras ARGS` in a fresh process, as a user would."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", "nnkeras", *args],
        cwd=cwd or REPO, env=env, capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """run_of(name, data, builder, params, epochs) -> a run directory, trained on first use.

    Shared by every test file of a session, so a model two files convert (the
    zoo's LSTM + attention) trains once; lr 1e-2 gives clear margins in a few
    epochs, so a quantised file is judged on decisions the model is sure of.
    """
    folder, made = tmp_path_factory.mktemp("trained"), {}

    def run_of(name: str, data: dict, builder: str, params: dict, epochs: int) -> Path:
        from nnkeras.config import DataConfig, Experiment, ModelConfig, TrainConfig
        from nnkeras.training import train

        key = repr((name, sorted(data.items()), builder, sorted(params.items()), epochs))
        if key not in made:
            experiment = Experiment(name=name, data=DataConfig(**data), model=ModelConfig(builder, params),
                                    train=TrainConfig(epochs=epochs, batch_size=32, learning_rate=1e-2), seed=1)
            made[key] = train(experiment, folder / f"{name}-{len(made)}").run_dir
        return made[key]

    return run_of


@pytest.fixture
def cifar_dir(tmp_path) -> Path:
    """The CIFAR-10 python batches (data_batch_1..5, test_batch), 20 images each, learnable by colour."""
    import pickle

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(5)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = rng.integers(0, 10, size=20)
        pixels = rng.integers(0, 50, size=(20, 3, 32, 32)).astype(np.uint8)
        pixels[:, 0] += (labels * 20).astype(np.uint8)[:, None, None]  # red channel encodes the class
        with open(folder / name, "wb") as handle:
            pickle.dump({b"data": pixels.reshape(20, -1), b"labels": labels.tolist()}, handle)
    return folder


@pytest.fixture
def imdb_dir(tmp_path) -> Path:
    """Keras's imdb.npz layout: ragged word-rank sequences; positive reviews use low ranks."""
    rng = np.random.default_rng(6)

    def reviews(n):
        labels = rng.integers(0, 2, size=n)
        seqs = [list(rng.integers(1, 40, size=rng.integers(5, 30)) + 40 * int(y)) for y in labels]
        ragged = np.empty(n, dtype=object)
        ragged[:] = seqs
        return ragged, labels

    (x_train, y_train), (x_test, y_test) = reviews(300), reviews(100)
    folder = tmp_path / "imdb"
    folder.mkdir()
    np.savez(folder / "imdb.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return folder


TITANIC_HEADER = "PassengerId,Survived,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked"


@pytest.fixture
def titanic_dir(tmp_path) -> Path:
    """A train.csv in Kaggle's Titanic format, 200 rows, with missing ages and ports."""
    rng = np.random.default_rng(7)
    rows = [TITANIC_HEADER]
    for i in range(200):
        sex, pclass = rng.choice(["male", "female"]), int(rng.integers(1, 4))
        survived = int(sex == "female" and pclass < 3 or rng.random() < 0.15)
        age = "" if rng.random() < 0.2 else f"{rng.uniform(1, 70):.1f}"
        port = rng.choice(["S", "C", "Q", ""])
        rows.append(f'{i + 1},{survived},{pclass},"Doe, {i}",{sex},{age},{rng.integers(0, 3)},{rng.integers(0, 3)},'
                    f"T{i},{rng.uniform(5, 100):.2f},,{port}")
    folder = tmp_path / "titanic"
    folder.mkdir()
    (folder / "train.csv").write_text("\n".join(rows) + "\n")
    return folder


@pytest.fixture
def float64_keras():
    """Keras in float64 for the duration of one test (layers, variables, optimizer slots)."""
    import keras

    keras.backend.clear_session()
    keras.config.set_floatx("float64")
    yield keras
    keras.config.set_floatx("float32")
    keras.backend.clear_session()


def kill_after_first_checkpoint(experiment_file: Path, runs_dir: Path, name: str) -> Path:
    """Start a real `nnkeras run` of `experiment_file`, SIGKILL it once its first checkpoint
    exists, and return its (unfinished) run directory."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen([sys.executable, "-m", "nnkeras", "run", str(experiment_file), "--runs-dir",
                                str(runs_dir)], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, state_files = time.monotonic() + 120, []
    while time.monotonic() < deadline and not state_files and process.poll() is None:
        state_files = list(runs_dir.glob(f"{name}/*/checkpoints/state.json"))
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert state_files, "the run never reached its first checkpoint"
    run_dir = state_files[0].parent.parent
    assert not (run_dir / "metrics.json").exists(), "the run finished before it could be killed"
    return run_dir
