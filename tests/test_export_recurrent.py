"""Recurrent models trained with unroll=False (as the experiments ship them) convert without retraining.

Float modes take the WHILE route (batch-1 signature, builtin WHILE op), int8 the
unrolled twin (export/recurrent_route.py); both must be builtin ops only and
agree with Keras, and the server must give the file's answers for a batch.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from test_export import ZOO, builtin_only, file_for, operators, zoo_run

# The shipped builders with unroll=False (their default), at smoke size; LSTM + attention is the zoo's
# run (test_export.py), trained once for both files.
RECURRENT = {
    "lstm_attention": ("lstm_attention", ZOO["lstm_attention"][1]),
    "gru": ("rnn", {"cell": "gru", "units": 8, "embed_dim": 8}),
    "simple_rnn": ("rnn", {"cell": "simple_rnn", "units": 8, "embed_dim": 8, "bidirectional": True}),
}


def test_routes_are_chosen_by_mode_and_by_whether_the_model_loops():
    from nnkeras.data import DataSpec
    from nnkeras.export.recurrent_route import choose_route, looping_layers, unrolled_twin
    from nnkeras.models.recurrent import build_lstm_attention
    from nnkeras.models.transformer import build_transformer

    spec = DataSpec("tokens", (6,), 3, ("a", "b", "c"), input_dtype="int32", vocab_size=20)
    looping = build_lstm_attention(spec, units=4, embed_dim=4, attention_units=4)
    assert sorted(layer.name for layer in looping_layers(looping)) == ["backward_lstm", "forward_lstm"]
    assert choose_route(looping, "none") == choose_route(looping, "float16") == "while"
    assert choose_route(looping, "int8") == choose_route(looping, "int8-io") == "unrolled"
    twin = unrolled_twin(looping)
    assert choose_route(twin, "int8") == "graph"  # the twin no longer loops
    x = np.random.default_rng(0).integers(1, 20, (5, 6)).astype(np.int32)
    np.testing.assert_allclose(twin(x), looping(x), atol=1e-6)  # same weights, same logits
    assert choose_route(build_transformer(spec, embed_dim=8, num_heads=2, ff_dim=8), "none") == "graph"


@pytest.mark.parametrize("name,mode,route", [("lstm_attention", "none", "while"),
                                             ("gru", "float16", "while"),
                                             ("simple_rnn", "dynamic", "while")])
def test_a_model_trained_with_unroll_false_converts_to_builtins_and_agrees(trained_run, name, mode, route):
    from nnkeras.export import convert as export
    from nnkeras.export.flatbuffer import read_metadata
    from nnkeras.finished_run import load_run
    from nnkeras.serve.app import load_predictor

    run_dir = zoo_run(trained_run, name, *RECURRENT[name])
    assert json.loads((run_dir / "config.json").read_text())["model"]["params"].get("unroll", False) is False
    report = export.convert(run_dir, mode).report
    path = file_for(run_dir, mode)
    assert report["passed"] and report["route"] == route, report
    assert report["agreement"] >= 0.99
    assert builtin_only(path)
    ops = operators(path)
    assert not any(op.startswith("FLEX") for op in ops) and "CUSTOM" not in ops
    assert ("WHILE" in ops) == (route == "while")
    metadata = read_metadata(path)
    assert metadata["route"] == route
    assert f"| {route} |" in path.with_name(f"{path.name}.verify.md").read_text()
    # Served: a batch of 7 goes through a batch-1 file one example at a time, same answers as Keras.
    x = load_run(run_dir).dataset.x_test[:7]
    served, keras_served = load_predictor(path).logits(x), load_predictor(run_dir).logits(x)
    assert served.shape == (7, 3)
    if mode == "none":
        np.testing.assert_allclose(served, keras_served, atol=1e-4)
    assert np.array_equal(served.argmax(1), keras_served.argmax(1))


@pytest.mark.parametrize("name", ["gru", "simple_rnn"])
def test_int8_of_a_looping_cell_goes_through_the_unrolled_twin_and_agrees(trained_run, name):
    """int8 calibration of the WHILE loop crashes the converter, so int8 takes the twin; the ops that
    break agreement stay float (selective_int8.py), named in the report. (LSTM: the zoo test.)"""
    from nnkeras.export import convert as export
    from nnkeras.export.flatbuffer import read_metadata

    run_dir = zoo_run(trained_run, name, *RECURRENT[name])
    report = export.convert(run_dir, "int8").report
    path = file_for(run_dir, "int8")
    assert report["route"] == "unrolled" and builtin_only(path) and "WHILE" not in operators(path)
    assert report["passed"] and report["agreement"] >= 0.98, report
    assert read_metadata(path)["quantization"]["float_kept"] == report["float_kept"]


@pytest.mark.slow
def test_imdb_lstm_attention_as_shipped_converts_without_retraining(tmp_path):
    """The shipped experiment (BiLSTM 64, seq 200, unroll=False), a smoke run on stand-in data, via the CLI."""
    from conftest import run_cli

    result = run_cli("run", "imdb_lstm_attention", "--smoke", "--set", "data.size=200", "--set", "train.epochs=1",
                     "--runs-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    (run_dir,) = [p.parent for p in tmp_path.glob("imdb_lstm_attention/*/model.keras")]
    result = run_cli("convert", str(run_dir))
    assert result.returncode == 0, result.stderr
    report = json.loads((run_dir / "model.tflite.verify.json").read_text())
    assert report["route"] == "while" and report["agreement"] >= 0.99 and report["passed"]
    assert builtin_only(run_dir / "model.tflite") and "WHILE" in operators(run_dir / "model.tflite")
