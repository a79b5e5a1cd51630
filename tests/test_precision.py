"""What a run trains on (the device line, metrics.json) and train.mixed_precision, on the CPU."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from conftest import REPO  # noqa: F401  (tests import from the checkout)
from nnkeras import cli, models, runs
from nnkeras.finished_run import load_run
from test_serve import predict, start_server

SMOKE = ["--set", "data.name=synthetic", "--set", "data.shape=6,6,1", "--set", "data.num_classes=3",
         "--set", "data.size=300", "--set", "train.epochs=2", "--set", "model.hidden=16"]


def run(capsys, tmp_path, *extra):
    code = cli.main(["run", "mnist_mlp", *SMOKE, *extra, "--runs-dir", str(tmp_path / "runs")])
    out, err = capsys.readouterr()
    found = sorted((tmp_path / "runs").rglob(runs.METRICS))
    return code, out, err, found[-1].parent if found else None


def test_every_run_says_what_it_trains_on_and_records_it(capsys, tmp_path):
    code, out, _, run_dir = run(capsys, tmp_path)
    assert code == 0
    (line,) = [row for row in out.splitlines() if row.startswith("nnkeras: training on ")]
    assert line.startswith("nnkeras: training on CPU (") and "thread" in line  # this machine has no GPU
    device = json.loads((run_dir / runs.METRICS).read_text())["device"]
    assert device["kind"] == "CPU" and device["replicas"] == 1 and device["threads"] >= 1
    assert device["devices"][0] in line


def test_the_numpy_engine_says_it_too(capsys, tmp_path):
    code = cli.main(["run", "scratch_mlp", "--smoke", "--runs-dir", str(tmp_path / "np")])
    out = capsys.readouterr().out
    assert code == 0 and len([row for row in out.splitlines() if row.startswith("nnkeras: training on CPU (")]) == 1
    metrics = json.loads(next((tmp_path / "np").rglob(runs.METRICS)).read_text())
    assert metrics["device"]["kind"] == "CPU"


def test_mirrored_names_its_replicas(capsys, tmp_path):
    code, out, _, run_dir = run(capsys, tmp_path, "--set", "train.distribution=mirrored")
    assert code == 0
    assert ", 1 replica (mirrored)" in out
    assert json.loads((run_dir / runs.METRICS).read_text())["device"]["replicas"] == 1


@pytest.fixture(scope="module")
def bfloat16_run(tmp_path_factory):
    import contextlib
    import io

    folder = tmp_path_factory.mktemp("mixed")
    with contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["run", "mnist_mlp", *SMOKE, "--set", "train.mixed_precision=mixed_bfloat16",
                         "--runs-dir", str(folder)])
    assert code == 0
    return next(folder.rglob(runs.METRICS)).parent


def test_mixed_bfloat16_trains_in_16_bits_with_float32_logits(bfloat16_run):
    checkpoint = models.load_model(next((bfloat16_run / runs.CHECKPOINTS).glob("*.keras")))
    hidden = [layer for layer in checkpoint.layers if isinstance(layer, keras.layers.Dense)]
    assert {layer.dtype_policy.name for layer in hidden} == {"mixed_bfloat16"}
    assert all(w.dtype == "float32" for w in checkpoint.weights)  # variables stay float32
    x = np.random.default_rng(0).normal(size=(4, 6, 6, 1)).astype("float32")
    assert hidden[0](keras.ops.reshape(x, (4, -1))).dtype == "bfloat16"
    assert checkpoint(x).dtype == "float32"  # logits (and so the loss) in float32
    metrics = json.loads((bfloat16_run / runs.METRICS).read_text())
    assert metrics["mixed_precision"] == "mixed_bfloat16" and np.isfinite(metrics["test_loss"])


def test_a_mixed_precision_run_ships_a_float32_model_that_converts_and_serves(bfloat16_run, capsys):
    shipped = load_run(bfloat16_run).model
    assert {layer.dtype_policy.name for layer in shipped.layers if layer.weights} == {"float32"}
    assert cli.main(["convert", str(bfloat16_run)]) == 0
    capsys.readouterr()
    verify = json.loads((bfloat16_run / "model.tflite.verify.json").read_text())
    assert verify["passed"] and verify["agreement"] == 1.0
    process, url = start_server(str(bfloat16_run))
    try:
        x = np.random.default_rng(1).normal(size=(3, 6, 6, 1)).astype("float32")
        status, body = predict(url, x.tolist())
        assert status == 200
        expected = np.argmax(shipped.predict(x, verbose=0), axis=1).tolist()
        assert [p["class"] for p in body["predictions"]] == expected
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_mixed_float16_without_a_gpu_is_one_line_and_writes_nothing(capsys, tmp_path):
    code, _, err, run_dir = run(capsys, tmp_path, "--set", "train.mixed_precision=mixed_float16")
    assert code == 2 and run_dir is None and not (tmp_path / "runs").exists()
    assert err.strip() == ("error: train.mixed_precision=mixed_float16 needs a GPU (none is visible to TensorFlow);"
                           " on a CPU use mixed_bfloat16, or none (docs/gpu.md)")


def test_an_unknown_precision_and_the_numpy_engine_are_refused(capsys, tmp_path):
    code, _, err, _ = run(capsys, tmp_path, "--set", "train.mixed_precision=float8")
    assert code == 2 and "train.mixed_precision" in err and "mixed_bfloat16" in err and "\n" not in err.strip()
    code = cli.main(["run", "scratch_mlp", "--smoke", "--set", "train.mixed_precision=mixed_bfloat16",
                     "--runs-dir", str(tmp_path / "np")])
    err = capsys.readouterr().err
    assert code == 2 and "NumPy models compute in float64" in err
