"""TensorFlow imported without the start-up noise it writes to the console.

Two kinds of noise reach a user's terminal otherwise:
- C++ notices at import ("oneDNN custom operations are on", written twice, once
  per copy of abseil in TensorFlow's shared libraries). Abseil writes every
  message logged before `absl::InitializeLog()` to stderr, whatever
  TF_CPP_MIN_LOG_LEVEL says (abseil/abseil-cpp#1718), so the only way to
  hide them is to catch file descriptor 2 while the libraries load;
- "N out of the last M calls to <function> triggered tf.function retracing":
  a group of variants (or a search) builds one model after another, each with
  its own traced epoch and prediction loop; each traces once, which is what
  they must do, but TensorFlow counts the traces across them and warns.
Errors (abseil's E and F lines) and anything else written during the import
still reach stderr.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile

# An abseil/TensorFlow INFO or WARNING line ("I0000 00:00:1796.. 9775 port.cc:153] ..."), and abseil's notice;
# also the ERROR line of TensorFlow's CUDA build on a machine with a CUDA driver library but no usable GPU: the
# run's own line ("nnkeras: training on CPU ...") says that, and docs/gpu.md what to check.
NOTICE = re.compile(r"^[IW]\d{4} \d\d:\d\d:\d\d|^E\d{4} [\d:.]+ +\d+ cuda_platform\.cc:\d+\] failed call to cuInit")
ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
RETRACING = "triggered tf.function retracing"


def import_tensorflow():
    """`import tensorflow`, its C++ start-up notices dropped and its retracing warnings muted; returns the module."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # what TensorFlow's own logger does honour
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with _stderr_without_notices():
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")  # the CUDA build looks for a GPU here: its notices are caught too
    logging.getLogger("tensorflow").addFilter(_drop_retracing_warnings)
    return tf


def _drop_retracing_warnings(record: logging.LogRecord) -> bool:
    return RETRACING not in record.getMessage()


def without_notices(text: str) -> str:
    """`text` without abseil's INFO/WARNING messages (a message's continuation lines go with it)."""
    kept, dropping = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith(ABSL_PREAMBLE):
            continue
        if NOTICE.match(line):
            dropping = True
        elif dropping and re.match(r"^[EF]\d{4} |^\S+: |^Traceback", line):
            dropping = False  # an error, or Python speaking again
        if not dropping:
            kept.append(line)
    return "".join(kept)


@contextlib.contextmanager
def _stderr_without_notices():
    """Catch file descriptor 2 (where C++ writes) in a temporary file; write back what is not a notice."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable stderr (closed, or replaced by an object without a descriptor)
        yield
        return
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            rest = without_notices(caught.read().decode(errors="replace"))
            if rest:
                sys.stderr.write(rest)
                sys.stderr.flush()
