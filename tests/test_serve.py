"""`nnkeras serve`: a real server on a free port, called over HTTP with the standard library."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from conftest import REPO, run_cli
from nnkeras import runs
from test_export import table_run  # noqa: F401  (a fixture: wide_deep trained on rows made in the test)
from test_training import smoke_experiment


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from nnkeras.export import convert as export
    from nnkeras.training import train

    run_dir = train(smoke_experiment(), tmp_path_factory.mktemp("runs") / "mlp").run_dir
    for mode in ("none", "int8-io"):
        export.convert(run_dir, mode)
    return run_dir


@pytest.fixture(scope="module")
def raw_test(run_dir):
    """The run's test split as a client has it: raw values (before normalisation), labels."""
    from nnkeras import data
    from nnkeras.config import Experiment

    cfg = Experiment.load(run_dir / runs.CONFIG).data
    raw = data.DATASETS[cfg.name](cfg)
    return raw.x_test, raw.y_test


def start_server(*args: str, timeout: float = 120):
    """`nnkeras serve ARGS --port 0` in its own process; returns (process, base URL)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen([sys.executable, "-m", "nnkeras", "serve", *args, "--port", "0"], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    timer = threading.Timer(timeout, process.kill)  # a server that never says where it listens fails the test
    timer.start()
    line = process.stdout.readline()
    timer.cancel()
    assert line.startswith("serving "), f"server did not start: {line!r}"
    return process, line.split(" on ")[1].split()[0]


@pytest.fixture(scope="module")
def server(run_dir):
    process, url = start_server(str(run_dir / "model.tflite"))
    yield url
    process.terminate()
    process.wait(timeout=30)


def call(url: str, path: str, body: bytes | None = None, method: str | None = None):
    """(status, parsed JSON) of one request; 4xx/5xx are answers too, not exceptions."""
    request = urllib.request.Request(url + path, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@contextlib.contextmanager
def serving(app):
    """`app` on a free port in a thread of this process (for models already loaded here)."""
    from werkzeug.serving import make_server

    http_server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http_server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http_server.port}"
    finally:
        http_server.shutdown()
        thread.join(timeout=30)


def predict(url: str, instances) -> tuple[int, dict]:
    return call(url, "/predict", json.dumps({"instances": instances}).encode())


def test_health_and_metadata(server, run_dir):
    status, health = call(server, "/health")
    assert status == 200 and health["status"] == "ok" and health["backend"] == "litert"
    status, metadata = call(server, "/metadata")
    assert status == 200
    assert metadata == json.loads((run_dir / "model.tflite.metadata.json").read_text())
    assert server.startswith("http://127.0.0.1:")  # loopback unless told otherwise


def test_predictions_from_raw_inputs_match_keras(server, run_dir, raw_test):
    import keras

    from nnkeras import data
    from nnkeras.config import Experiment

    x_raw, y = raw_test
    status, answer = predict(server, x_raw[:50].tolist())
    assert status == 200 and len(answer["predictions"]) == 50
    classes = np.array([p["class"] for p in answer["predictions"]])
    # The server normalised the raw values itself: same classes as Keras on the normalised split.
    ds = data.load(Experiment.load(run_dir / runs.CONFIG).data, 3)
    expected = keras.models.load_model(run_dir / runs.MODEL).predict(ds.x_test[:50], verbose=0).argmax(1)
    np.testing.assert_array_equal(classes, expected)
    first = answer["predictions"][0]
    assert first["label"] == f"class_{first['class']}"
    assert sum(first["probabilities"]) == pytest.approx(1.0) and np.argmax(first["probabilities"]) == first["class"]
    assert np.mean(classes == y[:50]) > 0.5  # and they are right more often than chance (1/3)


def test_flat_instances_are_accepted(server, raw_test):
    x_raw, _ = raw_test
    shaped = predict(server, x_raw[:3].tolist())[1]
    flat = predict(server, x_raw[:3].reshape(3, -1).tolist())[1]
    assert shaped == flat


def test_int8_io_model_served_from_its_file_agrees_with_the_float_one(run_dir, server, raw_test):
    process, url = start_server(str(run_dir / "model-int8-io.tflite"))
    try:
        x_raw, _ = raw_test
        float_classes = [p["class"] for p in predict(server, x_raw.tolist())[1]["predictions"]]
        int8_classes = [p["class"] for p in predict(url, x_raw.tolist())[1]["predictions"]]
        assert np.mean(np.array(float_classes) == np.array(int8_classes)) >= 0.98
        assert call(url, "/metadata")[1]["quantization"]["mode"] == "int8-io"
    finally:
        process.terminate()
        process.wait(timeout=30)


def row(value=1.0):
    return [[[value]] * 6] * 6  # one 6x6x1 instance


BAD_BODIES = {
    "empty body": b"",
    "malformed JSON": b'{"instances": [',
    "not UTF-8": b"\xff\xfe{",
    "not an object": b"[1, 2, 3]",
    "no instances key": b'{"inputs": []}',
    "instances not a list": b'{"instances": "pixels"}',
    "empty list": b'{"instances": []}',
    "wrong shape": json.dumps({"instances": [[1.0, 2.0, 3.0]]}).encode(),
    "ragged": json.dumps({"instances": [row(), [[1.0]]]}).encode(),
    "strings": json.dumps({"instances": [[["a"]] * 6] * 1}).encode(),
    "null": json.dumps({"instances": [None]}).encode(),
    "booleans": json.dumps({"instances": [[[[True]] * 6] * 6]}).encode(),
    "objects": json.dumps({"instances": [{"x": 1}]}).encode(),
    "NaN": json.dumps({"instances": [row(float("nan"))]}).encode(),
    "Infinity": json.dumps({"instances": [row(float("inf"))]}).encode(),
    "overflowing number": json.dumps({"instances": [row(1.0)]}).replace("1.0", "1e999", 1).encode(),
    "too large for float32": json.dumps({"instances": [row(1e300)]}).encode(),
    "deep nesting": b'{"instances": ' + b"[" * 100000 + b"]" * 100000 + b"}",
}


@pytest.mark.parametrize("name", BAD_BODIES)
def test_malformed_requests_get_a_4xx_json_error(server, name):
    status, answer = call(server, "/predict", BAD_BODIES[name])
    assert 400 <= status < 500, (status, answer)
    assert isinstance(answer["error"], str) and answer["error"]


def test_too_many_instances_and_oversize_bodies_are_refused(server):
    status, answer = predict(server, [row()] * 1025)
    assert status == 413 and "at most 1024" in answer["error"]
    huge = b'{"instances": [' + b"0," * (5 * 1024 * 1024) + b"0]}"  # over the 8 MiB default
    assert call(server, "/predict", huge)[0] == 413
    # Chunked: no Content-Length to refuse up front; the server must still stop at the limit.
    host, port = server.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    connection.request("POST", "/predict", body=iter([huge[i:i + 65536] for i in range(0, len(huge), 65536)]),
                       encode_chunked=True, headers={"Transfer-Encoding": "chunked"})
    response = connection.getresponse()
    assert response.status == 413 and "error" in json.loads(response.read())
    connection.close()


def test_wrong_method_and_path_get_json_errors(server):
    assert call(server, "/predict")[0] == 405
    assert call(server, "/health", b"{}", method="POST")[0] == 405
    status, answer = call(server, "/nope")
    assert status == 404 and "error" in answer


def test_concurrent_requests_get_the_same_answers(server, raw_test):
    x_raw, _ = raw_test
    bodies = [x_raw[i:i + 5].tolist() for i in range(0, 40, 5)]
    alone = [predict(server, body)[1] for body in bodies]
    with ThreadPoolExecutor(max_workers=8) as pool:
        together = list(pool.map(lambda body: predict(server, body)[1], bodies))
    assert together == alone


def test_run_directory_is_served_with_its_keras_model(run_dir, server, raw_test):
    from nnkeras.serve import create_app

    with serving(create_app(run_dir)) as url:
        x_raw, _ = raw_test
        keras_answer = predict(url, x_raw[:20].tolist())[1]["predictions"]
        litert_answer = predict(server, x_raw[:20].tolist())[1]["predictions"]
        assert [p["class"] for p in keras_answer] == [p["class"] for p in litert_answer]
        np.testing.assert_allclose([p["probabilities"] for p in keras_answer],
                                   [p["probabilities"] for p in litert_answer], atol=1e-5)
        assert call(url, "/health")[1]["backend"] == "keras"
        assert call(url, "/predict", b"{")[0] == 400


def test_serve_refuses_a_missing_model_and_a_taken_port(server, run_dir, tmp_path):
    missing = run_cli("serve", str(tmp_path / "none.tflite"))
    assert missing.returncode == 2 and "no such file or run directory" in missing.stderr
    not_tflite = tmp_path / "x.tflite"
    not_tflite.write_bytes(b"not a model")
    bad = run_cli("serve", str(not_tflite))
    assert bad.returncode == 2 and "not a TFLite flatbuffer" in bad.stderr
    port = server.rsplit(":", 1)[1]
    taken = run_cli("serve", str(run_dir / "model.tflite"), "--port", port)
    assert taken.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in taken.stderr
    wrapped = run_cli("serve", str(run_dir / "model.tflite"), "--port", "99999")
    assert wrapped.returncode == 2 and "must be in 0..65535" in wrapped.stderr


def test_token_id_model_takes_integer_ids_only(tmp_path):
    """A token-id classifier's .tflite: ids pass as they are; fractions and unknown ids are 400s."""
    import keras

    from nnkeras.export import convert as export
    from nnkeras.serve import create_app
    from test_export import token_run

    run_dir, dataset = token_run(tmp_path)
    export.convert(run_dir, "none", dataset=dataset)
    ids = dataset.x_test[:10]
    expected = keras.models.load_model(run_dir / runs.MODEL).predict(ids, verbose=0).argmax(1)
    with serving(create_app(run_dir / "model.tflite")) as url:
        status, answer = predict(url, ids.tolist())
        assert status == 200 and [p["class"] for p in answer["predictions"]] == expected.tolist()
        assert {p["label"] for p in answer["predictions"]} <= {"even", "odd"}
        assert predict(url, [[1.5] * 12])[0] == 400
        status, answer = predict(url, [[50] * 12])
        assert status == 400 and "ids must be in 0..49" in answer["error"]
        assert predict(url, [[-1] * 12])[0] == 400


