"""Run a search (`nnkeras tune`): one process, or a chief and workers; and tuner comparisons.

    runs/search/<job>/<tuner>/        the search directory (Keras Tuner's project)
        search.json                   job, tuner, objective, experiment: a rerun must match
        oracle.json, tuner0.json      Keras Tuner's state, written atomically
        trial_<id>/                   trial.json + the trial's normal run directory
        trials.csv, events.jsonl, tb/, best/, best_run.json   (see nnkeras.tuning.results)

Rerunning the same command continues the search where it stopped, even
after a SIGKILL; `--overwrite` deletes the folder and starts over.

Distributed: Keras Tuner's own chief/worker mode over gRPC. Every process runs
the same command; the chief (`--chief`, or KERASTUNER_TUNER_ID=chief) holds
the oracle, each worker (`--worker ID`) asks it for trials and trains them.
All must see the same search folder (one machine, or a shared file system).
A worker waits for its chief at most NNKERAS_CHIEF_TIMEOUT seconds (nnkeras.tuning.chief).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from nnkeras import runs
from nnkeras.config import check_name
from nnkeras.errors import NNKerasError
from nnkeras.tuning.jobs import TUNERS, Job, check_space

SEARCH = "search.json"
FAILURE_LIMIT = "Number of consecutive failures exceeded the limit"  # Keras Tuner's RuntimeError


@dataclass
class SearchResult:
    folder: Path
    trials: pd.DataFrame | None  # None on a worker: the chief owns the table
    best: dict | None


def search_dir(runs_dir: str | Path, job: Job, tuner: str) -> Path:
    return Path(runs_dir) / "search" / check_name(job.name, "tuning job name") / tuner


def set_role(chief: bool, worker: str | None, oracle: str | None) -> None:
    """Translate --chief / --worker ID / --oracle HOST:PORT into Keras Tuner's variables."""
    if chief and worker:
        raise NNKerasError("--chief and --worker exclude each other: one process, one role")
    if worker:  # Keras Tuner writes <worker id>.json into the search folder
        check_name(worker, "--worker")
    if oracle:
        host, _, port = oracle.rpartition(":")
        if not host or not port.isdigit():
            raise NNKerasError(f"--oracle {oracle}: expected HOST:PORT, for example 127.0.0.1:8000")
        os.environ.update(KERASTUNER_ORACLE_IP=host, KERASTUNER_ORACLE_PORT=port)
    if chief or worker:
        if "chief" in (worker or ""):
            raise NNKerasError(f"--worker {worker}: Keras Tuner treats any id containing 'chief' as the chief")
        if "KERASTUNER_ORACLE_IP" not in os.environ:
            raise NNKerasError("--chief/--worker need --oracle HOST:PORT (or KERASTUNER_ORACLE_IP and _PORT)")
        os.environ["KERASTUNER_TUNER_ID"] = "chief" if chief else worker


