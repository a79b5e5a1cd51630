"""What a search leaves behind: trials.csv, the HParams summary, the retrained best run.

    trials.csv      one row per trial, read from the oracle: status, score,
                    epochs, seconds of training, test accuracy, which tuner
                    process ran it, why it failed, then every hyperparameter
    tb/             the HParams experiment summary; each trial's own session
                    and curves are in trial_<id>/tb/, so
                    `tensorboard --logdir <search>` shows one table of trials
    best/           the best trial's experiment retrained by the normal trainer
    best_run.json   which trial that is, its score and hyperparameters
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd

from nnkeras import runs
from nnkeras.errors import NNKerasError
from nnkeras.tuning.jobs import TRIAL_COLUMNS, Job, trial_experiment

TRIALS_CSV = "trials.csv"
BEST_RUN = "best_run.json"
BEST_DIR = "best"
SUMMARY_TB = "tb"
# (tag, TensorBoard run under a trial's tb/, column title): the trainer's own scalars
HPARAMS_METRICS = (("epoch_accuracy", "validation", "val_accuracy"), ("epoch_loss", "validation", "val_loss"),
                   ("epoch_accuracy", "test", "test_accuracy"), ("epoch_loss", "train", "loss"))


def trials_table(oracle, folder: Path) -> pd.DataFrame:
    """Every trial the oracle knows, in the order trials started."""
    started_by = _started_by(Path(folder) / "events.jsonl")
    order = list(dict.fromkeys([*oracle.start_order, *sorted(oracle.trials)]))
    rows, names = [], []
    for trial_id in order:
        trial = oracle.trials[trial_id]
        row = {"trial": trial_id, "status": str(trial.status).lower(), "score": trial.score,
               "tuner": started_by.get(trial_id), "reason": reason(trial.message), "run_dir": f"trial_{trial_id}"}
        for name in ("epochs", "epochs_trained", "seconds", "test_accuracy", "best_epoch"):
            if trial.metrics.exists(name):
                row[name] = trial.metrics.get_last_value(name)
        row.update(trial.hyperparameters.values)
        names += [n for n in trial.hyperparameters.values if n not in names]
        rows.append(row)
    table = pd.DataFrame(rows, columns=[*TRIAL_COLUMNS, *names])
    return table.astype({"epochs": "Int64", "epochs_trained": "Int64", "best_epoch": "Int64"})


def write_trials_csv(oracle, folder: Path) -> pd.DataFrame:
    table = trials_table(oracle, folder)
    runs.write_atomic(Path(folder) / TRIALS_CSV, table.to_csv(index=False))
    return table


def reason(message: str | None) -> str | None:
    """The one-line reason at the end of Keras Tuner's traceback ('...FailedTrialError: <reason>')."""
    if not message:
        return None
    last = message.strip().splitlines()[-1]
    return last.split("FailedTrialError: ", 1)[-1]


def _started_by(events: Path) -> dict[str, str]:
    """trial id -> the tuner id (process) that last started it."""
    owners = {}
    if events.is_file():
        for line in events.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line cut short by a kill
            if event.get("event") == "start":
                owners[event["trial"]] = event["tuner"]
    return owners


def write_hparams_config(folder: Path, keys: list[str]) -> None:
    """The HParams experiment summary: the tuned config keys as columns, the trainer's scalars as metrics.

    Written once, into a staging folder renamed into place, so a killed search
    never leaves a second summary for TensorBoard to choose from.
    """
    target = Path(folder) / SUMMARY_TB
    if target.exists():
        return
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp_api

    staging = Path(folder) / f".{SUMMARY_TB}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    writer = tf.summary.create_file_writer(str(staging))
    with writer.as_default():
        hp_api.hparams_config(
            hparams=[hp_api.HParam(key) for key in keys],
            metrics=[hp_api.Metric(tag, group=group, display_name=title) for tag, group, title in HPARAMS_METRICS],
        )
        # Text too, so the `tb` run TensorBoard lists for the search is not an empty one.
        tf.summary.text("search", f"Hyperparameters searched: {', '.join(keys)}. Each trial's settings and curves"
                                  " are in trial_<id>/tb; the HParams tab compares them.", step=0)
    writer.close()
    os.replace(staging, target)


def retrain_best(job: Job, oracle, folder: Path) -> dict | None:
    """Train the best trial's experiment into `<search>/best/` and point best_run.json at it."""
    from nnkeras.config import Experiment
    from nnkeras.training import train

    folder = Path(folder)
    completed = [t for t in oracle.get_best_trials(1) if t.status == "COMPLETED"]
    if not completed:
        return None
    trial = completed[0]
    pointer, best_dir = folder / BEST_RUN, folder / BEST_DIR
    if pointer.exists():
        info = runs.read_json(pointer) if pointer.is_file() else None
        if not isinstance(info, dict) or not isinstance(info.get("trial"), str) or info.get("run_dir") != BEST_DIR:
            raise NNKerasError(f"{pointer}: not a best-run record (an object with 'trial' and 'run_dir': \"{BEST_DIR}\""
                               " was expected); delete it and rerun the same command, which retrains the best trial")
        trial = _tied_with(oracle, trial, info["trial"])
        if info["trial"] == trial.trial_id and runs.is_complete(best_dir):
            return info
    pointer.unlink(missing_ok=True)  # from here until it is rewritten, best/ is not trustworthy
    experiment = trial_experiment(job, trial.hyperparameters)
    if best_dir.exists() and (not (best_dir / runs.CONFIG).is_file()
                              or Experiment.load(best_dir / runs.CONFIG) != experiment):
        shutil.rmtree(best_dir)  # an earlier best, or killed before its config was written
    result = train(experiment, best_dir, resume=True)
    info = {"trial": trial.trial_id, "objective": job.objective, "score": trial.score, "run_dir": BEST_DIR,
            "trial_run_dir": f"trial_{trial.trial_id}", "hyperparameters": trial.hyperparameters.values,
            "test_accuracy": result.metrics["test_accuracy"]}
    runs.write_json(pointer, info)
    return info


def _tied_with(oracle, best, recorded: str):
    """The recorded best trial when its score equals the best one: a tie is no reason to retrain best/."""
    other = oracle.trials.get(recorded)
    if other is not None and other.status == "COMPLETED" and other.score == best.score:
        return other
    return best
