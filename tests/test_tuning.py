"""Hyperparameter search at smoke size: real Keras Tuner oracles, the one trainer, real event files.

Every search here trains tiny MLPs on generated data (synthetic, 8 features,
3 classes) for a few epochs, so each trial takes about a second.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re

import keras
import keras_tuner as kt
import pandas as pd
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata as hparams_metadata

from nnkeras import cli, report, runs
from nnkeras.tuning import jobs as tuning
from nnkeras.tuning import results as tuning_results
from nnkeras.tuning import search as tuning_search
from nnkeras.config import TrainConfig, flat, smoke
from nnkeras.errors import ConfigError, NNKerasError
from nnkeras.tuning.tuner import make_oracle
from conftest import run_cli

JOB = '''
from nnkeras import DataConfig, Experiment, ModelConfig, TrainConfig

EXPERIMENT = Experiment(
    name="{name}",
    data=DataConfig(name="synthetic", shape=(8,), num_classes=3, size=200),
    model=ModelConfig(name="mlp", params={{"hidden": (16,)}}),
    train=TrainConfig(epochs={epochs}, histogram_freq=0, optimizer="{optimizer}", checkpoint_seconds={seconds}),
)
MAX_TRIALS = {trials}
MAX_FAILURES = {failures}


def space(hp):
    return {space}
'''
SPACE = ('{"model.hidden": (hp.Int("units", 4, 32, step=4),),'
         ' "train.learning_rate": hp.Float("learning_rate", 1e-3, 1e-1, sampling="log"),'
         ' "train.batch_size": hp.Choice("batch_size", [16, 32, 64])}')


def write_job(folder, name, space=SPACE, *, epochs=3, trials=4, failures=3, optimizer="adam",
              checkpoint_seconds=TrainConfig.checkpoint_seconds):
    path = folder / f"{name}.py"
    path.write_text(JOB.format(name=name, space=space, epochs=epochs, trials=trials, failures=failures,
                               optimizer=optimizer, seconds=checkpoint_seconds))
    return path


def reload_oracle(job, folder):
    """The search's oracle as Keras Tuner itself reloads it from the search directory."""
    oracle = make_oracle(job, job.tuner)
    oracle._set_project_dir(str(folder.parent), folder.name)
    oracle.reload()
    return oracle


def read_trials(folder) -> pd.DataFrame:
    return pd.read_csv(folder / tuning_results.TRIALS_CSV, dtype={"trial": str, "tuner/trial_id": str})


