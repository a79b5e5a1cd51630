"""Your own image classifier: a folder with one sub-folder of pictures per class.

    my_pictures/cat/*.jpg
    my_pictures/dog/*.png

Images are resized to data.shape (height, width, channels: 1 grey or 3 colour).
A fixed 20% of each class (seed 0) is the test set.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from nnkeras.data.base import DataSpec, RawSplits, check_claimed_bytes, data_dir, regular_file
from nnkeras.errors import DataError

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}


def load_image_folder(cfg) -> RawSplits:
    """Your own pictures: data.dir with one sub-folder per class, resized to data.shape."""
    if not cfg.dir:
        raise DataError("image_folder needs --set data.dir=FOLDER (one sub-folder of images per class)")
    folder = data_dir(cfg.dir)
    if not folder.is_dir():
        raise DataError(f"data.dir {folder}: no such folder")
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise DataError(f"data.dir {folder}: found {len(classes)} class sub-folders, need at least 2")
    if len(cfg.shape) != 3 or cfg.shape[2] not in (1, 3):
        raise DataError(f"data.shape must be height,width,channels with 1 or 3 channels, got {cfg.shape}")
    per_class = []
    for name in classes:
        files = sorted(p for p in (folder / name).iterdir() if p.suffix.lower() in EXTENSIONS)
        if not files:
            raise DataError(f"{folder / name}: no images ({', '.join(sorted(EXTENSIONS))})")
        # Checked before any file is opened: a FIFO would block the loader forever.
        per_class.append([regular_file(p, "remove it from the image folder") for p in files])
    n_images = sum(map(len, per_class))
    # Resized pixels, then float32 once normalised: refuse a data.shape that cannot fit before decoding anything.
    check_claimed_bytes(4 * n_images * math.prod(cfg.shape), f"data.dir {folder}",
                        f"{n_images} images of data.shape {'x'.join(map(str, cfg.shape))} as float32")
    images, labels = [], []
    for label, files in enumerate(per_class):
        images += [_read(path, cfg.shape) for path in files]
        labels += [label] * len(files)
    x, y = np.stack(images), np.asarray(labels, dtype=np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    n_test = max(1, len(y) // 5)
    test, pool = order[:n_test], order[n_test:]
    spec = DataSpec("image_folder", tuple(cfg.shape), len(classes), tuple(classes), scale=1 / 255, mean=0.5, std=0.5,
                    raw_range=(0, 255))
    return RawSplits(x[pool], y[pool], x[test], y[test], spec)


def _read(path: Path, shape) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = image.convert("L" if shape[2] == 1 else "RGB").resize((shape[1], shape[0]))
            return np.asarray(image, dtype=np.uint8).reshape(shape)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:  # the last: a huge image
        raise DataError(f"{path}: not a readable image ({exc}); remove or replace it") from None
