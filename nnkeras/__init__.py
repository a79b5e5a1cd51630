"""nnkeras: from a NumPy neuron to CNNs, LSTMs and Transformers, and on to a phone.

Importing the package is cheap: TensorFlow loads only when a model is built
or trained (`nnkeras.training`, `nnkeras.models`).

The Python API in three calls (the README's "From Python" section runs in the tests):

    results = nnkeras.run("mnist_mlp", ["data.name=mnist_sample"])   # as `nnkeras run`
    run = nnkeras.open_run(results[0].run_dir)                        # a finished run
    run.predict(raw_examples)                                         # class probabilities
    nnkeras.runs_table("runs")                                        # as `nnkeras report`, a DataFrame
"""

from pathlib import Path

from nnkeras.config import DataConfig, Experiment, ModelConfig, TrainConfig
from nnkeras.errors import ConfigError, DataError, NNKerasError

__version__ = "0.1.0"
__all__ = ["ConfigError", "DataConfig", "DataError", "Experiment", "ModelConfig", "NNKerasError", "TrainConfig",
           "open_run", "run", "runs_table"]


def run(experiment: "str | Path | Experiment", overrides: list[str] = (), runs_dir: "str | Path" = "runs",
        smoke: bool = False, verbose: int = 0) -> list:
    """Train as `nnkeras run` does: a shipped experiment's name, an experiment file, or an Experiment.

    overrides are `--set` items ("train.epochs=3"); smoke shrinks the run to seconds (`--smoke`).
    Returns one RunResult (run_dir, metrics, history) per experiment: one, or each variant of a group.
    """
    from nnkeras import launch

    plan = launch.Plan([experiment]) if isinstance(experiment, Experiment) else launch.load_plan(str(experiment))
    _, results = launch.run_plan(launch.prepare(plan, list(overrides), smoke), runs_dir, verbose)
    return results


def open_run(run_dir: "str | Path"):
    """A finished run directory: its experiment, data spec and model; `.predict(raw)` gives probabilities."""
    from nnkeras.finished_run import load_run

    return load_run(run_dir)


def runs_table(runs_dir: "str | Path" = "runs"):
    """Every run under runs_dir, one row each, as a pandas DataFrame (what `nnkeras report` prints)."""
    from nnkeras.report import runs_table as table

    return table(runs_dir)
