"""What `nnkeras serve` checks once, at start-up, about the model it serves.

Everything the server reads from a model (the metadata embedded in a .tflite
or .onnx, or built from a run directory) is checked before the first request:
the types of every key the requests use, then one probe prediction through
the same path a request takes. A model whose metadata does not fit it (a list,
`{}`, two class names for three classes, a shape that is not the model's, a
text where a number belongs) stops the server in one line instead of
answering 500 later.
"""

from __future__ import annotations

import math

import numpy as np

from nnkeras.errors import NNKerasError


def check_metadata(metadata, source: str) -> None:
    """The keys and types serving relies on; NNKerasError naming the first that is wrong."""
    def wrong(what: str):
        raise NNKerasError(f"{source}: its metadata {what}; convert the run again (nnkeras convert RUN_DIR)")

    if not isinstance(metadata, dict):
        wrong(f"is a {type(metadata).__name__}, not an object")
    names, count = metadata.get("class_names"), metadata.get("num_classes")
    if not _count(count) or count < 1:
        wrong(f"has no number of classes (num_classes = {count!r})")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or len(names) != count:
        wrong(f"has no list of {count} class names (class_names = {str(names)[:60]})")
    tensor = metadata.get("input")
    if not isinstance(tensor, dict):
        wrong("has no 'input' object")
    if tensor.get("kind") == "table":
        features = tensor.get("features")
        if not isinstance(features, dict) or not all(isinstance(features.get(k), dict)
                                                     for k in ("categorical", "numeric")):
            wrong("has no table features (input.features with 'categorical' and 'numeric')")
        return
    shape, dtype = tensor.get("shape"), tensor.get("dtype")
    if not isinstance(shape, list) or not all(d is None or (_count(d) and d > 0) for d in shape):
        wrong(f"has no input shape (input.shape = {str(shape)[:60]})")
    try:
        np.dtype(dtype)
    except TypeError:
        wrong(f"has no input dtype (input.dtype = {str(dtype)[:40]})")
    bounds = tensor.get("raw_range")
    if bounds is not None and not (isinstance(bounds, list) and len(bounds) == 2 and all(map(_finite, bounds))
                                   and bounds[0] <= bounds[1]):
        wrong(f"has a raw_range that is not [low, high] (input.raw_range = {str(bounds)[:40]})")
    norm = metadata.get("normalisation")
    if norm is not None:
        if not isinstance(norm, dict) or not all(_finite_values(norm.get(k)) for k in ("scale", "mean", "std")):
            wrong(f"has a normalisation that is not numbers (normalisation = {str(norm)[:80]})")
        if not all(np.asarray(norm["std"], dtype=float).ravel() != 0):
            wrong("divides by a standard deviation of 0 (normalisation.std)")


def probe(predict, metadata: dict, source: str) -> None:
    """One prediction of a neutral example through the request path: the model must take the
    metadata's input and give num_classes finite logits."""
    instance = _neutral_instance(metadata["input"])
    try:
        answer = predict(instance)
    except NNKerasError:
        raise
    except Exception as exc:  # the metadata describes another model (a shape or dtype it does not take)
        raise NNKerasError(f"{source}: the model does not take the input its metadata describes"
                           f" ({type(exc).__name__}: {str(exc).strip()[:160]}); convert the run again") from None
    if len(answer) != 1 or len(answer[0]["probabilities"]) != metadata["num_classes"]:
        got = len(answer[0]["probabilities"]) if answer else 0
        raise NNKerasError(f"{source}: the model gives {got} outputs, its metadata names {metadata['num_classes']}"
                           " classes; convert the run again")


def _neutral_instance(tensor: dict):
    if tensor.get("kind") == "table":  # every column missing: the model fills in its training means
        features = tensor["features"]
        return {"instances": [{column: None for column in (*features["categorical"], *features["numeric"])}]}
    shape = [1 if d is None else d for d in tensor["shape"]]
    low = (tensor.get("raw_range") or [0])[0]
    return {"instances": [np.full(shape, low).tolist()]}


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _finite_values(value) -> bool:
    """A finite number, or a (nested) list of them (per-channel statistics)."""
    if isinstance(value, list):
        return bool(value) and all(_finite_values(v) for v in value)
    return _finite(value)
