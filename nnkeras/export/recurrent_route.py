"""How a recurrent model trained with unroll=False reaches builtin TFLite ops, without retraining.

Keras 3 LSTM/GRU/SimpleRNN lower to a while loop over TensorList ops. With a
batch dimension of None the converter keeps them as Flex ops, which LiteRT
on phones lacks. Two builtin-only routes carry the trained weights:

- "while": the same model exported with a batch-1 signature. Every shape is
  then static, the converter lowers the TensorLists and keeps the loop as
  TFLite's builtin WHILE op. The file takes one example per call (LiteRTModel
  and the server loop over a batch).
- "unrolled": a twin of the model with unroll=True on every recurrent layer
  (one cell copy per time step), loaded with the trained weights; any batch.

Route rule, from measurements (prototypes of both routes, LSTM 64, float32; mobile/README.md):
"while" is the smaller file at every length (LSTM seq 50: 399 KB vs 523 KB;
seq 200: 398 KB vs 915 KB; BiLSTM 50: 540 KB vs 835 KB), faster at seq 200
(0.52 ms vs 2.43 ms) and for BiLSTM, within 0.1 ms at LSTM seq 50, and
converts in about 1 s (the twin 3-19 s); both agree 100% with Keras. So
float modes take "while". int8 calibration of the WHILE loop crashes the
converter (a segfault in TF 2.x, not an error we could catch), so int8 and
int8-io take "unrolled". A model with no recurrent layer, or one already
unrolled, takes "graph": the plain export, any batch.
"""

from __future__ import annotations

RECURRENT = ("LSTM", "GRU", "SimpleRNN", "RNN", "Bidirectional")
INT8_MODES = ("int8", "int8-io")
ROUTES = ("graph", "while", "unrolled")


def looping_layers(model) -> list:
    """The model's recurrent layers that still loop (unroll=False), nested ones included."""
    found = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        # A Bidirectional wrapper holds no flag of its own: its inner layers are walked too.
        if type(layer).__name__ in RECURRENT and not getattr(layer, "unroll", True):
            found.append(layer)
    return found


def choose_route(model, quantize: str) -> str:
    """'graph', 'while' or 'unrolled', by the rule in the module docstring."""
    if not looping_layers(model):
        return "graph"
    return "unrolled" if quantize in INT8_MODES else "while"


def _set_unroll(config):
    """Every nested layer config that has an `unroll` flag, set to True (in place)."""
    if isinstance(config, dict):
        if "unroll" in config:
            config["unroll"] = True
        for value in config.values():
            _set_unroll(value)
    elif isinstance(config, list):
        for value in config:
            _set_unroll(value)


def unrolled_twin(model):
    """The same architecture with unroll=True everywhere, holding the trained weights.

    Unrolling changes how the graph is built, not the weights: the variables
    are the same, in the same order, so set_weights carries them over.
    """
    config = model.get_config()
    _set_unroll(config)
    twin = model.__class__.from_config(config)
    twin.set_weights(model.get_weights())
    return twin


def export_batch(route: str) -> int | None:
    """The batch dimension of the exported signature: 1 for the WHILE route, else any (None)."""
    return 1 if route == "while" else None


def model_for(model, route: str):
    """The Keras model that goes into the file on `route`."""
    return unrolled_twin(model) if route == "unrolled" else model
