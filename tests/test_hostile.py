"""Hostile and careless input, round two (issue 15), through the CLI as a user meets it.

Data files trusted too far (headers that lie, huge claims, values that overflow
float32 after the cast, empty splits and columns, FIFOs where files belong),
models too large to fit, a multi-worker peer that never comes. Each ends in exit 2, one `error:` line, nothing
written. benchmarks/hostile.py runs the wider attack; these pin the kinds.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import IDX_NAMES, TITANIC_HEADER, idx_bytes, learnable_digits, write_idx
from test_errors import assert_one_error_line, cli
from nnkeras import data
from nnkeras.config import DataConfig


def run_mnist(capsys, tmp_path, folder, *more):
    code, err = cli(capsys, "run", "mnist_mlp", "--set", "data.name=mnist", "--set", f"data.dir={folder}",
                    "--set", "train.epochs=1", *more, "--runs-dir", tmp_path / "runs")
    return code, err


def idx_folder(tmp_path, train_images=None, n_test=40) -> Path:
    folder = tmp_path / "mnist"
    folder.mkdir()
    images, labels = learnable_digits(120, seed=1)
    write_idx(folder / IDX_NAMES["train"][0], images if train_images is None else train_images)
    write_idx(folder / IDX_NAMES["train"][1], labels[: len(images if train_images is None else train_images)])
    test_images, test_labels = learnable_digits(max(n_test, 1), seed=2)
    write_idx(folder / IDX_NAMES["test"][0], test_images[:n_test])
    write_idx(folder / IDX_NAMES["test"][1], test_labels[:n_test])
    return folder


def assert_refused(capsys, tmp_path, code_err, *fragments):
    line = assert_one_error_line(*code_err, *fragments)
    assert not (tmp_path / "runs").exists(), "a refused run left files behind"
    return line


# ---------------------------------------------------------------- headers checked against the data

@pytest.mark.parametrize("shape", [(14, 56), (32, 32)])
def test_idx_images_that_are_not_28x28_are_refused(capsys, tmp_path, shape):
    # 14x56 holds 784 pixels, as 28x28 does: reshaped, every image would be scrambled and trained on.
    images = np.random.default_rng(0).integers(0, 255, size=(120, *shape))
    folder = idx_folder(tmp_path, train_images=images)
    assert_refused(capsys, tmp_path, run_mnist(capsys, tmp_path, folder),
                   f"train-images-idx3-ubyte.gz: its header says {shape[0]}x{shape[1]} images", "are 28x28")


def test_an_idx_header_claiming_terabytes_is_refused_before_reading(capsys, tmp_path):
    folder = idx_folder(tmp_path)
    with gzip.open(folder / IDX_NAMES["train"][0], "wb") as handle:  # 1.6 TB claimed, 8 MB of zeros behind
        handle.write(struct.pack(">BBBBIII", 0, 0, 8, 3, 2**31, 28, 28) + bytes(8 << 20))
    assert_refused(capsys, tmp_path, run_mnist(capsys, tmp_path, folder),
                   "train-images-idx3-ubyte.gz: its header's 2147483648x28x28 bytes make", "more than the 4 GiB")


def lying_npz(path: Path, shape) -> None:
    """An .npz whose x_train .npy header claims `shape` in front of 100 bytes."""
    with zipfile.ZipFile(path, "w") as archive:
        for name in ("x_train", "y_train", "x_test", "y_test"):
            buffer = io.BytesIO()
            claim = shape if name == "x_train" else (10,)
            np.lib.format.write_array_header_1_0(buffer, {"descr": "|u1", "fortran_order": False, "shape": claim})
            archive.writestr(f"{name}.npy", buffer.getvalue() + bytes(100))


@pytest.mark.parametrize("dataset, file, shape", [("mnist", "mnist.npz", (10**12, 28, 28)),
                                                   ("imdb", "imdb.npz", (10**12,))])
def test_an_npz_header_claiming_terabytes_is_one_line(capsys, tmp_path, dataset, file, shape):
    lying_npz(tmp_path / file, shape)  # np.load would allocate the claim first: a MemoryError traceback
    code, err = cli(capsys, "run", "mnist_mlp", "--set", f"data.name={dataset}", "--set", f"data.dir={tmp_path}",
                    "--runs-dir", tmp_path / "runs")
    assert_refused(capsys, tmp_path, (code, err), f"{file}: not a readable .npz archive (member x_train.npy claims")


def save_mnist_npz(folder: Path, x_train, x_test=None) -> Path:
    x_test = x_train[:10] if x_test is None else x_test
    np.savez(folder / "mnist.npz", x_train=x_train, y_train=np.arange(len(x_train)) % 10,
             x_test=x_test, y_test=np.arange(len(x_test)) % 10)
    return folder


def test_values_that_overflow_float32_after_the_cast_are_refused(capsys, tmp_path):
    pixels = learnable_digits(60, seed=3)[0].astype(np.float64)
    pixels[5, 3, 3] = 1e39  # finite as float64, infinite once cast: the run would end "complete" with a NaN loss
    save_mnist_npz(tmp_path, pixels)
    assert_refused(capsys, tmp_path, run_mnist(capsys, tmp_path, tmp_path),
                   "mnist training set: some values overflow float32")


@pytest.mark.parametrize("pixels, kind", [(np.full((60, 28, 28), "x"), "<U1"), (np.full((60, 28, 28), 1 + 2j),
                                                                                  "complex128")])
def test_pixels_that_are_not_numbers_are_refused(capsys, tmp_path, pixels, kind):
    save_mnist_npz(tmp_path, pixels)
    assert_refused(capsys, tmp_path, run_mnist(capsys, tmp_path, tmp_path),
                   f"mnist training pool: inputs are {kind} values", "expected numbers")


# ---------------------------------------------------------------- data that cannot train, refused before writing

def titanic(tmp_path, rows=60, age=None, fare=None, embarked=None) -> Path:
    lines = [TITANIC_HEADER] + [
        f'{i},{i % 2},{1 + i % 3},"Doe, {i}",{("male", "female")[i % 2]},{20 + i % 30 if age is None else age},'
        f'0,0,T{i},{7.5 + i if fare is None else fare},,{"SCQ"[i % 3] if embarked is None else embarked}'
        for i in range(rows)]
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "train.csv"


def run_titanic(capsys, tmp_path, csv):
    return cli(capsys, "run", "titanic_wide_deep", "--smoke", "--set", f"data.dir={csv}",
               "--runs-dir", tmp_path / "runs")


@pytest.mark.parametrize("make", ["idx", "npz", "titanic"])
def test_an_empty_test_split_is_refused_before_training(capsys, tmp_path, make):
    # It used to train, then crash in evaluation, leaving a run --resume could not finish.
    if make == "idx":
        code_err = run_mnist(capsys, tmp_path, idx_folder(tmp_path, n_test=0))
    elif make == "npz":
        pixels = learnable_digits(60, seed=3)[0]
        code_err = run_mnist(capsys, tmp_path, save_mnist_npz(tmp_path, pixels, pixels[:0]))
    else:
        code_err = run_titanic(capsys, tmp_path, titanic(tmp_path, rows=4))  # a 20% test split of 4 rows is empty
    assert_refused(capsys, tmp_path, code_err, "the test set holds 0 inputs and 0 labels")


def test_a_required_titanic_column_that_is_all_empty_is_refused(capsys, tmp_path):
    line = assert_refused(capsys, tmp_path, run_titanic(capsys, tmp_path, titanic(tmp_path, age="")),
                          "train.csv: column Age is empty in every row")
    assert "a few missing cells are fine" in line


def test_an_optional_titanic_column_that_is_all_empty_is_left_out(tmp_path):
    csv = titanic(tmp_path, fare="", embarked="")  # NaN statistics once made every such run "diverged"
    spec = data.load(DataConfig(name="titanic", dir=str(csv)), seed=0).spec
    assert set(spec.features["numeric"]) == {"Age", "SibSp", "Parch"}
    assert set(spec.features["categorical"]) == {"Pclass", "Sex"}
    assert all(np.isfinite(stats).all() for stats in spec.features["numeric"].values())


def test_a_titanic_number_whose_square_overflows_float32_is_refused(capsys, tmp_path):
    assert_refused(capsys, tmp_path, run_titanic(capsys, tmp_path, titanic(tmp_path, age="1e38")),
                   "column Age holds 1e+38", "rescale the column")


# ---------------------------------------------------------------- special files never block

def unblock_later(fifo: Path, seconds: float = 20) -> None:
    """If the loader does block on `fifo`, open its other end later so the test fails instead of hanging."""
    def writer():
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        except OSError:
            pass  # nobody reads it: the loader did not block

    timer = threading.Timer(seconds, writer)
    timer.daemon = True
    timer.start()


@pytest.mark.parametrize("where", ["image_folder", "titanic", "idx", "npz"])
def test_a_fifo_where_a_data_file_belongs_is_refused_without_blocking(capsys, tmp_path, where):
    from PIL import Image

    if where == "image_folder":
        for name in ("cat", "dog"):
            (tmp_path / "img" / name).mkdir(parents=True)
            for i in range(3):
                Image.new("L", (10, 10), 50 * i).save(tmp_path / "img" / name / f"{i}.png")
        fifo, argv = tmp_path / "img" / "cat" / "pipe.png", ["run", "mnist_mlp", "--set", "data.name=image_folder",
                                                              "--set", f"data.dir={tmp_path / 'img'}",
                                                              "--set", "data.shape=8,8,1"]
    elif where == "titanic":
        fifo, argv = tmp_path / "train.csv", ["run", "titanic_wide_deep", "--smoke", "--set",
                                              f"data.dir={tmp_path / 'train.csv'}"]
    else:
        folder = idx_folder(tmp_path)
        fifo = folder / (IDX_NAMES["test"][0] if where == "idx" else "mnist.npz")
        fifo.unlink(missing_ok=True)
        argv = ["run", "mnist_mlp", "--set", "data.name=mnist", "--set", f"data.dir={folder}"]
    os.mkfifo(fifo)
    unblock_later(fifo)
    code, err = cli(capsys, *argv, "--runs-dir", tmp_path / "runs")
    assert_refused(capsys, tmp_path, (code, err), f"{fifo}: a FIFO, socket or device, not a regular file")


def test_an_image_size_that_cannot_fit_is_refused_before_decoding(capsys, tmp_path):
    from PIL import Image

    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.new("L", (10, 10)).save(tmp_path / name / f"{i}.png")
    code, err = cli(capsys, "run", "mnist_mlp", "--set", "data.name=image_folder", "--set", f"data.dir={tmp_path}",
                    "--set", "data.shape=30000,30000,3", "--runs-dir", tmp_path / "runs")
    assert_refused(capsys, tmp_path, (code, err), "6 images of data.shape 30000x30000x3 as float32 make")


# ---------------------------------------------------------------- models too large to fit

TOO_LARGE = [
    (["mnist_mlp", "--set", "data.name=digits", "--set", "model.hidden=100000000000"], "mlp would have"),
    (["mnist_mlp", "--set", "data.name=digits", "--set", "model.hidden=100000,100000"], "mlp would have"),
    (["{tmp}/convnet.py", "--set", "model.filters=100000000"], "convnet would have"),
    (["mnist_lenet5", "--set", "data.name=synthetic", "--set", "data.shape=3000,3000,1", "--set", "data.size=10"],
     "lenet5 would have"),
    (["rnn_vs_lstm", "--smoke", "--set", "model.units=1000000000"], "would have"),
    (["imdb_lstm_attention", "--smoke", "--set", "data.name=long_range", "--set", "model.embed_dim=1000000000"],
     "lstm_attention would have"),
    (["arcface_embedding", "--smoke", "--set", "model.embedding_dim=1000000000"], "arcface would have"),
    (["titanic_wide_deep", "--smoke", "--set", "model.hidden=1000000000"], "wide_deep would have"),
]


@pytest.mark.parametrize("argv, fragment", TOO_LARGE, ids=[a[0] + "-" + a[-1] for a, _ in TOO_LARGE])
def test_a_model_that_cannot_fit_is_refused_before_training(capsys, tmp_path, argv, fragment):
    (tmp_path / "convnet.py").write_text(
        "from nnkeras import DataConfig, Experiment, ModelConfig\n"
        "EXPERIMENT = Experiment(name='c', data=DataConfig(name='digits'), model=ModelConfig(name='convnet'))\n")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, err = cli(capsys, "run", *argv, "--runs-dir", tmp_path / "runs")
    assert_refused(capsys, tmp_path, (code, err), fragment, "weights, more than 268,435,456")


def test_the_tutorial_models_stay_well_under_the_bound():
    from nnkeras.data.base import DataSpec
    from nnkeras.models import build

    spec = DataSpec("mnist", (28, 28, 1), 10, tuple("0123456789"))
    for name, params in (("mlp", {"hidden": (30,)}), ("lenet5", {}), ("convnet", {})):
        assert build(name, spec, params).count_params() < 2**20


# ---------------------------------------------------------------- a peer that never comes

def multi_worker_alone(tmp_path, peer_timeout: str) -> subprocess.Popen:
    """Worker 0 of a two-worker TF_CONFIG whose worker 1 is never started."""
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    tf_config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": 0}}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_CONFIG": json.dumps(tf_config),
           "NNKERAS_PEER_TIMEOUT": peer_timeout}
    return subprocess.Popen([sys.executable, "-m", "nnkeras", "run", "mnist_mlp", "--smoke", "--set",
                             "data.name=synthetic", "--set", "data.shape=4", "--set", "train.distribution=multi_worker",
                             "--runs-dir", str(tmp_path / "runs")], cwd=tmp_path, env=env, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)


def test_a_multi_worker_run_whose_peer_never_comes_stops_at_the_time_limit(tmp_path):
    process = multi_worker_alone(tmp_path, "3")
    _, err = process.communicate(timeout=120)  # TensorFlow alone waited forever
    assert_one_error_line(process.returncode, err, "multi_worker: worker 1 at 127.0.0.1:",
                          "did not come up within 3 s", "NNKERAS_PEER_TIMEOUT")
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_sigterm_ends_the_wait_for_a_peer(tmp_path):
    process = multi_worker_alone(tmp_path, "300")
    time.sleep(15)  # start-up, then well into the wait
    process.send_signal(signal.SIGTERM)  # TensorFlow's wait used to swallow it
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130 and "Traceback" not in err, err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("dataset", ["mnist", "titanic", "image_folder", "cifar10"])
def test_a_data_dir_of_an_unknown_user_is_one_line(capsys, tmp_path, dataset):
    code, err = cli(capsys, "run", "mnist_mlp", "--set", f"data.name={dataset}", "--set", "data.dir=~nouser_h15/x",
                    "--runs-dir", tmp_path / "runs")
    assert_refused(capsys, tmp_path, (code, err), "data.dir ~nouser_h15/x: no such user or home directory for '~'")


@pytest.mark.parametrize("command", [["list"], ["report"], ["new", "mine"]])
def test_a_deleted_current_folder_is_one_line(capsys, tmp_path, monkeypatch, command):
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()  # os.getcwd() now fails; Path.cwd() in `list` and `new` was a FileNotFoundError traceback
    assert_one_error_line(*cli(capsys, *command), "the current folder no longer exists", "cd into an existing")


def test_signals_after_the_work_is_done_leave_the_exit_code_alone(capsys, monkeypatch):
    """Python's teardown (seconds with TensorFlow) runs with the default actions back: a SIGTERM there
    made a finished convert exit -15 (hostile.py convert-ctrl-c: -2). As a process, main ignores them."""
    from nnkeras.cli import main

    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    monkeypatch.setattr(sys, "argv", ["nnkeras", "list"])
    try:
        assert main() == 0
        assert [signal.getsignal(number) for number in previous] == [signal.SIG_IGN] * 2
        signal.signal(signal.SIGINT, signal.default_int_handler)
        assert main(["list"]) == 0 and signal.getsignal(signal.SIGINT) is signal.default_int_handler  # a caller's
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def test_a_signal_that_tensorflow_turns_into_another_error_is_still_an_interruption(capsys, tmp_path, monkeypatch):
    """Ctrl-C inside a TensorFlow call came out as "TypeError: ... Fallback to flat signature also failed"
    (hostile.py convert-ctrl-c): a traceback. After a SIGTERM or SIGINT, any error is the interruption."""
    from nnkeras import cli as cli_module

    def converting(args):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:
            raise TypeError("Fallback to flat signature also failed due to: ") from None

    monkeypatch.setattr(cli_module, "cmd_convert", converting)
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        code, err = cli(capsys, "convert", tmp_path)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    assert code == 130 and err.strip() == "interrupted; the files written before are kept: run the same command again"
