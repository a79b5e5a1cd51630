"""Argument checks shared by the builders: fail before any layer is made."""

from __future__ import annotations


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def check_spec(input_spec) -> tuple[tuple[int, ...], int]:
    """The input shape and number of classes of a data spec, checked."""
    shape = tuple(getattr(input_spec, "input_shape", ()) or ())
    classes = getattr(input_spec, "num_classes", 0)
    require(len(shape) > 0 and all(isinstance(d, int) and d > 0 for d in shape),
            f"input shape must be positive integers, got {shape}")
    require(isinstance(classes, int) and classes >= 2, f"number of classes must be >= 2, got {classes}")
    return shape, classes
