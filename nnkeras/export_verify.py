"""What a converted file carries (metadata) and how it is checked (verification).

Verification runs the converted model and the Keras model on the run's test
split and compares them: accuracy of each, top-1 agreement, and the largest
absolute difference between their logits. The agreement threshold is 99% for
float modes and 98% for int8 unless the caller sets one.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from nnkeras import runs
from nnkeras.errors import NNKerasError

FLOAT_MODES = ("none", "dynamic", "float16")
DEFAULT_MIN_AGREEMENT = {"float": 0.99, "int8": 0.98}
SCHEMA = "nnkeras-metadata/1"


def default_threshold(quantize: str) -> float:
    return DEFAULT_MIN_AGREEMENT["float" if quantize in FLOAT_MODES else "int8"]


def preprocess_affine(spec, float_input: bool, quant_input: dict | None) -> dict:
    """raw -> input tensor as one `round?(raw * multiply + add)` step, for apps.

    Normalisation `(raw * scale - mean) / std` is affine, and so is int8
    quantisation `x / q_scale + zero_point`: composed, they are one multiply
    and one add per value.
    """
    if not float_input:
        return {"multiply": 1.0, "add": 0.0, "round": False, "clip": None}
    multiply, add = spec.scale / spec.std, -spec.mean / spec.std
    if quant_input is None:
        return {"multiply": multiply, "add": add, "round": False, "clip": None}
    q_scale, zero_point = quant_input["scale"], quant_input["zero_point"]
    return {"multiply": multiply / q_scale, "add": add / q_scale + zero_point, "round": True, "clip": [-128, 127]}


def vocabulary_size(model) -> int | None:
    """For token-id inputs: ids must stay below the smallest Embedding's input_dim.

    Embeddings may sit inside custom layers (token + position embedding), hence
    the recursive walk.
    """
    import keras

    layers = model._flatten_layers(include_self=False, recursive=True)
    sizes = [layer.input_dim for layer in layers if isinstance(layer, keras.layers.Embedding)]
    return min(sizes) if sizes else None


def unquantized_io(run) -> dict:
    """The `io` of build_metadata for a model that takes and returns what Keras does."""
    return {"input": None, "output": None, "input_dtype": run.input_dtype.name, "output_dtype": "float32"}


def table_input(run) -> dict:
    """The "input" of a tabular model's metadata: one tensor per column, and how a raw row fills them."""
    return {
        "kind": "table",
        "tensors": {t.name: {"shape": list(t.shape[1:]), "dtype": str(t.dtype)} for t in run.core.inputs},
        "features": run.features,
        "rules": {"categorical": "id = index of the value in features.categorical[column] + 1;"
                                 " missing (null) or not in the vocabulary -> 0",
                  "numeric": "missing (null) -> features.numeric[column][0], the training mean;"
                             " the model normalises with that mean and variance itself"},
        "batch": "first dimension, any size",
    }


def tensor_input(run, float_input: bool, io: dict) -> dict:
    return {"shape": list(run.core.inputs[0].shape[1:]), "dtype": run.input_dtype.name,
            "tensor_dtype": io["input_dtype"], "batch": "first dimension, any size",
            "vocabulary_size": None if float_input else vocabulary_size(run.core)}


def build_metadata(run, fmt: str, quantize: str, io: dict) -> dict:
    """Everything an app or the server needs to feed the model raw data."""
    import keras
    import tensorflow as tf

    import nnkeras

    spec = run.spec
    float_input = run.input_dtype.kind == "f" and not run.features
    normalisation = ({"scale": spec.scale, "mean": spec.mean, "std": spec.std,
                      "formula": "x = (raw * scale - mean) / std"} if float_input else None)
    return {
        "schema": SCHEMA,
        "format": fmt,
        "experiment": run.experiment.name,
        "model": run.model.name,
        "dataset": spec.name,
        "class_names": list(spec.class_names),
        "num_classes": spec.num_classes,
        "input": table_input(run) if run.features else tensor_input(run, float_input, io),
        "normalisation": normalisation,
        "preprocess": None if run.features else preprocess_affine(spec, float_input, io["input"]),
        "output": {"kind": "logits", "shape": [spec.num_classes], "tensor_dtype": io["output_dtype"],
                   "probabilities": "softmax(logits)"},
        "quantization": {"mode": quantize, "input": io["input"], "output": io["output"]},
        "created_by": {"nnkeras": nnkeras.__version__, "tensorflow": tf.__version__, "keras": keras.__version__},
    }


def compare(reference: np.ndarray, converted: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy of each, top-1 agreement, max |logit difference|."""
    ref_top, conv_top = reference.argmax(axis=1), converted.argmax(axis=1)
    return {
        "keras_accuracy": float(np.mean(ref_top == labels)),
        "converted_accuracy": float(np.mean(conv_top == labels)),
        "agreement": float(np.mean(ref_top == conv_top)),
        "max_abs_diff": float(np.max(np.abs(reference - converted))),
    }


def verify(run, runner, name: str, size: int, quantize: str, fmt: str, min_agreement: float | None) -> dict:
    """Compare `runner` (LiteRT or onnxruntime, on the converted bytes) with Keras on the test split."""
    ds = run.dataset
    if len(ds.y_test) == 0:
        raise NNKerasError(f"{run.run_dir}: the run's test split is empty; nothing to verify the conversion on")
    # Keras sees the raw test examples; the file sees them as an app would feed it.
    reference = run.keras_logits(ds.x_test)
    converted = runner.predict(run.file_inputs(ds.x_test))
    threshold = default_threshold(quantize) if min_agreement is None else float(min_agreement)
    scores = compare(reference, converted, ds.y_test)
    report = {
        "file": name,
        "format": fmt,
        "quantize": quantize,
        "bytes": size,
        "keras_bytes": (run.run_dir / runs.MODEL).stat().st_size,
        "n_test": int(len(ds.y_test)),
        **scores,
        "min_agreement": threshold,
        "passed": scores["agreement"] >= threshold,
        "verified_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    return report


def write_report(report: dict, out: Path) -> None:
    """out.verify.json and out.verify.md, beside the model file."""
    from nnkeras.export import sidecar

    runs.write_json(sidecar(out, "verify.json"), report)
    runs.write_atomic(sidecar(out, "verify.md"), markdown(report))


COLUMNS = (("file", "file"), ("quantize", "quantize"), ("bytes", "bytes"), ("Keras accuracy", "keras_accuracy"),
           ("converted accuracy", "converted_accuracy"), ("top-1 agreement", "agreement"),
           ("max abs logit diff", "max_abs_diff"), ("threshold", "min_agreement"), ("passed", "passed"))


def markdown(report: dict) -> str:
    def cell(value):
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    header = "| " + " | ".join(title for title, _ in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    row = "| " + " | ".join(cell(report[key]) for _, key in COLUMNS) + " |"
    title = f"# Verification of {report['file']} on {report['n_test']} test examples\n\n"
    return title + "\n".join((header, rule, row)) + "\n"
