"""Checking a /predict request body and turning it into the model's input.

Kept apart from the Flask app so the rules read in one place: every way a
body can be wrong ends here as a `BadRequest` (a 4xx with one line saying
what to send instead), never as an exception inside the model (a 5xx).
"""

from __future__ import annotations

import json
import math

import numpy as np

MAX_INSTANCES = 1024


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _reject_constant(name: str):
    raise BadRequest(f"{name} is not a number JSON allows; send finite numbers")


def parse_body(body: bytes) -> list:
    """The `instances` list of a JSON body `{"instances": [...]}`."""
    if not body:
        raise BadRequest('empty body; send JSON {"instances": [...]}')
    try:
        payload = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and bad UTF-8 are ValueErrors
        raise BadRequest(f"body is not valid JSON ({str(exc)[:120]})") from None
    if not isinstance(payload, dict) or "instances" not in payload:
        raise BadRequest('body must be a JSON object with an "instances" list')
    instances = payload["instances"]
    if not isinstance(instances, list):
        raise BadRequest('"instances" must be a list, one entry per example')
    if not instances:
        raise BadRequest('"instances" is empty; send at least one example')
    if len(instances) > MAX_INSTANCES:
        raise BadRequest(f'"instances" holds {len(instances)} examples; at most {MAX_INSTANCES} per request', 413)
    return instances


def _has_bool(value) -> bool:
    if isinstance(value, list):
        return any(_has_bool(v) for v in value)
    return isinstance(value, bool)


def to_array(instances: list, body: bytes) -> np.ndarray:
    """A numeric array of the instances; lists of unequal length, strings, nulls and booleans are refused."""
    try:
        array = np.asarray(instances)
    except (ValueError, TypeError):  # ragged nesting
        raise BadRequest("instances have unequal shapes; every example must have the same nested list shape") from None
    if array.dtype.kind not in "iuf":
        raise BadRequest(f"instances must hold numbers only (found {_kind_name(array.dtype)})")
    # numpy reads true/false as 1/0; the literal in the body is the cheap clue to look closer.
    if (b"true" in body or b"false" in body) and _has_bool(instances):
        raise BadRequest("instances must hold numbers only (found true/false)")
    return array


def _kind_name(dtype: np.dtype) -> str:
    return {"U": "strings", "S": "strings", "O": "null, objects or mixed types", "b": "true/false"}.get(dtype.kind, str(dtype))


def check_shape(array: np.ndarray, shape: list) -> np.ndarray:
    """Instances of exactly `shape` (None = any length), or flat with the same number of values."""
    expected = [None if d is None else int(d) for d in shape]
    got = list(array.shape[1:])
    if len(got) == len(expected) and all(e is None or e == g for e, g in zip(expected, got)):
        return array
    if None not in expected and got == [math.prod(expected)]:
        return array.reshape(len(array), *expected)
    flat = "" if None in expected else f" (or {math.prod(expected)} numbers flat)"
    raise BadRequest(f"each instance must have shape {expected}{flat}; got {got}")


def check_values(array: np.ndarray, metadata: dict) -> None:
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise BadRequest("instances contain NaN or infinity; send finite numbers")
    bounds = metadata["input"].get("raw_range")
    if bounds and array.size and (array.min() < bounds[0] or array.max() > bounds[1]):
        low, high = (f"{b:g}" for b in bounds)
        raise BadRequest(f"values must be raw inputs in {low}..{high}, as the model was trained on"
                         f" (got {array.min():g}..{array.max():g}); send pixels as they are, not normalised")
    if np.dtype(metadata["input"]["dtype"]).kind in "iu":
        if array.dtype.kind == "f" and not np.all(array == np.round(array)):
            raise BadRequest("this model takes integer ids; instances contain fractions")
        vocabulary = metadata["input"].get("vocabulary_size")
        high = vocabulary - 1 if vocabulary else np.iinfo(np.int32).max
        if array.size and (array.min() < 0 or array.max() > high):
            raise BadRequest(f"ids must be in 0..{high}; got {array.min()}..{array.max()}")


FLOAT32_MAX = float(np.finfo(np.float32).max)


def table_rows(instances: list, table: dict) -> dict[str, np.ndarray]:
    """Rows {"Pclass": 3, "Sex": "male", "Age": null, ...} -> the model's input tensors, by column.

    Every column must be present (null for a missing value, which the model
    handles as in training); extra keys are ignored, so whole CSV rows can be
    sent. Categories are strings or integers, numbers are numbers.
    """
    from nnkeras.data.tabular import category_text, encode

    features = table["features"]
    categorical, numeric = list(features["categorical"]), list(features["numeric"])
    columns = {c: [] for c in (*categorical, *numeric)}
    for i, row in enumerate(instances):
        if not isinstance(row, dict):
            raise BadRequest(f"instance {i} is not an object; send one object per row with keys {', '.join(columns)}")
        absent = [c for c in columns if c not in row]
        if absent:
            raise BadRequest(f"instance {i} lacks {', '.join(absent)}; send every column of {', '.join(columns)}"
                             " (null for a missing value)")
        for c in categorical:
            columns[c].append(category_text(_category(row[c], i, c)))
        for c in numeric:
            columns[c].append(_number(row[c], i, c))
    arrays = {c: np.array(columns[c], dtype=object).reshape(-1, 1) for c in categorical}
    arrays.update({c: np.array(columns[c], dtype=np.float32).reshape(-1, 1) for c in numeric})
    return encode(arrays, features)


def _category(value, i: int, column: str):
    if value is None or (isinstance(value, (str, int)) and not isinstance(value, bool)):
        return value
    raise BadRequest(f"instance {i} {column}: {json.dumps(value)[:40]} is not a category; send a string,"
                     " an integer or null")


def _number(value, i: int, column: str) -> float:
    if value is None:
        return math.nan  # missing: the model fills it with the training mean
    if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) <= FLOAT32_MAX:
        return float(value)
    raise BadRequest(f"instance {i} {column}: {json.dumps(value)[:40]} is not a number float32 holds;"
                     " send a number or null")


def model_input(body: bytes, metadata: dict):
    """The request body as the model's input: checked, reshaped and normalised (a dict of columns for tables)."""
    if metadata["input"].get("kind") == "table":
        return table_rows(parse_body(body), metadata["input"])
    array = to_array(parse_body(body), body)
    array = check_shape(array, metadata["input"]["shape"])
    check_values(array, metadata)
    norm = metadata.get("normalisation")
    if norm is None:  # token ids and other integer inputs go in as they are
        return array.astype(metadata["input"]["dtype"])
    x = (array.astype(np.float64) * norm["scale"] - norm["mean"]) / norm["std"]
    # Checked in float64: casting an out-of-range value to float32 warns (and gives inf).
    if not np.all(np.abs(x) <= FLOAT32_MAX):
        raise BadRequest("instance values are too large for float32 after normalisation; send raw values in range")
    return x.astype(np.float32)
