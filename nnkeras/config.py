"""Experiment configuration: the one place where hyperparameters live.

An `Experiment` is three small dataclasses (data, model, train) plus a seed.
It is written next to the results as `config.json` and read back to resume.
Command-line overrides look like `--set train.epochs=10`; each value is parsed
to the type of the field it replaces and checked against that field's range,
so a typo fails with one line that names the key, before anything is written.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import json
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnkeras.errors import ConfigError


def _rule(help: str, *, min=None, max=None, min_open=False, choices=None):
    """Field metadata: what the value means and which values are allowed."""
    return {"help": help, "min": min, "max": max, "min_open": min_open, "choices": choices}


@dataclass
class DataConfig:
    name: str = field(default="mnist", metadata=_rule("dataset (see `nnkeras list`)"))
    dir: str | None = field(
        default=None, metadata=_rule("folder with the dataset's standard files (offline use)")
    )
    val_fraction: float = field(
        default=0.1,
        metadata=_rule("share of the training pool held out for validation", min=0.0, max=0.9, min_open=True),
    )
    limit: int | None = field(
        default=None, metadata=_rule("use at most this many examples of the training pool", min=2)
    )
    holdout_classes: tuple[int, ...] = field(
        default=(), metadata=_rule("classes kept out of training, for verification of embeddings", min=0)
    )
    # Token datasets (imdb, long_range): vocabulary size and sequence length.
    vocab_size: int = field(default=10000, metadata=_rule("token ids kept (most frequent first)", min=3, max=10**7))
    seq_len: int = field(default=200, metadata=_rule("tokens per example (pad or cut)", min=1, max=100000))
    # The three fields below only shape the `synthetic` and `long_range` datasets.
    shape: tuple[int, ...] = field(default=(28, 28, 1), metadata=_rule("synthetic input shape", min=1))
    num_classes: int = field(default=10, metadata=_rule("synthetic number of classes", min=2, max=10000))
    size: int = field(default=1000, metadata=_rule("synthetic training-pool size", min=2))
    stand_in: bool = field(
        default=False, metadata=_rule("when a downloaded dataset cannot be had, train on generated data of its form"
                                      " (set by --smoke: a smoke run checks the pipeline, not the data)"))


@dataclass
class ModelConfig:
    name: str = field(default="mlp", metadata=_rule("model builder (see `nnkeras list`)"))
    # Keyword arguments of the builder; `--set model.hidden=64,32` lands here and
    # is checked against the builder's own signature.
    params: dict[str, Any] = field(default_factory=dict, metadata=_rule("builder keyword arguments"))


# What a search or a report may rank runs by, and in which direction: the one table.
OBJECTIVES = {"val_accuracy": "max", "val_loss": "min"}
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
DISTRIBUTIONS = ("none", "mirrored", "multi_worker")  # see nnkeras/distributed.py
ENGINES = ("auto", "keras", "numpy")  # see nnkeras/training.py
SCHEDULES = ("constant", "warmup_cosine")  # see nnkeras/run_steps.py
PRECISIONS = ("none", "mixed_float16", "mixed_bfloat16")  # see nnkeras/precision.py


@dataclass
class TrainConfig:
    epochs: int = field(default=5, metadata=_rule("passes over the training set", min=1, max=100000))
    batch_size: int = field(default=64, metadata=_rule("examples per gradient step", min=1, max=1 << 20))
    optimizer: str = field(default="adam", metadata=_rule("optimizer", choices=OPTIMIZERS))
    learning_rate: float = field(
        default=1e-3, metadata=_rule("step size", min=0.0, max=10.0, min_open=True)
    )
    momentum: float = field(default=0.0, metadata=_rule("SGD momentum", min=0.0, max=0.999))
    schedule: str = field(
        default="constant",
        metadata=_rule("learning rate over the run: constant, or warmup_cosine (linear from 0 to learning_rate over"
                       " the first warmup_fraction of all steps, then cosine decay to 0 at the last epoch)",
                       choices=SCHEDULES),
    )
    warmup_fraction: float = field(
        default=0.1, metadata=_rule("warmup_cosine: share of all training steps spent warming up", min=0.0, max=0.9)
    )
    patience: int = field(
        default=5, metadata=_rule("early stopping: epochs without a better val_loss (0 = off)", min=0)
    )
    histogram_freq: int = field(
        default=1, metadata=_rule("TensorBoard weight histograms every N epochs (0 = off)", min=0)
    )
    checkpoint_seconds: float = field(
        default=2.0,
        metadata=_rule("kill safety: checkpoint after the first epoch that ends this many seconds after the last"
                       " checkpoint, and always after the last epoch (0 = after every epoch); a kill loses at most"
                       " this plus the epoch under way", min=0.0, max=86400.0),
    )
    fast_path: bool = field(
        default=True, metadata=_rule("whole epochs in one graph call when the data fits in memory (false: model.fit)")
    )
    gradient_norms: bool = field(
        default=False, metadata=_rule("log each layer's gradient norm per epoch (TensorBoard, gradient_norms.png)")
    )
    engine: str = field(
        default="auto",
        metadata=_rule("who trains: keras, numpy (the scratch_* models' NumPy code) or auto (the model's own"
                       " kind; config.json records the one chosen)", choices=ENGINES),
    )
    mixed_precision: str = field(
        default="none",
        metadata=_rule("compute in 16 bits: none, mixed_float16 (GPU) or mixed_bfloat16 (CPU, TPU, recent GPUs);"
                       " variables, logits and loss stay float32, model.keras is float32", choices=PRECISIONS),
    )
    distribution: str = field(
        default="none",
        metadata=_rule("tf.distribute: none, mirrored (this host's devices) or multi_worker (hosts of TF_CONFIG);"
                       " batch_size is then the global batch", choices=DISTRIBUTIONS),
    )


@dataclass
class Experiment:
    name: str
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = field(default=42, metadata=_rule("seed for splits, shuffling and initial weights", min=0, max=2**31 - 1))
    description: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, raw: dict, source: str = "config") -> "Experiment":
        if not isinstance(raw, dict) or "name" not in raw:
            raise ConfigError(f"{source}: not an experiment config (expected a JSON object with a 'name')")
        sections = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}
        kwargs = {}
        for key, value in raw.items():
            if key in sections:
                kwargs[key] = _section_from_dict(sections[key], value, key, source)
            elif key in _field_names(cls):
                kwargs[key] = value
            else:
                raise ConfigError(f"{source}: unknown key '{key}'; allowed: {', '.join(_field_names(cls))}")
        experiment = cls(**kwargs)
        validate(experiment)
        return experiment

    @classmethod
    def load(cls, path: str | Path) -> "Experiment":
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file") from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: unreadable config ({exc})") from None
        return cls.from_dict(raw, str(path))


def _field_names(cls) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _section_from_dict(cls, value, section: str, source: str):
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: '{section}' must be an object")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, item in value.items():
        if key not in hints:
            raise ConfigError(f"{source}: unknown key '{section}.{key}'; allowed: {', '.join(hints)}")
        kwargs[key] = _tuples(item)
    return cls(**kwargs)


def _tuples(value):
    """JSON has no tuples: restore them, so a reloaded config equals the original."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


