"""The Keras Tuner side of a search: real oracles, one trainer, kill-safe state.

`TrialTuner` subclasses Keras Tuner's `BaseTuner` (not `Tuner`, whose job is
to build and fit a hypermodel: here `nnkeras.training.train` does both) and
overrides `run_trial`, so each trial is a normal run directory,
`<search>/trial_<id>/`, next to Keras Tuner's own `trial.json`.

Kill safety. Keras Tuner writes oracle.json, trial.json and the tuner file
in place; a SIGKILL during a write leaves a truncated file that stops every
later reload. `SafeOracle` and `TrialTuner.save` write them atomically
(nnkeras.runs). A trial found complete on disk (metrics.json) is reported,
never trained again; an interrupted one resumes from its last epoch.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from datetime import datetime
from pathlib import Path

from nnkeras import runs
from nnkeras.tuning import results
from nnkeras.callbacks import write_hparams
from nnkeras.config import flat
from nnkeras.errors import NNKerasError
from nnkeras.tuning.jobs import HYPERBAND_EPOCHS, Job, import_keras_tuner, trial_experiment, for_bayesian

kt = import_keras_tuner()

RUNNING = kt.engine.trial.TrialStatus.RUNNING
CONTINUED_FROM = "continued_from.json"  # a Hyperband trial that starts from an earlier trial's model
ORACLES = {
    "random": kt.oracles.RandomSearchOracle,
    "grid": kt.oracles.GridSearchOracle,
    "bayesian": kt.oracles.BayesianOptimizationOracle,
    "hyperband": kt.oracles.HyperbandOracle,
}


class SafeOracle:
    """Mixed in before a Keras Tuner oracle: atomic state files, and trials.csv after every trial."""

    def save(self):
        runs.write_json(Path(self._get_oracle_fname()), self.get_state())

    def _save_trial(self, trial):
        runs.write_json(Path(self._get_trial_dir(trial.trial_id)) / "trial.json", trial.get_state())

    def reload(self):
        super().reload()
        # Keras Tuner adds the trials in the file system's order (a copied folder has
        # another); get_best_trials breaks ties by that order, so a rerun could pick
        # another best among equal scores and retrain best/. Start order, as in the
        # process that ran them.
        started = {trial_id: i for i, trial_id in enumerate(self.start_order)}
        self.trials = dict(sorted(self.trials.items(),
                                  key=lambda item: (started.get(item[0], len(started)), len(item[0]), item[0])))
        # Killed between writing a new trial.json and oracle.json: the trial is
        # RUNNING but nobody owns it. Queue it like Keras Tuner queues its ongoing trials.
        for trial_id, trial in self.trials.items():
            if trial.status == RUNNING and trial_id not in self._retry_queue:
                self._retry_queue.append(trial_id)

    @kt.synchronized
    def end_trial(self, trial):
        try:
            super().end_trial(trial)  # raises once max_consecutive_failed_trials is reached
        finally:
            results.write_trials_csv(self, Path(self._project_dir))


class HyperbandEpochs:
    """Mixed in before Keras Tuner's HyperbandOracle: a space's own epochs hp shows the epochs trained.

    Hyperband decides how long each trial trains (`tuner/epochs`, which
    trial_experiment puts in train.epochs); an hp the space maps to
    train.epochs (mnist_lenet5's `num_epochs`) would still be drawn at random
    and shown on the console and in trials.csv with a value the trial never
    trained. It is given Hyperband's value instead.
    """

    epochs_hp: str | None = None

    def populate_space(self, trial_id):
        response = super().populate_space(trial_id)
        values = response.get("values")
        if self.epochs_hp and values and HYPERBAND_EPOCHS in values:
            values[self.epochs_hp] = values[HYPERBAND_EPOCHS]
        return response


def epochs_hp(job: Job) -> str | None:
    """The name of the hp whose value the job's space puts in train.epochs, if any."""
    hp = kt.HyperParameters()
    chosen = job.space(hp).get("train.epochs")
    for param in hp.space:
        ends = getattr(param, "values", None) or (getattr(param, "min_value", None), getattr(param, "max_value", None))
        for value in [v for v in ends if v is not None] or (True, False):  # a Choice, an Int or Float, a Boolean
            probe = hp.copy()
            probe.values[param.name] = value
            if job.space(probe).get("train.epochs") != chosen:
                return param.name
    return None


class TrialIdDisplay(kt.src.engine.oracle.Display):  # not in the public API; the oracle builds one
    """Keras Tuner's console lines, numbering each trial by its id as trials.csv and the
    trial_<id> folders do (its own count starts at 1, and counts again for a resumed trial)."""

    def on_trial_begin(self, trial):
        if self.verbose < 1:
            return
        self.trial_start[trial.trial_id] = datetime.now()
        self.search_start = self.search_start or self.trial_start[trial.trial_id]
        self.trial_number[trial.trial_id] = trial.trial_id  # what on_trial_end prints
        print(f"\nSearch: Running Trial #{trial.trial_id}\n")
        self.show_hyperparameter_table(trial)
        print()


def make_oracle(job: Job, tuner: str):
    base = ORACLES[tuner]
    mixins = (SafeOracle, HyperbandEpochs) if tuner == "hyperband" else (SafeOracle,)
    oracle_class = type(f"Safe{base.__name__}", (*mixins, base), {})
    common = {"objective": kt.Objective(job.objective, job.direction), "seed": job.experiment.seed,
              "max_consecutive_failed_trials": job.max_failures}
    if tuner == "hyperband":
        # Hyperband's budget is epochs: the experiment's train.epochs is the most a trial trains.
        oracle = oracle_class(max_epochs=job.experiment.train.epochs, factor=3, **common)
        oracle.max_trials = job.max_trials  # a cap, so tuners compare on the same number of trials
        oracle.epochs_hp = epochs_hp(job)
    elif tuner == "bayesian":
        for_bayesian()
        # A third of the budget explores at random before the Gaussian process proposes.
        oracle = oracle_class(max_trials=job.max_trials, num_initial_points=max(2, job.max_trials // 3), **common)
    else:
        oracle = oracle_class(max_trials=job.max_trials, **common)
    oracle._display = TrialIdDisplay(oracle=oracle)
    return oracle


class MachineError(kt.errors.FatalError):
    """A trial stopped by the machine (full disk, no memory, permissions): not the trial's verdict.

    Keras Tuner records any other exception as a failed trial, for good; a
    FatalError ends the search with the trial still running, so the rerun
    trains it again. The cause is the original error, shown by the CLI.
    """


class TrialTuner(kt.engine.base_tuner.BaseTuner):
    """Runs each trial through the one trainer, into `<search>/trial_<id>/`."""

    def __init__(self, job: Job, tuner: str, folder: Path):
        # Keras Tuner prints every failed trial's traceback; the traceback stays in
        # trial.json, the console gets one line (on_trial_end).
        kt.src.config.DEBUG = False
        self.job = job
        self.events = Path(folder) / "events.jsonl"
        super().__init__(oracle=make_oracle(job, tuner), hypermodel=job.space,
                         directory=str(Path(folder).parent), project_name=Path(folder).name)

    def run_trial(self, trial, *args, **kwargs):
        from nnkeras.training import train

        run_dir = Path(self.get_trial_dir(trial.trial_id))
        try:
            experiment = trial_experiment(self.job, trial.hyperparameters)
            if not runs.is_complete(run_dir):  # a finished trial is reported, never trained again
                self._continue_from(trial.hyperparameters, run_dir, experiment)
                train(experiment, run_dir, resume=True)  # resume=True also starts a fresh directory
            return trial_metrics(self.job, run_dir)
        except (OSError, MemoryError) as exc:
            raise MachineError(one_line(exc)) from exc
        except Exception as exc:
            disk = disk_error(exc, run_dir)
            if disk is not None:  # TensorFlow's own writes (TensorBoard) say it in their message
                raise MachineError(one_line(exc)) from disk
            raise kt.errors.FailedTrialError(one_line(exc)) from exc

    def _run_and_update_trial(self, trial, *args, **kwargs):
        try:
            super()._run_and_update_trial(trial, *args, **kwargs)  # a worker reports to the chief over gRPC here
        except Exception as exc:
            if self._is_worker() and _from_grpc(exc):  # the chief is gone: not the trial's verdict, it stays to do
                raise MachineError(one_line(exc)) from exc
            raise

    def _continue_from(self, hp, run_dir: Path, experiment) -> None:
        """Hyperband: start from the model of the trial it promotes (`tuner/trial_id`), not from scratch."""
        previous = hp.values.get("tuner/trial_id")
        source = Path(self.get_trial_dir(previous)) if previous else None
        target = run_dir / runs.CHECKPOINTS
        if source is None or target.exists() or not (source / runs.CHECKPOINTS / runs.STATE).is_file():
            return
        state = runs.read_json(source / runs.CHECKPOINTS / runs.STATE)
        shutil.copy2(source / runs.HISTORY, run_dir / runs.HISTORY)
        # The trainer writes the HParams session only when it starts at epoch 0.
        write_hparams(run_dir / runs.TENSORBOARD, flat(experiment), run_id=f"{experiment.name}/{run_dir.name}")
        runs.write_json(run_dir / CONTINUED_FROM, {"trial": previous, "epoch": state["epoch"],
                                                   "train_seconds": state["train_seconds"]})
        staging = run_dir / ".checkpoints.tmp"  # copy, then rename: a kill never leaves half a checkpoint
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(source / runs.CHECKPOINTS, staging)
        os.replace(staging, target)

    def on_trial_begin(self, trial):
        self._log(trial, "start")

    def on_trial_end(self, trial):
        if trial.message:
            print(f"trial {trial.trial_id} failed: {results.reason(trial.message)}", flush=True)
        super().on_trial_end(trial)  # the oracle records the end (atomically)
        self._log(trial, trial.status.lower())  # after: a logged end is a recorded end

    def _log(self, trial, event: str) -> None:
        """One line per event in events.jsonl: who ran which trial (workers share the folder)."""
        line = {"time": datetime.now().isoformat(timespec="milliseconds"), "trial": trial.trial_id, "event": event,
                "tuner": self.tuner_id, "pid": os.getpid(), "rss_mb": resident_mb()}
        with open(self.events, "a") as handle:  # O_APPEND: whole short lines, even from several processes
            handle.write(json.dumps(line) + "\n")

    def save(self):
        if not self._is_worker():
            self.oracle.save()
        runs.write_json(Path(self._get_tuner_fname()), self.get_state())


def trial_metrics(job: Job, run_dir: Path) -> dict:
    """What the oracle records: the objective and the bookkeeping trials.csv shows.

    The score is the objective at the epoch whose model the run kept (lowest
    val_loss), so it describes `model.keras`, the model retraining reproduces.
    """
    import pandas as pd

    metrics = runs.read_json(run_dir / runs.METRICS)
    if metrics["status"] == "diverged" or metrics["best_epoch"] is None:
        raise NNKerasError(f"diverged: the loss became NaN or infinite by epoch {metrics['epochs_run']}")
    history = pd.read_csv(run_dir / runs.HISTORY).set_index("epoch")
    continued = runs.read_json(run_dir / CONTINUED_FROM) if (run_dir / CONTINUED_FROM).is_file() else {}
    return {
        job.objective: float(history.loc[metrics["best_epoch"], job.objective]),
        "epochs": metrics["epochs_run"],
        "epochs_trained": metrics["epochs_run"] - continued.get("epoch", 0),
        "seconds": metrics["train_seconds"] - continued.get("train_seconds", 0.0),
        "test_accuracy": metrics["test_accuracy"],
        "best_epoch": metrics["best_epoch"],
    }


DISK_MESSAGES = {"File too large": errno.EFBIG, "No space left on device": errno.ENOSPC,
                 "Disk quota exceeded": errno.EDQUOT, "Read-only file system": errno.EROFS}


def disk_error(exc: Exception, where: Path) -> OSError | None:
    """The OSError a TensorFlow error stands for, when a full disk or a file-size limit caused it."""
    import tensorflow as tf

    if isinstance(exc, tf.errors.OpError):
        for text, number in DISK_MESSAGES.items():
            if text in str(exc):
                return OSError(number, os.strerror(number), str(where))
    return None


def _from_grpc(exc: Exception) -> bool:
    import grpc

    return isinstance(exc, grpc.RpcError)


def one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text[:300]}"


def resident_mb() -> float | None:
    """This process's resident memory (Linux /proc), for events.jsonl and the memory benchmark."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
