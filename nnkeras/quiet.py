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

The CLI does not import TensorFlow up front: `import_quietly_when_needed()` makes the
first `import tensorflow`, wherever it happens (`import keras` included), the quiet
one, without scikit-learn (NOT_IMPORTED_WITH_TENSORFLOW). A command that stops on bad input before it builds or loads a model answers in
a fraction of a second instead of after TensorFlow's seconds of start-up.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
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
    import_quietly_when_needed()
    import tensorflow as tf

    return tf


def import_quietly_when_needed() -> None:
    """From now on the first `import tensorflow` (or `import keras`, which imports it) of this process,
    by any module, goes through the capture."""
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietFirstImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietFirstImport())


# Keras imports scikit-learn at start-up only for keras.wrappers' scikit-learn estimators, which nnkeras never
# uses: 0.7 s of CPU and 57 MB, a sixth of TensorFlow's import (benchmarks/README.md, "Whole process"). While
# the quiet import runs it is not found, so those wrappers say "requires scikit-learn" in a CLI process; an
# `import sklearn` afterwards (the digits dataset) works as usual.
NOT_IMPORTED_WITH_TENSORFLOW = ("sklearn",)


class _QuietFirstImport(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` or `keras` as Python would, and has the loader of the first of them run inside the
    stderr capture (once); while it runs, NOT_IMPORTED_WITH_TENSORFLOW are not found."""

    def __init__(self):
        self.loading = False
        self._finding = False

    def find_spec(self, name, path=None, target=None):
        if self._finding or self.loading or name not in ("tensorflow", "keras"):
            return None
        self._finding = True  # importlib.util.find_spec below must not come back here
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._finding = False
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader, self)
        return spec


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader, finder: _QuietFirstImport):
        self.loader, self.finder = loader, finder

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # what TensorFlow's own logger does honour
        self.finder.loading = True
        try:
            with _stderr_filtered(without_notices), hidden(NOT_IMPORTED_WITH_TENSORFLOW, "TensorFlow"):
                self.loader.exec_module(module)  # keras's imports tensorflow: the same capture
                sys.modules["tensorflow"].config.list_physical_devices("GPU")  # the CUDA build looks for a GPU here
        finally:
            self.finder.loading = False
            with contextlib.suppress(ValueError):
                sys.meta_path.remove(self.finder)  # one import only
        module.__loader__ = module.__spec__.loader = self.loader  # the module looks as if imported plainly
        logging.getLogger("tensorflow").addFilter(_drop_retracing_warnings)


class _Hidden(importlib.abc.MetaPathFinder):
    def __init__(self, names: tuple[str, ...], importer: str):
        self.names, self.importer = names, importer

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named '{name}' (not imported with {self.importer} by nnkeras)",
                                      name=name)
        return None


@contextlib.contextmanager
def hidden(names: tuple[str, ...], importer: str):
    """While the block runs, importing a package of `names`, or a module of one, not imported yet fails as if it
    were not installed: a library that imports it only in case (`try: import sklearn except ImportError`) goes
    on without it."""
    finder = _Hidden(names, importer)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


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
def quiet_stderr():
    """Drop what is written to file descriptor 2 meanwhile: C++ diagnostics (the TFLite converter's,
    LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate"). A failure still raises, and its gist
    goes into our one-line error; on success they are noise on a user's console."""
    with _stderr_filtered(lambda text: ""):
        yield


@contextlib.contextmanager
def _stderr_filtered(keep):
    """Catch file descriptor 2 (where C++ writes) in a temporary file; write back `keep(what was caught)`."""
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
            rest = keep(caught.read().decode(errors="replace"))
            if rest:
                sys.stderr.write(rest)
                sys.stderr.flush()