# ---------------------------------------------------------------------------
# A table model: raw passenger rows in, as JSON objects


@pytest.fixture(scope="module")
def table_server(table_run):
    """The wide_deep run converted (float32 and int8), the float file served by `nnkeras serve`."""
    from nnkeras.export import convert as export

    run_dir, dataset = table_run
    for mode in ("none", "int8"):
        export.convert(run_dir, mode, dataset=dataset)
    process, url = start_server(str(run_dir / "model.tflite"))
    yield url
    process.terminate()
    process.wait(timeout=30)


def keras_classes(run_dir, rows) -> list[int]:
    """The saved Keras model's classes for raw rows (its own string lookups and fills)."""
    import tensorflow as tf

    from nnkeras.data.tabular import to_columns
    from nnkeras.models import load_model

    columns = to_columns(rows, ["Pclass", "Sex"], ["Age", "SibSp", "Parch"])
    logits = load_model(run_dir / runs.MODEL)({k: tf.constant(v) for k, v in columns.items()})
    return np.asarray(logits).argmax(1).tolist()


ODD_ROWS = [{"Pclass": 2, "Sex": "female", "Age": None, "SibSp": 0, "Parch": 1},         # missing number
            {"Pclass": "1", "Sex": "unknown", "Age": 8, "SibSp": 1, "Parch": None},      # unseen category
            {"Pclass": None, "Sex": "male", "Age": 40.5, "SibSp": 0, "Parch": 0,
             "Name": "Doe, John", "Ticket": "A/5 21171"}]                                # extra keys: ignored


