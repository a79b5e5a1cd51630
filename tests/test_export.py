"""TFLite and ONNX conversion from a run directory: real files, run by LiteRT and onnxruntime."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

from conftest import run_cli
from nnkeras import runs
from nnkeras.errors import NNKerasError
from test_training import smoke_experiment

MODES = ("none", "dynamic", "float16", "int8", "int8-io")


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    """A trained smoke MLP (synthetic 6x6x1 inputs, 3 classes) in a run directory."""
    from nnkeras.training import train

    return train(smoke_experiment(), tmp_path_factory.mktemp("runs") / "mlp").run_dir


@pytest.fixture(scope="module")
def converted(mlp_run):
    """Every quantisation mode of the MLP run, converted once: mode -> report."""
    from nnkeras.export import convert as export

    return {mode: export.convert(mlp_run, mode).report for mode in MODES}


def builtin_only(path) -> bool:
    """No custom ops: Flex (Select TF) ops are stored as custom ops named Flex*."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(path.read_bytes(), 0)
    codes = [max(model.OperatorCodes(i).BuiltinCode(), model.OperatorCodes(i).DeprecatedBuiltinCode())
             for i in range(model.OperatorCodesLength())]
    return bool(codes) and schema.BuiltinOperator.CUSTOM not in codes


def operators(path) -> set[str]:
    """The builtin operator names in the flatbuffer's op list."""
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAs(path.read_bytes(), 0)
    return {names[max(model.OperatorCodes(i).BuiltinCode(), model.OperatorCodes(i).DeprecatedBuiltinCode())]
            for i in range(model.OperatorCodesLength())}


def file_for(run_dir, mode):
    return run_dir / ("model.tflite" if mode == "none" else f"model-{mode}.tflite")


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_writes_a_verified_builtin_only_tflite(mlp_run, converted, mode):
    from nnkeras.export.litert import LiteRTModel
    from nnkeras import data
    from nnkeras.config import Experiment

    report, path = converted[mode], file_for(mlp_run, mode)
    assert path.read_bytes()[4:8] == b"TFL3" and builtin_only(path)
    assert report["passed"] and report["agreement"] >= (0.99 if mode in ("none", "dynamic", "float16") else 0.98)
    assert report["bytes"] == path.stat().st_size and report["n_test"] == 80
    assert json.loads(path.with_name(f"{path.name}.verify.json").read_text()) == report
    table = path.with_name(f"{path.name}.verify.md").read_text()
    assert f"| {path.name} | {mode} | {report['bytes']} |" in table
    # The report's numbers are reproduced by running the written file afresh.
    ds = data.load(Experiment.load(mlp_run / runs.CONFIG).data, 3)
    logits = LiteRTModel(path).predict(ds.x_test)
    assert np.mean(logits.argmax(1) == ds.y_test) == pytest.approx(report["converted_accuracy"])
    assert report["keras_accuracy"] == pytest.approx(json.loads((mlp_run / runs.METRICS).read_text())["test_accuracy"])


def test_float_modes_match_keras_logits_closely(converted):
    assert converted["none"]["max_abs_diff"] < 1e-4
    assert converted["float16"]["max_abs_diff"] < 2e-2
    # int8 moves logits by whole quantisation steps; still bounded.
    assert 0 < converted["int8"]["max_abs_diff"] < 1.0


def test_int8_io_has_int8_tensors_and_metadata_reads_back(mlp_run, converted):
    from nnkeras.export.litert import LiteRTModel, to_input
    from nnkeras.export.flatbuffer import read_metadata

    path = file_for(mlp_run, "int8-io")
    metadata = read_metadata(path)
    assert metadata == json.loads((mlp_run / "model-int8-io.tflite.metadata.json").read_text())
    assert metadata["class_names"] == ["class_0", "class_1", "class_2"]
    assert metadata["input"]["shape"] == [6, 6, 1] and metadata["input"]["tensor_dtype"] == "int8"
    assert metadata["normalisation"] == {"scale": 1.0, "mean": 0.0, "std": 1.8,
                                         "formula": "x = (raw * scale - mean) / std"}
    model = LiteRTModel(path)
    scale, zero_point = model.input["quantization"]
    assert metadata["quantization"]["input"] == {"scale": pytest.approx(scale), "zero_point": zero_point}
    assert model.input_dtype == np.int8 and np.dtype(model.output["dtype"]) == np.int8
    # The one-step recipe an app applies gives the tensor the runner feeds.
    raw = np.random.default_rng(0).normal(scale=2, size=(4, 6, 6, 1))
    pre = metadata["preprocess"]
    app_side = np.clip(np.round(raw * pre["multiply"] + pre["add"]), *pre["clip"]).astype(np.int8)
    runner_side = to_input(model.input, (raw * 1.0 - 0.0) / 1.8)  # what predict() feeds the file
    assert np.abs(app_side.astype(int) - runner_side.astype(int)).max() <= 1  # rounding at .5 may differ


