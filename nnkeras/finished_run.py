"""A finished run directory, read back: what export, serve and report start from.

`load_run(run_dir)` reads config.json, data_spec.json and model.keras (each
missing or damaged file is a one-line error) and returns a `Run`, which also
knows how to feed the model raw examples: the part of the model that goes into
a converted file (`core`: all of it, but for tables, whose string lookups stay
in Keras), the examples as that file takes them, and the Keras logits.
"""

from __future__ import annotations

import math
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

    def predict(self, raw) -> np.ndarray:
        """Class probabilities (n, classes) for raw examples, as a user has them: pixels in the data spec's
        range (0..255 for MNIST), token ids, or table rows (a pandas DataFrame or a list of dicts).
        One example or a batch; `spec.class_names` names the columns."""
        if self.features:
            from nnkeras.data.tabular import to_columns

            rows = [raw] if isinstance(raw, dict) else raw
            x = to_columns(rows, list(self.features["categorical"]), list(self.features["numeric"]))
        else:
            x = self.spec.normalise(self._batch(raw))
        from scipy.special import softmax

        return softmax(self.keras_logits(x).astype(np.float64), axis=1)

    def _batch(self, raw) -> np.ndarray:
        try:
            x = np.asarray(raw, dtype=np.float64 if self.spec.input_dtype == "float32" else np.int64)
        except (TypeError, ValueError) as exc:
            raise NNKerasError(f"predict: inputs are not numbers of one shape ({exc})") from None
        shape = tuple(self.spec.input_shape)
        if x.shape == shape or (x.shape == shape[:-1] and shape[-1] == 1):  # one example, channel optional
            x = x.reshape(1, *shape)
        elif x.shape[1:] == shape[:-1] and shape[-1] == 1:
            x = x.reshape(len(x), *shape)
        if x.shape[1:] != shape:
            raise NNKerasError(f"predict: examples of shape {x.shape[1:]}; this model takes {shape} (or a batch of"
                               " them)")
        if not np.isfinite(x).all():
            raise NNKerasError("predict: inputs hold NaN or infinity; give finite numbers")
        low, high = (0, self.spec.vocab_size - 1) if self.spec.vocab_size else (self.spec.raw_range or (-np.inf, np.inf))
        if x.size and (x.min() < low or x.max() > high):
            what = "token ids" if self.spec.vocab_size else "raw values"
            raise NNKerasError(f"predict: {what} from {x.min():g} to {x.max():g}; this model takes {low:g}..{high:g}"
                               " (raw inputs, as the data spec says: not normalised)")
        return x

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
    if not runs.is_complete(run_dir):  # killed after model.keras: not the model a finished run keeps
        raise NNKerasError(f"{run_dir}: the run did not finish (no {runs.METRICS}); finish it first with"
                           f" `nnkeras run --resume {run_dir}`")
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
    model_shape = tuple(core.inputs[0].shape[1:])
    if not run.features and None not in model_shape and math.prod(model_shape) != math.prod(spec.input_shape):
        raise NNKerasError(f"{run_dir / runs.DATA_SPEC}: input_shape {list(spec.input_shape)} is not the model's"
                           f" {list(model_shape)}; copy data_spec.json again from the run, or retrain")
    return run


def _dtypes(model) -> set[str]:
    return {str(t.dtype) for t in model.inputs}
