"""waitress's own error answers (a 431 for an over-long header, a 400 for a request
line that is not HTTP) as JSON, like every answer of the app: {"error": "..."}."""

from __future__ import annotations

import json
import socket

from waitress.channel import HTTPChannel
from waitress.task import ErrorTask


class JSONErrorTask(ErrorTask):
    def execute(self):
        error = self.request.error  # a waitress.utilities.Error: code, reason, body
        body = json.dumps({"error": f"{error.reason}: {error.body}"}).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JSONErrorChannel(HTTPChannel):
    error_task_class = JSONErrorTask

    def handle_close(self):
        # After a 431 the client's request is partly unread; closing then sends a TCP reset,
        # which can destroy the answer before the client reads it. Say we are done writing
        # and drop what has already arrived first (without waiting: one loop serves everyone).
        if self.connected and self.socket is not None:
            try:
                self.socket.shutdown(socket.SHUT_WR)
                for _ in range(16):  # at most 1 MiB: a client that keeps sending is reset after all
                    if not self.socket.recv(65536):
                        break
            except OSError:  # nothing more buffered (EAGAIN), or the client is gone
                pass
        super().handle_close()
