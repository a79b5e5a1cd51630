"""Hyperparameter search jobs: an experiment plus a search space.

A job is a short file in `tuning/`:

    EXPERIMENT = Experiment(...)          # what every trial starts from

    def space(hp):                        # Keras Tuner `hp` values -> config keys
        return {
            "model.hidden": (hp.Int("units", 32, 256, step=32),) * hp.Int("depth", 1, 3),
            "train.learning_rate": hp.Float("learning_rate", 1e-4, 1e-2, sampling="log"),
        }

    OBJECTIVE = "val_accuracy"            # or "val_loss"           (optional)
    TUNER = "random"                      # random|grid|bayesian|hyperband (optional)
    MAX_TRIALS = 10                       # (optional)
    MAX_FAILURES = 3                      # failed trials in a row that stop the search (optional)

The keys are the `--set` keys of `nnkeras run`, and a trial's values go
through the same `apply_overrides`, so an unknown key or a wrong type fails
the same way, with the same message. Builders never see `hp`: the space only
decides config values, and the one trainer trains each trial
(`nnkeras.tuning.search` runs the search, `nnkeras.tuning.tuner` is the
Keras Tuner side). This module imports neither Keras nor Keras Tuner at the
top, so `nnkeras --help` stays instant.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from nnkeras.config import OBJECTIVES, Experiment, apply_overrides
from nnkeras.errors import ConfigError, NNKerasError
from nnkeras.userfiles import find_user_file, import_file, user_files

TUNERS = ("random", "grid", "bayesian", "hyperband")
# trials.csv columns besides the hyperparameters; an hp may not take one of these names.
TRIAL_COLUMNS = ("trial", "status", "score", "epochs", "epochs_trained", "seconds", "test_accuracy",
                 "best_epoch", "tuner", "reason", "run_dir")
HYPERBAND_EPOCHS = "tuner/epochs"  # Hyperband's own hp: how many epochs this trial trains to


@dataclass(frozen=True)
class Job:
    name: str
    experiment: Experiment
    space: Callable
    objective: str = "val_accuracy"
    tuner: str = "random"
    max_trials: int = 10
    max_failures: int = 3
    path: Path | None = None

    @property
    def direction(self) -> str:
        return OBJECTIVES[self.objective]


def job_files() -> list[Path]:
    return user_files("tuning")


def load_job(name_or_file: str) -> Job:
    """Import a job file (a name from `tuning/` or a path) and check what it defines."""
    path = find_user_file(name_or_file, "tuning", "tuning job", "EXPERIMENT and def space(hp)")
    module = import_file(path, "nnkeras_tuning")
    experiment, space = getattr(module, "EXPERIMENT", None), getattr(module, "space", None)
    if not isinstance(experiment, Experiment) or not callable(space):
        raise NNKerasError(f"{path}: a tuning job defines EXPERIMENT = Experiment(...) and def space(hp): ...")
    job = Job(path.stem, experiment, space, path=path, objective=getattr(module, "OBJECTIVE", "val_accuracy"),
              tuner=getattr(module, "TUNER", "random"), max_trials=getattr(module, "MAX_TRIALS", 10),
              max_failures=getattr(module, "MAX_FAILURES", 3))
    _check_settings(job)
    return job


def _check_settings(job: Job) -> None:
    if job.objective not in OBJECTIVES:
        raise ConfigError(f"tuning job '{job.name}': OBJECTIVE must be one of {', '.join(OBJECTIVES)}"
                          f" (got {job.objective!r})")
    if job.tuner not in TUNERS:
        raise ConfigError(f"unknown tuner '{job.tuner}'; choose one of {', '.join(TUNERS)}")
    for label, value in (("--max-trials", job.max_trials), ("--max-failures", job.max_failures)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{label} must be a whole number of at least 1 (got {value!r})")


def prepare(job: Job, overrides: list[str], *, tuner: str | None = None, max_trials: int | None = None,
            max_failures: int | None = None) -> Job:
    """The job with `--set` overrides and command-line limits applied, its search space checked."""
    changes = {"tuner": tuner, "max_trials": max_trials, "max_failures": max_failures}
    job = dataclasses.replace(job, **{k: v for k, v in changes.items() if v is not None})
    _check_settings(job)
    experiment = apply_overrides(job.experiment, overrides)
    job = dataclasses.replace(job, experiment=experiment)
    check_space(job)
    return job


def check_space(job: Job) -> list[str]:
    """Declare the space once, before anything is written; return the config keys it sets.

    Catches what would otherwise surface trials later: an inverted or empty
    range, an empty choice, a key that names no config field, an hp that
    shadows a trials.csv column.
    """
    hp = import_keras_tuner().HyperParameters()
    try:
        mapping = job.space(hp)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"search space of '{job.name}': {exc}") from None
    for param in hp.space:
        low, high = getattr(param, "min_value", None), getattr(param, "max_value", None)
        if low is not None and not low < high:
            raise ConfigError(f"search space of '{job.name}': hp '{param.name}' has an empty range"
                              f" [{low}, {high}]; its min_value must be below its max_value")
        if param.name in TRIAL_COLUMNS:
            raise ConfigError(f"search space of '{job.name}': hp name '{param.name}' is taken by a"
                              f" trials.csv column ({', '.join(TRIAL_COLUMNS)})")
    trial_experiment(job, hp)  # the defaults must make a valid experiment
    return list(mapping)


def import_keras_tuner():
    """`keras_tuner`, without the scikit-learn and SciPy its Bayesian tuner imports in case.

    Keras Tuner imports every tuner up front, and with them scikit-learn and
    scipy.optimize: 0.5 s of CPU at the start of every search (after Keras,
    which has loaded SciPy's core). Only the Bayesian tuner needs them;
    make_oracle loads them for that one (`for_bayesian`).
    """
    from nnkeras.quiet import hidden

    with hidden(BAYESIAN_NEEDS, "Keras Tuner"):
        import keras_tuner
    return keras_tuner


BAYESIAN_NEEDS = ("sklearn", "scipy")  # what `import_keras_tuner` keeps from Keras Tuner, until `for_bayesian`


def for_bayesian() -> None:
    """Give Keras Tuner's Bayesian tuner the scikit-learn and SciPy that import_keras_tuner kept from it."""
    from keras_tuner.src.tuners import bayesian

    if bayesian.sklearn is None or bayesian.scipy is None:
        import scipy.optimize
        import sklearn.exceptions
        import sklearn.gaussian_process

        bayesian.sklearn, bayesian.scipy = sklearn, scipy


def trial_experiment(job: Job, hp) -> Experiment:
    """The job's experiment with one trial's hp values applied (Hyperband's epochs included)."""
    mapping = job.space(hp)
    if not isinstance(mapping, dict) or not all(isinstance(k, str) for k in mapping):
        raise ConfigError(f"search space of '{job.name}': space(hp) must return a dict of config keys"
                          f" to values, e.g. {{'train.learning_rate': hp.Float(...)}}")
    items = [f"{key}={as_text(value)}" for key, value in mapping.items()]
    if HYPERBAND_EPOCHS in hp.values:
        items.append(f"train.epochs={hp.values[HYPERBAND_EPOCHS]}")
    try:
        return apply_overrides(job.experiment, items)
    except ConfigError as exc:
        raise ConfigError(f"search space of '{job.name}': {exc}") from None


def as_text(value) -> str:
    """A Python value as `--set` text, parsed back to the same value by config.parse_value."""
    if isinstance(value, (tuple, list)):
        return ",".join(as_text(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    return repr(value) if isinstance(value, float) else str(value)
