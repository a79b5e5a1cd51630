"""Gradient check: backpropagation against central differences, in float64.

    dL/dp ~ (L(p + eps) - L(p - eps)) / (2 eps)

has an error of order eps^2 (the one-sided difference only eps), and float64
rounding adds about 1e-16 / eps. With eps = 1e-6 both are far below 1e-6, so
a relative error above that means a wrong backward pass, not noise. ReLU's
kink at 0 is the one place where the two may honestly disagree: random
float64 inputs land within eps of it with negligible probability.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def numerical_gradient(loss: Callable[[], float], param: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d loss() / d param by central differences; `param` is perturbed in place and restored."""
    if param.dtype != np.float64:
        raise TypeError(f"gradient checks need float64 parameters (got {param.dtype}): float32 rounding"
                        " error (~1e-7 / eps) would swamp the comparison")
    grad = np.zeros_like(param)
    for index in np.ndindex(param.shape):
        original = param[index]
        param[index] = original + eps
        plus = loss()
        param[index] = original - eps
        minus = loss()
        param[index] = original
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """||a - b|| / (||a|| + ||b||): 0 for equal arrays, 1 for opposite ones, scale-free."""
    scale = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    return float(np.linalg.norm(analytic - numeric) / scale) if scale > 0 else 0.0


def check_network(net, x, y, eps: float = 1e-6) -> dict[str, float]:
    """Relative error of every parameter array of `net` (MLP or Network, by name) on the batch (x, y)."""
    x, t = net.check(x, y)
    _, grads, _ = net.gradients(x, t)
    return {name: relative_error(g, numerical_gradient(lambda: net.loss_and_output(x, t)[0], p, eps))
            for name, p, g in zip(net.param_names(), net.params(), grads)}


def check_layer(layer, x: np.ndarray, rng: np.random.Generator, eps: float = 1e-6, **forward) -> dict[str, float]:
    """Relative error of dL/dx (float inputs only) and of every parameter of one layer.

    The loss is L = sum(g * layer(x)) for a fixed random g, so dL/dy = g: any
    upstream gradient, not only the ones a particular loss would produce.
    """
    g = rng.normal(size=layer.forward(x, **forward).shape)

    def loss() -> float:
        return float(np.sum(g * layer.forward(x, **forward)))

    layer.forward(x, **forward)
    dx = layer.backward(g)
    errors = {} if dx is None else {"input": relative_error(dx, numerical_gradient(loss, x, eps))}
    # A layer made of parts (the Transformer block) names each part's parameters "part/param".
    leaves = layer.leaves() if layer.parts else [layer]
    for leaf in leaves:
        prefix = f"{leaf.name}/" if layer.parts else ""
        for name, param, grad in zip(leaf.param_names, leaf.params, leaf.grads):  # loss() runs forward only
            errors[prefix + name] = relative_error(grad, numerical_gradient(loss, param, eps))
    return errors
