"""A finished run directory, read back: what export, serve and report start from.

`load_run(run_dir)` reads config.json, data_spec.json and model.keras (each
missing or damaged file is a one-line error) and returns a `Run`, which also
knows how to feed the model raw examples: the part of the model that goes into
a converted file (`core`: all of it, but for tables, whose string lookups stay
in Keras), the examples as that file takes them, and the Keras logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnkeras import runs
from nnkeras.errors import NNKerasError


@dataclass
class Run:
    """What a conversion needs from a run directory."""

    run_dir: Path
    experiment: object
    spec: object
    model: object
    _dataset: object = None

    @property
    def dataset(self):
        """The run's own splits, loaded on first use (it may take a while for big data)."""
        if self._dataset is None:
            from nnkeras import data

            self._dataset = data.load(self.experiment.data, self.experiment.seed)
        return self._dataset

    @property
    def core(self):
        """The part of the model that goes into the file (all of it, but for tabular models)."""
        from nnkeras.models.wide_deep import numeric_core

        return numeric_core(self.model)

    @property
    def features(self) -> dict | None:
        """Tabular runs: the vocabularies and numeric statistics of the data spec."""
        return self.spec.features if self.spec.input_dtype == "features" else None

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(self.core.inputs[0].dtype)

    def file_inputs(self, x):
        """Examples as the file takes them: encoded columns for tables, the array in its dtype otherwise."""
        if self.features:
            from nnkeras.data.tabular import encode

            return encode(x, self.features)
        return np.asarray(x, dtype=self.input_dtype)  # no copy when the dtype already matches

    def keras_logits(self, x) -> np.ndarray:
        """The saved Keras model's logits on raw examples (string columns go in as tensors)."""
        if not self.features:
            return np.asarray(self.model.predict(x, batch_size=256, verbose=0), np.float32)
        import tensorflow as tf  # predict() refuses string arrays; calling the model takes tensors

        return np.asarray(self.model({k: tf.constant(v) for k, v in x.items()}, training=False), np.float32)


def load_run(run_dir: str | Path, dataset=None) -> Run:
    """Read config, data spec and model of a finished run, with one-line errors."""
    run_dir = Path(run_dir)
    for name in (runs.CONFIG, runs.DATA_SPEC, runs.MODEL):
        if not (run_dir / name).is_file():
            raise NNKerasError(f"{run_dir}: no {name}; pass a finished run directory (runs/<experiment>/<run id>)")
    from nnkeras import models
    from nnkeras.config import Experiment
    from nnkeras.data import DataSpec

    experiment = Experiment.load(run_dir / runs.CONFIG)
    spec = DataSpec.from_dict(runs.read_json(run_dir / runs.DATA_SPEC), str(run_dir / runs.DATA_SPEC))
    run = Run(run_dir, experiment, spec, models.load_model(run_dir / runs.MODEL), dataset)
    core = run.core
    if (len(core.inputs) != 1 and not run.features) or len(core.outputs) != 1 or "string" in _dtypes(core):
        names = ", ".join(f"{t.name} ({t.dtype})" for t in core.inputs)
        raise NNKerasError(f"{run_dir}: model '{core.name}' takes {len(core.inputs)} inputs ({names}) and gives"
                           f" {len(core.outputs)} outputs; nnkeras convert and serve handle one numeric input"
                           " tensor (or a wide_deep table) and one output")
    return run


def _dtypes(model) -> set[str]:
    return {str(t.dtype) for t in model.inputs}