def events(folder) -> list[dict]:
    return [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """All four tuners on the same job and budget (4 trials, up to 3 epochs each)."""
    root = tmp_path_factory.mktemp("compare")
    job = tuning.prepare(tuning.load_job(str(write_job(root, "small"))), [])
    table, folder = tuning_search.compare(job, root / "runs")
    return job, table, folder


@pytest.mark.parametrize("tuner", tuning.TUNERS)
def test_each_tuner_runs_and_trials_csv_matches_its_oracle(compared, tuner):
    job, _, root = compared
    folder = root / tuner
    oracle = reload_oracle(dataclasses.replace(job, tuner=tuner), folder)
    trials = read_trials(folder).set_index("trial")
    assert sorted(trials.index) == sorted(oracle.trials) and len(trials) == job.max_trials
    for trial_id, trial in oracle.trials.items():
        row = trials.loc[trial_id]
        assert row["status"] == trial.status.lower() == "completed"
        assert row["score"] == pytest.approx(trial.score)
        for name, value in trial.hyperparameters.values.items():
            assert row[name] == pytest.approx(value) if isinstance(value, float) else row[name] == value
        metrics = runs.read_json(folder / row["run_dir"] / runs.METRICS)  # each trial is a normal run directory
        assert row["epochs"] == metrics["epochs_run"] and row["tuner"] == "tuner0"
        expected = trial.hyperparameters.values.get("tuner/epochs", job.experiment.train.epochs)
        assert metrics["epochs_run"] == expected


def test_hyperband_continues_promoted_trials_from_their_checkpoint(compared):
    _, _, root = compared
    trials = read_trials(root / "hyperband")
    promoted = trials[trials["tuner/trial_id"].notna()]
    assert not promoted.empty, "Hyperband promoted no trial in 4 trials of 3 epochs"
    for _, row in promoted.iterrows():
        started = runs.read_json(root / "hyperband" / row["run_dir"] / "continued_from.json")
        assert started["trial"] == row["tuner/trial_id"] and started["epoch"] == row["tuner/initial_epoch"]
        assert row["epochs_trained"] == row["epochs"] - row["tuner/initial_epoch"]


def test_comparison_table_and_plot_agree_with_each_search(compared):
    job, table, root = compared
    assert list(table["tuner"]) == list(tuning.TUNERS)
    for _, row in table.iterrows():
        trials = read_trials(root / row["tuner"])
        assert row["best_score"] == pytest.approx(trials["score"].max())
        assert row["epochs_spent"] == trials["epochs_trained"].sum()
    hyperband = table.set_index("tuner").loc["hyperband", "epochs_spent"]
    assert hyperband < table.set_index("tuner").loc["random", "epochs_spent"]  # Hyperband's point: fewer epochs
    for name in ("comparison.csv", "comparison.md", "comparison.png"):
        assert (root / name).stat().st_size > 0


def test_hparams_summary_and_every_trial_session_are_in_the_event_files(compared):
    job, _, root = compared
    folder = root / "random"
    summary = EventAccumulator(str(folder / tuning_results.SUMMARY_TB))
    summary.Reload()
    content = summary.SummaryMetadata(hparams_metadata.EXPERIMENT_TAG).plugin_data.content
    experiment = hparams_metadata.parse_experiment_plugin_data(content)
    assert [h.name for h in experiment.hparam_infos] == ["model.hidden", "train.learning_rate", "train.batch_size"]
    assert ("validation", "epoch_accuracy") in [(m.name.group, m.name.tag) for m in experiment.metric_infos]
    assert summary.Tags()["tensors"] == [hparams_metadata.EXPERIMENT_TAG, "search"]  # not an empty run
    oracle = reload_oracle(dataclasses.replace(job, tuner="random"), folder)
    for trial_id, trial in oracle.trials.items():
        session = EventAccumulator(str(folder / f"trial_{trial_id}" / runs.TENSORBOARD))
        session.Reload()
        start = hparams_metadata.parse_session_start_info_plugin_data(
            session.SummaryMetadata(hparams_metadata.SESSION_START_INFO_TAG).plugin_data.content)
        expected = flat(tuning.trial_experiment(job, trial.hyperparameters))
        assert start.group_name == f"small/trial_{trial_id}"
        assert start.hparams["train.learning_rate"].number_value == pytest.approx(expected["train.learning_rate"])
        assert start.hparams["model.hidden"].string_value == expected["model.hidden"]
        assert start.hparams["train.batch_size"].number_value == expected["train.batch_size"]


def test_rerun_of_a_finished_search_trains_no_trial_and_retrains_the_best(compared):
    job, _, root = compared
    folder = root / "random"
    before = len(events(folder))
    result = tuning_search.run_search(dataclasses.replace(job, tuner="random"), root.parent.parent)
    assert len(events(folder)) == before  # no trial started again
    oracle = reload_oracle(dataclasses.replace(job, tuner="random"), folder)
    best = oracle.get_best_trials(1)[0]
    pointer = runs.read_json(folder / tuning_results.BEST_RUN)
    assert result.best == pointer and pointer["trial"] == best.trial_id
    assert pointer["hyperparameters"] == best.hyperparameters.values
    config = runs.read_json(folder / "best" / runs.CONFIG)
    assert config["train"]["learning_rate"] == pytest.approx(best.hyperparameters.values["learning_rate"])
    assert config["train"]["batch_size"] == best.hyperparameters.values["batch_size"]
    model = keras.models.load_model(folder / "best" / runs.MODEL)
    assert model.get_layer("dense_1").units == best.hyperparameters.values["units"]


def test_report_lists_the_searches(compared, capsys):
    _, _, root = compared
    runs_dir = root.parent.parent
    table = report.searches_table(runs_dir).set_index("tuner")
    assert sorted(table.index) == sorted(tuning.TUNERS)
    assert (table["completed"] == 4).all() and (table["job"] == "small").all()
    assert cli.main(["report", str(runs_dir)]) == 0
    assert "searches:" in capsys.readouterr().out
    saved = pd.read_csv(runs_dir / "searches.csv")  # saved beside report.csv, not only printed
    assert sorted(saved["tuner"]) == sorted(tuning.TUNERS)


def test_console_trials_csv_and_folders_number_trials_alike_and_hyperband_shows_trained_epochs(tmp_path, capsys):
    # The space has its own epochs hp, as tuning/mnist_lenet5.py does; under Hyperband, tuner/epochs decides.
    space = SPACE[:-1] + ', "train.epochs": hp.Int("num_epochs", 2, 6, step=2, default=6)}'
    job = tuning.prepare(tuning.load_job(str(write_job(tmp_path, "own_epochs", space))), [], tuner="hyperband")
    result = tuning_search.run_search(job, tmp_path / "runs", retrain=False, verbose=1)
    out = capsys.readouterr().out
    trials = read_trials(result.folder)
    ids = list(trials["trial"])
    assert re.findall(r"Search: Running Trial #(\S+)", out) == ids  # Keras Tuner counted from 1, the ids from 0
    assert re.findall(r"Trial (\S+) Complete", out) == ids
    assert sorted(path.name for path in result.folder.glob("trial_*")) == sorted(f"trial_{i}" for i in ids)
    # num_epochs was drawn from 2, 4, 6 at random while the trial trained tuner/epochs (1 or 3 here).
    assert list(trials["num_epochs"]) == list(trials["tuner/epochs"]) == list(trials["epochs"])
    assert set(trials["epochs"]) == {1, 3}
    shown = re.findall(r"^(\S+)\s+\|\S+\s+\|num_epochs$", out, flags=re.M)
    assert [int(value) for value in shown] == list(trials["epochs"])  # the console's hp table agrees


def test_failed_trials_are_recorded_with_their_reason_and_the_search_goes_on(tmp_path):
    # Grid order: (lr 0.01, dropout 0) trains; dropout 1.5 cannot be built; lr 10 with plain SGD
    # through four layers makes the loss NaN; the last combination cannot be built either.
    space = ('{"model.hidden": (64, 64, 64, 64), "train.learning_rate": hp.Choice("learning_rate", [0.01, 10.0]),'
             ' "model.dropout": hp.Choice("dropout", [0.0, 1.5])}')
    path = write_job(tmp_path, "failing", space, epochs=2, trials=4, failures=4, optimizer="sgd")
    job = tuning.prepare(tuning.load_job(str(path)), [], tuner="grid")
    result = tuning_search.run_search(job, tmp_path / "runs")
    trials = read_trials(result.folder).set_index("trial")
    assert list(trials["status"]) == ["completed", "failed", "failed", "failed"]
    assert "model.dropout must be in [0, 1), got 1.5" in trials.loc["1", "reason"]
    assert trials.loc["2", "reason"].startswith("NNKerasError: diverged")
    assert result.best["trial"] == "0"


def test_too_many_failures_in_a_row_stop_the_search(tmp_path):
    space = '{"model.dropout": hp.Choice("dropout", [1.5, 2.0, 3.0])}'
    job = tuning.prepare(tuning.load_job(str(write_job(tmp_path, "hopeless", space))), [], max_failures=2)
    with pytest.raises(NNKerasError, match="2 trials failed in a row"):
        tuning_search.run_search(job, tmp_path / "runs")
    folder = tmp_path / "runs" / "search" / "hopeless" / "random"
    assert list(read_trials(folder)["status"]) == ["failed", "failed"]
    # Allowing more failures lets the same search go on: the third and last dropout value fails too,
    # and a search in which no trial completed is an error, not a result.
    with pytest.raises(NNKerasError, match=r"search finished with no completed trial \(of 3; .*model.dropout"):
        tuning_search.run_search(dataclasses.replace(job, max_failures=4), tmp_path / "runs")
    assert list(read_trials(folder)["status"]) == ["failed"] * 3


@pytest.mark.parametrize("space, message", [
    ('{"model.hiden": (hp.Int("units", 4, 32),)}', "unknown key 'model.hiden'; did you mean 'model.hidden'?"),
    ('{"train.learning_rte": hp.Float("lr", 1e-3, 1e-1)}', "unknown key 'train.learning_rte'"),
    ('{"train.learning_rate": hp.Float("lr", 1e-1, 1e-3)}', "min_value 0.1 is greater than the max_value 0.001"),
    ('{"model.hidden": (hp.Int("units", 8, 8),)}', "hp 'units' has an empty range [8, 8]"),
    ('{"model.activation": hp.Choice("activation", [])}', "`values` must be provided"),
    ('{"train.epochs": hp.Int("status", 1, 3)}', "hp name 'status' is taken by a trials.csv column"),
])
def test_bad_search_spaces_are_rejected_before_anything_is_written(tmp_path, space, message):
    with pytest.raises(ConfigError) as error:
        tuning.prepare(tuning.load_job(str(write_job(tmp_path, "bad", space))), [])
    assert message in str(error.value)
    assert not (tmp_path / "runs").exists()


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path):
    unknown = run_cli("tune", "mnist_mpl", "--runs-dir", str(tmp_path))
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines()[-1].startswith(
        "error: unknown tuning job 'mnist_mpl'; did you mean 'mnist_mlp'?")
    zero = run_cli("tune", "mnist_mlp", "--max-trials", "0", "--runs-dir", str(tmp_path))
    assert zero.returncode == 2
    assert zero.stderr.strip().splitlines()[-1] == "error: --max-trials must be a whole number of at least 1 (got 0)"
    unmapped = run_cli("tune", str(write_job(tmp_path, "typo", '{"model.hiden": (hp.Int("units", 4, 32),)}')),
                       "--runs-dir", str(tmp_path / "runs"))
    assert unmapped.returncode == 2 and "Traceback" not in unmapped.stderr
    assert unmapped.stderr.strip().splitlines()[-1].startswith("error: search space of 'typo': unknown key 'model.hiden'")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("path", tuning.job_files(), ids=lambda p: p.stem)
