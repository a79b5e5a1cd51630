"""The server under hostile models and clients (issue 15), on a real `nnkeras serve` process.

Metadata that does not fit its model stops the server at start-up in one line;
no response carries NaN or infinity; an over-long request line or header is a
JSON 431; slow, half-open and idle clients hold no thread (waitress reads
requests before a worker sees them), are dropped after --timeout, and a
normal client is answered meanwhile. Waits poll with deadlines; nothing
asserts how long anything takes.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO
from test_errors import TINY, assert_one_error_line, cli
from test_serve import start_server
from nnkeras.export.flatbuffer import embed_metadata, read_metadata

sys.path.insert(0, str(REPO / "benchmarks"))
from hostile_server import raw_exchange  # noqa: E402  (the benchmark's raw client, not a copy of it)

INSTANCE = json.dumps({"instances": [[0.1, 0.2, 0.3, 0.4]]}).encode()
HALF_BODY = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"


@pytest.fixture(scope="module")
def tflite(tmp_path_factory) -> Path:
    from nnkeras.export.convert import convert
    from nnkeras.training import train

    run_dir = tmp_path_factory.mktemp("serve") / "tiny" / "run"
    train(TINY, run_dir)
    return convert(run_dir).files[0]


def strict_json(body: bytes):
    def refuse(name):
        raise ValueError(f"{name} is not JSON")
    return json.loads(body, parse_constant=refuse)


def with_metadata(tflite: Path, tmp_path: Path, change) -> Path:
    metadata = read_metadata(tflite)
    path = tmp_path / "edited.tflite"
    path.write_bytes(embed_metadata(tflite.read_bytes(), change(metadata)))
    return path


def changed(key_path, value):
    def change(metadata):
        *parents, last = key_path
        target = metadata
        for key in parents:
            target = target[key]
        target[last] = value
        return metadata
    return change


@pytest.mark.parametrize("change, message", [
    (lambda m: [m], "its metadata is a list, not an object"),
    (lambda m: {}, "its metadata has no number of classes"),
    (changed(["class_names"], ["a", "b"]), "has no list of 3 class names"),
    (changed(["class_names"], "abc"), "has no list of 3 class names"),
    (changed(["num_classes"], "three"), "has no number of classes (num_classes = 'three')"),
    (changed(["input", "shape"], [28, 28, 1]), "the model does not take the input its metadata describes"),
    (changed(["normalisation", "scale"], "x"), "has a normalisation that is not numbers"),
    (changed(["normalisation", "std"], 0), "divides by a standard deviation of 0"),
    (changed(["num_classes"], 4), "has no list of 4 class names"),
], ids=["list", "empty", "two-names", "names-text", "classes-text", "shape", "scale-text", "std-zero", "four"])
def test_metadata_that_does_not_fit_the_model_stops_the_server_at_start_up(capsys, tflite, tmp_path, change,
                                                                          message):
    path = with_metadata(tflite, tmp_path, change)
    assert_one_error_line(*cli(capsys, "serve", path, "--port", "0"), f"{path}: ", message, "convert the run again")


def test_extreme_inputs_never_put_nan_in_an_answer(tflite):
    from nnkeras.serve import create_app
    from nnkeras.serve.app import Predictor

    client = create_app(tflite).test_client()
    for values in ([3e38, -3e38, 3e38, -3e38], [3e38] * 4, [-3e38] * 4):
        answer = client.post("/predict", json={"instances": [values]})
        strict_json(answer.data)  # no NaN or Infinity, whatever the status
        assert answer.status_code in (200, 422)
    # A model whose logits overflow (as a table model's do on finite but extreme rows): a 422, in JSON.
    overflowing = Predictor(read_metadata(tflite), lambda x: np.full((len(x), 3), np.inf), "litert", "inf")
    answer = create_app(overflowing).test_client().post("/predict", json={"instances": [[0.1] * 4]})
    body = strict_json(answer.data)
    assert answer.status_code == 422 and "output is not finite for instance 0" in body["error"], body


def raw(port: int, request: bytes) -> tuple[int, dict]:
    head, _, body = raw_exchange(port, request, timeout=30).partition(b"\r\n\r\n")
    return int(head.split()[1]), strict_json(body)


@pytest.fixture(scope="module")
def server(tflite):
    process, url = start_server(str(tflite), "--timeout", "2")
    yield process, int(url.rsplit(":", 1)[1])
    process.terminate()
    process.wait(timeout=30)


def test_an_over_long_url_or_header_and_garbage_get_json_answers(server):
    _, port = server
    long_url = b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    long_header = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 100_000 + b"\r\n\r\n"
    for request in (long_url, long_header):
        status, body = raw(port, request)
        assert status == 431 and "Request Header Fields Too Large" in body["error"], body
    status, body = raw(port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n")  # a TLS hello
    assert status == 400 and "error" in body


def threads_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Threads:")).split()[1])


def test_slow_and_half_open_clients_hold_no_thread_and_are_dropped(server):
    process, port = server
    before = threads_of(process.pid)
    held = []
    for first_bytes in [HALF_BODY] * 60 + [b"POST /predict HTTP/1.1\r\nHost: x\r\nX-Slow: "] * 30 + [b""] * 30:
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.sendall(first_bytes)
        held.append(sock)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as normal:  # answered meanwhile
            normal.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(INSTANCE), INSTANCE))
            answer = b""
            while chunk := normal.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        assert threads_of(process.pid) == before  # a fixed pool: 120 slow clients, no new thread
        deadline = time.monotonic() + 120
        for sock in held:  # each is dropped after --timeout 2 of silence (a recv past the deadline raises)
            sock.settimeout(max(deadline - time.monotonic(), 0.1))
            try:
                left = sock.recv(65536)
            except ConnectionResetError:
                left = b""
            assert left == b"", left[:200]
    finally:
        for sock in held:
            sock.close()