def test_table_rows_get_the_keras_models_classes(table_run, table_server):
    from nnkeras.data.tabular import to_rows

    run_dir, dataset = table_run
    rows = to_rows(dataset.x_test) + ODD_ROWS
    status, answer = predict(table_server, rows)
    assert status == 200, answer
    classes = [p["class"] for p in answer["predictions"]]
    assert classes == keras_classes(run_dir, rows)
    assert np.mean(np.array(classes[:-3]) == dataset.y_test) > 0.85
    assert {p["label"] for p in answer["predictions"]} == {"died", "survived"}
    assert call(table_server, "/metadata")[1]["input"]["kind"] == "table"


def test_table_rows_from_int8_file_and_run_directory_agree(table_run, table_server):
    from nnkeras.data.tabular import to_rows
    from nnkeras.serve import create_app

    run_dir, dataset = table_run
    rows = to_rows(dataset.x_test) + ODD_ROWS
    served = [p["class"] for p in predict(table_server, rows)[1]["predictions"]]
    for source in (run_dir / "model-int8.tflite", run_dir):
        with serving(create_app(source)) as url:
            classes = [p["class"] for p in predict(url, rows)[1]["predictions"]]
            assert np.mean(np.array(classes) == np.array(served)) >= 0.98, source


BAD_ROWS = {
    "missing column": ({"Pclass": 1, "Sex": "male", "Age": 3, "SibSp": 0}, "lacks Parch"),
    "number as text": ({"Pclass": 1, "Sex": "male", "Age": "3", "SibSp": 0, "Parch": 0}, "Age: \"3\" is not a number"),
    "boolean category": ({"Pclass": 1, "Sex": True, "Age": 3, "SibSp": 0, "Parch": 0}, "Sex: true is not a category"),
    "fraction category": ({"Pclass": 1.5, "Sex": "male", "Age": 3, "SibSp": 0, "Parch": 0}, "Pclass: 1.5 is not a"),
    "list value": ({"Pclass": [1], "Sex": "male", "Age": 3, "SibSp": 0, "Parch": 0}, "Pclass: [1] is not a"),
    "huge number": ({"Pclass": 1, "Sex": "male", "Age": 10 ** 400, "SibSp": 0, "Parch": 0}, "float32 holds"),
    "not an object": ([1, "male", 3, 0, 0], "instance 0 is not an object"),
}