# ----------------------------------------------------------------------------
# Parsing `--set key=value`


def parse_value(raw: str, type_, key: str):
    """Parse the text `raw` to `type_` (a field annotation), or raise ConfigError."""
    origin = typing.get_origin(type_)
    args = typing.get_args(type_)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        if raw.strip().lower() in ("none", "null", ""):
            return None
        inner = [a for a in args if a is not type(None)][0]
        return parse_value(raw, inner, key)
    if type_ is bool:
        lowered = raw.strip().lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{key} must be true or false (got '{raw}')")
    if type_ is int:
        try:
            return int(raw.strip())
        except ValueError:
            raise ConfigError(f"{key} must be an integer (got '{raw}')") from None
    if type_ is float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ConfigError(f"{key} must be a number (got '{raw}')") from None
        if not math.isfinite(value):
            raise ConfigError(f"{key} must be a finite number (got '{raw}')")
        return value
    if type_ is str:
        return raw
    if origin is tuple:
        element = args[0] if args else int
        text = raw.strip().strip("()[]")
        if not text:
            return ()
        return tuple(parse_value(part, element, key) for part in text.split(",") if part.strip())
    raise ConfigError(f"{key}: cannot be set from the command line")


def _type_of_default(default):
    """The annotation to parse a builder argument with, from its default value."""
    if isinstance(default, bool):
        return bool
    if isinstance(default, (int, float, str)):
        return float if isinstance(default, float) else type(default)
    if isinstance(default, (tuple, list)):
        element = type(default[0]) if default else int
        return tuple[element, ...]
    return None  # None or anything else: read it as a Python literal


def _parse_literal(raw: str, key: str):
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw


def _unknown_key(key: str, known: list[str], section: str) -> ConfigError:
    guess = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean '{guess[0]}'? " if guess else ""
    return ConfigError(f"unknown key '{key}'; {hint}keys under {section}: {', '.join(known)}")


@dataclass(frozen=True)
class Override:
    """One `--set KEY=VALUE`, split and checked for form; `section` is "" for top-level keys."""

    key: str
    raw: str

    @property
    def section(self) -> str:
        return self.key.split(".", 1)[0] if "." in self.key else ""

    @property
    def name(self) -> str:
        return self.key.split(".", 1)[1] if "." in self.key else self.key


