"""Builder registry: name -> `build_<arch>(input_spec, **kwargs)`.

A builder returns an uncompiled functional `keras.Model` that outputs logits.
`build` turns a bad argument into a ConfigError that names the `model.*` key.
Every builder is listed here by module and function, and its module (and so
TensorFlow) is imported on first use: `nnkeras list` answers at once.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import zipfile
from pathlib import Path

from nnkeras.errors import ConfigError, NNKerasError

BUILDERS = {
    "mlp": "nnkeras.models.mlp:build_mlp",
    "lenet5": "nnkeras.models.cnn:build_lenet5",
    "convnet": "nnkeras.models.cnn:build_convnet",
    "rnn": "nnkeras.models.recurrent:build_rnn",
    "lstm_attention": "nnkeras.models.recurrent:build_lstm_attention",
    "transformer": "nnkeras.models.transformer:build_transformer",
    "wide_deep": "nnkeras.models.wide_deep:build_wide_deep",
    "arcface": "nnkeras.models.arcface:build_arcface",
    # The NumPy networks of nnkeras.scratch: each builder makes the Keras twin the weights are copied into.
    "scratch_mlp": "nnkeras.models.scratch_twin:build_scratch_mlp",
    "scratch_lenet5": "nnkeras.models.scratch_twin:build_scratch_lenet5",
    "scratch_lstm": "nnkeras.models.scratch_twin:build_scratch_lstm",
    "scratch_transformer": "nnkeras.models.scratch_twin:build_scratch_transformer",
}
# Models whose own kind is NumPy: train.engine=auto hands them to nnkeras.scratch.run.
NUMPY_MODELS = ("scratch_mlp", "scratch_lenet5", "scratch_lstm", "scratch_transformer")


def _import(path: str):
    module, function = path.split(":")
    return getattr(importlib.import_module(module), function)


def __getattr__(name: str):
    """`models.build_mlp` and friends, imported when first asked for."""
    for path in BUILDERS.values():
        if path.endswith(f":{name}"):
            return _import(path)
    raise AttributeError(f"module 'nnkeras.models' has no attribute '{name}'")


def _builder(name: str):
    if name not in BUILDERS:
        raise ConfigError(f"model.name '{name}' is not a builder; choose one of {', '.join(BUILDERS)}")
    return _import(BUILDERS[name])


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


def engine_for(name: str, engine: str = "auto") -> str:
    """The engine that trains model `name`: `engine` itself, or for `auto` the model's kind."""
    if engine == "auto":
        return "numpy" if name in NUMPY_MODELS else "keras"
    if engine == "numpy" and name not in NUMPY_MODELS:
        raise ConfigError(f"train.engine=numpy trains only the NumPy models ({', '.join(NUMPY_MODELS)}), not"
                          f" model '{name}'; use train.engine=auto or keras")
    return engine


def loss_for(name: str, params: dict):
    """The training loss of a builder's model. All output logits; ArcFace adds its margin in the loss."""
    import keras

    if name == "arcface":
        from nnkeras.layers import ArcFaceLoss

        defaults = builder_defaults(name)
        return ArcFaceLoss(params.get("scale", defaults["scale"]), params.get("margin", defaults["margin"]))
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def load_model(path):
    """`keras.models.load_model` with every nnkeras custom layer and loss registered.

    Custom layers register themselves when their module is imported; builder
    modules load lazily, so import them all before Keras reads the file.
    Keras's safe mode stays on: no code from the file is run.
    """
    import keras

    for module in {p.split(":")[0] for p in BUILDERS.values()} | {"nnkeras.layers"}:
        importlib.import_module(module)
    if not zipfile.is_zipfile(path):  # Keras would call a truncated archive "File not found"
        raise NNKerasError(f"{path}: not a complete .keras file (missing, truncated or not a zip archive);"
                           " copy it again or retrain")
    try:
        return keras.models.load_model(path, safe_mode=True)
    except Exception as exc:  # Keras raises ValueError, TypeError, KeyError, OSError ... for a bad file
        reason = (str(exc).strip() or type(exc).__name__).splitlines()[0].split(". ")[0][:200]
        raise NNKerasError(f"{path}: cannot load this model ({reason}); models load in Keras safe mode, which runs"
                           " no code from the file: retrain, or copy the file again") from None


def describe() -> dict[str, str]:
    """Builder name -> first line of its docstring, read from the source without importing it."""
    out = {}
    for name, path in BUILDERS.items():
        module, function = path.split(":")
        tree = ast.parse(Path(importlib.util.find_spec(module).origin).read_text())
        node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function)
        out[name] = (ast.get_docstring(node) or "").strip().splitlines()[0]
    return out


__all__ = ["BUILDERS", "NUMPY_MODELS", "build", "builder_defaults", "describe", "engine_for", "load_model",
           "loss_for"]
