"""From a run directory to a verified .tflite (or .onnx) file.

    nnkeras convert RUN_DIR [--quantize MODE] [--out FILE] [--format tflite|onnx]

The path is model.keras -> SavedModel (`model.export`) -> TFLiteConverter.
`TFLiteConverter.from_keras_model` is unreliable on Keras 3; the SavedModel
route is the one the Keras and LiteRT docs agree on. Only TFLite builtin ops
are allowed: the LiteRT runtime on phones has no Flex (Select TF) kernels, so
a model that needs them must fail here, naming the layer, not on the phone.

Every conversion is verified at once on the run's own test split (see
verify.py); the file, its metadata JSON and the verification report
are written next to each other, each atomically.

A tabular (wide_deep) model goes in without its string lookups: the file
holds its numeric core, one named input tensor per column (int32 ids,
float32 numbers), and the metadata carries the vocabularies and fill values
that turn a raw row into those tensors (data/tabular.py `encode`).
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnkeras import runs
from nnkeras.data.base import take
from nnkeras.errors import NNKerasError
from nnkeras.export import recurrent_route, verify
from nnkeras.export.metadata import build_metadata
from nnkeras.finished_run import Run, load_run
from nnkeras.quiet import quiet_stderr  # the converter's C++ diagnostics

MODES = ("none", "dynamic", "float16", "int8", "int8-io")
FORMATS = ("tflite", "onnx")
REPRESENTATIVE_EXAMPLES = 200
MAX_TABLE_CALIBRATION_ROWS = 20_000
RECURRENT = recurrent_route.RECURRENT


SIDECARS = ("metadata.json", "verify.json", "verify.md")  # written beside the model file


@dataclass(frozen=True)
class Conversion:
    """What `convert` did: the verification report, and every file it wrote (the model file first)."""

    report: dict
    files: list[Path]


def default_out(run_dir: Path, quantize: str, fmt: str) -> Path:
    if fmt == "onnx":
        return run_dir / "model.onnx"
    return run_dir / ("model.tflite" if quantize == "none" else f"model-{quantize}.tflite")


def export_saved_model(model, folder: Path, batch: int | None = None) -> Path:
    """The model's inference function as a SavedModel, with `training=False` spelled out.

    `model.export` traces the model without a training flag, and Keras 3's
    random augmentation layers then keep their random ops (and Flex-only
    image transforms) in the graph; an explicit training=False drops them.
    """
    import keras
    import tensorflow as tf

    path = Path(folder) / "saved_model"
    specs = {t.name: tf.TensorSpec((batch, *t.shape[1:]), t.dtype, name=_tensor_name(t.name)) for t in model.inputs}
    # Several inputs go in as a dict: the file's signature then names each tensor after its column.
    signature = specs if len(specs) > 1 else next(iter(specs.values()))
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", lambda x: model(x, training=False), input_signature=[signature])
    archive.write_out(str(path), verbose=False)
    return path


def _tensor_name(name: str) -> str:
    # Keras input names may hold characters a TF signature key refuses.
    return re.sub(r"\W", "_", name) or "inputs"


def representative_data(run: Run, n: int = REPRESENTATIVE_EXAMPLES):
    """A generator of single training examples, for int8 calibration.

    A table calibrates on up to MAX_TABLE_CALIBRATION_ROWS training rows: its
    rows cost next to nothing, and a rare large value (8 siblings) missed by a
    small sample sets no range and is clipped (on Titanic, all 1,047 rows took
    the largest logit error from 0.98 to 0.05).
    """
    n = min(len(run.dataset.y_train), MAX_TABLE_CALIBRATION_ROWS) if run.features else n
    chosen = np.random.default_rng(run.experiment.seed).permutation(len(run.dataset.y_train))[:n]
    x = run.file_inputs(take(run.dataset.x_train, chosen))  # cast the chosen rows only, in the chosen order

    def examples():
        for i in range(len(chosen)):
            # Several inputs: a dict keyed by the signature's input names.
            yield {_tensor_name(k): v[i : i + 1] for k, v in x.items()} if isinstance(x, dict) else [x[i : i + 1]]

    return examples


def make_converter(saved_model: Path, quantize: str, run: Run):
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize == "none":
        return converter
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantize in ("int8", "int8-io"):
        converter.representative_dataset = representative_data(run)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if quantize == "int8-io":
            if run.input_dtype.kind == "f":
                converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    return converter


def _mentions(text: str, layer_name: str) -> bool:
    # Op locations read like "model_1/lstm_1/TensorArrayV2": TF appends "_<n>" to scope names.
    return re.search(rf"(?<![\w]){re.escape(layer_name)}(_\d+)?/", text) is not None


def explain_conversion_error(model, exc: Exception) -> NNKerasError:
    """Turn the converter's page of MLIR diagnostics into one actionable line."""
    text = str(exc)
    ops = sorted(set(re.findall(r"'tf\.(\w+)' op", text)) | set(re.findall(r"\bFlex(\w+)", text)))
    # Locations on the error lines point at the failing ops; notes name every caller.
    failing = "\n".join(line for line in text.splitlines() if "error:" in line) or text
    culprits = [layer for layer in model.layers if _mentions(failing, layer.name)]
    recurrent = [layer for layer in model.layers if type(layer).__name__ in RECURRENT]
    named = [layer for layer in culprits if layer in recurrent] or culprits or recurrent
    where = f" in layer(s) {', '.join(f'{l.name} ({type(l).__name__})' for l in named)}" if named else ""
    what = f"ops {', '.join(ops)}" if ops else "some ops"
    if any(type(l).__name__ in RECURRENT for l in named):
        fix = ("give the model a fixed sequence length and build the recurrent layer with unroll=True"
               " (plain Keras 3 LSTM/GRU lower to TensorList ops, which only Flex supports)")
    else:
        fix = "replace that layer with one TFLite supports (see the TFLite op compatibility list)"
    detail = re.search(r"error: ('tf\.\w+' op [^\n]*)", text)
    said = detail.group(1) if detail else (text.strip().splitlines() or [type(exc).__name__])[0]
    return NNKerasError(f"{model.name}: {what}{where} are not TFLite builtins and LiteRT has no Flex ops;"
                        f" {fix}. Converter said: {said[:200]}")


