"""From an experiment file to run directories: one run, or a group of variants.

An experiment file defines either

    EXPERIMENT = Experiment(...)            # one run:  runs/<name>/<run id>/
    EXPERIMENTS = [Experiment(...), ...]    # a group:  runs/<file>/<run id>/<variant name>/

A group (an ablation, a comparison) trains each variant into a normal run
directory, then writes `summary.csv`, `summary.md` and `summary.png` (overlaid
learning curves) in the group folder. `group.json` lists the variants, so
`--resume GROUP_DIR` knows which are still to do.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nnkeras import runs
from nnkeras.config import Experiment, apply_overrides, smoke
from nnkeras.errors import NNKerasError
from nnkeras.userfiles import find_user_file, import_file, user_files

GROUP = "group.json"


@dataclass
class Plan:
    """What `nnkeras run` will train: the experiments and, for a group, its name."""

    experiments: list[Experiment]
    group: str | None = None


def experiment_files() -> list[Path]:
    return user_files("experiments")


def find_experiment_file(name_or_file: str) -> Path:
    return find_user_file(name_or_file, "experiments", "experiment", "EXPERIMENT")


def load_plan(name_or_file: str) -> Plan:
    """Import an experiment file and return what it asks to train."""
    path = find_experiment_file(name_or_file)
    module = import_file(path, "nnkeras_experiment")
    single, group = getattr(module, "EXPERIMENT", None), getattr(module, "EXPERIMENTS", None)
    if isinstance(single, Experiment):
        return Plan([single])
    if isinstance(group, (list, tuple)) and group and all(isinstance(e, Experiment) for e in group):
        names = [e.name for e in group]
        if len(set(names)) != len(names):
            raise NNKerasError(f"{path}: variant names must differ (got {', '.join(names)})")
        return Plan(list(group), group=path.stem)
    raise NNKerasError(f"{path}: defines neither EXPERIMENT = Experiment(...) nor EXPERIMENTS = [Experiment(...), ...]")


def prepare(plan: Plan, overrides: list[str], shrink: bool) -> Plan:
    """Apply `--set` overrides (and `--smoke`) to every experiment; all are checked before any is run."""
    experiments = [apply_overrides(e, overrides) for e in plan.experiments]
    if shrink:
        experiments = [smoke(e) for e in experiments]
    return Plan(experiments, plan.group)


def run_plan(plan: Plan, runs_dir: str | Path, verbose: int) -> tuple[Path, list]:
    """Train the plan into a new folder; return that folder and the RunResults."""
    from nnkeras import distributed
    from nnkeras.training import train

    if plan.group is None:
        (experiment,) = plan.experiments
        while True:  # the run directory is made after the data loaded (bad input writes nothing), atomically:
            run_dir = runs.new_run_dir(runs_dir, experiment.name)
            try:
                return run_dir, [train(experiment, run_dir, verbose=verbose)]
            except runs.RunIdTaken:  # another run started in the same second took this id first
                if experiment.train.distribution == "multi_worker":  # the workers hold the chief's first name
                    raise
                continue
    if not distributed.is_chief(plan.experiments[0].train.distribution):
        # A multi-worker peer: the chief alone makes the group folder (named by its clock). This process
        # trains each variant with it from a scratch folder (train maps each run to the chief's) and
        # reports the chief's group.
        scratch = Path(tempfile.mkdtemp(prefix="nnkeras-worker-"))
        try:
            results = _train_group(scratch / plan.group, plan.experiments, verbose, chief=False)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return results[0].run_dir.parent, results
    with runs.held(runs.new_run_dir(runs_dir, plan.group), _resume_hint("GROUP_DIR"), new=True,
                   scaffolding=(GROUP,)) as group_dir:
        runs.write_json(group_dir / GROUP, {"group": plan.group, "experiments": [e.to_dict() for e in plan.experiments]})
        return group_dir, _train_group(group_dir, plan.experiments, verbose)


def resume(path: str | Path, epochs_override: list[str], verbose: int) -> tuple[Path, list]:
    """Continue an interrupted run, or every unfinished variant of a group."""
    from nnkeras import distributed
    from nnkeras.training import train

    path = Path(path)
    if (path / GROUP).is_file():
        experiments = _group_experiments(path, epochs_override)
        chief = distributed.is_chief(experiments[0].train.distribution)
        # Every multi-worker peer resumes the same folder: the chief alone holds it (train holds each run).
        with runs.held(path, _resume_hint(path)) if chief else contextlib.nullcontext():
            return path, _train_group(path, experiments, verbose, chief)
    run_dir = runs.check_resumable(path)
    experiment = apply_overrides(Experiment.load(run_dir / runs.CONFIG), epochs_override)
    return run_dir, [train(experiment, run_dir, resume=True, verbose=verbose)]


def _group_experiments(path: Path, epochs_override: list[str]) -> list[Experiment]:
    raw = runs.read_json(path / GROUP)
    if not isinstance(raw, dict) or not isinstance(raw.get("experiments"), list) or not raw["experiments"]:
        raise NNKerasError(f"{path / GROUP}: not a group file (expected an object with a non-empty list"
                           " 'experiments')")
    return [apply_overrides(Experiment.from_dict(e, str(path / GROUP)), epochs_override) for e in raw["experiments"]]


def _resume_hint(folder) -> str:
    return f"continue it with `nnkeras run --resume {folder}`"


def _train_group(group_dir: Path, experiments: list[Experiment], verbose: int, chief: bool = True) -> list:
    """Train each unfinished variant into `group_dir/<name>`; the chief then writes the group's summary."""
    from nnkeras import report
    from nnkeras.run_steps import RunResult
    from nnkeras.training import train

    results = []
    for experiment in experiments:
        run_dir = group_dir / experiment.name
        if runs.is_complete(run_dir):
            results.append(RunResult(run_dir, runs.read_json(run_dir / runs.METRICS)))
            continue
        print(f"--- {experiment.name} ---", flush=True)
        results.append(train(experiment, run_dir, resume=run_dir.exists(), verbose=verbose))
    if chief:  # a worker's variants live in the chief's folder, maybe on another host
        report.write_group_summary(group_dir, [r.run_dir for r in results])
    return results
