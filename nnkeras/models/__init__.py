"""Builder registry: name -> `build_<arch>(input_spec, **kwargs)`.

A builder returns an uncompiled functional `keras.Model` that outputs logits.
`build` turns a bad argument into a ConfigError that names the `model.*` key.
"""

from __future__ import annotations

import inspect

from nnkeras.errors import ConfigError
from nnkeras.models.arcface import build_arcface
from nnkeras.models.cnn import build_convnet, build_lenet5
from nnkeras.models.mlp import build_mlp
from nnkeras.models.recurrent import build_lstm_attention, build_rnn
from nnkeras.models.transformer import build_transformer
from nnkeras.models.wide_deep import build_wide_deep
from nnkeras.scratch.twin import build_scratch_mlp

BUILDERS = {
    "mlp": build_mlp,
    "lenet5": build_lenet5,
    "convnet": build_convnet,
    "rnn": build_rnn,
    "lstm_attention": build_lstm_attention,
    "transformer": build_transformer,
    "wide_deep": build_wide_deep,
    "arcface": build_arcface,
    # The NumPy MLP of nnkeras.scratch: its builder makes the Keras twin the weights are copied into.
    "scratch_mlp": build_scratch_mlp,
}


def _builder(name: str):
    if name not in BUILDERS:
        raise ConfigError(f"model.name '{name}' is not a builder; choose one of {', '.join(BUILDERS)}")
    return BUILDERS[name]


def builder_defaults(name: str) -> dict:
    """The builder's keyword arguments and their defaults (what `model.*` may set)."""
    parameters = list(inspect.signature(_builder(name)).parameters.values())[1:]
    return {p.name: p.default for p in parameters}


def build(name: str, input_spec, params: dict):
    defaults = builder_defaults(name)
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ConfigError(
            f"model.{unknown[0]} is not an argument of the '{name}' builder; allowed: {', '.join(defaults)}"
        )
    try:
        return _builder(name)(input_spec, **params)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"model '{name}': {exc}") from None


def loss_for(name: str, params: dict):
    """The training loss of a builder's model. All output logits; ArcFace adds its margin in the loss."""
    import keras

    if name == "arcface":
        from nnkeras.layers import ArcFaceLoss

        defaults = builder_defaults(name)
        return ArcFaceLoss(params.get("scale", defaults["scale"]), params.get("margin", defaults["margin"]))
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def describe() -> dict[str, str]:
    return {name: (fn.__doc__ or "").strip().splitlines()[0] for name, fn in BUILDERS.items()}


__all__ = ["BUILDERS", "build", "builder_defaults", "describe", "loss_for"]