def test_float_metadata_has_no_quantisation(mlp_run, converted):
    from nnkeras.export.flatbuffer import read_metadata

    metadata = read_metadata(file_for(mlp_run, "none"))
    assert metadata["quantization"] == {"mode": "none", "input": None, "output": None}
    assert metadata["output"]["kind"] == "logits" and metadata["num_classes"] == 3


def test_embedding_metadata_changes_nothing_the_interpreter_sees(mlp_run):
    from nnkeras.export import convert as export
    from nnkeras.export.litert import LiteRTModel
    from nnkeras.export.flatbuffer import embed_metadata, read_metadata

    plain = export.to_tflite(export.load_run(mlp_run), "int8")
    once = embed_metadata(plain, {"a": 1})
    twice = embed_metadata(once, {"a": 2})
    x = np.random.default_rng(1).normal(size=(7, 6, 6, 1)).astype(np.float32)
    np.testing.assert_array_equal(LiteRTModel(plain).predict(x), LiteRTModel(twice).predict(x))
    assert read_metadata(twice) == {"a": 2}  # replaced, not stacked
    with pytest.raises(NNKerasError, match="no embedded nnkeras metadata"):
        read_metadata(plain)
    with pytest.raises(NNKerasError, match="not a TFLite flatbuffer"):
        read_metadata(mlp_run / runs.CONFIG)


def test_no_temporary_files_are_left(mlp_run, converted):
    assert not list(mlp_run.glob(".*tmp*")) and not list(mlp_run.glob("*.tmp"))


def outlier_run(mlp_run, tmp_path):
    """The MLP with its busiest hidden unit scaled up 1000x and that unit's outgoing weights down 1000x.

    ReLU is positively homogeneous, so the float model computes the same
    logits; but int8 gives all hidden units one scale, set by the outlier,
    and the other units round to zero: the classic outlier-activation failure.
    """
    import keras

    from nnkeras import data
    from nnkeras.config import Experiment

    run_dir = tmp_path / "outlier"
    shutil.copytree(mlp_run, run_dir, ignore=shutil.ignore_patterns("*.tflite*", "*.onnx*", "tb", "checkpoints"))
    model = keras.models.load_model(run_dir / runs.MODEL)
    kernel, bias = model.get_layer("dense_1").get_weights()
    x = data.load(Experiment.load(run_dir / runs.CONFIG).data, 3).x_train.reshape(-1, kernel.shape[0])
    unit = int(np.maximum(x @ kernel + bias, 0).mean(axis=0).argmax())
    kernel[:, unit], bias[unit] = kernel[:, unit] * 1000, bias[unit] * 1000
    model.get_layer("dense_1").set_weights([kernel, bias])
    out_kernel, out_bias = model.get_layer("logits").get_weights()
    out_kernel[unit] /= 1000
    model.get_layer("logits").set_weights([out_kernel, out_bias])
    model.save(run_dir / runs.MODEL)
    return run_dir


