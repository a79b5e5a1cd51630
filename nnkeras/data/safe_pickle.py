"""Unpickling that runs no code: for the two dataset formats that are pickles.

The CIFAR-10 python batches are pickles, and Keras's imdb.npz stores its
ragged sequences as object arrays, which NumPy pickles. `pickle.load` (and
`np.load(allow_pickle=True)`) would call any function a crafted file names.
Here a pickle may only name what a NumPy array is rebuilt from; it may hold
lists, dicts, numbers, strings and bytes, nothing that runs.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from nnkeras.data.base import MAX_DATA_BYTES

# (module, name) pairs a pickle of NumPy arrays refers to (protocols 2 to 5), under NumPy 1 and 2 names.
ALLOWED = {
    (f"numpy{core}.{module}", name)
    for core in (".core", "._core")
    for module, name in (("multiarray", "_reconstruct"), ("multiarray", "scalar"), ("numeric", "_frombuffer"))
} | {("numpy", "ndarray"), ("numpy", "dtype"),
     ("_codecs", "encode")}  # how protocol 2 spells a bytes object: text -> bytes, nothing else


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f"it names {module}.{name}; only NumPy arrays and plain data are loaded")
        return super().find_class(module, name)


def load(handle, encoding: str = "ASCII"):
    """`pickle.load(handle)` limited to NumPy arrays and plain data (UnpicklingError otherwise)."""
    return _ArraysOnly(handle, encoding=encoding).load()


def check_npz(path: Path, limit: int) -> None:
    """Refuse an .npz whose members inflate to more than `limit` bytes, or whose .npy headers claim
    more data than the member holds, before anything is read (NumPy would allocate the claim first).

    Raises ValueError (or zipfile.BadZipFile) naming the member.
    """
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.file_size > limit:
                raise ValueError(f"member {info.filename} inflates to {info.file_size:,} bytes, more than {limit:,}")
            with archive.open(info) as member:
                read_header = {(1, 0): npy_format.read_array_header_1_0,
                               (2, 0): npy_format.read_array_header_2_0}.get(npy_format.read_magic(member))
                if read_header is None:
                    continue  # np.load refuses the version itself
                shape, _, dtype = read_header(member)
                claimed = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if not dtype.hasobject and claimed > info.file_size:
                    raise ValueError(f"member {info.filename} claims shape {shape} ({claimed:,} bytes) but holds"
                                     f" {info.file_size:,} bytes")


def load_npz(path: Path, limit: int = MAX_DATA_BYTES) -> dict[str, np.ndarray]:
    """The arrays of an .npz, object arrays included, as `np.load(allow_pickle=True)` but safe;
    members are checked first (`check_npz`).

    Raises zipfile.BadZipFile, ValueError, EOFError or pickle.UnpicklingError on a bad file.
    """
    check_npz(path, limit)
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            data = io.BytesIO(archive.read(member))
            read_header = {(1, 0): npy_format.read_array_header_1_0,
                           (2, 0): npy_format.read_array_header_2_0}.get(npy_format.read_magic(data))
            if read_header and read_header(data)[2].hasobject:
                arrays[member.removesuffix(".npy")] = load(data)  # NumPy pickles the whole array after the header
            else:
                data.seek(0)
                arrays[member.removesuffix(".npy")] = npy_format.read_array(data, allow_pickle=False)
    return arrays
