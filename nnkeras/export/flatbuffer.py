"""Metadata inside a .tflite file, so an app needs one file.

A TFLite flatbuffer has a `metadata` table: a list of (name, buffer index)
entries whose buffers hold arbitrary bytes. nnkeras stores its metadata (class
names, input shape and dtype, normalisation, quantisation parameters) as UTF-8
JSON in one such entry named `nnkeras_metadata`. The interpreter ignores
entries it does not know, so the model runs unchanged; an app reads the entry
with the flatbuffer schema (see mobile/README.md), and `read_metadata` here.

Only `ai_edge_litert` (its generated schema) and `flatbuffers` are needed:
no TensorFlow, so a server holding only a .tflite starts quickly.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from nnkeras.errors import NNKerasError

METADATA_NAME = "nnkeras_metadata"
FILE_IDENTIFIER = b"TFL3"


def _schema():
    from ai_edge_litert import schema_py_generated as schema

    return schema


def _check_flatbuffer(content: bytes, source: str) -> None:
    if len(content) < 8 or content[4:8] != FILE_IDENTIFIER:
        raise NNKerasError(f"{source}: not a TFLite flatbuffer (no TFL3 identifier); convert the run again")


def embed_metadata(content: bytes, metadata: dict) -> bytes:
    """`content` with `metadata` (a JSON-able dict) stored under METADATA_NAME.

    An earlier entry of the same name is replaced, so converting twice does
    not stack copies. The model is unpacked and packed again with the
    generated object API: flatbuffers cannot be appended to in place.
    """
    import flatbuffers

    schema = _schema()
    _check_flatbuffer(content, "model")
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    if any(buffer.offset > 1 for buffer in model.buffers or []):
        # Buffers stored after the flatbuffer (models over 2 GB) would move.
        raise NNKerasError("model over 2 GB (external buffers): metadata cannot be embedded; keep the JSON beside it")
    payload = json.dumps(metadata, sort_keys=True).encode()
    entries = [m for m in (model.metadata or []) if _name(m.name) != METADATA_NAME]
    buffer = schema.BufferT()
    buffer.data = list(payload)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = [*entries, entry]
    builder = flatbuffers.Builder(len(content) + len(payload) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def _name(raw) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def read_metadata(source: str | Path | bytes) -> dict:
    """The nnkeras metadata embedded in a .tflite (a path or the file's bytes)."""
    label = "model" if isinstance(source, (bytes, bytearray)) else str(source)
    content = bytes(source) if isinstance(source, (bytes, bytearray)) else _read(Path(source))
    _check_flatbuffer(content, label)
    try:
        model = _schema().Model.GetRootAs(content, 0)
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            if _name(entry.Name()) == METADATA_NAME:
                data = model.Buffers(entry.Buffer()).DataAsNumpy()
                return json.loads(bytes(data).decode())
    except (struct.error, IndexError, ValueError, AttributeError) as exc:  # offsets that point outside the file
        raise NNKerasError(f"{label}: not a valid TFLite model ({type(exc).__name__}: {exc}); convert the run"
                           " again with `nnkeras convert RUN_DIR`") from None
    raise NNKerasError(f"{label}: no embedded nnkeras metadata; convert it with `nnkeras convert RUN_DIR`")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise NNKerasError(f"{path}: cannot read the model ({exc.strerror})") from None
