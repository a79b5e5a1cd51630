"""Every figure nnkeras draws, as PNG files (matplotlib, no display needed).

One run: learning curves, the test confusion matrix, per-layer gradient
norms. Several runs: overlaid learning curves of a group, the runs of
`nnkeras report`, the tuner comparison. Each writes its file atomically through nnkeras.runs.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from nnkeras import runs  # noqa: E402


def png_bytes(fig) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()

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
    runs.write_atomic(path, png_bytes(fig))

# Beyond this many classes a confusion matrix is no figure anyone reads (one cell per pair, 0.05 inch
# each at 100 classes) and drawing it costs minutes and gigabytes: such a run skips it (one line).
MAX_CONFUSION_CLASSES = 100


def plot_confusion_matrix(matrix: np.ndarray, class_names, path: Path, title: str) -> bytes:
    """Save the test-set confusion matrix; return the PNG bytes (also sent to TensorBoard)."""
    n = len(class_names)
    size = min(max(5, 0.5 * n + 2), 24)  # 24 inches (2,400 pixels) at most: about 50 labelled classes
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ticks = np.arange(n)
    fontsize = 10 if n <= 40 else 6
    ax.set_xticks(ticks, class_names, rotation=45 if n <= 40 else 90, ha="right", fontsize=fontsize)
    ax.set_yticks(ticks, class_names, fontsize=fontsize)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if n <= 20:
        threshold = matrix.max() / 2 if matrix.size else 0
        for (i, j), count in np.ndenumerate(matrix):
            ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                    color="white" if count > threshold else "black")
    fig.tight_layout()
    png = png_bytes(fig)
    runs.write_atomic(path, png)
    return png

def plot_comparison(histories: dict[str, list[dict]], path: Path, title: str) -> None:
    """Overlaid learning curves of several runs: validation solid, training dashed,
    so a widening gap (overfitting) is visible per variant."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for (name, history), color in zip(histories.items(), plt.cm.tab10.colors * 3):
        frame = pd.DataFrame(history)
        for ax, metric in zip(axes, ("loss", "accuracy")):
            if f"val_{metric}" in frame:
                ax.plot(frame["epoch"], frame[f"val_{metric}"], color=color, label=name)
            if metric in frame:
                ax.plot(frame["epoch"], frame[metric], color=color, linestyle="--", alpha=0.6)
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_ylabel(f"{metric} (solid: validation, dashed: train)")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    runs.write_atomic(path, png_bytes(fig))

def plot_runs_report(test_accuracy: dict[str, float], histories: dict[str, list[dict]], path: Path) -> None:
    """`nnkeras report`'s figure (report.png): each run's test accuracy as a bar, and the
    validation accuracy per epoch of every run overlaid, in the same colour per run."""
    names = list(dict.fromkeys([*test_accuracy, *histories]))
    colors = dict(zip(names, plt.cm.tab10.colors * (len(names) // 10 + 1)))
    fig, (bars, curves) = plt.subplots(1, 2, figsize=(13, max(4.5, 0.25 * len(names) + 2)))
    bars.barh(list(test_accuracy), list(test_accuracy.values()), color=[colors[n] for n in test_accuracy])
    for y, value in enumerate(test_accuracy.values()):
        bars.text(value, y, f" {value:.4f}", va="center", fontsize=8)
    bars.invert_yaxis()  # the report table's order, top to bottom
    bars.set_xlim(0, 1.12)
    bars.set_xlabel("test accuracy")
    bars.tick_params(axis="y", labelsize=8)
    for name, history in histories.items():
        frame = pd.DataFrame(history)
        curves.plot(frame["epoch"], frame["val_accuracy"], marker=".", color=colors[name], label=name)
    curves.set_xlabel("epoch")
    curves.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    curves.set_ylabel("validation accuracy")
    if histories and len(histories) <= 20:  # more names than that hide the curves; the bars name every run
        curves.legend(fontsize=7)
    for ax in (bars, curves):
        ax.grid(alpha=0.3)
    fig.suptitle("Runs compared")
    fig.tight_layout()
    runs.write_atomic(path, png_bytes(fig))

def plot_gradient_norms(rows: list[dict], path: Path, title: str) -> None:
    """Per-layer gradient norms (gradient_norms.png), for Keras and scratch runs alike.

    `rows`: one dict per epoch, {"epoch": k, "<layer name>": norm, ...}, layers input side first.
    Left: norm against depth, one line per epoch; in a deep sigmoid network the
    line falls steeply towards the input (vanishing gradients), with ReLU and a
    good initialisation it stays nearly flat. Right: each layer's norm over the
    epochs. Both on a log scale, since the norms span orders of magnitude.
    """
    layers = [key for key in rows[0] if key != "epoch"]
    fig, (by_depth, by_epoch) = plt.subplots(1, 2, figsize=(12, 4.5))
    colors = plt.cm.viridis([i / max(len(rows) - 1, 1) for i in range(len(rows))])
    for row, color in zip(rows, colors):
        by_depth.plot(range(1, len(layers) + 1), [row[k] for k in layers], marker="o", color=color,
                      label=f"epoch {int(row['epoch'])}")
    by_depth.set_xticks(range(1, len(layers) + 1), layers, rotation=45, ha="right")
    by_depth.set_xlabel("layer (input side left)")
    for layer, color in zip(layers, plt.cm.plasma([i / max(len(layers) - 1, 1) for i in range(len(layers))])):
        by_epoch.plot([row["epoch"] for row in rows], [row[layer] for row in rows], color=color, label=layer)
    by_epoch.set_xlabel("epoch")
    for ax in (by_depth, by_epoch):
        ax.set_yscale("log")
        ax.set_ylabel("||dL/dW|| on a fixed batch")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, ncol=2)
    fig.suptitle(title)
    fig.tight_layout()
    runs.write_atomic(path, png_bytes(fig))

def plot_tuner_comparison(curves: dict[str, pd.DataFrame], path: Path, job_name: str, objective: str) -> None:
    """Best score so far against trials and against epochs spent, one line per tuner
    (`curves`: tuner -> frame with trial_number, epochs_spent, best)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for tuner, curve in curves.items():
        axes[0].step(curve["trial_number"], curve["best"], where="post", marker="o", label=tuner)
        axes[1].step(curve["epochs_spent"], curve["best"], where="post", marker="o", label=tuner)
    for ax, xlabel in zip(axes, ("trials", "epochs spent (all trials)")):
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"best {objective} so far")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"{job_name}: grid vs random vs Bayesian vs Hyperband")
    fig.tight_layout()
    runs.write_atomic(path, png_bytes(fig))
