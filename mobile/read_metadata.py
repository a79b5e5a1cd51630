"""Read the nnkeras metadata out of a .tflite with nothing but the standard library.

    python mobile/read_metadata.py model.tflite

The reference for the Kotlin and Swift readers in mobile/README.md: the same
walk over the flatbuffer, step for step, so an app needs no flatbuffers
library. (In Python, `nnkeras.export.flatbuffer.read_metadata` does the same
with the generated schema; the tests check that both agree.)

Flatbuffer facts used (TFLite schema, all little-endian):
- the file starts with a uint32 offset to the root table (Model);
- a table at T starts with an int32 `soffset`; its vtable is at T - soffset:
  uint16 vtable size, uint16 table size, then one uint16 offset per field
  (0 or beyond the vtable = field absent);
- a vector or string field holds a uint32 offset (from the field) to a
  uint32 length followed by the elements; a vector of tables holds one
  uint32 offset (from each slot) per table.
Model fields: 4 = buffers, 6 = metadata. Metadata fields: 0 = name, 1 = buffer
index. Buffer fields: 0 = data (bytes).
"""

from __future__ import annotations

import json
import struct
import sys

MODEL_BUFFERS, MODEL_METADATA = 4, 6
METADATA_NAME_FIELD, METADATA_BUFFER_FIELD = 0, 1
BUFFER_DATA = 0
NAME = "nnkeras_metadata"


def u16(data: bytes, at: int) -> int:
    return struct.unpack_from("<H", data, at)[0]


def u32(data: bytes, at: int) -> int:
    return struct.unpack_from("<I", data, at)[0]


def field(data: bytes, table: int, index: int) -> int:
    """Absolute position of field `index` of the table at `table`, or 0 when absent."""
    vtable = table - struct.unpack_from("<i", data, table)[0]
    slot = 4 + 2 * index
    if slot >= u16(data, vtable):
        return 0
    offset = u16(data, vtable + slot)
    return table + offset if offset else 0


def vector(data: bytes, position: int) -> tuple[int, int]:
    """(start of elements, length) of the vector whose offset is stored at `position`."""
    start = position + u32(data, position)
    return start + 4, u32(data, start)


def table_at(data: bytes, vector_start: int, k: int) -> int:
    slot = vector_start + 4 * k
    return slot + u32(data, slot)


def read(data: bytes) -> dict | None:
    model = u32(data, 0)
    entries = field(data, model, MODEL_METADATA)
    if not entries:
        return None
    start, count = vector(data, entries)
    for k in range(count):
        entry = table_at(data, start, k)
        name_start, name_length = vector(data, field(data, entry, METADATA_NAME_FIELD))
        if data[name_start:name_start + name_length].decode() != NAME:
            continue
        index = u32(data, field(data, entry, METADATA_BUFFER_FIELD))
        buffers_start, _ = vector(data, field(data, model, MODEL_BUFFERS))
        bytes_start, length = vector(data, field(data, table_at(data, buffers_start, index), BUFFER_DATA))
        return json.loads(data[bytes_start:bytes_start + length].decode())
    return None


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as handle:
        print(json.dumps(read(handle.read()), indent=2))