def test_int8_under_the_threshold_keeps_the_outlier_ops_in_float_and_passes(mlp_run, tmp_path):
    # Full int8 of this model agrees on few examples (the outlier unit sets one scale for all): since
    # export/selective_int8.py, convert keeps the ops responsible in float until the file agrees.
    run_dir = outlier_run(mlp_run, tmp_path)
    done = run_cli("convert", str(run_dir), "--quantize", "int8")
    assert done.returncode == 0, done.stderr
    report = json.loads((run_dir / "model-int8.tflite.verify.json").read_text())
    assert report["passed"] and report["agreement"] >= 0.98 and report["float_kept"]
    assert any("dense_1" in op for op in report["float_kept"])  # the layer the outlier feeds
    # A lowered threshold is honoured: full int8 is accepted as it is, nothing kept in float.
    lowered = run_cli("convert", str(run_dir), "--quantize", "int8", "--min-agreement", "0.1")
    assert lowered.returncode == 0, lowered.stderr
    assert "| model-int8.tflite | int8 |" in lowered.stdout
    assert json.loads((run_dir / "model-int8.tflite.verify.json").read_text())["float_kept"] == []


def float16_fragile_run(mlp_run, tmp_path):
    """The MLP run (its verified model-float16.tflite included) with logit weights that float16 cannot hold.

    Every logit gets the same large term, x @ 1 (argmax unchanged in float32), and the
    class differences shrink 10,000x: float16 rounds weights near 1 to steps of 1e-3,
    larger than what now tells the classes apart, so the float16 file guesses.
    """
    import keras

    run_dir = tmp_path / "fragile"
    shutil.copytree(mlp_run, run_dir, ignore=shutil.ignore_patterns("tb", "checkpoints"))
    model = keras.models.load_model(run_dir / runs.MODEL)
    kernel, bias = model.get_layer("logits").get_weights()
    model.get_layer("logits").set_weights([1.0 + kernel * 1e-4, bias * 1e-4])
    model.save(run_dir / runs.MODEL)
    return run_dir


def test_a_file_that_fails_verification_exits_1_and_leaves_the_verified_file_in_place(mlp_run, converted, tmp_path):
    run_dir = float16_fragile_run(mlp_run, tmp_path)
    good = {p.name: p.read_bytes() for p in run_dir.glob("model-float16.tflite*")}
    assert len(good) == 4 and converted["float16"]["passed"]
    failed = run_cli("convert", str(run_dir), "--quantize", "float16")
    assert failed.returncode == 1, failed.stderr
    (line,) = failed.stderr.strip().splitlines()
    assert line.startswith("verification failed: top-1 agreement") and "model-float16.rejected.tflite" in line
    # The verified file and its three reports are untouched; the rejected one has its own, consistent set.
    assert {p.name: p.read_bytes() for p in run_dir.glob("model-float16.tflite*")} == good
    rejected = run_dir / "model-float16.rejected.tflite"
    report = json.loads(rejected.with_name(f"{rejected.name}.verify.json").read_text())
    assert report["file"] == rejected.name and report["bytes"] == rejected.stat().st_size
    assert not report["passed"] and report["agreement"] < 0.9
    assert f"| {rejected.name} | float16 |" in rejected.with_name(f"{rejected.name}.verify.md").read_text()
    from nnkeras.export.flatbuffer import read_metadata

    assert read_metadata(rejected) == json.loads(rejected.with_name(f"{rejected.name}.metadata.json").read_text())
    assert not list(run_dir.glob(".*tmp*"))


def test_the_validation_bar_is_one_standard_error_above_the_threshold():
    """selective_int8 judges on the validation split with a margin that shrinks as the split grows."""
    from nnkeras.export.selective_int8 import judge_threshold

    assert judge_threshold(0.98, 120) == pytest.approx(0.9928, abs=1e-4)  # 120 examples: every one must agree
    assert judge_threshold(0.98, 2500) == pytest.approx(0.9828, abs=1e-4)  # a real split: not perfection
    assert judge_threshold(1.0, 50) == 1.0 and judge_threshold(0.5, 0) == 1.0


