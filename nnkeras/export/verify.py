"""How a converted file is checked: verification against the Keras model.

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


def default_threshold(quantize: str) -> float:
    return DEFAULT_MIN_AGREEMENT["float" if quantize in FLOAT_MODES else "int8"]


def compare(reference: np.ndarray, converted: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy of each, top-1 agreement, max |logit difference|."""
    ref_top, conv_top = reference.argmax(axis=1), converted.argmax(axis=1)
    return {
        "keras_accuracy": float(np.mean(ref_top == labels)),
        "converted_accuracy": float(np.mean(conv_top == labels)),
        "agreement": float(np.mean(ref_top == conv_top)),
        "max_abs_diff": float(np.max(np.abs(reference - converted))),
    }


def verify(run, runner, name: str, size: int, quantize: str, fmt: str, min_agreement: float | None,
           route: str = "graph", float_kept=()) -> dict:
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
        "route": route,
        "float_kept": list(float_kept),
        "bytes": size,
        "keras_bytes": (run.run_dir / runs.MODEL).stat().st_size,
        "n_test": int(len(ds.y_test)),
        **scores,
        "min_agreement": threshold,
        "passed": scores["agreement"] >= threshold,
        "verified_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    return report


def sidecar(out: Path, kind: str) -> Path:
    """`model-int8.tflite` -> `model-int8.tflite.metadata.json`, `model-int8.tflite.verify.md`, ...

    The full name, suffix included, so model.tflite and model.onnx keep apart reports.
    """
    return out.with_name(f"{out.name}.{kind}")


COLUMNS = (("file", "file"), ("quantize", "quantize"), ("bytes", "bytes"), ("Keras accuracy", "keras_accuracy"),
           ("converted accuracy", "converted_accuracy"), ("top-1 agreement", "agreement"),
           ("max abs logit diff", "max_abs_diff"), ("threshold", "min_agreement"), ("passed", "passed"),
           ("route", "route"), ("ops kept in float", "float_kept"))


def markdown(report: dict) -> str:
    def cell(value):
        if isinstance(value, list):
            return ", ".join(value) or "none"
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    header = "| " + " | ".join(title for title, _ in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    row = "| " + " | ".join(cell(report[key]) for _, key in COLUMNS) + " |"
    title = f"# Verification of {report['file']} on {report['n_test']} test examples\n\n"
    return title + "\n".join((header, rule, row)) + "\n"
