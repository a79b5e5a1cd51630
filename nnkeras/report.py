"""Plots of one run, and the table of all runs (`nnkeras report`)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from nnkeras import runs  # noqa: E402


def plot_learning_curves(history: list[dict], path: Path) -> None:
    """Loss and accuracy per epoch, training against validation."""
    frame = pd.DataFrame(history)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for prefix, label in (("", "train"), ("val_", "validation")):
            if prefix + metric in frame:
                ax.plot(frame["epoch"], frame[prefix + metric], marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("Learning curves")
    fig.tight_layout()
    runs.write_atomic(path, _png(fig))


def plot_confusion_matrix(matrix: np.ndarray, class_names, path: Path, title: str) -> bytes:
    """Save the test-set confusion matrix; return the PNG bytes (also sent to TensorBoard)."""
    size = max(5, 0.5 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if len(class_names) <= 20:
        threshold = matrix.max() / 2 if matrix.size else 0
        for (i, j), count in np.ndenumerate(matrix):
            ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                    color="white" if count > threshold else "black")
    fig.tight_layout()
    png = _png(fig)
    runs.write_atomic(path, png)
    return png


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


REPORT_COLUMNS = [
    "experiment", "run", "status", "dataset", "model", "epochs_run", "test_accuracy",
    "test_loss", "best_val_loss", "train_seconds", "params", "n_train", "path",
]


def runs_table(runs_dir: str | Path) -> pd.DataFrame:
    """One row per run directory under `runs_dir`; unfinished runs are listed as such."""
    rows = []
    for run_dir in runs.find_runs(runs_dir):
        config = _read(run_dir / runs.CONFIG)
        metrics = _read(run_dir / runs.METRICS)
        row = {
            "experiment": config.get("name", run_dir.parent.name),
            "run": run_dir.name,
            "status": metrics.get("status", "complete") if metrics else "incomplete",
            "dataset": config.get("data", {}).get("name"),
            "model": config.get("model", {}).get("name"),
            "path": str(run_dir),
        }
        row.update({k: metrics.get(k) for k in REPORT_COLUMNS if k in metrics})
        rows.append(row)
    return pd.DataFrame(rows, columns=REPORT_COLUMNS)


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