@pytest.mark.parametrize("args, message", [
    (["--quantize", "int4"], "--quantize int4: choose one of none, dynamic, float16, int8, int8-io"),
    (["--format", "coreml"], "--format coreml: choose one of tflite, onnx"),
    (["--format", "onnx", "--quantize", "int8"], "supports --quantize none only"),
    (["--min-agreement", "1.5"], "must be a fraction in [0, 1]"),
    (["--out", "/nonexistent/x.tflite"], "folder /nonexistent does not exist"),
    (["--out", "{run}/model.keras"], "a tflite file must end in .tflite"),
])
def test_cli_bad_arguments_exit_2_with_one_line(capsys, mlp_run, args, message):
    # In this process (a fresh one per case cost 7 s of TensorFlow import each); the other CLI tests here start one.
    from test_errors import assert_one_error_line, cli

    before = (mlp_run / "model.keras").read_bytes()
    code, err = cli(capsys, "convert", mlp_run, *[a.format(run=mlp_run) for a in args])
    assert (mlp_run / "model.keras").read_bytes() == before  # the run is never touched
    assert_one_error_line(code, err, message)


def test_cli_refuses_a_folder_that_is_not_a_run(capsys, tmp_path):
    from test_errors import assert_one_error_line, cli

    assert_one_error_line(*cli(capsys, "convert", tmp_path), "no config.json; pass a finished run directory")


# ---------------------------------------------------------------------------
# Models outside the MLP: recurrent layers and integer token inputs, made in the test


def hand_made_run(tmp_path, model, experiment, spec):
    """A run directory for a model no builder makes (yet): config, data spec, model, and the
    metrics.json that marks a run finished (convert refuses an unfinished one)."""
    run_dir = tmp_path / model.name
    run_dir.mkdir()
    runs.write_atomic(run_dir / runs.CONFIG, experiment.to_json())
    runs.write_json(run_dir / runs.DATA_SPEC, spec.to_dict())
    model.save(run_dir / runs.MODEL)
    runs.write_json(run_dir / runs.METRICS, {"experiment": experiment.name, "status": "complete"})
    return run_dir


def sequence_run(tmp_path, unroll: bool):
    import keras

    from nnkeras import data
    from nnkeras.config import DataConfig, Experiment, ModelConfig

    experiment = Experiment(name="seq", data=DataConfig(name="synthetic", shape=(5, 4), num_classes=3, size=100),
                            model=ModelConfig(name="lstm_probe"), seed=0)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5, 4), name="inputs")
    lstm = keras.layers.LSTM(8, unroll=unroll, name="lstm")
    x = keras.layers.Bidirectional(lstm, name="bilstm")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, name="logits")(x), name="lstm_probe")
    return hand_made_run(tmp_path, model, experiment, data.load(experiment.data, 0).spec)


def test_plain_lstm_converts_on_the_while_route_without_retraining(tmp_path):
    """unroll=False on float sequences: the batch-1 WHILE route (test_export_recurrent.py covers the zoo)."""
    from nnkeras.export import convert as export

    report = export.convert(sequence_run(tmp_path, unroll=False)).report
    assert report["passed"] and report["route"] == "while"
    assert builtin_only(tmp_path / "lstm_probe" / "model.tflite")


@pytest.mark.parametrize("mode", ["none", "int8"])
def test_unrolled_bidirectional_lstm_converts_with_builtins(tmp_path, mode):
    from nnkeras.export import convert as export

    run_dir = sequence_run(tmp_path, unroll=True)
    report = export.convert(run_dir, mode).report
    assert report["passed"] and builtin_only(file_for(run_dir, mode))


def token_run(tmp_path):
    """An int32 token-id classifier (Embedding -> pooling -> Dense) and token data made here."""
    import keras

    from nnkeras.config import DataConfig, Experiment, ModelConfig
    from nnkeras.data import Dataset, DataSpec

    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 50, size=(300, 12)).astype(np.int32)
    labels = (tokens[:, 0] % 2).astype(np.int64)  # learnable from the first token
    spec = DataSpec("tokens", (12,), 2, ("even", "odd"))
    dataset = Dataset(tokens[:200], labels[:200], tokens[200:240], labels[200:240], tokens[240:], labels[240:], spec)
    experiment = Experiment(name="tokens", data=DataConfig(name="synthetic"), model=ModelConfig(name="token_probe"))
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(50, 8, name="embedding")(inputs)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="logits")(x), name="token_probe")
    return hand_made_run(tmp_path, model, experiment, spec), dataset


