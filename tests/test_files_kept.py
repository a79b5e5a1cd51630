"""Files never half-written or lost, never written through a link out of their folder (issue 15).

A failed write (a file-size limit gives a real EFBIG) keeps the previous
report.csv and the previous conversion whole; an unfinished run is not
converted; symlinked checkpoints/, tb/ and report.csv pointing elsewhere are
refused in one line before anything is touched.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
from pathlib import Path

import pytest

from test_errors import TINY, assert_one_error_line, cli, snapshot
from nnkeras import runs

CONVERSION = ("model.tflite", "model.tflite.metadata.json", "model.tflite.verify.json", "model.tflite.verify.md")


@pytest.fixture(scope="module")
def converted_run(tmp_path_factory) -> Path:
    """A finished tiny run with its model.tflite and sidecars."""
    from nnkeras.export.convert import convert
    from nnkeras.training import train

    run_dir = tmp_path_factory.mktemp("converted") / "tiny" / "run"
    train(TINY, run_dir)
    convert(run_dir)
    return run_dir


@pytest.fixture
def run_copy(converted_run, tmp_path) -> Path:
    return Path(shutil.copytree(converted_run, tmp_path / "runs" / "tiny" / "run"))


@contextlib.contextmanager
def file_size_limit(limit: int):
    """Every file this process writes is capped at `limit` bytes: a write past it fails with EFBIG."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*.tmp"))


def test_files_written_together_are_all_old_or_all_new(tmp_path):
    old = {tmp_path / name: f"old {name}\n" for name in ("a.json", "b.md", "model.tflite")}
    for path, text in old.items():
        path.write_text(text)
    (tmp_path / f".model.tflite.{os.getpid()}.tmp").mkdir()  # the last temporary file cannot be written
    with pytest.raises(IsADirectoryError):
        runs.replace_together({path: "new\n" for path in old}, remove_first=tmp_path / "model.tflite")
    assert {path: path.read_text() for path in old} == old
    (tmp_path / f".model.tflite.{os.getpid()}.tmp").rmdir()
    assert temporaries(tmp_path) == []
    runs.replace_together({path: "new\n" for path in old}, remove_first=tmp_path / "model.tflite")
    assert {path.read_text() for path in old} == {"new\n"} and temporaries(tmp_path) == []


def test_a_conversion_that_cannot_be_written_keeps_the_previous_one(capsys, run_copy):
    before = snapshot(run_copy)
    with file_size_limit(20_000):  # the SavedModel staging copy does not fit
        code, err = cli(capsys, "convert", run_copy)
    line = assert_one_error_line(code, err, "could not write the SavedModel staging copy", "run the same command")
    assert "--resume" not in line
    assert snapshot(run_copy) == before and all((run_copy / name).is_file() for name in CONVERSION)


def test_an_unfinished_run_is_not_converted(capsys, run_copy):
    (run_copy / runs.METRICS).unlink()  # killed after model.keras, before metrics.json
    before = snapshot(run_copy)
    assert_one_error_line(*cli(capsys, "convert", run_copy, "--quantize", "dynamic"),
                          f"{run_copy}: the run did not finish (no metrics.json)",
                          f"nnkeras run --resume {run_copy}")
    assert snapshot(run_copy) == before


def test_a_report_that_cannot_be_written_keeps_the_previous_one(capsys, run_copy):
    report = run_copy.parent.parent / "report.csv"
    report.write_text("experiment,run\nkeep,me\n" * 100)  # an earlier report, larger than the limit
    before = report.read_bytes()
    with file_size_limit(100):  # one row of the table does not fit
        code, err = cli(capsys, "report", report.parent)
    line = assert_one_error_line(code, err, f"{report.parent}/report.", ": File too large",  # .png, written first
                                 "run the same command again")
    assert "--resume" not in line
    assert report.read_bytes() == before and temporaries(report.parent) == []


def test_a_report_csv_linked_outside_the_runs_folder_is_refused(capsys, run_copy, tmp_path):
    outside = tmp_path / "outside.csv"
    outside.write_text("keep me\n")
    (run_copy.parent.parent / "report.csv").symlink_to(outside)
    assert_one_error_line(*cli(capsys, "report", run_copy.parent.parent),
                          f"report.csv is a link to {outside}, outside {run_copy.parent.parent}")
    assert outside.read_text() == "keep me\n"


@pytest.mark.parametrize("name", [runs.CHECKPOINTS, runs.TENSORBOARD, "history.csv"])
def test_a_resume_with_a_part_linked_outside_the_run_is_refused(capsys, run_copy, tmp_path, name):
    (run_copy / runs.METRICS).unlink()
    outside = tmp_path / "outside" / name
    shutil.move(run_copy / name, outside.parent.mkdir() or outside)
    (run_copy / name).symlink_to(outside, target_is_directory=outside.is_dir())
    before, kept = snapshot(run_copy), snapshot(outside.parent)
    assert_one_error_line(*cli(capsys, "run", "--resume", run_copy, "--set", "train.epochs=3"),
                          f"{run_copy / name} is a link to {outside}, outside {run_copy}")
    assert snapshot(outside.parent) == kept
    assert {k: v for k, v in snapshot(run_copy).items() if k != runs.LOCK} == \
        {k: v for k, v in before.items() if k != runs.LOCK}


def test_sigterm_during_the_renames_of_a_set_takes_effect_after_the_whole_set(tmp_path, monkeypatch):
    """convert's model and its three reports: a SIGTERM (or Ctrl-C) leaves the old set or the new one."""
    from nnkeras.cli import _interrupt  # the CLI's SIGTERM: KeyboardInterrupt, as Ctrl-C

    files = [tmp_path / name for name in ("model.tflite.metadata.json", "model.tflite.verify.json", "model.tflite")]
    for path in files:
        path.write_text("old")
    replace, sent = os.replace, []

    def replace_then_signal(source, target):
        replace(source, target)
        if not sent:  # after the first rename: the moment that used to split the set
            sent.append(os.kill(os.getpid(), signal.SIGTERM))

    monkeypatch.setattr(runs.os, "replace", replace_then_signal)
    previous, sigint = signal.signal(signal.SIGTERM, _interrupt), signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(KeyboardInterrupt):
            runs.replace_together({path: "new" for path in files}, remove_first=files[-1])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert sent and [path.read_text() for path in files] == ["new"] * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in files)  # no temporary left
    assert signal.getsignal(signal.SIGINT) is sigint  # the handlers are back
