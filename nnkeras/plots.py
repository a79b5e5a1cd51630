"""Every figure nnkeras draws, as PNG files (matplotlib, no display needed).

One run: learning curves, the test confusion matrix, per-layer gradient
norms. Several runs: overlaid learning curves of a group, the runs of
`nnkeras report`, the tuner comparison. Each writes its file atomically through nnkeras.runs.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
import matplotlib.ticker
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from nnkeras import runs

# Figures are drawn with matplotlib's object-oriented API: a Figure on its own Agg canvas, no pyplot
# (no global figure manager to close, no backend to pick: files only, no display needed). The two
# figures of every run (learning curves, confusion matrix) are laid out with fixed margins computed
# here, not by tight_layout, which draws every text once more to measure it (a third of a figure's
# time; benchmarks/README.md, "Whole process"); the figures of reports and searches keep tight_layout.


def new_figure(figsize) -> Figure:
    """A figure on an Agg canvas of its own (nothing global: it is freed when dropped)."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _column(history: list[dict], key: str) -> list | None:
    """One metric per epoch from history rows, or None when no row has it (as a missing frame column)."""
    if not any(key in row for row in history):
        return None
    return [row.get(key, np.nan) for row in history]


def plot_learning_curves(history: list[dict], path: Path) -> None:
    """Loss and accuracy per epoch, training against validation."""
    fig = new_figure((10, 4))
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.13, top=0.88, wspace=0.3)  # provisional: ticks need a size
    axes = fig.subplots(1, 2)
    epochs = _column(history, "epoch")
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for prefix, label in (("", "train"), ("val_", "validation")):
            values = _column(history, prefix + metric)
            if values is not None:
                ax.plot(epochs, values, marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("Learning curves")
    # Room left of each panel for its y tick labels ("0.0010", "-0.00010") and its y label, from the
    # labels' text (no drawing needed to know it), 0.64 em per character at 10 points.
    margins = [_tick_label_inches(ax.yaxis) + 0.45 for ax in axes]
    left, right = margins[0] / 10, 0.98
    width = (right - left - margins[1] / 10) / 2
    fig.subplots_adjust(left=left, right=right, wspace=margins[1] / 10 / width)
    runs.write_atomic(path, png_bytes(fig))


def _tick_label_inches(axis, fontsize: float = 10) -> float:
    """About how wide the axis's widest tick label is, in inches, from its text."""
    labels = axis.get_major_formatter().format_ticks(axis.get_majorticklocs())
    return max((len(text) for text in labels), default=1) * 0.64 * fontsize / 72


# Beyond this many classes a confusion matrix is no figure anyone reads (one cell per pair, 0.05 inch
# each at 100 classes) and drawing it costs minutes and gigabytes: such a run skips it (one line).
MAX_CONFUSION_CLASSES = 100


def plot_confusion_matrix(matrix: np.ndarray, class_names, path: Path, title: str) -> bytes:
    """Save the test-set confusion matrix; return the PNG bytes (also sent to TensorBoard)."""
    n = len(class_names)
    size = min(max(5, 0.5 * n + 2), 24)  # 24 inches (2,400 pixels) at most: about 50 labelled classes
    fontsize = 10 if n <= 40 else 6
    rotation = 45 if n <= 40 else 90
    # Margins in inches from the longest class name (DejaVu Sans: about 0.6 em per character), instead
    # of tight_layout's measuring draw: y labels on the left, rotated x labels below, then the axis
    # labels; the title above. A figure too small for its labels grows by them.
    label = max((len(str(name)) for name in class_names), default=1) * 0.6 * fontsize / 72
    line = fontsize / 72
    if rotation == 45:
        below, leftward = (label + line) * 0.71, label * 0.71  # a 45-degree label ends left of its tick
    else:
        below, leftward = label, 0.0
    left = max(label + 0.15, leftward) + 0.4  # tick and pad, then the axis label
    bottom, top, right = below + 0.15 + 0.4, 0.45, 0.2
    width, height = max(size, left + right + 2.5), max(size, bottom + top + 2.5)
    fig = new_figure((width, height))
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height)
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    ticks = np.arange(n)
    ax.set_xticks(ticks, class_names, rotation=rotation, ha="right", fontsize=fontsize)
    ax.set_yticks(ticks, class_names, fontsize=fontsize)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if n <= 20:
        threshold = matrix.max() / 2 if matrix.size else 0
        for (i, j), count in np.ndenumerate(matrix):
            ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                    color="white" if count > threshold else "black")
    png = png_bytes(fig)
    runs.write_atomic(path, png)
    return png

def plot_comparison(histories: dict[str, list[dict]], path: Path, title: str) -> None:
    """Overlaid learning curves of several runs: validation solid, training dashed,
    so a widening gap (overfitting) is visible per variant."""
    import pandas as pd

    fig = new_figure((12, 4.5))
    axes = fig.subplots(1, 2)
    for (name, history), color in zip(histories.items(), matplotlib.colormaps["tab10"].colors * 3):
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
    import pandas as pd

    names = list(dict.fromkeys([*test_accuracy, *histories]))
    colors = dict(zip(names, matplotlib.colormaps["tab10"].colors * (len(names) // 10 + 1)))
    fig = new_figure((13, max(4.5, 0.25 * len(names) + 2)))
    bars, curves = fig.subplots(1, 2)
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
    fig = new_figure((12, 4.5))
    by_depth, by_epoch = fig.subplots(1, 2)
    colors = matplotlib.colormaps["viridis"]([i / max(len(rows) - 1, 1) for i in range(len(rows))])
    for row, color in zip(rows, colors):
        by_depth.plot(range(1, len(layers) + 1), [row[k] for k in layers], marker="o", color=color,
                      label=f"epoch {int(row['epoch'])}")
    by_depth.set_xticks(range(1, len(layers) + 1), layers, rotation=45, ha="right")
    by_depth.set_xlabel("layer (input side left)")
    for layer, color in zip(layers, matplotlib.colormaps["plasma"]([i / max(len(layers) - 1, 1) for i in range(len(layers))])):
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
    fig = new_figure((11, 4.2))
    axes = fig.subplots(1, 2)
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