@pytest.mark.parametrize("mode", ["none", "int8-io"])
def test_token_id_inputs_stay_integers(tmp_path, mode):
    from nnkeras.export import convert as export
    from nnkeras.export.flatbuffer import read_metadata

    run_dir, dataset = token_run(tmp_path)
    report = export.convert(run_dir, mode, dataset=dataset).report
    metadata = read_metadata(file_for(run_dir, mode))
    assert report["passed"] and metadata["input"]["dtype"] == "int32"
    assert metadata["input"]["tensor_dtype"] == "int32"  # ids are never quantised
    assert metadata["normalisation"] is None and metadata["input"]["vocabulary_size"] == 50


def test_a_transformer_takes_every_id_of_its_vocabulary_not_only_ids_below_its_length():
    """The position embedding (one row per position, here 6) must not bound the token ids (34)."""
    from nnkeras.data import DataSpec
    from nnkeras.export.metadata import vocabulary_size
    from nnkeras.models.transformer import build_transformer

    spec = DataSpec("tokens", (6,), 3, ("a", "b", "c"), input_dtype="int32", vocab_size=34)
    for positions in ("learned", "sinusoidal"):
        assert vocabulary_size(build_transformer(spec, embed_dim=8, num_heads=2, ff_dim=8, positions=positions)) == 34


# ---------------------------------------------------------------------------
# ONNX


def test_onnx_matches_keras_in_onnxruntime(mlp_run):
    pytest.importorskip("tf2onnx")
    from nnkeras.export.onnx import read_onnx_metadata

    result = run_cli("convert", str(mlp_run), "--format", "onnx")
    assert result.returncode == 0, result.stderr
    report = json.loads((mlp_run / "model.onnx.verify.json").read_text())
    assert report["file"] == "model.onnx" and report["passed"] and report["agreement"] == 1.0
    assert report["max_abs_diff"] < 1e-4
    assert read_onnx_metadata(mlp_run / "model.onnx")["class_names"] == ["class_0", "class_1", "class_2"]


def test_onnx_without_the_extra_says_how_to_install_it(mlp_run, monkeypatch):
    from nnkeras.export import convert as export

    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # import tf2onnx now raises ImportError
    with pytest.raises(NNKerasError, match=r"pip install 'nnkeras\[onnx\]'"):
        export.convert(mlp_run, fmt="onnx", out=mlp_run / "other.onnx")
    assert not (mlp_run / "other.onnx").exists()


# ---------------------------------------------------------------------------
# The model zoo: every builder, trained for seconds on data made here, in every mode

IMAGES = {"name": "synthetic", "shape": (16, 16, 1), "num_classes": 3, "size": 300, "val_fraction": 0.2}
TOKENS = {"name": "long_range", "seq_len": 8, "num_classes": 3, "size": 600, "val_fraction": 0.2}
# builder -> (data, builder arguments). Recurrent layers as the experiments ship them (unroll=False).
ZOO = {
    "lenet5": (IMAGES, {}),
    "convnet": ({**IMAGES, "shape": (16, 16, 3)},
                {"filters": (4, 8), "dense": 8, "rotation": 0.1, "shift": 0.1, "flip": True}),
    "arcface": (IMAGES, {"embedding_dim": 8, "filters": (4, 8)}),
    "scratch_mlp": ({**IMAGES, "shape": (6, 6, 1)}, {"hidden": (8,)}),
    "scratch_lenet5": (IMAGES, {}),
    "scratch_lstm": (TOKENS, {"units": 8, "embed_dim": 8}),  # the twin is unrolled by default
    "scratch_transformer": (TOKENS, {"embed_dim": 8, "num_heads": 2, "ff_dim": 8, "dropout": 0.0}),
    "rnn": (TOKENS, {"cell": "lstm", "units": 8, "embed_dim": 8, "bidirectional": True}),
    "lstm_attention": (TOKENS, {"units": 8, "embed_dim": 8, "attention_units": 8, "dropout": 0.0}),
    "transformer": (TOKENS, {"embed_dim": 8, "num_heads": 2, "ff_dim": 8, "dropout": 0.0}),
}
ZOO_EPOCHS = 6
LOOPING = ("rnn", "lstm_attention")  # recurrent layers with unroll=False (scratch_lstm's twin is unrolled)
# Covered in their own section: one input tensor per column, made from rows in the test.
TABLES = ("wide_deep",)