def to_tflite(run: Run, quantize: str, route: str = "graph") -> bytes:
    """The converted flatbuffer, builtin ops only (no metadata yet), on `route` (recurrent_route.py)."""
    import tensorflow as tf

    model = recurrent_route.model_for(run.core, route)
    with tempfile.TemporaryDirectory(prefix="nnkeras-export-") as tmp:
        try:
            saved_model = export_saved_model(model, Path(tmp), recurrent_route.export_batch(route))
        except tf.errors.OpError as exc:  # TensorFlow's own file writes: a full disk or a file-size limit
            raise NNKerasError(f"{tmp}: could not write the SavedModel staging copy ({exc.message.strip()[:120]});"
                               " free some space there (or point TMPDIR elsewhere), then run the same command"
                               " again: the files written before are kept") from None
        converter = make_converter(saved_model, quantize, run)
        try:
            with quiet_stderr():
                return converter.convert()
        except Exception as exc:  # ConverterError and friends: a model TFLite cannot express
            raise explain_conversion_error(model, exc) from None


def convert(run_dir: str | Path, quantize: str = "none", out: str | Path | None = None, fmt: str = "tflite",
            min_agreement: float | None = None, dataset=None) -> "Conversion":
    """Convert, write file + metadata + verification report; return the report and the files written.

    The report's `passed` says whether the top-1 agreement reached the
    threshold; the caller decides what failing means (the CLI exits 1). A file
    that fails is written as `rejected_path(out)`, with its reports, for
    inspection; whatever was at `out` stays.
    `dataset` replaces the run's own data (as in `train`), for tests.
    """
    if quantize not in MODES:
        raise NNKerasError(f"--quantize {quantize}: choose one of {', '.join(MODES)}")
    if fmt not in FORMATS:
        raise NNKerasError(f"--format {fmt}: choose one of {', '.join(FORMATS)}")
    if min_agreement is not None and not 0.0 <= min_agreement <= 1.0:
        raise NNKerasError(f"--min-agreement {min_agreement}: must be a fraction in [0, 1], e.g. 0.99")
    if fmt == "onnx" and quantize != "none":
        raise NNKerasError(f"--format onnx supports --quantize none only (got {quantize}); quantise the .tflite instead")
    if not Path(run_dir).is_dir():  # before --out, whose default lives in it
        raise NNKerasError(f"{run_dir}: no such run directory; pass one of runs/<experiment>/<run id>"
                           " (`nnkeras report` lists them)")
    out = Path(out) if out else default_out(Path(run_dir), quantize, fmt)
    if not out.parent.is_dir():
        raise NNKerasError(f"--out {out}: folder {out.parent} does not exist")
    if out.is_dir():
        raise NNKerasError(f"--out {out}: is a folder; give a file name such as {out / 'model.tflite'}")
    if out.exists() and not out.is_file():
        raise NNKerasError(f"--out {out}: not a regular file (a pipe or a device); give a file name")
    if out.suffix != f".{fmt}":  # never model.keras, config.json, ...: the old file is removed before writing
        raise NNKerasError(f"--out {out}: a {fmt} file must end in .{fmt}, e.g. {out.with_suffix('.' + fmt).name}")
    for path in (target for name in (out, rejected_path(out)) for target in (name, *sidecars_of(name))):
        runs.check_inside(path, out.parent)
    run = load_run(run_dir, dataset)
    if quantize == "int8-io" and run.features:
        raise NNKerasError("--quantize int8-io: a table model has one input tensor per column (ids stay int32);"
                           " use --quantize int8 (int8 inside, float32 and int32 in, float32 out)")
    if fmt == "onnx":
        from nnkeras.export import onnx

        content, runner, metadata = onnx.onnx_file(run)
    else:
        content, runner, metadata = tflite_file(run, quantize, min_agreement)
    report = verify.verify(run, runner, out.name, len(content), quantize, fmt, min_agreement,
                           metadata.get("route", "graph"), metadata["quantization"].get("float_kept", []))
    if not report["passed"]:  # kept for inspection under its own name: a file at `out` is always a verified one
        out = rejected_path(out)
        report["file"] = out.name
    # All four files are written to temporary names first: a full disk or Ctrl-C
    # leaves the previous conversion whole. Then the old model file goes, the
    # reports are renamed in, and the model file last: whenever it exists under
    # its final name, the metadata and reports beside it are its own.
    sidecars = dict(zip(sidecars_of(out), (runs.json_text(metadata), runs.json_text(report), verify.markdown(report))))
    runs.replace_together({**sidecars, out: content}, remove_first=out)
    return Conversion(report, [out, *sidecars])


