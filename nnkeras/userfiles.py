"""Finding and importing a user's .py file: an experiment (experiments/) or a tuning job (tuning/).

A name is looked up in ./<folder>, then in the folder shipped with nnkeras
(the checkout's top-level one for a checkout or an editable install, or
nnkeras/shipped/<sub> inside an installed wheel); the first file of that stem
wins. A path to a .py file is taken as it is.
"""

from __future__ import annotations

import difflib
import importlib.util
from pathlib import Path

from nnkeras.errors import NNKerasError

SHIPPED = Path(__file__).resolve().parent.parent  # the checkout's experiments/ and tuning/ sit here
# setup.cfg's package_dir puts experiments/ and tuning/ here in a wheel.
INSTALLED = Path(__file__).resolve().parent / "shipped"
WHEEL_NAMES = {"experiments": "experiments", "tuning": "jobs"}


def search_dirs(folder: str) -> list[Path]:
    """Where files of `folder` ("experiments" or "tuning") are looked up, in order."""
    candidates = [Path.cwd() / folder, SHIPPED / folder, INSTALLED / WHEEL_NAMES[folder]]
    return [d for d in dict.fromkeys(candidates) if d.is_dir()]


def user_files(folder: str) -> list[Path]:
    """Every file in those folders (not starting with '_'), one per stem, the first found winning."""
    seen: dict[str, Path] = {}
    for directory in search_dirs(folder):
        for path in sorted(directory.glob("[!_]*.py")):
            seen.setdefault(path.stem, path)
    return list(seen.values())


def find_user_file(name_or_file: str, folder: str, kind: str, defines: str) -> Path:
    """The file a user means by `name_or_file`, or a one-line error with a "did you mean"."""
    path = Path(name_or_file)
    if path.suffix == ".py":
        if not path.is_file():
            raise NNKerasError(f"{path}: no such {kind} file")
        return path
    files = user_files(folder)
    for candidate in files:
        if candidate.stem == name_or_file:
            return candidate
    names = [p.stem for p in files]
    guess = difflib.get_close_matches(name_or_file, names, n=1)
    hint = f"did you mean '{guess[0]}'? " if guess else ""
    raise NNKerasError(f"unknown {kind} '{name_or_file}'; {hint}known: {', '.join(names) or 'none found'}"
                       f" (or pass the path of a .py file that defines {defines})")


def import_file(path: Path, prefix: str):
    """Run a user's .py file as a module.

    A syntax error is a one-line NNKerasError with file and line; an exception
    raised by the file's own code keeps its traceback, which points into it.
    """
    spec = importlib.util.spec_from_file_location(f"{prefix}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise NNKerasError(f"{path}:{exc.lineno}: {exc.msg}; fix the file") from None
    return module


def start_experiment(name: str, source: Path) -> Path:
    """Copy experiment file `source` to ./experiments/<name>.py, renamed, with a note on what to edit.

    It goes to ./experiments/ (not ./<name>.py) so `nnkeras run <name>` and `nnkeras list`
    find it by name; an existing file is never overwritten.
    """
    if not name.isidentifier():
        raise NNKerasError(f"new: '{name}' is not a usable name; use letters, digits and _ (e.g. my_mlp)")
    target = Path.cwd() / "experiments" / f"{name}.py"
    if target.exists():
        raise NNKerasError(f"{target} already exists; pick another name or edit that file")
    text = source.read_text()
    # The run directories go to runs/<Experiment name>/: the copy gets its own.
    text = text.replace(f'name="{source.stem}"', f'name="{name}"', 1)
    note = (f"# Your experiment, copied from {source.stem} ({source}).\n"
            f"# Edit EXPERIMENT below: data= (DataConfig: the dataset), model= (ModelConfig: a model of\n"
            f"# `nnkeras list` and its params), train= (TrainConfig: epochs, optimizer, learning rate),\n"
            f"# and the docstring (its first line is what `nnkeras list` shows). Run it with\n"
            f"#     nnkeras run {name}            (or: nnkeras run {name} --smoke, for a quick check)\n")
    target.parent.mkdir(exist_ok=True)
    target.write_text(note + text)
    return target
