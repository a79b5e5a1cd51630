"""Throughput and latency of `nnkeras serve` under a bounded load on 127.0.0.1.

    python benchmarks/serve_load.py                      # the MNIST MLP benchmark run, LiteRT and Keras backends
    python benchmarks/serve_load.py --model RUN_DIR_OR_TFLITE --concurrency 8 --requests 4000

The server runs in its own process (`nnkeras serve ... --port 0`, Flask's
threaded development server); this process is the client: `--concurrency`
threads, each with one keep-alive connection, send POST /predict with
`--batch` raw test examples per request until `--requests` requests are done
or `--seconds` have passed, whichever comes first. Printed per backend:
requests/s, examples/s, p50/p99 latency, non-200 answers. Only 127.0.0.1 is
ever contacted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchmark_runs import default_runs, percentile  # noqa: E402


LOCK = threading.Lock()  # guards the shared request budget


def start_server(model: str) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen([sys.executable, "-m", "nnkeras", "serve", model, "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline()  # "serving MODEL (backend) on http://127.0.0.1:PORT"
    if not line.startswith("serving "):
        process.kill()
        raise SystemExit(f"server for {model} did not start")
    return process, int(line.rsplit(":", 1)[1])


def client(port: int, body: bytes, deadline: float, budget: list, latencies: list, failures: list) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while time.monotonic() < deadline:
        with LOCK:
            if budget[0] <= 0:
                break
            budget[0] -= 1
        start = time.perf_counter()
        try:
            connection.request("POST", "/predict", body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            ok = response.status == 200
        except (OSError, http.client.HTTPException):
            connection.close()
            connection, ok = http.client.HTTPConnection("127.0.0.1", port, timeout=60), False
        if ok:
            latencies.append((time.perf_counter() - start) * 1000)
        else:
            failures.append(1)
    connection.close()


def load(port: int, body: bytes, concurrency: int, requests: int, seconds: float) -> dict:
    latencies, failures, budget = [], [], [requests]
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=client, args=(port, body, deadline, budget, latencies, failures))
               for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    return {"requests": len(latencies), "failed": len(failures), "seconds": elapsed,
            "rps": len(latencies) / elapsed, "p50": percentile(latencies, 50), "p99": percentile(latencies, 99)}


def raw_examples(run_dir: Path, n: int) -> list:
    """Test examples as a client has them: raw values, before normalisation."""
    from nnkeras import data
    from nnkeras.config import Experiment

    from nnkeras.data.tabular import to_rows

    cfg = Experiment.load(run_dir / "config.json").data
    x = data.DATASETS[cfg.name](cfg).x_test
    return to_rows(x)[:n] if isinstance(x, dict) else x[:n].tolist()  # a table: one JSON object per row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="run directory (default: the MNIST MLP benchmark run)")
    parser.add_argument("--workdir", type=Path, default=Path("runs/benchmarks"))
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--requests", type=int, default=2000, help="stop after this many requests in all")
    parser.add_argument("--seconds", type=float, default=30.0, help="or after this long, per backend")
    parser.add_argument("--batch", type=int, default=1, help="examples per request")
    args = parser.parse_args()
    run_dir = args.model or default_runs(args.workdir)[0]
    tflite = run_dir / "model.tflite"
    if not tflite.is_file():
        from nnkeras.export import convert as export

        export.convert(run_dir)
    body = json.dumps({"instances": raw_examples(run_dir, args.batch)}).encode()
    print(f"{run_dir.name}: {args.concurrency} clients, {args.batch} example(s) per request ({len(body):,} bytes),"
          f" at most {args.requests} requests or {args.seconds:.0f} s per backend\n")
    print("| backend | requests | failed | requests/s | examples/s | p50 ms | p99 ms |\n|---|---|---|---|---|---|---|")
    for backend, model in (("litert", tflite), ("keras", run_dir)):
        process, port = start_server(str(model))
        try:
            r = load(port, body, args.concurrency, args.requests, args.seconds)
        finally:
            process.terminate()
            process.wait(timeout=30)
        print(f"| {backend} | {r['requests']} | {r['failed']} | {r['rps']:.0f} | {r['rps'] * args.batch:.0f} |"
              f" {r['p50']:.2f} | {r['p99']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