def sidecars_of(out: Path) -> list[Path]:
    return [verify.sidecar(out, kind) for kind in SIDECARS]


def rejected_path(out: Path) -> Path:
    """Where a file that failed verification goes (model-int8.rejected.tflite beside model-int8.tflite):
    never over `out`, so a failed attempt leaves the last verified file and its reports as they were."""
    return out.with_name(f"{out.stem}.rejected{out.suffix}")


def int8_that_agrees(run: Run, quantize: str, route: str, content: bytes, min_agreement: float | None):
    """(content, ops kept in float): full int8 if it agrees on the validation split, else selective_int8's
    file (when none reaches the bar, the one that agreed best, if better than full int8)."""
    from nnkeras.export import selective_int8

    threshold = verify.default_threshold(quantize) if min_agreement is None else float(min_agreement)
    x, reference = selective_int8.validation_split(run)
    bar = selective_int8.judge_threshold(threshold, len(reference))
    full = selective_int8.agreement(run, content, x, reference)
    if full >= bar:
        return content, []
    model = recurrent_route.model_for(run.core, route)
    with tempfile.TemporaryDirectory(prefix="nnkeras-export-") as tmp:
        saved_model = export_saved_model(model, Path(tmp), recurrent_route.export_batch(route))
        converter = make_converter(saved_model, quantize, run)
        with quiet_stderr():
            found = selective_int8.keep_float_until_agrees(run, converter, converter.representative_dataset,
                                                           threshold, quantize == "int8-io")
    return found[:2] if found is not None and found[2] > full else (content, [])


def tflite_file(run: Run, quantize: str, min_agreement: float | None = None):
    """Convert and embed the metadata, in memory; return (bytes, LiteRT runner, metadata)."""
    from nnkeras.export.flatbuffer import embed_metadata
    from nnkeras.export.litert import LiteRTModel

    route = recurrent_route.choose_route(run.core, quantize)
    content = to_tflite(run, quantize, route)
    float_kept = []
    if quantize in recurrent_route.INT8_MODES:
        content, float_kept = int8_that_agrees(run, quantize, route, content, min_agreement)
    # The quantisation parameters are known only once the file exists.
    io = LiteRTModel(content).io_quantization()
    metadata = build_metadata(run, "tflite", quantize, io, route, float_kept)
    content = embed_metadata(content, metadata)
    return content, LiteRTModel(content), metadata
