"""Shared test helpers: IDX files written by the test, and a CLI runner."""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
IDX_NAMES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file's content, written from the format's definition (independent of the reader)."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_idx(path: Path, array: np.ndarray) -> None:
    with gzip.open(path, "wb") as handle:
        handle.write(idx_bytes(array))


def learnable_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """28x28 uint8 images whose label is drawn as a bright horizontal band, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    images = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):
        images[i, 2 + 2 * label : 4 + 2 * label, 4:24] = 250
    return images, labels


@pytest.fixture
def mnist_idx_dir(tmp_path) -> Path:
    """A folder with the four standard MNIST IDX gz files: 600 train, 200 test images."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    for split, n, seed in (("train", 600, 1), ("test", 200, 2)):
        images, labels = learnable_digits(n, seed)
        write_idx(folder / IDX_NAMES[split][0], images)
        write_idx(folder / IDX_NAMES[split][1], labels)
    return folder


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m nnkeras ARGS` in a fresh process, as a user would."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", "nnkeras", *args],
        cwd=cwd or REPO, env=env, capture_output=True, text=True, timeout=timeout,
    )
