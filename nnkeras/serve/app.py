"""`nnkeras serve`: a small Flask web API around one model.

    POST /predict   {"instances": [raw example, ...]}
                    -> {"predictions": [{"class": 3, "label": "3", "probabilities": [...]}, ...]}
    GET  /health    {"status": "ok", ...}
    GET  /metadata  the model's metadata (class names, input shape, normalisation, ...)
    GET  /          a page for people: upload a picture, draw a digit, or fill in a table row

The model is a .tflite (run in LiteRT; its metadata is read from the file),
an .onnx file (onnxruntime), or a run directory (its Keras model, exactly as
trained). Clients send raw values (pixels 0..255, token ids, table rows); the
server normalises them with the metadata, so clients never need the numbers.

`nnkeras serve` runs the app on waitress, a production WSGI server: it reads
each request whole before a worker thread sees it, so slow and half-open
clients hold no thread (a fixed pool of THREADS does the work), a connection
silent for --timeout seconds is closed, connections are bounded, and a
request line or header block over MAX_HEADER_BYTES is a 431. Its own error
answers are JSON like the app's. Another WSGI server can take the factory:
    gunicorn -w 2 -b 127.0.0.1:8000 'nnkeras.serve:create_app("model.tflite")'
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from pathlib import Path

import numpy as np
from flask import Flask, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from nnkeras.errors import NNKerasError
from nnkeras.serve.checks import check_metadata, probe
from nnkeras.serve.errors import JSONErrorChannel
from nnkeras.serve.requests import MAX_INSTANCES, BadRequest, model_input

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024  # 1024 MNIST images as JSON take about 3.5 MB
DEFAULT_TIMEOUT = 30  # seconds a connection may stay silent (a half-sent request included)
THREADS = 4  # requests computed at once; the model itself runs one at a time (Predictor's lock)
MAX_CONNECTIONS = 500  # open connections; waiting ones cost a socket each, never a thread
MAX_HEADER_BYTES = 16 * 1024  # request line and headers together
log = logging.getLogger("nnkeras.serve")
PAGE = Path(__file__).with_name("page.html")  # static HTML, JS and CSS in one file, nothing from a CDN


class Predictor:
    """One model behind one lock: `logits(x)` on normalised input, plus its metadata."""

    def __init__(self, metadata: dict, logits, backend: str, source: str):
        self.metadata, self._logits, self.backend, self.source = metadata, logits, backend, source
        self._lock = threading.Lock()

    def logits(self, x) -> np.ndarray:
        with self._lock:
            return np.asarray(self._logits(x), dtype=np.float32)


def load_predictor(path: str | Path) -> Predictor:
    """A .tflite, an .onnx or a run directory, as a Predictor whose metadata fits its model."""
    predictor = _load(Path(path))
    check_metadata(predictor.metadata, predictor.source)
    probe(lambda body: predictions(predictor, model_input(json.dumps(body).encode(), predictor.metadata)),
          predictor.metadata, predictor.source)
    return predictor


def _load(path: Path) -> Predictor:
    if path.is_dir():
        return _keras_predictor(path)
    if not path.is_file():
        raise NNKerasError(f"{path}: no such file or run directory; pass a run directory or a .tflite file")
    if path.suffix == ".onnx":
        from nnkeras.export.onnx import OnnxModel, read_onnx_metadata

        return Predictor(read_onnx_metadata(path), OnnxModel(path).predict, "onnxruntime", str(path))
    from nnkeras.export.litert import LiteRTModel
    from nnkeras.export.flatbuffer import read_metadata

    metadata = read_metadata(path)
    return Predictor(metadata, LiteRTModel(path).predict, "litert", str(path))


def _keras_predictor(run_dir: Path) -> Predictor:
    from nnkeras.finished_run import load_run
    from nnkeras.export.metadata import build_metadata, unquantized_io

    run = load_run(run_dir)
    metadata = build_metadata(run, "keras", "none", unquantized_io(run))
    model = run.core  # a table arrives encoded by the metadata, as the .tflite would take it
    return Predictor(metadata, lambda x: model(x, training=False), "keras", str(run_dir))


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def predictions(predictor: Predictor, x: np.ndarray) -> list[dict]:
    logits = predictor.logits(x).astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(logits).all(axis=1))
    if bad.size:  # finite but extreme inputs overflow the model: NaN is not JSON, and not an answer
        raise BadRequest(f"the model's output is not finite for instance {int(bad[0])} (its values are too extreme"
                         " for this model); send values like the training data's", 422)
    probabilities = softmax(logits)
    names = predictor.metadata["class_names"]
    return [{"class": int(p.argmax()), "label": names[int(p.argmax())], "probabilities": [float(v) for v in p]}
            for p in probabilities]


def create_app(model: str | Path | Predictor, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> Flask:
    """The Flask app for `model` (a path, or a Predictor already loaded)."""
    predictor = model if isinstance(model, Predictor) else load_predictor(model)
    app = Flask("nnkeras.serve")
    # Werkzeug answers 413 before reading a body over this size, chunked or not.
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    app.json = StrictJSON(app)  # a NaN that slipped through is a logged 500, never invalid JSON

    @app.get("/")
    def page():  # a person's way in: upload, draw or fill in a row; it calls /metadata and /predict
        return app.response_class(PAGE.read_text(encoding="utf-8"), mimetype="text/html")

    @app.post("/predict")
    def predict():
        x = model_input(_read_body(max_body_bytes), predictor.metadata)
        return jsonify(predictions=predictions(predictor, x))

    @app.get("/health")
    def health():
        return jsonify(status="ok", model=predictor.metadata.get("model"), backend=predictor.backend,
                       source=predictor.source, max_instances=MAX_INSTANCES, max_body_bytes=max_body_bytes)

    @app.get("/metadata")
    def metadata():
        return jsonify(predictor.metadata)

    _register_errors(app)
    return app


class StrictJSON(DefaultJSONProvider):
    sort_keys = False

    def dumps(self, obj, **kwargs):
        return super().dumps(obj, allow_nan=False, **kwargs)


def _read_body(limit: int) -> bytes:
    """The request body; werkzeug refuses a Content-Length over `limit` before reading."""
    body = request.get_data(cache=False)
    # A chunked body has no length to check up front: werkzeug stops reading at
    # the limit, so a body that filled it was cut and must be refused, not parsed.
    if request.content_length is None and len(body) >= limit:
        raise BadRequest(f"body over the {limit}-byte limit", 413)
    return body


def _register_errors(app: Flask) -> None:
    """Every error as JSON: 4xx for the client's mistakes, 500 (logged) for ours."""

    @app.errorhandler(BadRequest)
    def bad_request(exc: BadRequest):
        return jsonify(error=str(exc)), exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):  # 404, 405, 413 from werkzeug
        return jsonify(error=f"{exc.name}: {exc.description}"), exc.code

    @app.errorhandler(Exception)
    def internal_error(exc: Exception):
        log.exception("error while serving %s", request.path)
        return jsonify(error="internal error; see the server log"), 500


