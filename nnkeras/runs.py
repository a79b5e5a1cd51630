"""The run directory: where one training run leaves everything it made.

    runs/<experiment>/<run id>/
        config.json         the Experiment, enough to resume, retrain or export
        data_spec.json      input shape, class names, normalisation
        model.keras         the model with the best validation loss
        metrics.json        test scores and bookkeeping; written last = run complete
        history.csv         one row per epoch
        learning_curves.png, confusion_matrix.png
        tb/                 TensorBoard logs (train/, validation/, test/)
        checkpoints/        state.json + latest epoch + best model, for --resume

Files are written to a temporary name and renamed, so a run killed at any
moment leaves each file either old or new, never half-written.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

from nnkeras.config import check_name
from nnkeras.errors import NNKerasError

CONFIG = "config.json"
DATA_SPEC = "data_spec.json"
MODEL = "model.keras"
METRICS = "metrics.json"
HISTORY = "history.csv"
LEARNING_CURVES = "learning_curves.png"
CONFUSION_MATRIX = "confusion_matrix.png"
TENSORBOARD = "tb"
CHECKPOINTS = "checkpoints"
STATE = "state.json"
BEST = "best.keras"


def new_run_dir(runs_dir: str | Path, experiment_name: str) -> Path:
    """A fresh `runs_dir/<experiment>/<timestamp>` path (not created yet)."""
    base = Path(runs_dir) / check_name(experiment_name, "experiment name") / time.strftime("%Y%m%d-%H%M%S")
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def remove_temporaries(folder: Path) -> None:
    """Delete the temporary files of write_atomic and save_model_atomic left in `folder` and
    checkpoints/ by a killed process (their names carry its pid, so no later write reuses them)."""
    for sub in (Path(folder), Path(folder) / CHECKPOINTS):
        for pattern in (".*.tmp", ".*.tmp.keras"):
            for leftover in sub.glob(pattern):
                if leftover.is_file():  # not a folder such as tuning's .checkpoints.tmp staging copy
                    leftover.unlink()


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write via a temporary file in the same folder, then rename over `path`."""
    path = Path(path)
    # One temporary name per process (tuning workers may share a folder), created
    # with mode 0666 so the umask applies, as for any file (mkstemp would make it 0600).
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with naming_errors(path):
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle, naming_errors(path):
            handle.write(data.encode() if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def naming_errors(path: Path):
    """Give a write error the file the user asked for: a full disk's error carries no
    name, a refused temporary file the temporary name; the CLI's one line shows `path`."""
    try:
        yield
    except OSError as exc:
        exc.filename = str(path)
        raise


def write_json(path: Path, obj) -> None:
    write_atomic(path, json.dumps(obj, indent=2) + "\n")


def read_json(path: Path) -> dict:
    """A JSON file of a run or search directory; a damaged one is a one-line error naming it."""
    try:
        return json.loads(Path(path).read_text())
    except ValueError as exc:  # JSONDecodeError, or bytes that are not UTF-8
        raise NNKerasError(f"{path}: damaged JSON ({exc}); restore the file, or start over (a new run;"
                           " `nnkeras tune --overwrite` for a search)") from None


def save_model_atomic(model, path: Path) -> None:
    """`model.save` to a temporary `.keras` name, then rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    try:
        with naming_errors(path):
            model.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def is_complete(run_dir: Path) -> bool:
    return (Path(run_dir) / METRICS).is_file()


def check_resumable(run_dir: Path) -> Path:
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).is_file():
        raise NNKerasError(f"--resume {run_dir}: not a run directory (no {CONFIG}); pass runs/<experiment>/<run id>")
    if is_complete(run_dir):
        raise NNKerasError(f"--resume {run_dir}: this run already finished ({METRICS} exists); start a new run instead")
    return run_dir


def find_runs(runs_dir: str | Path) -> list[Path]:
    """Every run directory under `runs_dir` (those holding a config.json), variants of groups included."""
    return sorted(p.parent for p in Path(runs_dir).rglob(CONFIG))
