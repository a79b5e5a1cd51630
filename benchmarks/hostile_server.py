"""Server cases of benchmarks/hostile.py: bad embedded metadata, extreme inputs, slow and half-open clients.

Each starts a real `nnkeras serve` on a free port and talks to it over TCP;
every answer must be JSON (no NaN or infinity), never a 5xx, and a normal
client must still be answered while the hostile ones hold their connections.
"""

from __future__ import annotations

import http.client
import json
import select
import signal
import socket
import time
from pathlib import Path

from hostile import Case, Ctx, Result, finish, start

SERVER_CASES: list[Case] = []
TINY_INSTANCE = {"instances": [[0.1, 0.2, 0.3, 0.4]]}


def serving(argv, timeout: float = 90):
    """(process, port or None): the port once `serving ... on http://host:port` is printed."""
    process = start(argv)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            line = process.stdout.readline()
            if "serving" in line and "http://" in line:
                return process, int(line.rsplit(":", 1)[1])
            if not line and process.poll() is not None:
                return process, None
        elif process.poll() is not None:
            return process, None
    return process, None


def strict_json(body: bytes):
    def refuse(name):
        raise ValueError(f"{name} in the answer")
    return json.loads(body, parse_constant=refuse)


def request(port: int, method: str, path: str, body=None, headers=None, timeout: float = 10):
    """(status, problem or None) of one request."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        payload = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        connection.request(method, path, body=payload, headers=headers or {"Content-Type": "application/json"})
        answer = connection.getresponse()
        data = answer.read()
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{method} {path}: no answer ({type(exc).__name__}: {exc})"
    finally:
        connection.close()
    try:
        strict_json(data)
    except ValueError as exc:
        return answer.status, f"{method} {path}: {answer.status} with a body that is not JSON ({str(exc)[:60]})"
    if answer.status >= 500:
        return answer.status, f"{method} {path}: {answer.status} {data[:80]!r}"
    return answer.status, None


def with_server(talk, expect_start=True, timeout=90):
    """A runner: start the server from setup's argv, `talk(ctx, port)` -> problem, then SIGTERM it."""
    def runner(ctx: Ctx, argv):
        process, port = serving(argv, timeout)
        if port is None:
            result = finish(process, 5)
            if result.timed_out or (result.code == 0 and not expect_start):
                result.timed_out = True
            if expect_start and not result.timed_out:
                result.problem = f"did not start (exit {result.code})"
            return result
        problem = None if not expect_start else None
        try:
            problem = talk(ctx, port, process) if expect_start else "started, though the model is unusable"
            if not expect_start:
                _, answer_problem = request(port, "POST", "/predict", TINY_INSTANCE)
                problem += f" ({answer_problem})" if answer_problem else ""
        finally:
            process.send_signal(signal.SIGTERM)
            result = finish(process, 20)
        result.problem = problem
        if not problem and not result.timed_out:
            result.code = 0  # the server's own exit after SIGTERM is judged by the serve-sigterm case
        return result
    return runner


# ---------------------------------------------------------------- bad embedded metadata