def listen(host: str, port: int) -> socket.socket:
    """A listening socket, or one line saying why not.

    Bound here rather than by werkzeug, which prints its own message and
    calls sys.exit when the port is taken.
    """
    if not 0 <= port <= 65535:  # getaddrinfo would silently wrap it modulo 65536
        raise NNKerasError(f"--port {port}: must be in 0..65535 (0 picks a free port)")
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        return socket.create_server(address[:2], family=family)
    except (OSError, OverflowError) as exc:  # port taken, out of range, or an address not on this machine
        raise NNKerasError(f"cannot listen on {host}:{port} ({exc}); pick another --port or --host") from None


def serve(model: str | Path, host: str = "127.0.0.1", port: int = 8000, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
          timeout: float = DEFAULT_TIMEOUT):
    """Serve on waitress until interrupted; port 0 picks a free one."""
    import waitress

    if max_body_bytes < 1:
        raise NNKerasError(f"--max-body-bytes {max_body_bytes}: must be a positive number of bytes")
    if not 0 < timeout <= 3600:
        raise NNKerasError(f"--timeout {timeout}: must be a number of seconds in (0, 3600]")
    predictor = load_predictor(model)
    listener = listen(host, port)
    server = waitress.create_server(
        create_app(predictor, max_body_bytes), sockets=[listener], threads=THREADS,
        connection_limit=MAX_CONNECTIONS, channel_timeout=timeout, cleanup_interval=max(1, min(30, timeout / 2)),
        # Bodies over max_body_bytes get the app's 413 once waitress has read them (spooled to a temporary
        # file): refused unread, a client still sending would see a broken pipe instead of the answer.
        max_request_header_size=MAX_HEADER_BYTES, max_request_body_size=max(4 * max_body_bytes, 64 * 2**20),
        asyncore_use_poll=True, ident="nnkeras", clear_untrusted_proxy_headers=True)
    server.channel_class = JSONErrorChannel
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "Task queue depth" warnings under load
    # The bound port, printed before serving, lets a caller (or a test) use port 0.
    print(f"serving {predictor.source} ({predictor.backend}, {THREADS} threads, connections closed after"
          f" {timeout:g} s of silence) on http://{host}:{listener.getsockname()[1]}", flush=True)
    try:
        server.run()
    finally:
        server.close()
