"""ONNX export with tf2onnx, checked with onnxruntime (the optional `onnx` extra).

tf2onnx traces the Keras model as a `tf.function` (Keras 3 models are not
tf.keras models, so its `from_keras` path does not apply) and writes a
float32 graph with a dynamic batch dimension. The nnkeras metadata goes in
the ONNX model's own key/value `metadata_props`, under the same name as in a
.tflite, so one file carries everything here too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nnkeras.errors import NNKerasError
from nnkeras.export.flatbuffer import METADATA_NAME

OPSET = 17
INSTALL_HINT = "pip install 'nnkeras[onnx]' (tf2onnx, onnx, onnxruntime)"


def _require_onnx():
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError as exc:
        raise NNKerasError(f"--format onnx needs the optional onnx extra ({exc.name} is missing): {INSTALL_HINT}") from None


class OnnxModel:
    """An .onnx file in onnxruntime, with the same `predict(x) -> logits` as LiteRTModel."""

    def __init__(self, source: str | Path | bytes):
        _require_onnx()
        import onnxruntime as ort

        content = bytes(source) if isinstance(source, (bytes, bytearray)) else Path(source).read_bytes()
        self.size_bytes = len(content)
        self.session = ort.InferenceSession(content, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def predict(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        parts = [self.session.run(None, {self.input_name: x[i : i + batch_size]})[0]
                 for i in range(0, len(x), batch_size)]
        return np.concatenate(parts).astype(np.float32)


def to_onnx(run):
    """The converted ModelProto (tf2onnx on the model's inference function)."""
    import tensorflow as tf
    import tf2onnx

    if run.features:
        raise NNKerasError(f"{run.model.name}: --format onnx takes one input tensor, not a table of columns;"
                           " use --format tflite, which keeps one named input per column")
    model = run.model
    spec = [tf.TensorSpec((None, *model.inputs[0].shape[1:]), run.input_dtype.name, name="inputs")]
    forward = tf.function(lambda x: model(x, training=False))
    try:
        proto, _ = tf2onnx.convert.from_function(forward, input_signature=spec, opset=OPSET)
    except Exception as exc:  # tf2onnx raises plain exceptions for unsupported ops
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise NNKerasError(f"{model.name}: tf2onnx cannot convert this model ({first}); use --format tflite") from None
    return proto


def onnx_file(run):
    """Convert and embed the metadata, in memory; return (bytes, onnxruntime runner, metadata)."""
    _require_onnx()
    from nnkeras.export.metadata import build_metadata, unquantized_io

    proto = to_onnx(run)
    metadata = build_metadata(run, "onnx", "none", unquantized_io(run))
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_NAME, json.dumps(metadata, sort_keys=True)
    content = proto.SerializeToString()
    return content, OnnxModel(content), metadata


def read_onnx_metadata(path: str | Path) -> dict:
    """The nnkeras metadata stored in an .onnx file's metadata_props."""
    _require_onnx()
    import onnx

    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError) as exc:  # random bytes, a truncated file
        raise NNKerasError(f"{path}: not an ONNX model ({type(exc).__name__}: {str(exc)[:120]}); convert the run"
                           " again with `nnkeras convert RUN_DIR --format onnx`") from None
    for prop in model.metadata_props:
        if prop.key == METADATA_NAME:
            return json.loads(prop.value)
    raise NNKerasError(f"{path}: no nnkeras metadata; convert it with `nnkeras convert RUN_DIR --format onnx`")
