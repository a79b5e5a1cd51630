"""What every dataset loader returns, and the steps shared by all of them."""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

from nnkeras.errors import DataError


@dataclass(frozen=True)
class DataSpec:
    """What a model and an app need to know about the inputs.

    A raw float example `x` (for images: pixel values 0..255) becomes the
    model's input as `(x * scale - mean) / std`. Token ids (input_dtype int32)
    go in as they are; tabular rows (input_dtype "features", a dict of
    columns) are preprocessed inside the model, from `features`.
    """

    name: str
    input_shape: tuple[int, ...]
    num_classes: int
    class_names: tuple[str, ...]
    scale: float = 1.0
    mean: float = 0.0
    std: float = 1.0
    input_dtype: str = "float32"
    vocab_size: int | None = None  # token ids lie in 0..vocab_size-1; 0 is padding
    # Tabular: {"categorical": {column: [values...]}, "numeric": {column: [mean, variance]}},
    # measured on the training split by the loader.
    features: dict | None = None
    # The values a raw input takes (pixels: 0..255); None: any finite number.
    raw_range: tuple[float, float] | None = None

    def normalise(self, raw):
        if self.input_dtype == "float32":
            with np.errstate(over="ignore"):  # a value past float32 becomes inf: split() refuses it by name
                if all(type(v) in (int, float) for v in (self.scale, self.mean, self.std)):
                    # In place, one array: the same float32 operations as below, bit for bit (a Python
                    # number does not promote float32), without four temporaries of the data's size
                    # (MNIST: 0.6 s and 500 MB less).
                    out = np.array(raw, dtype=np.float32)
                    out *= self.scale
                    out -= self.mean
                    out /= self.std
                    return out
                return ((np.asarray(raw, dtype=np.float32) * self.scale - self.mean) / self.std).astype(np.float32)
        if self.input_dtype == "int32":
            return np.asarray(raw, dtype=np.int32)
        return raw

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw, source: str) -> "DataSpec":
        """The inverse of to_dict, for a data_spec.json read back; anything else is a one-line error."""
        problem = _spec_problem(raw, known={f.name for f in fields(cls)},
                                required={f.name for f in fields(cls) if f.default is MISSING})
        if problem:
            raise DataError(f"{source}: not a data spec ({problem}); copy it again from the run, or retrain")
        raw_range = tuple(raw["raw_range"]) if raw.get("raw_range") is not None else None
        return cls(**{**raw, "input_shape": tuple(raw["input_shape"]), "class_names": tuple(raw["class_names"]),
                      "raw_range": raw_range})


def _spec_problem(raw, known: set, required: set) -> str | None:
    if not isinstance(raw, dict):
        return "not a JSON object"
    if required - set(raw) or set(raw) - known:
        return ", ".join(f"{what} {', '.join(sorted(keys))}" for what, keys in
                         (("missing", required - set(raw)), ("unknown", set(raw) - known)) if keys)
    shape, names = raw["input_shape"], raw["class_names"]
    if not (isinstance(shape, list) and all(isinstance(d, int) and d > 0 for d in shape)):
        return f"input_shape {shape!r} is not a list of positive integers"
    if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        return f"class_names {names!r} is not a list of strings"
    if not (isinstance(raw["num_classes"], int) and raw["num_classes"] >= 1):
        return f"num_classes {raw['num_classes']!r} is not a positive integer"
    if len(names) != raw["num_classes"]:
        return f"{len(names)} class_names for num_classes {raw['num_classes']}"
    features = raw.get("features")
    if raw.get("input_dtype") == "features" and not (
            isinstance(features, dict) and all(isinstance(features.get(k), dict) for k in ("categorical", "numeric"))):
        return f"features {str(features)[:40]} is not {{'categorical': {{...}}, 'numeric': {{...}}}}"
    for key in ("scale", "mean", "std"):  # numbers, or per-channel lists of numbers
        value = raw.get(key)
        values = value if isinstance(value, list) else [value]
        if key in raw and not (values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)):
            return f"{key} {value!r} is not a number"
    bounds = raw.get("raw_range")
    if bounds is not None and not (isinstance(bounds, list) and len(bounds) == 2 and bounds[0] < bounds[1]
                                   and all(isinstance(b, (int, float)) for b in bounds)):
        return f"raw_range {bounds!r} is not [low, high]"
    return None


@dataclass
class RawSplits:
    """A loader's output: the training pool and the test set, before normalisation."""

    x_train: np.ndarray | dict
    y_train: np.ndarray
    x_test: np.ndarray | dict
    y_test: np.ndarray
    spec: DataSpec


def take(x, index):
    """Rows `index` of an array, or of every column of a tabular dict."""
    return {k: v[index] for k, v in x.items()} if isinstance(x, dict) else x[index]


def count(x) -> int:
    return len(next(iter(x.values()))) if isinstance(x, dict) else len(x)