def rewrite_metadata(source: Path, target: Path, change) -> None:
    """`source` .tflite with its embedded nnkeras metadata replaced by change(metadata)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(source.read_bytes()), 0)
    for entry in model.metadata:
        name = entry.name.decode() if isinstance(entry.name, bytes) else entry.name
        if name == "nnkeras_metadata":
            buffer = model.buffers[entry.buffer]
            buffer.data = list(json.dumps(change(json.loads(bytes(buffer.data).decode()))).encode())
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    target.write_bytes(bytes(builder.Output()))


def bad_metadata(change):
    def setup(ctx: Ctx):
        target = ctx.tmp / "bad.tflite"
        rewrite_metadata(ctx.fx.run / "model.tflite", target, change)
        return ["serve", target, "--port", "0"]
    return setup


def _without(key):
    return lambda m: {k: v for k, v in m.items() if k != key}


def _with(path, value):
    def change(m):
        node = m
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return m
    return change


METADATA = [
    ("metadata-a-list", lambda m: [m]),
    ("metadata-empty-object", lambda m: {}),
    ("metadata-no-class-names", _without("class_names")),
    ("metadata-class-names-text", _with(["class_names"], "abc")),
    ("metadata-two-names-three-classes", _with(["class_names"], ["a", "b"])),
    ("metadata-shape-not-the-model", _with(["input", "shape"], [28, 28, 1])),
    ("metadata-scale-text", _with(["normalisation", "scale"], "x")),
    ("metadata-std-zero", _with(["normalisation", "std"], 0)),
    ("metadata-no-input", _without("input")),
    ("metadata-num-classes-text", _with(["num_classes"], "three")),
]
for name, change in METADATA:
    SERVER_CASES.append(Case(name, "server", bad_metadata(change), (2,), 60, with_server(None, expect_start=False)))


# ---------------------------------------------------------------- extreme inputs

def answers(*bodies):
    def talk(ctx, port, process):
        for body in bodies:
            status, problem = request(port, "POST", "/predict", body)
            if problem:
                return problem
            if status not in (200, 400, 413, 422):
                return f"answered {status}"
        return None
    return talk


def serve_run(which):
    return lambda ctx: ["serve", getattr(ctx.fx, which) if which != "tflite" else ctx.fx.run / "model.tflite",
                        "--port", "0"]


EXTREME_ROW = {"Pclass": 3, "Sex": "male", "Age": 1e38, "SibSp": 1e38, "Parch": -1e38, "Fare": 3.4e38,
               "Embarked": "S"}
SERVER_CASES += [
    Case("table-extreme-values", "server", serve_run("titanic"), (0,), 120,
         with_server(answers({"instances": [EXTREME_ROW]}, {"instances": [{**EXTREME_ROW, "Age": 1e308}]}))),
    Case("tensor-extreme-values", "server", serve_run("tflite"), (0,), 60,
         with_server(answers({"instances": [[3.4e38, -3.4e38, 3.4e38, -3.4e38]]},
                             {"instances": [[1e308, 1e308, -1e308, 0]]}))),
    Case("keras-run-extreme-values", "server", serve_run("run"), (0,), 120,
         with_server(answers({"instances": [[3.4e38, -3.4e38, 3.4e38, -3.4e38]]}))),
]


# ---------------------------------------------------------------- slow, half-open and greedy clients

def threads_of(process) -> int:
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def hold(port: int, count: int, first_bytes: bytes) -> list[socket.socket]:
    held = []
    for _ in range(count):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(first_bytes)
            held.append(sock)
        except OSError:
            break  # the server refuses more connections: that is allowed
    return held


def while_held(count: int, first_bytes: bytes, max_threads: int = 64):
    """`count` clients hold connections open; a normal client must be answered, threads must stay bounded."""
    def talk(ctx, port, process):
        held = hold(port, count, first_bytes)
        try:
            time.sleep(1)
            status, problem = request(port, "POST", "/predict", TINY_INSTANCE, timeout=10)
            if problem:
                return f"with {len(held)} slow clients: {problem}"
            threads = threads_of(process)
            if threads > max_threads:
                return f"{threads} threads for {len(held)} slow clients: unbounded"
            return None
        finally:
            for sock in held:
                sock.close()
    return talk


def raw_exchange(port: int, request_bytes: bytes, timeout: float = 10) -> bytes:
    """Send raw bytes on a new connection; all the server sends back until it closes (or `timeout`).
    Also tests/test_serve_limits.py's raw client."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request_bytes)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except (socket.timeout, ConnectionResetError):  # reset: closed with our request unread, the answer first
            pass
    return data


def raw_answer(request_bytes: bytes, what: str):
    """Send raw bytes; the answer must be an HTTP response with a JSON body, not a 5xx."""
    def talk(ctx, port, process):
        data = raw_exchange(port, request_bytes)
        head, _, body = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1."):
            return f"{what}: no HTTP answer ({data[:60]!r})"
        status = int(head.split()[1])
        try:
            strict_json(body)
        except ValueError:
            return f"{what}: {status} with a body that is not JSON ({body[:50]!r})"
        return f"{what}: {status}" if status >= 500 else None
    return talk


def sequential_load(ctx, port, process):
    for i in range(200):
        status, problem = request(port, "POST", "/predict", TINY_INSTANCE)
        if problem:
            return f"request {i}: {problem}"
    return None


def abandoned_requests(ctx, port, process):
    """Clients that send a request and hang up before the answer; the server goes on."""
    body = json.dumps(TINY_INSTANCE).encode()
    for _ in range(30):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    return request(port, "GET", "/health")[1]


TFLITE = serve_run("tflite")
HALF_BODY = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
SLOW_HEADERS = b"POST /predict HTTP/1.1\r\nHost: x\r\nX-Slow: "
SERVER_CASES += [
    Case("half-open-bodies-40", "server", TFLITE, (0,), 90, with_server(while_held(40, HALF_BODY))),
    Case("half-open-bodies-200", "server", TFLITE, (0,), 120, with_server(while_held(200, HALF_BODY))),
    Case("slow-headers-40", "server", TFLITE, (0,), 90, with_server(while_held(40, SLOW_HEADERS))),
    Case("idle-connections-100", "server", TFLITE, (0,), 90, with_server(while_held(100, b""))),
    Case("url-of-100k-bytes-is-json", "server", TFLITE, (0,), 60,
         with_server(raw_answer(b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                "a 100 kB URL"))),
    Case("header-of-100k-bytes-is-json", "server", TFLITE, (0,), 60,
         with_server(raw_answer(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 100_000
                                + b"\r\nConnection: close\r\n\r\n", "a 100 kB header"))),
    Case("garbage-request-line-is-json", "server", TFLITE, (0,), 60,
         with_server(raw_answer(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", "a TLS hello"))),
    Case("two-hundred-requests", "server", TFLITE, (0,), 90, with_server(sequential_load)),
    Case("abandoned-requests", "server", TFLITE, (0,), 90, with_server(abandoned_requests)),
]


def sigterm_serve(ctx: Ctx, argv):
    process, port = serving(argv)
    if port is None:
        return finish(process, 5)
    process.send_signal(signal.SIGTERM)
    result = finish(process, 15)
    if result.code not in (0, 143, -15) and not result.timed_out:
        result.problem = f"exit {result.code} after SIGTERM"
    result.code = 0 if not result.problem else result.code
    return result


SERVER_CASES.append(Case("serve-sigterm", "server", TFLITE, (0,), 60, sigterm_serve))
