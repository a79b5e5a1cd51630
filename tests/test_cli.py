"""The `nnkeras` command as a user runs it: real processes, exit codes, messages."""

import json
import subprocess
import sys

from conftest import REPO, run_cli


def test_help_does_not_import_tensorflow():
    code = "import sys, nnkeras.cli; nnkeras.cli.build_parser(); sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0
    result = run_cli("--help")
    assert result.returncode == 0 and "run" in result.stdout and "report" in result.stdout


def test_bad_input_is_answered_before_tensorflow_starts(tmp_path):
    # TensorFlow loads when a command first builds or loads a model (nnkeras.quiet's import hook),
    # so a typo costs a fraction of a second, not TensorFlow's seconds of start-up.
    code = ("import sys, nnkeras.cli\n"
            "code = nnkeras.cli.main(sys.argv[1:])\n"
            "print('tensorflow' in sys.modules)\n"
            "sys.exit(code)\n")
    for args in (["run", "mnist_mpl"], ["run", "mnist_mlp", "--set", "train.epochs=x"],
                 ["tune", "no_such_job"], ["convert", str(tmp_path), "--quantize", "int4"],
                 ["convert", str(tmp_path)], ["serve", str(tmp_path / "none.tflite")]):
        result = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True)
        assert result.returncode == 2 and result.stderr.startswith("error: "), (args, result.stderr)
        assert result.stdout.strip() == "False", args  # TensorFlow never imported


def test_list_shows_experiments_datasets_and_models():
    result = run_cli("list")
    assert result.returncode == 0, result.stderr
    for name in ("mnist_mlp", "mnist_sample", "fashion_mnist", "digits", "synthetic", "mlp"):
        assert name in result.stdout


def test_bad_override_exits_2_with_one_line_and_writes_nothing(tmp_path):
    result = run_cli("run", "mnist_mlp", "--set", "train.epochs=-3", "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: train.epochs must be in [1, 100000] (got -3): passes over the training set")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


def test_unknown_experiment_and_bad_model_argument(tmp_path):
    unknown = run_cli("run", "mnist_mpl", "--runs-dir", str(tmp_path))
    assert unknown.returncode == 2 and "unknown experiment 'mnist_mpl'; did you mean 'mnist_mlp'?" in unknown.stderr
    bad = run_cli("run", "mnist_mlp", "--set", "model.dropout=1.5", "--set", "data.name=mnist_sample",
                  "--runs-dir", str(tmp_path / "runs"))
    assert bad.returncode == 2 and "model.dropout must be in [0, 1), got 1.5" in bad.stderr
    assert "Traceback" not in bad.stderr and not (tmp_path / "runs").exists()


