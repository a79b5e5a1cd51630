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

One process writes a folder at a time: `held(folder)` takes an flock on its
`.lock` file (the kernel drops it when the process dies, even by SIGKILL, so
a killed run never stays locked) and a second process is refused in one line
naming the holder's pid. New run ids are claimed with an atomic mkdir, so two
runs started in the same second get two folders.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import signal
import stat
import threading
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
LOCK = ".lock"  # the pid of the process writing the folder; flock'ed while it does


def new_run_dir(runs_dir: str | Path, experiment_name: str) -> Path:
    """A fresh `runs_dir/<experiment>/<timestamp>` path (not created yet: `held(..., new=True)` claims it)."""
    base = Path(runs_dir) / check_name(experiment_name, "experiment name") / time.strftime("%Y%m%d-%H%M%S")
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


class RunIdTaken(NNKerasError):
    """Another process made this run directory first (two runs started in the same second)."""


def make_run_dir(run_dir: Path, resume: bool) -> None:
    """Create the run directory (atomically for a new run: RunIdTaken if it exists) and hold it."""
    run_dir = Path(run_dir)
    with naming_errors(run_dir):
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        try:
            run_dir.mkdir(exist_ok=resume)
        except FileExistsError:
            if run_dir.is_dir() and not resume:
                raise RunIdTaken(f"{run_dir} exists already; continue a run there with `nnkeras run --resume"
                                 f" {run_dir}`, or train into a new folder") from None
            raise NNKerasError(f"{run_dir} is a file where a run directory belongs; move it away") from None
    hold_run(run_dir)
    if resume:  # a symlinked checkpoints/ or tb/ would let the run delete and write files elsewhere
        check_no_links_out(run_dir)
        check_layout(run_dir)


def check_layout(run_dir: Path) -> None:
    """Each name of a run directory is what the run writes there: a folder (tb/, checkpoints/) or a
    regular file, never a FIFO (whose read waits forever) or a folder where a file belongs."""
    for name in (TENSORBOARD, CHECKPOINTS):
        if (run_dir / name).exists() and not (run_dir / name).is_dir():
            raise NNKerasError(f"{run_dir / name} is a file where the run's {name}/ folder belongs; move it away,"
                               f" then `nnkeras run --resume {run_dir}`")
    for name in (CONFIG, DATA_SPEC, MODEL, METRICS, HISTORY, LEARNING_CURVES, CONFUSION_MATRIX, f"{CHECKPOINTS}/{STATE}"):
        if (run_dir / name).exists() and not (run_dir / name).is_file():
            raise NNKerasError(f"{run_dir / name} is not a regular file (a folder or a pipe); move it away,"
                               f" then `nnkeras run --resume {run_dir}`")


def hold_run(run_dir: Path) -> None:
    """Hold a run directory (until `release`): a resumed run takes it before it reads any state."""
    hold(run_dir, f"continue it with `nnkeras run --resume {run_dir}`")


_holding: dict[str, contextlib.ExitStack] = {}  # the run directories this process is writing


def hold(folder: Path, fix: str) -> None:
    """Lock `folder` for this process until `release(folder)` (see held); a no-op if it holds it already."""
    key = os.path.abspath(folder)
    if key not in _holding:
        stack = contextlib.ExitStack()
        stack.enter_context(_locked(Path(folder), fix))
        _holding[key] = stack


def release(folder: Path) -> None:
    stack = _holding.pop(os.path.abspath(folder), None)
    if stack is not None:
        stack.close()


def _claim(candidate: Path) -> Path:
    """Create `candidate`, or `<name>-2`, `-3`, ... if another process made it first (mkdir is atomic)."""
    base, n = candidate, 1
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            n += 1
            candidate = base.with_name(f"{base.name}-{n}")