def parse_overrides(items: list[str]) -> list[Override]:
    """`["train.epochs=10", ...]` -> Overrides, with a one-line error for a malformed item or section."""
    parsed = []
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item}: expected KEY=VALUE, for example train.epochs=10")
        key, raw = item.split("=", 1)
        override = Override(key.strip(), raw)
        if override.section and override.section not in ("data", "model", "train"):
            raise _unknown_key(override.section, ["data", "model", "train", "seed"], "the experiment")
        parsed.append(override)
    return parsed


def apply_overrides(experiment: Experiment, overrides: list[str] | list[Override]) -> Experiment:
    """A copy of `experiment` with the overrides applied, each value parsed to its field's type
    (a `model.<arg>` to the type of the builder's default), then validated as a whole."""
    if overrides and isinstance(overrides[0], str):
        overrides = parse_overrides(overrides)
    experiment = _copy(experiment)
    model_args = []
    for override in overrides:
        if override.section == "model" and override.name != "name":
            model_args.append(override)  # checked once model.name is final
        else:
            _set_field(experiment, override)
    # Asking for the builder's defaults also rejects an unknown model.name before any data loads.
    defaults = _builder_defaults(experiment.model.name)
    for override in model_args:
        if override.name not in defaults:
            known = [f"model.{k}" for k in ["name", *defaults]]
            raise _unknown_key(override.key, known, f"model '{experiment.model.name}'")
        type_ = _type_of_default(defaults[override.name])
        value = parse_value(override.raw, type_, override.key) if type_ else _parse_literal(override.raw, override.key)
        experiment.model.params[override.name] = value
    validate(experiment)
    return experiment


def _set_field(experiment: Experiment, override: Override) -> None:
    if not override.section:
        top = [f.name for f in dataclasses.fields(Experiment) if f.name in ("seed", "description")]
        if override.key not in top:
            raise _unknown_key(override.key, top + ["data.*", "model.*", "train.*"], "the experiment")
        hint = typing.get_type_hints(Experiment)[override.key]
        setattr(experiment, override.key, parse_value(override.raw, hint, override.key))
        return
    section = getattr(experiment, override.section)
    hints = typing.get_type_hints(type(section))
    if override.name not in hints or override.name == "params":
        known = [f"{override.section}.{k}" for k in hints if k != "params"]
        raise _unknown_key(override.key, known, override.section)
    setattr(section, override.name, parse_value(override.raw, hints[override.name], override.key))


def _builder_defaults(model_name: str) -> dict:
    """The builder's keyword defaults: the one place config asks the model registry."""
    from nnkeras.models import builder_defaults  # imports only the registry until a builder is asked for

    return builder_defaults(model_name)


def _copy(experiment: Experiment) -> Experiment:
    return Experiment.from_dict(json.loads(experiment.to_json()), "experiment")


# ----------------------------------------------------------------------------
# Validation


def _describe_range(meta: dict) -> str:
    lo, hi = meta["min"], meta["max"]
    if lo is not None and hi is not None:
        return f"in {'(' if meta['min_open'] else '['}{lo}, {hi}]"
    if lo is not None:
        return f"{'>' if meta['min_open'] else '>='} {lo}"
    return f"<= {hi}"


def _without_none(type_):
    """`int | None` -> int; other annotations unchanged."""
    if typing.get_origin(type_) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(type_) if a is not type(None)][0]
    return type_


def _check_value(key: str, value, meta: dict, type_) -> None:
    if value is None:
        if type(None) not in typing.get_args(type_):
            raise ConfigError(f"{key} must be set ({meta['help']})")
        return
    expected = _without_none(type_)
    if typing.get_origin(expected) is tuple:
        if not isinstance(value, tuple) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ConfigError(f"{key} must be a list of integers, for example 28,28,1 (got {value!r})")
        numbers = value
    elif expected is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{key} must be a number (got {value!r})")
        numbers = (value,)
    else:
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(f"{key} must be of type {expected.__name__} (got {value!r})")
        numbers = (value,) if expected is int else ()
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError(f"{key} must be one of {', '.join(meta['choices'])} (got {value!r})")
    lo, hi = meta.get("min"), meta.get("max")
    for number in numbers:
        too_low = lo is not None and (number <= lo if meta["min_open"] else number < lo)
        too_high = hi is not None and number > hi
        if too_low or too_high:
            raise ConfigError(f"{key} must be {_describe_range(meta)} (got {value!r}): {meta['help']}")


MAX_NAME = 100  # bytes in UTF-8: well under the 255 a file system allows in one path component


def seconds_from_env(name: str, default: float) -> float:
    """A time limit from an environment variable (a positive number of seconds), or the default."""
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise ConfigError(f"{name}={raw!r}: must be a positive number of seconds")
    return value


