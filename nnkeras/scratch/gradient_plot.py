"""The plot of per-layer gradient norms (gradient_norms.png), for Keras and scratch runs alike.

Left: norm against depth, one line per epoch; in a deep sigmoid network the
line falls steeply towards the input (vanishing gradients), with ReLU and a
good initialisation it stays nearly flat. Right: each layer's norm over the
epochs. Both on a log scale, since the norms span orders of magnitude.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402

from nnkeras import runs  # noqa: E402


def plot_gradient_norms(rows: list[dict], path: Path, title: str) -> None:
    """`rows`: one dict per epoch, {"epoch": k, "<layer name>": norm, ...}, layers input side first."""
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
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    runs.write_atomic(path, buffer.getvalue())
