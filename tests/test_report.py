"""`nnkeras report` on a runs folder written by the test: the three formats and the comparison figure."""

import io
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from nnkeras import cli, runs
from nnkeras.callbacks import write_history

CURVES = {"mlp": [0.50, 0.70, 0.80], "cnn": [0.60, 0.85, 0.90, 0.95]}


@pytest.fixture
def runs_dir(tmp_path):
    """Two finished runs with a history each, and one interrupted before its first epoch."""
    root = tmp_path / "runs"
    for name, curve in CURVES.items():
        run_dir = root / name / "20261202-120000"
        run_dir.mkdir(parents=True)
        runs.write_json(run_dir / runs.CONFIG, {"name": name, "data": {"name": "digits"}, "model": {"name": name}})
        runs.write_json(run_dir / runs.METRICS, {"test_accuracy": curve[-1] - 0.01, "test_loss": 0.3,
                                                 "epochs_run": len(curve), "n_train": 100})
        write_history(run_dir / runs.HISTORY, [{"epoch": e + 1, "loss": 1.0, "accuracy": a, "val_loss": 1.0,
                                                "val_accuracy": a} for e, a in enumerate(curve)])
    unfinished = root / "unfinished" / "20261202-130000"
    unfinished.mkdir(parents=True)
    runs.write_json(unfinished / runs.CONFIG, {"name": "unfinished"})
    return root


def report(capsys, *args):
    code = cli.main(["report", *map(str, args)])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out, err


def test_csv_on_stdout_is_the_saved_report_and_nothing_else(capsys, runs_dir):
    out, err = report(capsys, runs_dir, "--format", "csv")
    printed = pd.read_csv(io.StringIO(out))
    assert list(printed["experiment"]) == ["cnn", "mlp", "unfinished"]
    assert list(printed["status"]) == ["complete", "complete", "incomplete"]
    assert out == (runs_dir / "report.csv").read_text()  # a pipe gets exactly the saved file
    assert f"saved {runs_dir / 'report.csv'}" in err and "report.png" in err


def test_json_has_the_runs_and_searches_with_null_for_missing(capsys, runs_dir):
    out, _ = report(capsys, "--runs-dir", runs_dir, "--format", "json")
    data = json.loads(out)
    assert data["searches"] == []
    cnn, mlp, unfinished = data["runs"]
    assert cnn["test_accuracy"] == pytest.approx(0.94) and cnn["epochs_run"] == 4
    assert unfinished["status"] == "incomplete" and unfinished["test_accuracy"] is None


def test_md_is_the_console_table(capsys, runs_dir):
    out, err = report(capsys, runs_dir)
    assert "| cnn " in out and "| incomplete " in out and "0.9400" in out
    # Each column by its kind: the unfinished run's blanks make pandas hold the counts as floats,
    # yet epochs and examples read as whole numbers, and a missing value as nothing, not nan.
    header, _, cnn, mlp, unfinished = out.split("\n\n")[0].splitlines()
    cells = dict(zip(*[[c.strip() for c in line.strip("|").split("|")] for line in (header, cnn)]))
    assert cells["epochs_run"] == "4" and cells["n_train"] == "100" and cells["test_loss"] == "0.3000"
    assert "nan" not in out and not any(c.strip() for c in unfinished.strip("|").split("|")[3:])
    assert f"saved {runs_dir / 'report.csv'}, {runs_dir / 'report.png'}" in out and err == ""


def colour_columns(image: np.ndarray, colour) -> np.ndarray:
    """Indices of the image's columns holding pixels of exactly `colour` (an RGB triple, 0..255)."""
    return np.flatnonzero((image[..., :3] == colour).all(axis=-1).any(axis=0))


def test_the_figure_has_a_bar_per_finished_run_and_every_validation_curve(capsys, runs_dir):
    report(capsys, runs_dir, "--format", "csv")
    image = np.asarray(Image.open(runs_dir / "report.png").convert("RGB"))
    middle = image.shape[1] // 2
    # tab10's first two colours, in the report's order (cnn, then mlp): a bar on the left, a curve on the right.
    for colour in ((31, 119, 180), (255, 127, 14)):
        columns = colour_columns(image, colour)
        assert (columns < middle).sum() > 50, "no bar in this run's colour"
        assert (columns > middle).any(), "no validation curve in this run's colour"


def test_no_figure_when_no_run_has_finished_and_damaged_histories_are_skipped(capsys, runs_dir):
    (runs_dir / "mlp" / "20261202-120000" / runs.HISTORY).write_text('garbage,"\n1,2\n')
    report(capsys, runs_dir, "--format", "csv")
    assert (runs_dir / "report.png").read_bytes()[:4] == b"\x89PNG"

    only_unfinished = runs_dir / "unfinished"
    _, err = report(capsys, only_unfinished, "--format", "csv")
    assert not (only_unfinished / "report.png").exists() and "report.png" not in err