def check_name(value, what: str) -> str:
    """`value` as one folder name under a runs directory, or a ConfigError naming it and the rule.

    Experiment and variant names, experiment-file and tuning-job stems and
    worker ids become path components: a name must never climb out of its
    folder ('..', '/', '\\', an absolute path), hide ('.x'), or hold characters
    that break a terminal or a file system (control characters).
    """
    rule = "a plain name: 1-100 bytes (UTF-8), no '/', '\\' or control characters, not starting with '.' (so not '..')"
    if not isinstance(value, str):
        raise ConfigError(f"{what} {value!r} must be a string, {rule}")
    bad = (not value.strip() or len(value.encode("utf-8", "surrogatepass")) > MAX_NAME or value.startswith(".")
           or any(ch in "/\\" or not ch.isprintable() for ch in value))
    if bad:
        raise ConfigError(f"{what} {value!r} is not allowed: it becomes part of a path, so it must be {rule}")
    return value


def validate(experiment: Experiment) -> None:
    """Raise ConfigError naming the first field whose value is not allowed."""
    check_name(experiment.name, "experiment name")
    for section_name in ("data", "train"):
        section = getattr(experiment, section_name)
        hints = typing.get_type_hints(type(section))
        for f in dataclasses.fields(section):
            _check_value(f"{section_name}.{f.name}", getattr(section, f.name), f.metadata, hints[f.name])
    if not isinstance(experiment.model.name, str) or not experiment.model.name:
        raise ConfigError("model.name must be a builder name (see `nnkeras list`)")
    if not isinstance(experiment.model.params, dict):
        raise ConfigError("model.params must be a mapping of builder arguments")
    seed_field = {f.name: f for f in dataclasses.fields(Experiment)}["seed"]
    _check_value("seed", experiment.seed, seed_field.metadata, int)


# The data.* settings each dataset's loader reads, beyond name, val_fraction, limit and
# holdout_classes (the split of every dataset reads those). A run on mnist has a data.seq_len
# too (every field has a default), but it shapes nothing: `flat` leaves it out. A dataset not
# listed here keeps every setting. tests/test_config.py checks the table against the loaders:
# a setting left out must not change the data.
DATA_SETTINGS_READ = {
    "mnist": ("dir", "stand_in"),
    "fashion_mnist": ("dir", "stand_in"),
    "mnist_sample": (),
    "digits": (),
    "synthetic": ("shape", "num_classes", "size"),
    "cifar10": ("dir", "stand_in"),
    "imdb": ("dir", "stand_in", "vocab_size", "seq_len"),
    "long_range": ("num_classes", "seq_len", "size"),
    "adding": ("seq_len", "size"),
    "word_order": ("vocab_size", "seq_len", "size"),
    "titanic": ("dir",),
    "image_folder": ("dir", "shape"),
}
SPLIT_SETTINGS = ("name", "val_fraction", "limit", "holdout_classes")
# train.* settings that only one choice of another reads (run_steps.make_optimizer, the schedule).
TRAIN_SETTINGS_READ_WITH = {"momentum": ("optimizer", "sgd"), "warmup_fraction": ("schedule", "warmup_cosine")}


def defines_the_run(experiment: Experiment, section: str, key: str) -> bool:
    """Whether `section.key` can change what this experiment trains (see the two tables above)."""
    if section == "data" and key not in SPLIT_SETTINGS and experiment.data.name in DATA_SETTINGS_READ:
        return key in DATA_SETTINGS_READ[experiment.data.name]
    if section == "train" and key in TRAIN_SETTINGS_READ_WITH:
        other, value = TRAIN_SETTINGS_READ_WITH[key]
        return getattr(experiment.train, other) == value
    return True


def flat(experiment: Experiment) -> dict[str, Any]:
    """`{"train.epochs": 5, "model.hidden": "(30,)", ...}`: the settings that define the run, for
    TensorBoard's HParams. A setting the run never reads (data.seq_len of an image dataset,
    train.momentum with adam) is left out: it would show as a column that means nothing."""
    out: dict[str, Any] = {"experiment": experiment.name, "seed": experiment.seed}
    for section_name in ("data", "model", "train"):
        section = dataclasses.asdict(getattr(experiment, section_name))
        params = section.pop("params", {})
        for key, value in list(section.items()) + list(params.items()):
            if defines_the_run(experiment, section_name, key):  # builder arguments always do
                out[f"{section_name}.{key}"] = value if isinstance(value, (bool, int, float, str)) else str(value)
    return out


def smoke(experiment: Experiment) -> Experiment:
    """A copy shrunk to seconds: tiny data, two epochs, generated data where a download fails. For tests and quick checks."""
    small = _copy(experiment)
    small.data.limit = min(small.data.limit or 512, 512)
    small.data.size = min(small.data.size, 512)
    small.train.epochs = min(small.train.epochs, 2)
    small.data.stand_in = True
    return small
