"""A tuning worker and its chief: the wait for the chief, and a chief that stops answering.

Keras Tuner's worker asks the chief over gRPC with `wait_for_ready` and a
time limit of 60 minutes per call (`oracle_client.TIMEOUT`), so a worker
whose chief never comes, or whose chief died mid-search, waits an hour in
silence and then ends in a traceback. Here the worker first waits for the
chief's server in Python, for at most NNKERAS_CHIEF_TIMEOUT seconds
(default 600), polling so that SIGTERM and Ctrl-C end the wait (exit 130);
the same limit then bounds every later call, and a chief that stops
answering is one line (exit 2).
"""

from __future__ import annotations

import contextlib
import os
import time

from nnkeras.config import seconds_from_env
from nnkeras.errors import NNKerasError

CHIEF_TIMEOUT_ENV, DEFAULT_CHIEF_TIMEOUT = "NNKERAS_CHIEF_TIMEOUT", 600.0
POLL_SECONDS = 0.5  # how often the wait returns to Python, where signals are handled


def address() -> str:
    return f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"


def wait_for_chief() -> None:
    """Return once the chief's gRPC server answers; one line (exit 2) when the time limit passes first."""
    import grpc
    from keras_tuner.src.distribute import oracle_client

    limit = seconds_from_env(CHIEF_TIMEOUT_ENV, DEFAULT_CHIEF_TIMEOUT)
    oracle_client.TIMEOUT = limit  # read at each call: a chief gone mid-search stops the worker within the limit
    where = address()
    print(f"nnkeras: waiting up to {limit:g} s for the chief at {where}", flush=True)
    deadline = time.monotonic() + limit
    with grpc.insecure_channel(where) as channel:
        ready = grpc.channel_ready_future(channel)
        try:
            while True:
                try:
                    ready.result(timeout=max(0.0, min(POLL_SECONDS, deadline - time.monotonic())))
                    return
                except grpc.FutureTimeoutError:
                    if time.monotonic() >= deadline:
                        raise NNKerasError(
                            f"no chief answered at {where} within {limit:g} s; start the chief (this same"
                            " `nnkeras tune` command with --chief in place of --worker ID), or wait longer"
                            f" ({CHIEF_TIMEOUT_ENV}=SECONDS)") from None
        finally:
            ready.cancel()


@contextlib.contextmanager
def answering_chief():
    """A gRPC failure of a call to the chief (gone mid-search, or never answering) as one line."""
    import grpc

    try:
        yield
    except grpc.RpcError as exc:
        code = exc.code().name if callable(getattr(exc, "code", None)) else type(exc).__name__
        raise NNKerasError(f"the chief at {address()} stopped answering ({code}); the trial this worker was"
                           " on stays to do: restart the chief with the same command, then this worker"
                           f" ({CHIEF_TIMEOUT_ENV}=SECONDS sets how long a worker waits for it)") from None
