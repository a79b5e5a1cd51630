"""Bad input, everywhere: every row of docs/errors.md, run through the real CLI.

Each case asserts what a user sees: exit code 2, ONE stderr line starting with
"error:" that names the problem, no traceback, and that nothing already on
disk was created or changed. Most cases call `nnkeras.cli.main` in this process
(a fresh process costs ~5 s of TensorFlow import); the read-only and full-disk
cases need a process of their own, to drop privileges or cap the file size.
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import IDX_NAMES, REPO, TITANIC_HEADER, idx_bytes, learnable_digits
from nnkeras.cli import main
from nnkeras.config import DataConfig, Experiment, ModelConfig, TrainConfig, check_name
from nnkeras.data.base import DataSpec, RawSplits, split
from nnkeras.errors import ConfigError, DataError

# TensorFlow's C++ start-up notices reach stderr in a fresh process whatever TF_CPP_MIN_LOG_LEVEL says.
TF_NOISE = ("WARNING: All log messages before absl::InitializeLog()", "I0000 ", "W0000 ", "E0000 ",
            "INFO: Created TensorFlow Lite XNNPACK delegate")


def assert_one_error_line(code, stderr: str, *fragments: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith(TF_NOISE)]
    assert code == 2, stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def cli(capsys, *argv: str):
    """`nnkeras ARGV` in this process: (exit code, stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own exit
        code = exc.code
    return code, capsys.readouterr().err


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes: to prove that a failed command changed nothing."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


TINY = Experiment(name="tiny", data=DataConfig(name="synthetic", shape=(4,), num_classes=3, size=60),
                  model=ModelConfig(name="mlp", params={"hidden": (4,)}),
                  train=TrainConfig(epochs=2, histogram_freq=0), seed=0)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A complete run directory of a 4-4-3 MLP on 60 synthetic examples (about 3 s)."""
    from nnkeras.training import train

    run_dir = tmp_path_factory.mktemp("finished") / "tiny" / "run"
    train(TINY, run_dir)
    return run_dir


@pytest.fixture
def run_copy(finished_run, tmp_path) -> Path:
    return Path(shutil.copytree(finished_run, tmp_path / "run"))


# ---------------------------------------------------------------------------
# Arguments and settings: no files needed. {tmp} is an empty folder, {run} a finished run.

ARGUMENT_CASES = [
    # run: config keys (wrong type, out of range, unknown names; more key by key in test_config.py)
    (["run", "mnist_mlp", "--set", "data.name=imagenet"], "data.name 'imagenet' is not a dataset; choose one of"),
    (["run", "mnist_mlp", "--set", "model.name=resnet"], "model.name 'resnet' is not a builder; choose one of"),
    (["run", "mnist_mlp", "--set", "train.fast_path=maybe"], "train.fast_path must be true or false (got 'maybe')"),
    (["run", "mnist_mlp", "--set", "seed=-1"], "seed must be in [0, 2147483647] (got -1)"),
    (["run", "mnist_mlp", "--set", "data.shape=0,4"], "data.shape must be >= 1 (got (0, 4))"),
    (["run", "mnist_mlp", "--set", "data.limit=1"], "data.limit must be >= 2 (got 1)"),
    (["run", "mnist_mlp", "--set", "train.distribution=tpu"], "train.distribution must be one of none, mirrored"),
    (["run", "mnist_mlp", "--set", "train.batch_size=1e3"], "train.batch_size must be an integer (got '1e3')"),
    (["run", "mnist_mlp", "--set", "data.name=digits", "--set", "data.holdout_classes=12"],
     "data.holdout_classes: 12 is not a class of digits (0..9)"),
    (["run", "mnist_mlp", "--set", "data.name=digits", "--set", "data.limit=2", "--set", "data.val_fraction=0.9"],
     "digits: 2 training examples leave none for training after validation"),
    # run: names and files that do not exist
    (["run", "{tmp}/none.py"], "none.py: no such experiment file"),
    (["run"], "run: name an experiment (see `nnkeras list`) or pass --resume RUN_DIR"),
    (["run", "--resume", "{tmp}"], "not a run directory (no config.json)"),
    (["run", "--resume", "{run}", "--set", "train.batch_size=8"], "--resume keeps the run's config"),
    (["run", "mnist_mlp", "--set", "data.name=cifar10", "--set", "data.dir={tmp}"], "missing data_batch_1"),
    (["run", "mnist_mlp", "--set", "data.name=imdb", "--set", "data.dir={tmp}"], "imdb.npz: file not found"),
    (["run", "mnist_mlp", "--set", "data.name=titanic", "--set", "data.dir={tmp}/none.csv"],
     "none.csv: file not found; data.dir must be Kaggle's Titanic train.csv"),
    (["run", "mnist_mlp", "--set", "data.name=image_folder"], "image_folder needs --set data.dir=FOLDER"),
    # run: a dataset that does not fit the model (checked when the model is built, before anything is written)
    (["run", "mnist_lenet5", "--smoke", "--set", "data.name=long_range"],
     "lenet5 takes float inputs (images or vectors), but dataset 'long_range' gives int32 inputs"),
    (["run", "mnist_lenet5", "--smoke", "--set", "data.name=digits"], "lenet5 needs images of at least 12x12"),
    (["run", "imdb_transformer", "--smoke", "--set", "data.name=digits"], "transformer reads sequences of token ids"),
    (["run", "titanic_wide_deep", "--smoke", "--set", "data.name=digits"], "wide_deep needs a tabular dataset"),
    (["run", "mnist_mlp", "--smoke", "--set", "data.name=titanic"], "mlp takes float inputs"),
    # report
    (["run", "mnist_mlp", "--set", "data.name=synthetic", "--set", "data.shape=1000,1000", "--set", "data.size=500"],
     "synthetic: data.size=500 examples of 1000000 values each make 600,000,000 values"),
    (["run", "mnist_mlp", "--smoke", "--set", "data.name=synthetic", "--set", "data.shape=4", "--runs-dir",
      "{run}/metrics.json"], "metrics.json/mnist_mlp/"),  # ... : Not a directory; a part of that path is a file
    # report
    (["report", "{tmp}/none"], "report {tmp}/none: not a folder"),
    (["report", "{tmp}", "--format", "xml"], "report --format xml: choose one of md, csv, json"),
    # convert and serve: arguments (more in test_export.py and test_serve.py)
    (["convert", "{run}", "--min-agreement", "most"], "argument --min-agreement: invalid float value: 'most'"),
    (["serve", "{run}", "--port", "http"], "argument --port: invalid int value: 'http'"),
    (["serve", "{run}", "--max-body-bytes", "0"], "--max-body-bytes 0: must be a positive number of bytes"),
    # tune (more in test_tuning.py)
    (["tune", "mnist_mlp", "--tuner", "annealing"], "unknown tuner 'annealing'; choose one of random, grid"),
    (["tune", "mnist_mlp", "--max-trials", "x"], "argument --max-trials: invalid int value: 'x'"),
    (["tune", "mnist_mlp", "--max-failures", "0"], "--max-failures must be a whole number of at least 1 (got 0)"),
    (["tune", "mnist_mlp", "--oracle", "nohost"], "--oracle nohost: expected HOST:PORT"),
    (["tune", "mnist_mlp", "--set", "train.optimizer=lbfgs"], "train.optimizer must be one of adam, adamw, sgd"),
    (["tune", "{tmp}/none.py"], "none.py: no such tuning job file"),
    # the command line itself
    (["list", "extra"], "unrecognized arguments: extra"),
    (["fly"], "argument command: invalid choice: 'fly'"),
]


@pytest.mark.parametrize("argv, message", ARGUMENT_CASES, ids=[" ".join(argv) for argv, _ in ARGUMENT_CASES])
def test_bad_arguments_exit_2_with_one_line(capsys, tmp_path, finished_run, argv, message):
    def fill(text: str) -> str:
        return text.replace("{tmp}", str(tmp_path)).replace("{run}", str(finished_run))

    argv = [fill(a) for a in argv]
    if argv[0] in ("run", "tune") and "--runs-dir" not in argv:
        argv += ["--runs-dir", str(tmp_path / "runs")]
    before = snapshot(finished_run)
    assert_one_error_line(*cli(capsys, *argv), fill(message))
    assert not (tmp_path / "runs").exists()
    assert snapshot(finished_run) == before


# ---------------------------------------------------------------------------
# Damaged run directories: --resume, convert and serve read them back


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:300])


def _checkpoint(run: Path) -> Path:
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    return run / "checkpoints" / state["checkpoint"]


def _edit_state(run: Path, **changes) -> None:
    _edit_json(run / "checkpoints" / "state.json", **changes)


def _edit_json(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


DAMAGED_RUNS = [  # (command, how the run is damaged, what the one line says)
    ("resume", lambda run: (run / "config.json").write_text('{"name": "tiny", "train": '), "config.json: unreadable"),
    ("resume", lambda run: (run / "config.json").write_text('{"name": "../up"}'), "experiment name '../up'"),
    ("resume", lambda run: (run / "checkpoints" / "state.json").write_bytes(b"\xff{"), "state.json: damaged JSON"),
    ("resume", lambda run: _truncate(_checkpoint(run)), "not a complete .keras file"),
    ("resume", lambda run: (run / "checkpoints" / "state.json").write_text('{"epoch": 1}'),
     "state.json: not a checkpoint state (missing best_epoch, best_val_loss, checkpoint, history"),
    ("resume", lambda run: _edit_state(run, checkpoint="../../../../model.keras"),
     "state.json: checkpoint '../../../../model.keras' is not allowed"),
    ("resume", lambda run: _edit_state(run, epoch="x", history=5),
     "state.json: not a checkpoint state (wrong type for epoch, history)"),
    ("convert", lambda run: _truncate(run / "model.keras"), "model.keras: not a complete .keras file"),
    ("convert", lambda run: (run / "data_spec.json").write_text("{"), "data_spec.json: damaged JSON"),
    ("convert", lambda run: _edit_json(run / "data_spec.json", input_shape=5),
     "data_spec.json: not a data spec (input_shape 5 is not a list of positive integers)"),
    ("convert", lambda run: (run / "config.json").write_text("[]"), "config.json: not an experiment config"),
    ("serve", lambda run: _truncate(run / "model.keras"), "model.keras: not a complete .keras file"),
    ("serve", lambda run: (run / "model.keras").write_bytes(os.urandom(2000)), "not a complete .keras file"),
    ("serve", lambda run: (run / "config.json").write_text('{"name": "tiny", "seed": "x"}'),
     "seed must be of type int (got 'x')"),
]


@pytest.mark.parametrize("command, damage, message", DAMAGED_RUNS,
                         ids=[f"{c}-{m.split(':')[0]}" for c, _, m in DAMAGED_RUNS])
def test_a_damaged_run_directory_is_named_and_left_as_it_was(capsys, run_copy, command, damage, message):
    if command == "resume":
        (run_copy / "metrics.json").unlink()  # an interrupted run: the only kind --resume accepts
    damage(run_copy)
    before = snapshot(run_copy)
    argv = {"resume": ["run", "--resume", run_copy], "convert": ["convert", run_copy],
            "serve": ["serve", run_copy, "--port", "0"]}[command]
    assert_one_error_line(*cli(capsys, *argv), message)
    assert snapshot(run_copy) == before


@pytest.mark.parametrize("text, message", [('{"group": "g", "experiments": [', "group.json: damaged JSON"),
                                           ('{"group": "g"}', "group.json: not a group file"),
                                           ('{"experiments": [{"name": "a/b"}]}', "experiment name 'a/b'")])
def test_a_damaged_group_json_is_named(capsys, tmp_path, text, message):
    (tmp_path / "group.json").write_text(text)
    assert_one_error_line(*cli(capsys, "run", "--resume", tmp_path), message)


def test_convert_of_a_missing_run_directory_names_it(capsys, tmp_path):
    assert_one_error_line(*cli(capsys, "convert", tmp_path / "none"), "no such run directory")


def test_a_data_spec_with_unknown_keys_is_named(capsys, run_copy):
    (run_copy / "data_spec.json").write_text('{"name": "x"}')
    assert_one_error_line(*cli(capsys, "convert", run_copy), "data_spec.json")


def test_random_bytes_behind_a_tflite_identifier_are_refused(capsys, tmp_path):
    fake = bytearray(np.random.default_rng(0).bytes(3000))
    fake[4:8] = b"TFL3"  # passes the identifier check; the flatbuffer tables are garbage
    (tmp_path / "fake.tflite").write_bytes(bytes(fake))
    assert_one_error_line(*cli(capsys, "serve", tmp_path / "fake.tflite", "--port", "0"), "fake.tflite")


def test_random_bytes_as_onnx_are_refused(capsys, tmp_path):
    (tmp_path / "random.onnx").write_bytes(np.random.default_rng(0).bytes(2000))
    assert_one_error_line(*cli(capsys, "serve", tmp_path / "random.onnx", "--port", "0"), "random.onnx")


# ---------------------------------------------------------------------------
# Safe loading: a model file never runs code


def test_a_model_with_a_lambda_layer_is_refused_by_safe_mode(capsys, run_copy):
    import keras

    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda x: x * 2)(keras.layers.Dense(3)(inputs))
    keras.Model(inputs, outputs).save(run_copy / "model.keras")
    before = snapshot(run_copy)
    for argv in (["convert", run_copy], ["serve", run_copy, "--port", "0"]):
        assert_one_error_line(*cli(capsys, *argv), "model.keras: cannot load this model",
                              "`Lambda` layer", "safe mode")
    assert snapshot(run_copy) == before


# ---------------------------------------------------------------------------
# Corrupt or non-finite data files (more, function by function, in test_data.py and test_data_zoo.py)


def test_a_wrong_magic_idx_file_stops_the_run(capsys, tmp_path, mnist_idx_dir):
    images, labels = learnable_digits(600, seed=1)
    (mnist_idx_dir / IDX_NAMES["train"][0]).write_bytes(gzip.compress(idx_bytes(labels)))
    code, err = cli(capsys, "run", "mnist_mlp", "--set", "data.name=mnist", "--set", f"data.dir={mnist_idx_dir}",
                    "--runs-dir", tmp_path / "runs")
    assert_one_error_line(code, err, "train-images-idx3-ubyte.gz: wrong magic number 0x00000801")
    assert not (tmp_path / "runs").exists()


def test_random_bytes_as_imdb_npz(capsys, tmp_path):
    (tmp_path / "imdb.npz").write_bytes(b"PK\x03\x04" + os.urandom(500))
    code, err = cli(capsys, "run", "mnist_mlp", "--set", "data.name=imdb", "--set", f"data.dir={tmp_path}",
                    "--runs-dir", tmp_path / "runs")
    assert_one_error_line(code, err, "imdb.npz: not a readable .npz archive")


def test_nan_in_an_mnist_npz_is_refused(capsys, tmp_path):
    images = learnable_digits(40, seed=3)[0].astype(np.float32)
    images[3, 5, 5] = np.nan
    labels = np.arange(40) % 10
    np.savez(tmp_path / "mnist.npz", x_train=images, y_train=labels, x_test=images[:10], y_test=labels[:10])
    code, err = cli(capsys, "run", "mnist_mlp", "--set", "data.name=mnist", "--set", f"data.dir={tmp_path}",
                    "--runs-dir", tmp_path / "runs")
    assert_one_error_line(code, err, "mnist training pool: 1 inputs value(s) are NaN or infinite")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("fare, message", [("inf", "1 column Fare value(s) are infinite"),
                                           ("ten", "column Fare: 1 value(s) are not numbers (first: 'ten')")])
def test_a_bad_fare_in_a_titanic_csv_is_refused(capsys, tmp_path, fare, message):
    rows = [TITANIC_HEADER] + [f'{i},{i % 2},{1 + i % 3},"Doe, {i}",{("male", "female")[i % 2]},30,0,0,T{i},'
                               f'{fare if i == 7 else 10.5},,S' for i in range(40)]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    code, err = cli(capsys, "run", "titanic_wide_deep", "--smoke", "--set", f"data.dir={tmp_path}",
                    "--runs-dir", tmp_path / "runs")
    assert_one_error_line(code, err, "train.csv: ", message)
    assert not (tmp_path / "runs").exists()


def test_missing_tabular_values_stay_allowed_but_not_infinite_ones():
    spec = DataSpec("t", (1,), 2, ("a", "b"), input_dtype="features")
    ages = np.array([[1.0], [np.nan], [3.0], [4.0]], dtype=np.float32)  # NaN = missing: the model fills it
    raw = RawSplits({"Age": ages}, np.array([0, 1, 0, 1]), {"Age": ages[:2]}, np.array([0, 1]), spec)
    assert split(raw, 0.25, 0, None).sizes()["n_train"] == 3
    ages[2] = -np.inf
    with pytest.raises(DataError, match="t training pool: 1 column Age value"):
        split(raw, 0.25, 0, None)


# ---------------------------------------------------------------------------
# Names that become paths


@pytest.mark.parametrize("name", ["..", ".", "../up", "/etc", "a/b", "a\\b", "C:\\x", "", "  ", ".hidden",
                                  "tab\there", "new\nline", "nul\x00", "x" * 101, "日本" * 17, None, 7])
def test_names_that_would_escape_or_break_a_folder_are_refused(name):
    with pytest.raises(ConfigError) as error:
        check_name(name, "experiment name")
    assert f"experiment name {name!r}" in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("name", ["mnist_mlp", "lr=0.1 run", "x" * 100, "données", "a..b"])
def test_ordinary_names_pass(name):
    assert check_name(name, "experiment name") == name


EXPERIMENT_FILE = '''from nnkeras import DataConfig, Experiment, ModelConfig
data = DataConfig(name="synthetic", shape={shape}, num_classes=3, size=60)
EXPERIMENTS = [Experiment(name={first!r}, data=data, model=ModelConfig(name={model!r}, params={{}})),
               Experiment(name="second", data=data)]
'''


@pytest.mark.parametrize("first, model, shape, message", [
    ("../escape", "mlp", (4,), "experiment name '../escape' is not allowed"),
    ("/tmp/abs", "mlp", (4,), "experiment name '/tmp/abs' is not allowed"),
    ("fine", "lenet5", (4,), "lenet5 needs images of shape (height, width, channels)"),  # fails in training
])
def test_a_bad_variant_of_a_group_writes_nothing(capsys, tmp_path, first, model, shape, message):
    path = tmp_path / "group.py"
    path.write_text(EXPERIMENT_FILE.format(first=first, model=model, shape=shape))
    assert_one_error_line(*cli(capsys, "run", path, "--runs-dir", tmp_path / "runs"), message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["group.py"]


def test_a_tuning_job_file_whose_name_is_hidden_is_refused(capsys, tmp_path):
    job = tmp_path / ".sneaky.py"
    job.write_text("from nnkeras import DataConfig, Experiment\n"
                   "EXPERIMENT = Experiment(name='t', data=DataConfig(name='synthetic', shape=(4,), size=60))\n"
                   "def space(hp):\n    return {'train.learning_rate': hp.Float('lr', 1e-3, 1e-2)}\n")
    code, err = cli(capsys, "tune", job, "--runs-dir", tmp_path / "runs")
    assert_one_error_line(code, err, "tuning job name '.sneaky' is not allowed")
    assert not (tmp_path / "runs").exists()


def test_a_worker_id_cannot_name_a_path(capsys, tmp_path):
    code, err = cli(capsys, "tune", "mnist_mlp", "--worker", "../../w", "--oracle", "127.0.0.1:1",
                    "--runs-dir", tmp_path / "runs")
    assert_one_error_line(code, err, "--worker '../../w' is not allowed")
    assert "KERASTUNER_ORACLE_IP" not in os.environ  # refused before any role is set


# ---------------------------------------------------------------------------
# A read-only or full runs directory: a real process, a real EACCES / EFBIG

SMOKE_RUN = ["run", "mnist_mlp", "--smoke", "--set", "data.name=synthetic", "--set", "data.shape=4",
             "--set", "model.hidden=4", "--set", "train.histogram_freq=0"]


def nnkeras_process(*args, preexec_fn=None, prefix=()) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([*prefix, sys.executable, "-m", "nnkeras", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, preexec_fn=preexec_fn)


def without_root_powers() -> tuple[str, ...]:
    """A command prefix under which file permissions hold: root ignores them unless it drops CAP_DAC_OVERRIDE."""
    if os.geteuid() != 0:
        return ()
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: permissions cannot be enforced")
    return ("setpriv", "--bounding-set=-dac_override,-dac_read_search")


@pytest.mark.parametrize("command", ["run", "report", "convert"])
def test_a_read_only_runs_directory_is_one_line_and_stays_empty(tmp_path, command, finished_run):
    runs_dir = tmp_path / "runs"
    if command == "run":
        runs_dir.mkdir()
    else:  # a runs folder with one run, where report.csv or model.tflite cannot be written
        shutil.copytree(finished_run.parent.parent, runs_dir)
    before, paths = snapshot(runs_dir), sorted(runs_dir.rglob("*"))
    for folder in (runs_dir, *runs_dir.rglob("*")):
        folder.chmod(0o555 if folder.is_dir() else 0o444)
    try:
        args = {"run": [*SMOKE_RUN, "--runs-dir", runs_dir], "report": ["report", runs_dir],
                "convert": ["convert", runs_dir / "tiny" / "run"]}[command]
        result = nnkeras_process(*args, prefix=without_root_powers())
    finally:
        for folder in (runs_dir, *runs_dir.rglob("*")):
            folder.chmod(0o755 if folder.is_dir() else 0o644)
    assert_one_error_line(result.returncode, result.stderr, f"{runs_dir}/", "Permission denied",
                          "write elsewhere")
    assert snapshot(runs_dir) == before and sorted(runs_dir.rglob("*")) == paths  # nothing created or changed


def test_a_full_disk_stops_the_run_cleanly_and_resume_finishes_it(tmp_path):
    def small_files_only():  # every file is capped at 30 kB: model.keras fits, the confusion-matrix PNG does not
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write then raises EFBIG instead of killing us
        resource.setrlimit(resource.RLIMIT_FSIZE, (30_000, 30_000))

    runs_dir = tmp_path / "runs"
    full = nnkeras_process(*SMOKE_RUN, "--runs-dir", runs_dir, preexec_fn=small_files_only)
    line = assert_one_error_line(full.returncode, full.stderr, "File too large", "nnkeras run --resume")
    (run_dir,) = runs_dir.glob("mnist_mlp/*")
    assert str(run_dir) in line  # names the file it could not write
    assert not list(run_dir.rglob("*.tmp*")), "a half-written temporary file was left behind"
    for path in run_dir.rglob("*.json"):
        json.loads(path.read_text())  # every file is whole
    assert not (run_dir / "metrics.json").exists()

    again = nnkeras_process("run", "--resume", run_dir)
    assert again.returncode == 0, again.stderr
    assert json.loads((run_dir / "metrics.json").read_text())["epochs_run"] == 2


# ---------------------------------------------------------------------------
# Pickled dataset formats (CIFAR-10 batches, imdb.npz object arrays) load without running code


class _Payload:
    """What a crafted pickle does: call a function of its choice on load (here: create a file)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


@pytest.mark.parametrize("dataset", ["cifar10", "imdb"])
def test_a_pickle_that_would_run_code_is_refused(capsys, tmp_path, cifar_dir, imdb_dir, dataset):
    import pickle

    marker = tmp_path / "pwned"
    if dataset == "cifar10":
        folder, bad = cifar_dir, cifar_dir / "test_batch"
        bad.write_bytes(pickle.dumps({b"data": _Payload(marker), b"labels": [0]}))
    else:
        folder, bad = imdb_dir, imdb_dir / "imdb.npz"
        ragged = np.empty(2, dtype=object)
        ragged[:] = [[1, 2], _Payload(marker)]
        np.savez(bad, x_train=ragged, y_train=np.array([0, 1]), x_test=ragged, y_test=np.array([0, 1]))
    code, err = cli(capsys, "run", "mnist_mlp", "--set", f"data.name={dataset}", "--set", f"data.dir={folder}",
                    "--runs-dir", tmp_path / "runs")
    assert_one_error_line(code, err, f"{bad}: not a", "only NumPy arrays and plain data are loaded")
    assert not marker.exists(), "the pickle ran its payload"


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_the_safe_unpickler_still_reads_arrays_of_every_protocol(protocol):
    import io
    import pickle

    from nnkeras.data import safe_pickle

    batch = {b"data": np.arange(6, dtype=np.uint8).reshape(2, 3), b"labels": [3, 1], b"n": np.int64(2), "s": "x"}
    again = safe_pickle.load(io.BytesIO(pickle.dumps(batch, protocol=protocol)), encoding="bytes")
    np.testing.assert_array_equal(again[b"data"], batch[b"data"])
    assert again[b"labels"] == [3, 1] and again[b"n"] == 2 and again["s"] == "x"


def test_report_lists_runs_and_searches_with_damaged_files_instead_of_failing(capsys, tmp_path, finished_run):
    runs_dir = tmp_path / "runs"
    for name, config, metrics in (("a", "[]", "{"), ("b", '{"name": "b", "data": 5}', '"done"')):
        run = Path(shutil.copytree(finished_run, runs_dir / name / "run"))
        (run / "config.json").write_text(config)
        (run / "metrics.json").write_text(metrics)
    search = runs_dir / "search" / "job" / "random"
    search.mkdir(parents=True)
    (search / "search.json").write_text('{"job": "job", "tuner": "random", "objective": "val_accuracy"}')
    (search / "best_run.json").write_text('{"run_dir": 5}')
    for trials in ('garbage,"\n1,2\n', "", "trial,status,score\n1,completed,abc\n2,completed,0.5\n"):
        (search / "trials.csv").write_text(trials)
        assert main(["report", str(runs_dir)]) == 0
        out = capsys.readouterr().out
        assert out.count("| incomplete") == 2 and "| job " in out
    assert "0.5000 | trial_2 " in out  # the readable trial still counts; 'abc' is not a score


# ---------------------------------------------------------------------------
# More files a user hands over: labels that are not class numbers, huge images, Python with a typo


def test_labels_that_are_not_whole_class_numbers_are_refused(capsys, tmp_path):
    images = learnable_digits(40, seed=3)[0]
    labels = (np.arange(40) % 10).astype(np.float64)
    labels[4] = np.nan  # cast to int64 this was class -9223372036854775808, and TensorFlow failed mid-fit
    np.savez(tmp_path / "mnist.npz", x_train=images, y_train=labels, x_test=images[:10], y_test=labels[:10])
    code, err = cli(capsys, "run", "mnist_mlp", "--set", "data.name=mnist", "--set", f"data.dir={tmp_path}",
                    "--runs-dir", tmp_path / "runs")
    assert_one_error_line(code, err, "mnist training labels: labels must be whole class numbers, got float64")


def test_an_image_too_large_to_decode_safely_is_named(capsys, tmp_path, monkeypatch):
    from PIL import Image

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.new("L", (30, 30)).save(tmp_path / name / "0.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 900 pixels is then a decompression bomb
    code, err = cli(capsys, "run", "mnist_mlp", "--set", "data.name=image_folder", "--set", f"data.dir={tmp_path}",
                    "--set", "data.shape=8,8,1", "--runs-dir", tmp_path / "runs")
    assert_one_error_line(code, err, "a/0.png: not a readable image (Image size (900 pixels) exceeds limit")


@pytest.mark.parametrize("command", ["run", "tune"])
def test_a_python_file_with_a_syntax_error_is_one_line_with_its_line(capsys, tmp_path, command):
    path = tmp_path / "typo.py"
    path.write_text("from nnkeras import Experiment\nEXPERIMENT = Experiment(name='t'\n")
    code, err = cli(capsys, command, path, "--runs-dir", tmp_path / "runs")
    assert_one_error_line(code, err, f"{path}:2: '(' was never closed; fix the file")


TINY_JOB = '''from nnkeras import DataConfig, Experiment, ModelConfig, TrainConfig
EXPERIMENT = Experiment(name="t", data=DataConfig(name="synthetic", shape=(4,), num_classes=3, size=60),
                        model=ModelConfig(name="mlp", params={"hidden": (4,)}),
                        train=TrainConfig(epochs=1, histogram_freq=0))
def space(hp):
    return {"train.learning_rate": hp.Float("lr", 1e-3, 1e-2)}
MAX_TRIALS = 1
'''


@pytest.fixture(scope="module")
def finished_search(tmp_path_factory) -> Path:
    """A one-trial random search of the tiny MLP: its runs folder (job file inside)."""
    root = tmp_path_factory.mktemp("search")
    (root / "tinyjob.py").write_text(TINY_JOB)
    assert main(["tune", str(root / "tinyjob.py"), "--runs-dir", str(root / "runs")]) == 0
    return root


@pytest.mark.parametrize("name", ["search.json", "oracle.json", "tuner0.json", "trial_0/trial.json", "best_run.json"])
def test_rerunning_a_search_with_a_damaged_state_file_names_it(capsys, tmp_path, finished_search, name):
    root = Path(shutil.copytree(finished_search, tmp_path / "copy"))
    folder = root / "runs" / "search" / "tinyjob" / "random"
    (folder / name).write_text("{bad")
    before = snapshot(root)
    code, err = cli(capsys, "tune", root / "tinyjob.py", "--runs-dir", root / "runs")
    assert_one_error_line(code, err, f"{folder / name}: damaged JSON", "nnkeras tune --overwrite")
    assert snapshot(root) == before