def test_missing_data_files_exit_2_naming_them(tmp_path):
    result = run_cli("run", "mnist_mlp", "--set", f"data.dir={tmp_path}", "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 2
    assert "missing train-images-idx3-ubyte.gz" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


def test_mnist_mlp_trains_on_every_image_of_local_idx_files(tmp_path, mnist_idx_dir):
    runs_dir = tmp_path / "runs"
    result = run_cli("run", "mnist_mlp", "--set", "data.name=mnist", "--set", f"data.dir={mnist_idx_dir}",
                     "--runs-dir", str(runs_dir))
    assert result.returncode == 0, result.stderr
    assert "test accuracy:" in result.stdout and "Epoch 5/5" in result.stdout
    (run_dir,) = runs_dir.glob("mnist_mlp/*")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["n_train"] + metrics["n_val"] == 600 and metrics["n_test"] == 200
    assert metrics["params"] == 23_860 and metrics["epochs_run"] == 5
    assert metrics["test_accuracy"] > 0.9  # the label is drawn in the image: an MLP learns it

    report = run_cli("report", str(runs_dir))
    assert report.returncode == 0, report.stderr
    assert "| mnist_mlp" in report.stdout and "complete" in report.stdout
    assert (runs_dir / "report.csv").read_text().count("\n") == 2
    # The folder also as --runs-dir, like run and tune; a wrong one is one line saying what report takes.
    assert run_cli("report", "--runs-dir", str(runs_dir)).stdout == report.stdout
    missing = run_cli("report", "--runs-dir", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "`nnkeras report [FOLDER]` (or --runs-dir FOLDER)" in missing.stderr

    again = run_cli("run", "--resume", str(run_dir))
    assert again.returncode == 2 and "already finished" in again.stderr


def test_experiment_file_runs_as_a_script_offline(tmp_path):
    result = subprocess.run(
        [sys.executable, "experiments/mnist_mlp.py", "--smoke", "--set", "data.name=mnist_sample",
         "--runs-dir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    (run_dir,) = tmp_path.glob("mnist_mlp/*")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["dataset"] == "mnist_sample" and metrics["epochs_run"] == 2
    assert metrics["test_accuracy"] > 0.3  # real digits, 460 training images, 2 epochs: well above chance (0.1)


GROUP_FILE = '''"""Two variants of one experiment."""
from nnkeras import DataConfig, Experiment, ModelConfig, TrainConfig

data = DataConfig(name="synthetic", shape=(6, 6, 1), num_classes=3, size=300)
EXPERIMENTS = [
    Experiment(name="narrow", data=data, model=ModelConfig(params={"hidden": (4,)}), train=TrainConfig(epochs=2)),
    Experiment(name="wide", data=data, model=ModelConfig(params={"hidden": (64,)}), train=TrainConfig(epochs=2)),
]
'''


def test_a_group_trains_every_variant_and_writes_a_summary(tmp_path):
    # In this process (two CLI processes cost ~1 min of a loaded suite): the command's own
    # process is tested by test_quiet's group run and test_offline_smoke's shipped groups.
    from nnkeras import cli

    experiment_file = tmp_path / "two_widths.py"
    experiment_file.write_text(GROUP_FILE)
    runs_dir = tmp_path / "runs"
    assert cli.main(["run", str(experiment_file), "--runs-dir", str(runs_dir), "--set", "train.epochs=3"]) == 0
    (group_dir,) = runs_dir.glob("two_widths/*")
    for variant in ("narrow", "wide"):
        metrics = json.loads((group_dir / variant / "metrics.json").read_text())
        assert metrics["epochs_run"] == 3  # --set reaches every variant
    summary = (group_dir / "summary.csv").read_text().splitlines()
    assert len(summary) == 3 and summary[1].startswith("narrow") and summary[2].startswith("wide")
    # One column per fact: the variant's name once, not again as its folder's name.
    import pandas as pd

    table = pd.read_csv(group_dir / "summary.csv")
    assert [c for c in table if c != "experiment" and table[c].astype(str).tolist() == ["narrow", "wide"]] == []
    shown = (group_dir / "summary.md").read_text().splitlines()  # title, blank, header, rule, narrow, wide
    assert shown[4].startswith("| narrow ") and shown[4].count("narrow") == 1
    assert (group_dir / "summary.png").read_bytes()[:4] == b"\x89PNG"

    # A variant lost mid-way is retrained by --resume on the group; the finished one is kept.
    import shutil

    shutil.rmtree(group_dir / "wide")
    before = (group_dir / "narrow" / "metrics.json").read_text()
    assert cli.main(["run", "--resume", str(group_dir)]) == 0
    assert (group_dir / "narrow" / "metrics.json").read_text() == before
    assert json.loads((group_dir / "wide" / "metrics.json").read_text())["epochs_run"] == 3


def test_a_reader_that_closes_the_pipe_early_gets_no_traceback():
    """`nnkeras list | head -1`: the pipe's read end is closed before nnkeras writes, so every write fails."""
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "nnkeras", "list"], cwd=REPO, stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == 141  # as a shell reports a writer stopped by SIGPIPE
