"""int8 that holds: keep the layers that break agreement in float, automatically.

Full int8 of some models (recurrent cells, whose gates saturate and whose
state is fed back step after step; attention softmaxes) moves enough logits to
break the 98% agreement. TF's QuantizationDebugger measures, per quantised op,
the error its int8 output makes against the float op run on the same input
(NumericVerify); the ops with the largest error relative to their own
quantisation step (rmse / scale, the measure the TF debugger guide uses) are
the ones to keep in float. `mlir_quantize(denylisted_nodes=...)` then quantises
the same calibrated model with those ops left float.

The search keeps 1, 2, 4, ... of the worst ops in float until the file agrees
with Keras on the run's VALIDATION split; the verification afterwards is on
the test split, so the threshold is not met by choosing on the data it is
judged on.
"""

from __future__ import annotations

import csv
import io
import math

import numpy as np

DEBUG_EXAMPLES = 32  # representative examples the debugger runs: the ranking, not the ranges, comes from them


def ranked_ops(converter, representative) -> tuple[bytes, list[str]]:
    """(calibrated model, output tensor names of the quantised ops, worst first)."""
    import tensorflow as tf

    def few():
        for i, example in enumerate(representative()):
            if i >= DEBUG_EXAMPLES:
                return
            yield example

    debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=few)
    debugger.run()
    dump = io.StringIO()
    debugger.layer_statistics_dump(dump)
    dump.seek(0)
    rows = list(csv.DictReader(dump))

    def error(row):
        scale = float(row["scale"] or 0)
        value = math.sqrt(float(row["mean_squared_error"])) / scale if scale else 0.0
        return value if math.isfinite(value) else math.inf

    names = [row["tensor_name"] for row in sorted(rows, key=error, reverse=True)]
    return debugger.calibrated_model, list(dict.fromkeys(names))


def quantize_keeping(calibrated: bytes, kept: list[str], int8_in: bool, int8_out: bool) -> bytes:
    """The calibrated model in int8 but for the ops whose outputs are named in `kept`.

    int8_in/int8_out: int8-io's tensors, as make_converter sets them (token ids stay int32).
    """
    import tensorflow as tf
    from tensorflow.lite.python import convert

    return convert.mlir_quantize(calibrated, fully_quantize=False,
                                 input_data_type=tf.int8 if int8_in else tf.float32,
                                 output_data_type=tf.int8 if int8_out else tf.float32, denylisted_nodes=kept)


def validation_split(run):
    """(x, Keras logits) of the split the search judges on: validation, or test when there is none."""
    ds = run.dataset
    x = ds.x_val if len(ds.y_val) else ds.x_test
    return x, run.keras_logits(x)


def judge_threshold(threshold: float, n: int) -> float:
    """The bar on the validation split: the test split's threshold plus one standard error of an
    agreement measured on n examples at that threshold, sqrt(t (1 - t) / n).

    Chosen on 120 validation examples at exactly 98%, an LSTM + attention at
    seq 200 agreed on 96% of the test split; the margin makes a small split
    ask for more ops in float rather than pass by chance (on 120 examples:
    99.3%, so every one must agree). The margin shrinks as the split grows;
    the earlier 1/sqrt(n) asked 100% of any split up to 2,500 examples.
    """
    return min(1.0, threshold + float(np.sqrt(threshold * (1 - threshold) / max(n, 1))))


def agreement(run, content: bytes, x, reference: np.ndarray) -> float:
    from nnkeras.export.litert import LiteRTModel

    converted = LiteRTModel(content).predict(run.file_inputs(x))
    return float(np.mean(converted.argmax(1) == reference.argmax(1)))


def keep_float_until_agrees(run, converter, representative, threshold: float, int8_io: bool):
    """(content, ops kept in float, validation agreement): the fewest worst ops in float that reach `threshold`.

    When even every measured op in float does not reach it, the candidate that
    agreed best: the verification on the test split then judges it (a SimpleRNN
    at seq 200 with all 824 ops float agreed on 119 of 120 validation examples,
    under the bar, and on every test example; full int8 on 92%). None when the
    debugger measured no op.
    """
    x, reference = validation_split(run)
    threshold = judge_threshold(threshold, len(reference))
    calibrated, ranking = ranked_ops(converter, representative)
    best, k = None, 1
    while ranking:
        kept = ranking[:k]
        content = quantize_keeping(calibrated, kept, int8_io and run.input_dtype.kind == "f", int8_io)
        score = agreement(run, content, x, reference)
        if score >= threshold:
            return content, kept, score
        if best is None or score > best[2]:  # ties keep the smaller file: fewer ops in float
            best = (content, kept, score)
        if k >= len(ranking):
            return best
        k = min(2 * k, len(ranking))
    return None
