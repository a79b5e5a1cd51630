"""Reader for the IDX format of MNIST and Fashion-MNIST (`*-idx3-ubyte.gz`).

Format: two zero bytes, a type byte (0x08 = unsigned byte), a byte with the
number of dimensions, one big-endian uint32 per dimension, then the data.
Every failure names the file, because a user with four files needs to know
which one to fetch again.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from nnkeras.data.base import check_claimed_bytes, regular_file
from nnkeras.errors import DataError

UBYTE = 0x08


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read a gzipped IDX file of unsigned bytes with `ndim` dimensions.

    The header is read first and its claim checked (at most MAX_DATA_BYTES),
    then exactly that many bytes and one more: a small gzip that inflates to
    gigabytes is never held in memory whole.
    """
    path = regular_file(Path(path), "download it again")
    try:
        with gzip.open(path, "rb") as handle:
            header = handle.read(4 + 4 * ndim)
            dims = _check_header(path, header, ndim)
            expected = math.prod(dims)
            check_claimed_bytes(expected, str(path), f"its header's {'x'.join(map(str, dims))} bytes")
            data = handle.read(expected + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: not a complete gzip file ({exc}); download it again") from None
    if len(data) != expected:
        raise DataError(
            f"{path}: header announces {expected} bytes of data for shape {dims} but the file holds"
            f" {'more' if len(data) > expected else len(data)}; the file is truncated or corrupt, download it again"
        )
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def _check_header(path: Path, header: bytes, ndim: int) -> tuple[int, ...]:
    expected_magic = (UBYTE << 8) | ndim
    if len(header) < 4 + 4 * ndim:
        raise DataError(f"{path}: truncated IDX header ({len(header)} bytes); download it again")
    (magic,) = struct.unpack(">I", header[:4])
    if magic != expected_magic:
        kind = "image" if ndim == 3 else "label"
        raise DataError(
            f"{path}: wrong magic number 0x{magic:08x}, expected 0x{expected_magic:08x} for an IDX {kind} file"
            " (images and labels swapped, or not an IDX file?)"
        )
    return struct.unpack(f">{ndim}I", header[4:])


def read_images_and_labels(images: Path, labels: Path, image_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    x = read_idx(images, ndim=3)
    if x.shape[1:] != image_shape:  # 14x56 has 784 pixels too: a reshape to 28x28 would scramble every image
        raise DataError(f"{images}: its header says {x.shape[1]}x{x.shape[2]} images, but this dataset's are"
                        f" {image_shape[0]}x{image_shape[1]}; use the dataset's own files")
    y = read_idx(labels, ndim=1)
    if len(x) != len(y):
        raise DataError(f"{images}: {len(x)} images but {labels} holds {len(y)} labels; the pair does not match")
    return x, y
