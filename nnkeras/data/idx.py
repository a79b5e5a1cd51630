"""Reader for the IDX format of MNIST and Fashion-MNIST (`*-idx3-ubyte.gz`).

Format: two zero bytes, a type byte (0x08 = unsigned byte), a byte with the
number of dimensions, one big-endian uint32 per dimension, then the data.
Every failure names the file, because a user with four files needs to know
which one to fetch again.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from nnkeras.errors import DataError

UBYTE = 0x08


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read a gzipped IDX file of unsigned bytes with `ndim` dimensions."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        with gzip.open(path, "rb") as handle:
            payload = handle.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: not a complete gzip file ({exc}); download it again") from None
    expected_magic = (UBYTE << 8) | ndim
    if len(payload) < 4 + 4 * ndim:
        raise DataError(f"{path}: truncated IDX header ({len(payload)} bytes); download it again")
    (magic,) = struct.unpack(">I", payload[:4])
    if magic != expected_magic:
        kind = "image" if ndim == 3 else "label"
        raise DataError(
            f"{path}: wrong magic number 0x{magic:08x}, expected 0x{expected_magic:08x} for an IDX {kind} file"
            " (images and labels swapped, or not an IDX file?)"
        )
    dims = struct.unpack(f">{ndim}I", payload[4 : 4 + 4 * ndim])
    data = payload[4 + 4 * ndim :]
    expected = int(np.prod(dims))
    if len(data) != expected:
        raise DataError(
            f"{path}: header announces {expected} bytes of data for shape {dims} but the file holds"
            f" {len(data)}; the file is truncated or corrupt, download it again"
        )
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def read_images_and_labels(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    x = read_idx(images, ndim=3)
    y = read_idx(labels, ndim=1)
    if len(x) != len(y):
        raise DataError(f"{images}: {len(x)} images but {labels} holds {len(y)} labels; the pair does not match")
    return x, y