def role() -> str:
    """'single', 'chief' or 'worker', from Keras Tuner's environment variables."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return "single"
    if "KERASTUNER_ORACLE_PORT" not in os.environ or "KERASTUNER_TUNER_ID" not in os.environ:
        raise NNKerasError("distributed search needs KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT and"
                           " KERASTUNER_TUNER_ID (or --chief / --worker ID with --oracle HOST:PORT)")
    return "chief" if "chief" in os.environ["KERASTUNER_TUNER_ID"] else "worker"


def run_search(job: Job, runs_dir: str | Path, *, overwrite: bool = False, retrain: bool = True,
               verbose: int = 0) -> SearchResult:
    """Search (or continue searching) with `job.tuner`; then write trials.csv and retrain the best."""
    from nnkeras.tuning import results

    folder, mode = search_dir(runs_dir, job, job.tuner), role()
    if mode == "worker" and overwrite:
        raise NNKerasError("--overwrite belongs to the chief: a worker never deletes the shared search")
    keys = check_space(job)
    if job.tuner == "hyperband" and "train.epochs" not in keys:
        keys.append("train.epochs")  # Hyperband's tuner/epochs sets it per trial
    if mode == "worker":  # the chief holds the search folder; its workers share it
        from nnkeras.tuning.chief import answering_chief, wait_for_chief

        wait_for_chief()
        with answering_chief():
            return _search(job, folder, mode, retrain, verbose)
    fix = "rerun the same `nnkeras tune` command to continue the search"
    with runs.held(folder, fix):  # one search per folder: a second command is refused in one line
        if overwrite:
            _empty(folder)
        runs.check_no_links_out(folder)  # a trial_<id> linked elsewhere would be trained into there
        _claim(folder, job)
        results.write_hparams_config(folder, keys)
        return _search(job, folder, mode, retrain, verbose)


def _search(job: Job, folder: Path, mode: str, retrain: bool, verbose: int) -> SearchResult:
    from nnkeras.tuning import results
    from nnkeras.tuning.tuner import MachineError, TrialTuner

    for state in sorted([*folder.glob("*.json"), *folder.glob("trial_*/trial.json")]):
        # Keras Tuner reloads these with a bare json.loads and trusts their types: name a damaged one first.
        if state.name != SEARCH and not isinstance(runs.read_json(state), dict):
            raise NNKerasError(f"{state}: not a Keras Tuner state (a JSON object was expected); restore the file,"
                               " or start the search over with --overwrite")
    try:
        tuner = TrialTuner(job, job.tuner, folder)  # reloads oracle.json, trial_*/trial.json and tuner0.json
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError) as exc:
        cause = exc.__cause__ or exc.__context__ or exc  # Keras Tuner wraps a failed reload in a RuntimeError
        raise NNKerasError(f"{folder}: Keras Tuner cannot reload this search ({type(cause).__name__}: {cause});"
                           " oracle.json, a trial_*/trial.json or a tuner*.json was edited: restore it, or start the"
                           " search over with --overwrite") from None
    try:
        tuner.search(verbose=verbose)
    except RuntimeError as exc:
        if FAILURE_LIMIT not in str(exc):
            raise
        raise NNKerasError(f"search stopped: {job.max_failures} trials failed in a row (see"
                           f" {folder / results.TRIALS_CSV}; raise --max-failures to go on)") from None
    except MachineError as exc:  # a full disk is not the trial's fault: it stays to do, the rerun trains it
        raise exc.__cause__ from None
    if mode == "worker":
        return SearchResult(folder, None, None)
    table = results.write_trials_csv(tuner.oracle, folder)
    if not (table["status"] == "completed").any():
        reasons = table["reason"].dropna()
        raise NNKerasError(f"search finished with no completed trial (of {len(table)}; see"
                           f" {folder / results.TRIALS_CSV}{'; the first: ' + reasons.iloc[0] if len(reasons) else ''})")
    best = results.retrain_best(job, tuner.oracle, folder) if retrain else None
    return SearchResult(folder, table, best)


def _empty(folder: Path) -> None:
    """--overwrite: delete everything of the search but the lock this process holds."""
    for entry in folder.iterdir():
        if entry.name == runs.LOCK:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _claim(folder: Path, job: Job) -> None:
    """Write search.json, or check that the existing search is the same one.

    The limits may change between runs: more trials extend a search, more
    allowed failures let a stopped one go on.
    """
    spec = {"job": job.name, "tuner": job.tuner, "objective": job.objective,
            "experiment": json.loads(job.experiment.to_json())}
    path = folder / SEARCH
    if path.exists():
        old = runs.read_json(path) if path.is_file() else None
        if not isinstance(old, dict):
            raise NNKerasError(f"{path}: not a search record (a JSON object with {', '.join(spec)} was expected);"
                               " restore the file, or start the search over with --overwrite")
        changed = [key for key in spec if old.get(key) != spec[key]]
        if changed:
            raise NNKerasError(f"{folder} holds a search with other settings ({', '.join(changed)} differ);"
                               " rerun with the same --set, or pass --overwrite to start over")
        return
    folder.mkdir(parents=True, exist_ok=True)
    runs.write_json(path, spec)


def describe(result: SearchResult) -> list[str]:
    """The lines `nnkeras tune` prints at the end."""
    if result.trials is None:
        return [f"worker finished; the chief writes {result.folder / 'trials.csv'}"]
    counts = result.trials["status"].value_counts()
    lines = [f"search directory: {result.folder}",
             f"trials: {counts.get('completed', 0)} completed, {counts.get('failed', 0)} failed"
             f" (trials.csv, events.jsonl; tensorboard --logdir {result.folder})"]
    if result.best:
        best = result.best
        lines.append(f"best trial: {best['trial']} ({best['objective']} {best['score']:.4f}): "
                     + ", ".join(f"{k}={v}" for k, v in best["hyperparameters"].items()))
        lines.append(f"best run directory: {result.folder / best['run_dir']}"
                     f" (retrained, test accuracy {best['test_accuracy']:.4f})")
    return lines


def compare(job: Job, runs_dir: str | Path, *, overwrite: bool = False, verbose: int = 0) -> tuple[pd.DataFrame, Path]:
    """Every tuner on the same job and budget; the table and plot land in runs/search/<job>/."""
    from nnkeras.tuning import compare as comparison

    if role() != "single":
        raise NNKerasError("--compare runs in one process; drop --chief/--worker")
    tables = {}
    for tuner in TUNERS:
        print(f"--- {tuner} ---", flush=True)
        each = dataclasses.replace(job, tuner=tuner)
        tables[tuner] = run_search(each, runs_dir, overwrite=overwrite, retrain=False, verbose=verbose).trials
    folder = search_dir(runs_dir, job, TUNERS[0]).parent
    return comparison.write_comparison(tables, folder, job), folder