@pytest.mark.parametrize("name", BAD_ROWS)
def test_malformed_table_rows_get_a_one_line_4xx(table_server, name):
    row, message = BAD_ROWS[name]
    status, answer = predict(table_server, [row])
    assert status == 400 and message in answer["error"] and "\n" not in answer["error"], answer


def test_pixels_outside_the_raw_range_are_refused_naming_it(tmp_path):
    # sklearn's 8x8 digits take raw values 0..16 (MNIST's 0..255): the metadata says which, the server holds to it.
    from nnkeras.export import convert as export
    from nnkeras.config import DataConfig, Experiment, ModelConfig, TrainConfig
    from nnkeras.serve import create_app
    from nnkeras.training import train

    experiment = Experiment("digits", data=DataConfig(name="digits", limit=300), model=ModelConfig("mlp", {"hidden": (8,)}),
                            train=TrainConfig(epochs=1))
    run_dir = train(experiment, tmp_path / "run").run_dir
    export.convert(run_dir, "none")
    digit = np.full((8, 8, 1), 8).tolist()
    for model in (run_dir, run_dir / "model.tflite"):
        with serving(create_app(model)) as url:
            assert call(url, "/metadata")[1]["input"]["raw_range"] == [0, 16]
            assert predict(url, [digit])[0] == 200
            for bad in (17, -5, 999):
                status, answer = predict(url, [digit, np.full((8, 8, 1), bad).tolist()])
                assert status == 400 and "raw inputs in 0..16" in answer["error"], answer


def test_the_page_is_served_at_the_root(server):
    with urllib.request.urlopen(server + "/", timeout=60) as response:
        page = response.read().decode()
        assert response.headers["Content-Type"].startswith("text/html")
    assert 'fetch("metadata")' in page and 'fetch("predict"' in page
    assert "http" not in page.replace("http-equiv", "")  # nothing fetched from elsewhere: it works offline