@dataclass
class Dataset:
    """Normalised float32 inputs and int labels, split three ways."""

    x_train: np.ndarray | dict
    y_train: np.ndarray
    x_val: np.ndarray | dict
    y_val: np.ndarray
    x_test: np.ndarray | dict
    y_test: np.ndarray
    spec: DataSpec
    # Classes kept out of training entirely (data.holdout_classes): unseen
    # identities for verification of embedding models. Labels keep their
    # original class ids here.
    x_holdout: np.ndarray | None = None
    y_holdout: np.ndarray | None = None

    def sizes(self) -> dict[str, int]:
        sizes = {"n_train": len(self.y_train), "n_val": len(self.y_val), "n_test": len(self.y_test)}
        if self.y_holdout is not None:
            sizes["n_holdout"] = len(self.y_holdout)
        return sizes


def check_labels(labels: np.ndarray, num_classes: int, source: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise DataError(f"{source}: labels must be one integer per example, got shape {labels.shape}")
    if labels.dtype.kind not in "iub":  # floats (NaN, 2.5) or strings would be cast to nonsense class ids
        whole = labels.dtype.kind == "f" and np.isfinite(labels).all() and (labels == np.round(labels)).all()
        if not whole:
            raise DataError(f"{source}: labels must be whole class numbers, got {labels.dtype} values"
                            f" such as {labels[:3].tolist()}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(f"{source}: label {int(labels.max())} is outside 0..{num_classes - 1}")
    return labels.astype(np.int64)


MAX_GENERATED_VALUES = 2**28  # 1 GiB as float32, several GiB at the peak of generating; much more and the OS kills us


def check_generated_size(cfg, values_per_example: int, name: str) -> None:
    """Refuse a generated dataset (data.size x values per example) too large to hold in memory."""
    total = (cfg.size + max(cfg.num_classes, cfg.size // 5)) * values_per_example  # pool + test set
    if total > MAX_GENERATED_VALUES:
        raise DataError(f"{name}: data.size={cfg.size} examples of {values_per_example} values each make {total:,}"
                        f" values, more than {MAX_GENERATED_VALUES:,} (1 GiB); lower data.size, data.shape or"
                        " data.seq_len")


# Largest array a data file may claim (4 GiB, 25x the whole CIFAR-10 training set): a header that
# announces more is refused before anything is allocated, not met by a MemoryError.
MAX_DATA_BYTES = 4 << 30


def check_claimed_bytes(nbytes: int, source: str, what: str) -> None:
    """Refuse `what` (a header's claim, or images times data.shape) of more than MAX_DATA_BYTES."""
    if nbytes > MAX_DATA_BYTES:
        raise DataError(f"{source}: {what} make {nbytes:,} bytes, more than the {MAX_DATA_BYTES >> 30} GiB a"
                        " dataset may take in memory; the file is corrupt, or the data too large for nnkeras")


def data_dir(raw: str) -> Path:
    """`data.dir` as a path with `~` expanded; a `~name` of no known user is a one-line DataError."""
    try:
        return Path(raw).expanduser()
    except RuntimeError:  # pathlib: "Could not determine home directory."
        raise DataError(f"data.dir {raw}: no such user or home directory for '~'; give the full path") from None


def regular_file(path: Path, hint: str) -> Path:
    """`path` if it is a regular file (or a symlink to one), else a one-line DataError ending in `hint`.

    A FIFO, a socket or a device under a data file's name would block the
    read forever or never end it, so it is refused before it is opened.
    """
    if not path.exists():
        raise DataError(f"{path}: file not found; {hint}")
    if not path.is_file():
        kind = "a folder" if path.is_dir() else "a FIFO, socket or device, not a regular file"
        raise DataError(f"{path}: {kind}; {hint}")
    return path


def check_numbers(x, source: str) -> None:
    """Refuse inputs that are not numbers (text, complex, objects): the float32 cast would fail or drop parts."""
    if isinstance(x, dict):
        return  # tabular columns: categories are strings by design, numbers were parsed by the loader
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        sample = x.flat[0] if x.size else None
        raise DataError(f"{source}: inputs are {x.dtype} values (such as {sample!r}), expected numbers;"
                        " fix the data files")


def check_finite(x, source: str) -> None:
    """Refuse NaN or infinite inputs: they would turn the loss into NaN epochs later, far from the cause.

    In a tabular dict a NaN means "missing" (the model fills it), so only an
    infinity is refused there.
    """
    for column, values in (x.items() if isinstance(x, dict) else [("", x)]):
        values = np.asarray(values)
        if not np.issubdtype(values.dtype, np.floating):
            continue
        bad = int(np.isinf(values).sum() if column else (~np.isfinite(values)).sum())
        if bad:
            where = f"column {column}" if column else "inputs"
            raise DataError(f"{source}: {bad} {where} value(s) are {'infinite' if column else 'NaN or infinite'};"
                            " fix or remove those examples in the data files")


def split(raw: RawSplits, val_fraction: float, seed: int, limit: int | None,
          holdout_classes: tuple[int, ...] = ()) -> Dataset:
    """Carve validation out of the training pool, deterministically by `seed`.

    The pool is shuffled once with the seed; `limit` keeps its first examples
    (quick runs on a subset); the first `val_fraction` of what remains is the
    validation set. The test set is never touched.
    """
    if count(raw.x_train) != len(raw.y_train):
        raise DataError(f"{raw.spec.name}: {count(raw.x_train)} training inputs but {len(raw.y_train)} labels")
    for x, part in ((raw.x_train, "training pool"), (raw.x_test, "test set")):
        check_numbers(x, f"{raw.spec.name} {part}")
        check_finite(x, f"{raw.spec.name} {part}")
    raw, holdout = _hold_out(raw, holdout_classes) if holdout_classes else (raw, None)
    if len(raw.y_test) == 0 or count(raw.x_test) != len(raw.y_test):
        # Found here, not after training: evaluation would crash and leave a run --resume cannot finish.
        raise DataError(f"{raw.spec.name}: the test set holds {count(raw.x_test)} inputs and {len(raw.y_test)}"
                        " labels; it needs at least one example, and as many labels as inputs")
    order = np.random.default_rng(seed).permutation(len(raw.y_train))
    if limit is not None:
        order = order[:limit]
    n_val = max(1, int(round(len(order) * val_fraction)))
    if n_val >= len(order):
        raise DataError(
            f"{raw.spec.name}: {len(order)} training examples leave none for training after validation;"
            " raise data.limit or lower data.val_fraction"
        )
    val, train = order[:n_val], order[n_val:]
    spec = raw.spec
    dataset = Dataset(
        x_train=spec.normalise(take(raw.x_train, train)),
        y_train=raw.y_train[train],
        x_val=spec.normalise(take(raw.x_train, val)),
        y_val=raw.y_train[val],
        x_test=spec.normalise(raw.x_test),
        y_test=raw.y_test,
        spec=spec,
    )
    if holdout is not None:
        dataset.x_holdout, dataset.y_holdout = spec.normalise(holdout[0]), holdout[1]
    _check_float32(dataset)
    return dataset


def _check_float32(dataset: Dataset) -> None:
    """A value finite in the file can overflow float32 (over 3.4e38) once normalised: NaN losses, epochs later."""
    for x, part in ((dataset.x_train, "training"), (dataset.x_val, "validation"), (dataset.x_test, "test")):
        arrays = x.values() if isinstance(x, dict) else [x]
        if any(np.asarray(a).dtype == np.float32 and np.isinf(a).any() for a in arrays):
            raise DataError(f"{dataset.spec.name} {part} set: some values overflow float32 (|x| over 3.4e38) once"
                            " normalised; rescale or remove those examples in the data files")


def _hold_out(raw: RawSplits, classes: tuple[int, ...]):
    """Move every example of `classes` (from pool and test) aside; renumber the rest 0..k-1."""
    spec = raw.spec
    bad = [c for c in classes if not 0 <= c < spec.num_classes]
    if bad:
        raise DataError(f"data.holdout_classes: {bad[0]} is not a class of {spec.name} (0..{spec.num_classes - 1})")
    kept = [c for c in range(spec.num_classes) if c not in classes]
    if len(kept) < 2:
        raise DataError("data.holdout_classes leaves fewer than 2 classes to train on")
    renumber = np.full(spec.num_classes, -1)
    renumber[kept] = np.arange(len(kept))
    held = [np.isin(raw.y_train, classes), np.isin(raw.y_test, classes)]
    holdout_x = np.concatenate([take(raw.x_train, held[0]), take(raw.x_test, held[1])])
    holdout_y = np.concatenate([raw.y_train[held[0]], raw.y_test[held[1]]])
    new_spec = replace(spec, num_classes=len(kept), class_names=tuple(spec.class_names[c] for c in kept))
    kept_raw = RawSplits(take(raw.x_train, ~held[0]), renumber[raw.y_train[~held[0]]],
                         take(raw.x_test, ~held[1]), renumber[raw.y_test[~held[1]]], new_spec)
    return kept_raw, (holdout_x, holdout_y)


def keras_download(name: str, offline_hint: str, stand_in: bool = False, **kwargs):
    """`keras.datasets.<name>.load_data(**kwargs)` (downloads once, then Keras's cache),
    or a DataError that says how to supply the files offline.

    stand_in (set by `--smoke`): when the download fails, return generated data of the
    same form instead, and say so in one line (see nnkeras/data/stand_in.py).
    """
    import keras

    from nnkeras.data import stand_in as generated

    try:
        return getattr(keras.datasets, name).load_data(**kwargs)
    except Exception as exc:  # keras raises a bare Exception on a failed fetch
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if stand_in and generated.available(name):
            print(f"nnkeras: {name} is not on this machine and cannot be downloaded, so this smoke run uses"
                  f" {generated.describe(name)} (it checks the pipeline, not the data)", flush=True)
            return generated.load_data(name, **kwargs)
        raise DataError(f"could not download {name} ({reason}). Offline? {offline_hint}") from None
