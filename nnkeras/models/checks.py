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


def _dtype(input_spec) -> str:
    return getattr(input_spec, "input_dtype", "float32")


def check_float_inputs(input_spec, builder: str) -> tuple[tuple[int, ...], int]:
    shape, classes = check_spec(input_spec)
    require(_dtype(input_spec) == "float32",
            f"{builder} takes float inputs (images or vectors), but dataset '{input_spec.name}' gives"
            f" {_dtype(input_spec)} inputs; use a token model (lstm, transformer) or wide_deep instead")
    return shape, classes


def check_image_spec(input_spec, builder: str) -> tuple[tuple[int, ...], int]:
    shape, classes = check_float_inputs(input_spec, builder)
    require(len(shape) == 3, f"{builder} needs images of shape (height, width, channels), got input shape {shape}")
    return shape, classes


def check_token_spec(input_spec, builder: str) -> tuple[int, int, int]:
    """(sequence length, vocabulary size, classes) of a token-id dataset."""
    shape, classes = check_spec(input_spec)
    vocab = getattr(input_spec, "vocab_size", None)
    require(_dtype(input_spec) == "int32" and len(shape) == 1,
            f"{builder} reads sequences of token ids, but dataset '{input_spec.name}' gives {_dtype(input_spec)}"
            f" inputs of shape {shape}; use mlp, lenet5 or convnet for images, rnn for float sequences")
    require(isinstance(vocab, int) and vocab >= 2,
            f"{builder} needs a vocabulary of at least 2 tokens, got vocab_size={vocab}")
    return shape[0], vocab, classes


# A model must fit with its optimizer state on an ordinary machine: 2**28 weights are 1 GiB as
# float32, 3 GiB with Adam's two slots. More is refused before a layer allocates anything.
MAX_PARAMS = 2**28
# Values one example makes in one layer (float32): over 2**27 (512 MiB) per example, no batch fits.
MAX_ACTIVATIONS = 2**27


def dense_params(widths) -> int:
    """Weights of a chain of Dense layers of these widths (input first)."""
    widths = list(widths)
    return sum(a * b + b for a, b in zip(widths, widths[1:]))


def check_size(builder: str, params: int, activations: int) -> None:
    """Refuse a model of more than MAX_PARAMS weights or MAX_ACTIVATIONS values per example in a layer."""
    require(params <= MAX_PARAMS, f"{builder} would have {params:,} weights, more than {MAX_PARAMS:,} (1 GiB as"
            " float32, 3 GiB with the optimizer's state); choose smaller model.* sizes")
    require(activations <= MAX_ACTIVATIONS, f"{builder} would make {activations:,} values per example in one layer,"
            f" more than {MAX_ACTIVATIONS:,}; use smaller data.shape or fewer units")


def conv_params(channels: int, filters, kernel: int = 3, convs_per_block: int = 1) -> int:
    """Weights of conv blocks (kernel x kernel, `convs_per_block` convs each, biases and norms counted)."""
    total = 0
    for width in filters:
        for _ in range(convs_per_block):
            total += kernel * kernel * channels * width + 4 * width
            channels = width
    return total