def test_every_builder_is_covered():
    from nnkeras import models

    assert {"mlp", *ZOO, *TABLES} == set(models.BUILDERS)


def zoo_run(trained_run, name: str, builder: str | None = None, params: dict | None = None):
    """The run of ZOO[name], or of `builder` with `params` on the zoo's tokens: trained once a session."""
    data, zoo_params = ZOO.get(name, (TOKENS, None))
    return trained_run(name, data, builder or name, params or zoo_params, ZOO_EPOCHS)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("builder", sorted(ZOO))
def test_zoo_model_converts_runs_and_agrees(trained_run, builder, mode):
    from nnkeras.export import convert as export
    from nnkeras.export.flatbuffer import read_metadata

    run_dir = zoo_run(trained_run, builder)
    report = export.convert(run_dir, mode).report
    path = file_for(run_dir, mode)
    assert report["passed"], report
    assert builtin_only(path)
    metadata = read_metadata(path)
    assert metadata["experiment"] == builder and metadata["quantization"]["mode"] == mode
    if mode in ("int8", "int8-io"):  # the ops selective_int8 kept float are named alike in report and file
        assert metadata["quantization"]["float_kept"] == report["float_kept"]
    if builder in LOOPING:  # int8 calibration of the WHILE loop crashes the converter: int8 takes the unrolled twin
        assert report["route"] == ("unrolled" if mode in ("int8", "int8-io") else "while")
        assert ("WHILE" in operators(path)) == (report["route"] == "while")


def test_a_zoo_model_with_custom_layers_converts_in_a_fresh_process(trained_run):
    """`nnkeras convert` alone must register the zoo's custom layers before loading model.keras."""
    run_dir = zoo_run(trained_run, "transformer")
    result = run_cli("convert", str(run_dir), "--quantize", "float16")
    assert result.returncode == 0, result.stderr
    assert "| model-float16.tflite | float16 |" in result.stdout


def test_the_stdlib_reader_for_apps_agrees_with_the_schema_reader(mlp_run, converted):
    """mobile/read_metadata.py is the reference for the Kotlin and Swift readers."""
    import importlib.util

    from conftest import REPO
    from nnkeras.export.flatbuffer import read_metadata

    spec = importlib.util.spec_from_file_location("mobile_read_metadata", REPO / "mobile" / "read_metadata.py")
    reader = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reader)
    for mode in MODES:
        path = file_for(mlp_run, mode)
        assert reader.read(path.read_bytes()) == read_metadata(path)
    assert reader.read(export_plain_tflite(mlp_run)) is None


def export_plain_tflite(run_dir) -> bytes:
    from nnkeras.export import convert as export

    return export.to_tflite(export.load_run(run_dir), "none")


# ---------------------------------------------------------------------------
# Tables: wide_deep on passenger rows made here (strings, numbers, missing values)


def passenger_rows(n: int, seed: int):
    """Titanic-like rows whose label follows a rule (women not in 3rd class, and children, survive)."""
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for _ in range(n):
        sex, pclass = str(rng.choice(["female", "male"])), int(rng.integers(1, 4))
        age = None if rng.random() < 0.2 else round(float(rng.uniform(1, 70)), 1)
        rows.append({"Pclass": pclass, "Sex": sex, "Age": age, "SibSp": int(rng.integers(0, 4)),
                     "Parch": int(rng.integers(0, 3))})
        labels.append(int(sex == "female" and pclass < 3 or (age is not None and age < 10)))
    return rows, np.array(labels)


