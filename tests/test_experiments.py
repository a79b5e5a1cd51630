"""Experiments whose data is downloaded run at smoke size on standard files written by the test (data.dir).

Every experiment also runs offline with no data folder: tests/test_offline_smoke.py.
"""

import json

import pytest

from nnkeras import cli, launch, models, runs
from nnkeras.launch import experiment_files

RUN_FILES = (runs.CONFIG, runs.DATA_SPEC, runs.MODEL, runs.METRICS, runs.HISTORY,
             runs.LEARNING_CURVES, runs.CONFUSION_MATRIX, runs.TENSORBOARD)


def local_data(name, fixtures) -> list[str]:
    """Point each experiment at files written by the test instead of a download."""
    mnist = ["data.name=mnist", f"data.dir={fixtures['mnist_idx_dir']}"]
    return {
        "mnist_mlp": mnist,
        "mnist_lenet5": mnist,
        "cifar10_mlp_vs_cnn": [f"data.dir={fixtures['cifar_dir']}"],
        "imdb_lstm_attention": [f"data.dir={fixtures['imdb_dir']}", "data.vocab_size=100", "data.seq_len=20"],
        "imdb_transformer": [f"data.dir={fixtures['imdb_dir']}", "data.vocab_size=100", "data.seq_len=20"],
        "titanic_wide_deep": [f"data.dir={fixtures['titanic_dir']}"],
    }.get(name)


LOCAL_FILES = ("mnist_mlp", "mnist_lenet5", "cifar10_mlp_vs_cnn", "imdb_lstm_attention", "imdb_transformer",
               "titanic_wide_deep")


@pytest.mark.parametrize("name", LOCAL_FILES)
def test_experiment_runs_at_smoke_size(name, tmp_path, mnist_idx_dir, cifar_dir, imdb_dir, titanic_dir):
    fixtures = {"mnist_idx_dir": mnist_idx_dir, "cifar_dir": cifar_dir, "imdb_dir": imdb_dir,
                "titanic_dir": titanic_dir}
    overrides = local_data(name, fixtures)
    plan = launch.prepare(launch.load_plan(name), overrides, shrink=True)
    folder, results = launch.run_plan(plan, tmp_path / "runs", verbose=0)
    assert len(results) == len(plan.experiments)
    for result in results:
        for file in RUN_FILES:
            assert (result.run_dir / file).exists(), f"{result.run_dir} lacks {file}"
        assert 0.0 <= result.metrics["test_accuracy"] <= 1.0
    if plan.group:
        assert (folder / "summary.csv").is_file() and (folder / "summary.png").is_file()


def test_arcface_reports_verification_on_unseen_identities(tmp_path, mnist_idx_dir, capsys):
    code = cli.main(["run", "arcface_embedding", "--smoke", "--set", "data.name=mnist", "--set",
                     f"data.dir={mnist_idx_dir}", "--runs-dir", str(tmp_path)])
    assert code == 0
    (run_dir,) = tmp_path.glob("arcface_embedding/*")
    metrics = json.loads((run_dir / runs.METRICS).read_text())
    assert metrics["n_holdout"] > 0
    assert 0.0 <= metrics["holdout_verification_accuracy"] <= 1.0
    assert 0.0 <= metrics["holdout_nearest_neighbour_accuracy"] <= 1.0
    # The lesson's numbers on the console, beside the test accuracy, not only in metrics.json.
    lines = capsys.readouterr().out.splitlines()
    test_line = next(i for i, line in enumerate(lines) if line.startswith("test accuracy:"))
    assert lines[test_line + 1] == (
        f"held-out classes: verification accuracy {metrics['holdout_verification_accuracy']:.4f} (pairs, same or"
        f" not), nearest-neighbour accuracy {metrics['holdout_nearest_neighbour_accuracy']:.4f}"
        f" (n_holdout={metrics['n_holdout']})")


def test_every_experiment_docstring_gives_its_command():
    for path in experiment_files():
        doc = path.read_text().split('"""')[1]
        assert f"nnkeras run {path.stem}" in doc, path.name