def test_every_tuning_job_runs_at_smoke_size(path, tmp_path):
    job = tuning.load_job(str(path))
    assert f"nnkeras tune {path.stem}" in path.read_text().split('"""')[1]  # the docstring gives the command
    job = dataclasses.replace(job, experiment=smoke(job.experiment))
    job = tuning.prepare(job, ["train.epochs=1"], tuner="random", max_trials=2, max_failures=2)
    trials = tuning_search.run_search(job, tmp_path / "runs", retrain=False).trials
    assert len(trials) == 2
    for _, row in trials.iterrows():  # each trial trained, or failed with its reason (the transformer job's heads)
        if row["status"] == "completed":
            assert 0.0 <= row["score"] <= 1.0 and math.isfinite(row["seconds"])
        else:
            assert row["status"] == "failed" and row["reason"]


def test_distributed_flags_are_checked():
    with pytest.raises(NNKerasError, match="exclude each other"):
        tuning_search.set_role(True, "tuner0", "127.0.0.1:8000")
    with pytest.raises(NNKerasError, match="expected HOST:PORT"):
        tuning_search.set_role(False, "tuner0", "localhost")


def test_a_run_leaves_no_traced_graph_alive(tmp_path):
    """TensorFlow keeps every traced custom gradient (and its whole train step) in a global
    registry; the trainer drops what a run added, so memory stays flat across trials and variants."""
    import gc

    import numpy as np
    from tensorflow.python.framework import ops
    from tensorflow.python.framework.func_graph import FuncGraph

    from nnkeras import fastfit
    from nnkeras.training import train

    job = tuning.load_job(str(write_job(tmp_path, "graphs")))
    registry = ops._gradient_registry._registry
    gc.collect()
    graphs_before, entries_before = sum(isinstance(o, FuncGraph) for o in gc.get_objects()), set(registry)
    train(job.experiment, tmp_path / "run")
    keras.backend.clear_session()
    gc.collect()
    assert set(registry) == entries_before
    assert sum(isinstance(o, FuncGraph) for o in gc.get_objects()) <= graphs_before
    # The leak the trainer guards against: tracing a train step outside it registers gradients for good.
    model = keras.models.load_model(tmp_path / "run" / "model.keras")
    x = np.zeros((8, *model.inputs[0].shape[1:]), "float32")
    fastfit.EpochRunner(model, x, np.zeros(8, "int64"), batch_size=4).run(seed=0, epoch=0)
    assert any(name.startswith("CustomGradient-") for name in set(registry) - entries_before)