def table_dataset():
    from nnkeras.data import Dataset, DataSpec
    from nnkeras.data.tabular import measure_features, to_columns

    categorical, numeric = ["Pclass", "Sex"], ["Age", "SibSp", "Parch"]
    splits = [passenger_rows(n, seed) for n, seed in ((400, 0), (60, 1), (120, 2))]
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = [(to_columns(r, categorical, numeric), y) for r, y in splits]
    spec = DataSpec("passengers", (5,), 2, ("died", "survived"), input_dtype="features",
                    features=measure_features(x_train, categorical, numeric))
    return Dataset(x_train, y_train, x_val, y_val, x_test, y_test, spec)


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    """(run directory, dataset) of a wide_deep model trained for seconds on passenger rows made here."""
    from nnkeras.config import DataConfig, Experiment, ModelConfig, TrainConfig
    from nnkeras.training import train

    dataset = table_dataset()
    experiment = Experiment(name="table", data=DataConfig(name="titanic"),
                            model=ModelConfig("wide_deep", {"hidden": (16,), "embed_dim": 4}),
                            train=TrainConfig(epochs=8, batch_size=32, learning_rate=1e-2), seed=0)
    return train(experiment, tmp_path_factory.mktemp("table") / "run", dataset=dataset).run_dir, dataset


@pytest.mark.parametrize("mode", ["none", "dynamic", "float16", "int8"])
def test_wide_deep_converts_to_builtins_and_agrees_with_keras(table_run, mode):
    from nnkeras.export import convert as export
    from nnkeras.export.flatbuffer import read_metadata

    run_dir, dataset = table_run
    report = export.convert(run_dir, mode, dataset=dataset).report
    path = file_for(run_dir, mode)
    assert report["passed"] and builtin_only(path), report
    assert report["keras_accuracy"] > 0.85  # the rule was learnt: agreement is judged on clear margins
    # int8 is calibrated on every training row of a table, so no test row falls outside its ranges.
    assert report["max_abs_diff"] < (0.2 if mode == "int8" else 0.01)
    table = read_metadata(path)["input"]
    assert table["kind"] == "table" and table["features"] == dataset.spec.features
    assert table["tensors"]["Sex"] == {"shape": [1], "dtype": "int32"}
    assert table["tensors"]["Age"] == {"shape": [1], "dtype": "float32"}


def test_encoded_rows_in_litert_give_the_keras_logits_of_raw_rows(table_run):
    """encode() mirrors the model's own lookups, unseen and missing values included; tensors match by name."""
    import tensorflow as tf

    from nnkeras.export import convert as export
    from nnkeras.data.tabular import encode, to_columns
    from nnkeras.export.litert import LiteRTModel

    run_dir, dataset = table_run
    export.convert(run_dir, "none", dataset=dataset)
    rows = [{"Pclass": 1, "Sex": "female", "Age": 30.0, "SibSp": 0, "Parch": 0},
            {"Pclass": None, "Sex": "male", "Age": None, "SibSp": 1, "Parch": 2},     # missing values
            {"Pclass": 7, "Sex": "unknown", "Age": 5.0, "SibSp": 0, "Parch": 1}]     # unseen categories
    columns = to_columns(rows, ["Pclass", "Sex"], ["Age", "SibSp", "Parch"])
    keras_logits = export.load_run(run_dir, dataset).model({k: tf.constant(v) for k, v in columns.items()}).numpy()
    encoded = encode(columns, dataset.spec.features)
    assert encoded["Pclass"].ravel().tolist() == [1, 0, 0] and encoded["Sex"].ravel().tolist() == [1, 2, 0]
    model = LiteRTModel(run_dir / "model.tflite")
    backwards = dict(reversed(list(encoded.items())))  # names, not order, pick the tensors
    np.testing.assert_allclose(model.predict(backwards), keras_logits, atol=1e-5)
    with pytest.raises(NNKerasError, match="model takes inputs Age, Parch, Pclass, Sex, SibSp; got"):
        model.predict({k: v for k, v in encoded.items() if k != "Age"})


def test_tables_refuse_int8_io_and_onnx_with_the_alternative(table_run):
    from nnkeras.export import convert as export

    run_dir, dataset = table_run
    with pytest.raises(NNKerasError, match="int8-io: a table model .* use --quantize int8"):
        export.convert(run_dir, "int8-io", dataset=dataset)
    pytest.importorskip("tf2onnx")
    with pytest.raises(NNKerasError, match="--format onnx takes one input tensor, not a table.*--format tflite"):
        export.convert(run_dir, fmt="onnx", dataset=dataset)