@contextlib.contextmanager
def held(folder: str | Path, fix: str, *, new: bool = False, scaffolding: tuple[str, ...] = ()):
    """Hold `folder` for this process while the block writes it; yield the folder.

    new=True claims a fresh folder beside `folder` if that name is taken. `fix`
    ends the refusal a second process gets ("... then `fix`"). If the block fails
    before it wrote anything but `scaffolding` (bad input found while loading the
    data, Ctrl-C in start-up), the folder and the parents this made are removed:
    bad input leaves nothing behind.
    """
    folder = Path(folder)
    for path in (folder, *folder.parents):
        if path.exists() and not path.is_dir():
            raise NNKerasError(f"{path} is a file where a folder belongs; move it away, or use another --runs-dir")
    parents_made = [p for p in folder.parents if not p.exists()]
    fresh = new or not folder.exists()
    with naming_errors(folder):
        folder.parent.mkdir(parents=True, exist_ok=True)
        if new:
            folder = _claim(folder)
        else:
            folder.mkdir(exist_ok=True)
    made = [folder, *parents_made] if fresh else []
    with _locked(folder, fix):
        try:
            yield folder
        except BaseException:
            if folder in made and all(p.name in (LOCK, *scaffolding) for p in folder.iterdir()):
                for leftover in folder.iterdir():
                    leftover.unlink()
                for empty in made:
                    with contextlib.suppress(OSError):  # another process may have written there meanwhile
                        empty.rmdir()
            raise


@contextlib.contextmanager
def _locked(folder: Path, fix: str):
    path = folder / LOCK
    try:  # O_NOFOLLOW: a .lock symlinked elsewhere is refused, not followed
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
            exc.filename = str(path)
            raise  # permissions, a full disk: the CLI's one line
        fd = None
    try:
        if fd is None or not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NNKerasError(f"{path}: not a lock file (a link, a folder or a device); remove it, then {fix}")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            who = f"process {holder} (pid)" if holder.isdigit() else "another process"
            stop = f"stop it (kill {holder})" if holder.isdigit() else "stop it"
            raise NNKerasError(f"{folder}: {who} is writing it; wait for it to end, or {stop}, then {fix}") from None
        with naming_errors(path):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        if fd is not None:
            os.close(fd)  # releases the flock


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
    replace_together({Path(path): data})


def replace_together(contents: dict[Path, str | bytes], remove_first: Path | None = None) -> None:
    """Write files that belong together (a model and its reports), each via a temporary file.

    Every temporary file is written (and fsync'ed) before any is renamed, so a
    full disk, a file-size limit or Ctrl-C while writing leaves every old file
    as it was. Then `remove_first` is removed and the files are renamed in the
    order given: renames need no space, and the last one named is the last to
    appear (the model file, after the reports that describe it).
    """
    with signals_deferred():  # SIGTERM/Ctrl-C between two renames would leave half the set new
        staged = []
        try:
            for path, data in contents.items():
                staged.append((_write_temporary(Path(path), data), Path(path)))
        except BaseException:
            for tmp, _ in staged:
                tmp.unlink(missing_ok=True)
            raise
        if remove_first is not None:
            Path(remove_first).unlink(missing_ok=True)
        for tmp, path in staged:
            os.replace(tmp, path)


@contextlib.contextmanager
def signals_deferred():
    """SIGINT and SIGTERM that arrive in the block take effect (KeyboardInterrupt) when it ends.

    Python runs signal handlers in the main thread only, so a block in another
    thread cannot be interrupted and needs nothing; a handler installed outside
    Python (getsignal() is None) cannot be put back, so it is left alone.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught, previous = [], {}
    try:
        for number in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(number) is not None:
                previous[number] = signal.signal(number, lambda signum, frame: caught.append(signum))
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if caught:
            handler = previous[caught[0]]
            if callable(handler):
                handler(caught[0], None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(caught[0])  # the default action, now that it is back


def _write_temporary(path: Path, data: str | bytes) -> Path:
    # One temporary name per process (tuning workers may share a folder), created
    # with mode 0666 so the umask applies, as for any file (mkstemp would make it 0600).
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with naming_errors(path):
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        with naming_errors(path), os.fdopen(fd, "wb") as handle:  # close() may fail too (its flush)
            handle.write(data.encode() if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def check_inside(path: Path, folder: Path) -> None:
    """Refuse a link at `path` that leads outside `folder`: nnkeras writes and deletes only inside
    the folder a file belongs to (a symlinked checkpoints/ would let --resume delete files elsewhere)."""
    path, folder = Path(path), Path(folder)
    if not path.is_symlink():
        return
    target = path.resolve()
    if not target.is_relative_to(folder.resolve()):
        raise NNKerasError(f"{path} is a link to {target}, outside {folder}; nnkeras writes only inside it:"
                           f" replace the link with the {'folder' if target.is_dir() else 'file'} itself")


def check_no_links_out(folder: Path) -> None:
    """check_inside for every entry under `folder` (links are not followed while looking)."""
    for parent, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            check_inside(Path(parent) / name, folder)


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
    write_atomic(path, json_text(obj))


def json_text(obj) -> str:
    return json.dumps(obj, indent=2) + "\n"


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
