"""What a converted file carries: the metadata an app or the server needs to feed it raw data.

It is embedded in the .tflite (flatbuffer.py) and written beside it as JSON;
the schema is documented in mobile/README.md.
"""

from __future__ import annotations

SCHEMA = "nnkeras-metadata/1"


def preprocess_affine(spec, float_input: bool, quant_input: dict | None) -> dict:
    """raw -> input tensor as one `round?(raw * multiply + add)` step, for apps.

    Normalisation `(raw * scale - mean) / std` is affine, and so is int8
    quantisation `x / q_scale + zero_point`: composed, they are one multiply
    and one add per value.
    """
    if not float_input:
        return {"multiply": 1.0, "add": 0.0, "round": False, "clip": None}
    multiply, add = spec.scale / spec.std, -spec.mean / spec.std
    if quant_input is None:
        return {"multiply": multiply, "add": add, "round": False, "clip": None}
    q_scale, zero_point = quant_input["scale"], quant_input["zero_point"]
    return {"multiply": multiply / q_scale, "add": add / q_scale + zero_point, "round": True, "clip": [-128, 127]}


def vocabulary_size(model) -> int | None:
    """For token-id inputs: ids must stay below the smallest Embedding's input_dim.

    Embeddings may sit inside custom layers (token + position embedding), hence
    the recursive walk. A position embedding looks up positions 0..seq_len-1,
    never the input's ids, so it does not bound them.
    """
    import keras

    from nnkeras.layers import TokenAndPositionEmbedding

    layers = model._flatten_layers(include_self=False, recursive=True)
    positions = {id(getattr(layer, "positions", None)) for layer in layers if isinstance(layer, TokenAndPositionEmbedding)}
    sizes = [layer.input_dim for layer in layers
             if isinstance(layer, keras.layers.Embedding) and id(layer) not in positions]
    return min(sizes) if sizes else None


def unquantized_io(run) -> dict:
    """The `io` of build_metadata for a model that takes and returns what Keras does."""
    return {"input": None, "output": None, "input_dtype": run.input_dtype.name, "output_dtype": "float32"}


def table_input(run) -> dict:
    """The "input" of a tabular model's metadata: one tensor per column, and how a raw row fills them."""
    return {
        "kind": "table",
        "tensors": {t.name: {"shape": list(t.shape[1:]), "dtype": str(t.dtype)} for t in run.core.inputs},
        "features": run.features,
        "rules": {"categorical": "id = index of the value in features.categorical[column] + 1;"
                                 " missing (null) or not in the vocabulary -> 0",
                  "numeric": "missing (null) -> features.numeric[column][0], the training mean;"
                             " the model normalises with that mean and variance itself"},
        "batch": "first dimension, any size",
    }


def tensor_input(run, float_input: bool, io: dict, route: str = "graph") -> dict:
    # The WHILE route (export/recurrent_route.py) has a batch-1 signature: one example per call.
    batch = "1: one example per call" if route == "while" else "first dimension, any size"
    return {"shape": list(run.core.inputs[0].shape[1:]), "dtype": run.input_dtype.name,
            "tensor_dtype": io["input_dtype"], "batch": batch,
            "vocabulary_size": None if float_input else vocabulary_size(run.core),
            # The server refuses raw values outside it (pixels: 0..255); None: any finite number.
            "raw_range": list(run.spec.raw_range) if float_input and run.spec.raw_range else None}


def build_metadata(run, fmt: str, quantize: str, io: dict, route: str = "graph", float_kept=()) -> dict:
    """Everything an app or the server needs to feed the model raw data."""
    import keras
    import tensorflow as tf

    import nnkeras

    spec = run.spec
    float_input = run.input_dtype.kind == "f" and not run.features
    normalisation = ({"scale": spec.scale, "mean": spec.mean, "std": spec.std,
                      "formula": "x = (raw * scale - mean) / std"} if float_input else None)
    return {
        "schema": SCHEMA,
        "format": fmt,
        "experiment": run.experiment.name,
        "model": run.model.name,
        "dataset": spec.name,
        "class_names": list(spec.class_names),
        "num_classes": spec.num_classes,
        "input": table_input(run) if run.features else tensor_input(run, float_input, io, route),
        "normalisation": normalisation,
        "preprocess": None if run.features else preprocess_affine(spec, float_input, io["input"]),
        "output": {"kind": "logits", "shape": [spec.num_classes], "tensor_dtype": io["output_dtype"],
                   "probabilities": "softmax(logits)"},
        "quantization": {"mode": quantize, "input": io["input"], "output": io["output"],
                         # int8 ops left in float so the file agrees with Keras (export/selective_int8.py)
                         **({"float_kept": list(float_kept)} if quantize.startswith("int8") else {})},
        # How recurrent layers reached builtin ops: graph (no loop), while (batch 1) or unrolled.
        "route": route,
        "created_by": {"nnkeras": nnkeras.__version__, "tensorflow": tf.__version__, "keras": keras.__version__},
    }
