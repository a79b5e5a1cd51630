"""`nnkeras new`: a learner's own experiment, started from a shipped one, runs by its name."""

import json

from nnkeras import cli


def test_new_copies_an_experiment_that_runs_under_its_own_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["new", "my_mlp", "--from", "mnist_mlp"]) == 0
    copy = tmp_path / "experiments" / "my_mlp.py"
    text = copy.read_text()
    assert text.startswith("# Your experiment, copied from mnist_mlp") and "Edit EXPERIMENT" in text
    assert cli.main(["run", "my_mlp", "--set", "data.name=mnist_sample", "--set", "train.epochs=1"]) == 0
    metrics, = (tmp_path / "runs" / "my_mlp").glob("*/metrics.json")
    assert json.loads(metrics.read_text())["epochs_run"] == 1


def test_new_never_overwrites_and_names_a_bad_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "experiments").mkdir()
    mine = tmp_path / "experiments" / "mine.py"
    mine.write_text("# my work\n")
    assert cli.main(["new", "mine"]) == 2
    assert mine.read_text() == "# my work\n"
    assert cli.main(["new", "my-mlp"]) == 2
    assert cli.main(["new", "x", "--from", "mnist_mpl"]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "'my-mlp' is not a usable name" in err and "did you mean 'mnist_mlp'" in err
