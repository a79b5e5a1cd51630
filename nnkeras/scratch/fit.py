"""Mini-batch training and evaluation of a scratch network (MLP or `Network`), in plain NumPy.

`fit` is the whole loop for use in a notebook or a test; the experiment
runner (`nnkeras.scratch.run`) calls `train_epoch` and `evaluate` itself so
that it can checkpoint and log between epochs.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def batch_order(n: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Index batches of one epoch, shuffled by (seed, epoch) alone.

    Epoch k's order does not depend on what ran before it, so a resumed run
    sees exactly the batches an uninterrupted one would have seen.
    """
    order = np.random.default_rng([seed, epoch]).permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def train_epoch(net, optimizer, x: np.ndarray, t: np.ndarray, batch_size: int, seed: int, epoch: int,
                on_batch: Callable[[int, dict], None] | None = None) -> dict:
    """One pass of mini-batch steps over checked inputs `x` and targets `t`.

    Returns the loss (and accuracy) of each batch before its step, averaged
    over the epoch weighted by batch size: the numbers Keras reports as `loss`
    and `accuracy`. A non-finite loss ends the epoch at once (no update with it).
    Dropout masks, like the batch order, are drawn from (seed, epoch) alone.
    """
    net.reseed_dropout(seed, epoch)
    total, hits, seen = 0.0, 0, 0
    for step, index in enumerate(batch_order(len(x), batch_size, seed, epoch)):
        loss, grads, output = net.gradients(x[index], t[index])
        total, seen = total + loss * len(index), seen + len(index)
        correct = net.correct(output, t[index])
        hits += int(correct.sum()) if correct is not None else 0
        if not np.isfinite(loss):
            break
        optimizer.step(net.params(), grads)
        if on_batch:
            on_batch(step, _logs(net, total, hits, seen))
    return _logs(net, total, hits, seen)


def evaluate(net, x: np.ndarray, t: np.ndarray, batch_size: int = 1024) -> dict:
    """Mean loss (and accuracy) over checked `x`, `t`, computed in slices to bound memory."""
    total, hits = 0.0, 0
    for start in range(0, len(x), batch_size):
        xb, tb = x[start:start + batch_size], t[start:start + batch_size]
        loss, output = net.loss_and_output(xb, tb)
        total += loss * len(xb)
        correct = net.correct(output, tb)
        hits += int(correct.sum()) if correct is not None else 0
    return _logs(net, total, hits, len(x))


def _logs(net, total_loss: float, hits: int, seen: int) -> dict:
    logs = {"loss": total_loss / seen}
    if net.classifies:  # classification: accuracy means something
        logs["accuracy"] = hits / seen
    return logs


def fit(net, optimizer, x, y, *, epochs: int, batch_size: int = 32, seed: int = 0, validation=None) -> list[dict]:
    """Train `net` for `epochs` epochs; returns one dict of logs per epoch.

    All data is checked before the first step (shapes, label range, NaN).
    """
    x, t = net.check(x, y)
    val = net.check(*validation) if validation is not None else None
    history = []
    for epoch in range(epochs):
        logs = train_epoch(net, optimizer, x, t, batch_size, seed, epoch)
        if val is not None:
            logs.update({f"val_{k}": v for k, v in evaluate(net, *val).items()})
        history.append({"epoch": epoch + 1, **logs})
        if not np.isfinite(logs["loss"]):
            break
    return history
