"""SGD (with momentum) and Adam, written as Keras 3 writes them.

Both update a list of parameter arrays in place from a list of gradients in
the same order. The formulas are Keras's own (keras/src/optimizers/sgd.py and
adam.py), so that the scratch network and a Keras network starting from the
same weights and seeing the same batches follow the same path.
"""

from __future__ import annotations

import numpy as np

from nnkeras.errors import ConfigError


class SGD:
    """w <- w - lr * g; with momentum mu: v <- mu * v - lr * g, then w <- w + v.

    For a constant learning rate this is the same path as the textbook
    v <- mu v + g, w <- w - lr v (here v holds lr times that one).
    """

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0):
        if not learning_rate > 0 or not 0.0 <= momentum < 1.0:
            raise ConfigError(f"SGD needs learning_rate > 0 and momentum in [0, 1), got {learning_rate}, {momentum}")
        self.learning_rate, self.momentum = learning_rate, momentum
        self.velocities: list[np.ndarray] | None = None

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        if self.momentum == 0.0:
            for p, g in zip(params, grads):
                p -= self.learning_rate * g
            return
        if self.velocities is None:
            self.velocities = [np.zeros_like(p) for p in params]
        for p, g, v in zip(params, grads, self.velocities):
            v *= self.momentum
            v -= self.learning_rate * g
            p += v

    def state(self) -> dict[str, np.ndarray]:
        return {f"velocity_{i}": v for i, v in enumerate(self.velocities or [])}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        keys = sorted((k for k in state if k.startswith("velocity_")), key=lambda k: int(k.split("_")[1]))
        self.velocities = [np.array(state[k]) for k in keys] or None


class Adam:
    """Adam (Kingma & Ba 2015) in Keras's form, step t = 1, 2, ...:

        m <- m + (1 - beta_1) (g - m)          (= beta_1 m + (1 - beta_1) g)
        v <- v + (1 - beta_2) (g^2 - v)
        alpha_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
        w <- w - alpha_t * m / (sqrt(v) + epsilon)

    The bias corrections of m and v are folded into alpha_t, and epsilon is
    added to the *uncorrected* sqrt(v): the paper's "epsilon hat" variant
    (end of its section 2). It equals Algorithm 1 with an epsilon of
    epsilon / sqrt(1 - beta_2^t), so the two differ only while sqrt(v) is
    about as small as epsilon. Keras's default epsilon is 1e-7 (the paper's 1e-8).
    """

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7):
        if not learning_rate > 0 or not (0 <= beta_1 < 1 and 0 <= beta_2 < 1) or not epsilon > 0:
            raise ConfigError("Adam needs learning_rate > 0, beta_1 and beta_2 in [0, 1), epsilon > 0")
        self.learning_rate, self.beta_1, self.beta_2, self.epsilon = learning_rate, beta_1, beta_2, epsilon
        self.t = 0
        self.m: list[np.ndarray] | None = None
        self.v: list[np.ndarray] | None = None

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        if self.m is None:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
        self.t += 1
        alpha = self.learning_rate * np.sqrt(1 - self.beta_2 ** self.t) / (1 - self.beta_1 ** self.t)
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m += (g - m) * (1 - self.beta_1)
            v += (g * g - v) * (1 - self.beta_2)
            p -= m * alpha / (np.sqrt(v) + self.epsilon)

    def state(self) -> dict[str, np.ndarray]:
        state = {"t": np.array(self.t)}
        for i, (m, v) in enumerate(zip(self.m or [], self.v or [])):
            state[f"m_{i}"], state[f"v_{i}"] = m, v
        return state

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.t = int(state["t"])
        count = sum(1 for k in state if k.startswith("m_"))
        self.m = [np.array(state[f"m_{i}"]) for i in range(count)] or None
        self.v = [np.array(state[f"v_{i}"]) for i in range(count)] or None


def make(name: str, learning_rate: float, momentum: float = 0.0):
    """The scratch optimiser for `train.optimizer` (sgd or adam)."""
    if name == "sgd":
        return SGD(learning_rate, momentum)
    if name == "adam":
        return Adam(learning_rate)
    raise ConfigError(f"train.optimizer '{name}' is not implemented in nnkeras.scratch; use sgd (with train.momentum) or adam")


def clip_by_global_norm(grads: list[np.ndarray], clip_norm: float) -> tuple[list[np.ndarray], float]:
    """Gradients scaled by clip_norm / max(||g||, clip_norm), with ||g|| over all arrays together.

    ||g|| = sqrt(sum of every squared gradient entry). Scaling all arrays by
    the same factor keeps the update's direction and caps its length: the
    remedy for the exploding gradients of long recurrent chains. Keras's
    `global_clipnorm` does the same. Returns the clipped list and ||g||.
    """
    if not clip_norm > 0:
        raise ConfigError(f"the clipping norm must be > 0, got {clip_norm}")
    norm = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
    scale = clip_norm / max(norm, clip_norm)
    return [g * scale for g in grads], norm
