"""Hand-edited and damaged run and search files; a machine fault during a search (issue 15).

Files that parse but hold the wrong types end in one line naming the file
and the fix (exit 2, nothing changed); a full disk during a trial (a
file-size limit gives a real EFBIG) is not that trial's verdict, so the rerun
trains it; a search in which no trial completed exits 2.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from test_errors import TINY_JOB, assert_one_error_line, cli, finished_search, snapshot  # noqa: F401 (fixture)
from test_files_kept import file_size_limit, run_copy, converted_run  # noqa: F401 (fixtures)
from nnkeras import runs

SEARCH = ("runs", "search", "tinyjob", "random")


def search_copy(finished_search, tmp_path) -> tuple[Path, Path]:
    root = Path(shutil.copytree(finished_search, tmp_path / "copy"))
    return root, root.joinpath(*SEARCH)


def tune(capsys, root, *more):
    return cli(capsys, "tune", root / "tinyjob.py", "--runs-dir", root / "runs", *more)


@pytest.mark.parametrize("name, content, message", [
    ("best_run.json", {}, "best_run.json: not a best-run record"),
    ("best_run.json", {"trial": "0", "run_dir": "../../../../etc"}, "best_run.json: not a best-run record"),
    ("search.json", [], "search.json: not a search record"),
    ("oracle.json", [], "oracle.json: not a Keras Tuner state (a JSON object was expected)"),
    ("trial_0/trial.json", [], "trial.json: not a Keras Tuner state"),
    ("tuner0.json", 5, "tuner0.json: not a Keras Tuner state"),
    ("oracle.json", {}, "Keras Tuner cannot reload this search (KeyError"),
])
def test_a_search_file_of_the_wrong_type_is_named(capsys, tmp_path, finished_search, name, content, message):
    root, folder = search_copy(finished_search, tmp_path)
    (folder / name).write_text(json.dumps(content))
    before = snapshot(root)
    line = assert_one_error_line(*tune(capsys, root), message)
    assert "--overwrite" in line or "rerun the same command" in line
    assert snapshot(root) == before


def test_report_goes_on_over_edited_search_files_and_a_fifo_as_metrics(capsys, tmp_path, finished_search):
    root, folder = search_copy(finished_search, tmp_path)
    (folder / "best_run.json").write_text("{}")
    (folder / "trials.csv").write_text("trial,status\n0,completed\n")  # no scores
    (folder / "search.json").write_text("[]")
    metrics = folder / "trial_0" / runs.METRICS
    metrics.unlink()
    os.mkfifo(metrics)  # a read would wait forever
    code, err = cli(capsys, "report", root / "runs")
    assert code == 0 and "Traceback" not in err
    table = pd.read_csv(root / "runs" / "report.csv")
    assert table.set_index("run").loc["search/tinyjob/random/trial_0", "status"] == "incomplete"


@pytest.mark.parametrize("name, kind", [(runs.TENSORBOARD, "file"), (runs.CHECKPOINTS, "file"),
                                        (runs.HISTORY, "folder")])
def test_a_resume_over_a_file_or_folder_of_the_wrong_kind_is_refused(capsys, run_copy, name, kind):  # noqa: F811
    (run_copy / runs.METRICS).unlink()
    target = run_copy / name
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    target.mkdir() if kind == "folder" else target.write_text("not a folder")
    before = snapshot(run_copy)
    assert_one_error_line(*cli(capsys, "run", "--resume", run_copy), str(target), "move it away")
    assert {k: v for k, v in snapshot(run_copy).items() if k != runs.LOCK} == \
        {k: v for k, v in before.items() if k != runs.LOCK}


def test_a_full_disk_during_a_trial_is_not_its_verdict_and_the_rerun_trains_it(capsys, tmp_path):
    (tmp_path / "tinyjob.py").write_text(TINY_JOB)
    with file_size_limit(3_000):  # config.json fits, the trial's model.keras does not
        code, err = tune(capsys, tmp_path)
    line = assert_one_error_line(code, err, "File too large", "rerunning the same `nnkeras tune` command")
    assert "--resume" not in line
    folder = tmp_path.joinpath(*SEARCH)
    assert not (folder / "trials.csv").is_file() or "failed" not in (folder / "trials.csv").read_text()
    code, err = tune(capsys, tmp_path)
    assert code == 0, err
    trials = pd.read_csv(folder / "trials.csv")
    assert list(trials["status"]) == ["completed"]


def test_a_search_in_which_no_trial_completed_exits_2(capsys, tmp_path):
    job = TINY_JOB.replace('{"train.learning_rate": hp.Float("lr", 1e-3, 1e-2)}',
                           '{"model.hidden": (hp.Int("units", -8, -4),)}')  # every trial a bad model
    (tmp_path / "tinyjob.py").write_text(job.replace("MAX_TRIALS = 1", "MAX_TRIALS = 2"))
    assert_one_error_line(*tune(capsys, tmp_path), "search finished with no completed trial (of 2;",
                          "trials.csv; the first: ")


def tied_second_trial(folder: Path) -> None:
    """trial_1: a copy of trial_0 (same settings, same score), recorded by the oracle after it."""
    shutil.copytree(folder / "trial_0", folder / "trial_1")
    state = json.loads((folder / "trial_1" / "trial.json").read_text())
    (folder / "trial_1" / "trial.json").write_text(json.dumps({**state, "trial_id": "1"}))
    oracle = json.loads((folder / "oracle.json").read_text())
    for key in ("start_order", "end_order"):
        oracle[key].append("1")
    oracle["id_to_hash"]["1"] = oracle["id_to_hash"]["0"]
    (folder / "oracle.json").write_text(json.dumps(oracle))


def test_a_rerun_of_a_finished_search_trains_nothing_and_keeps_best_byte_for_byte(
        capsys, tmp_path, finished_search, monkeypatch):
    """Keras Tuner reloads trials in the file system's order and breaks ties by it: a copied search
    picked the other of two equal trials and retrained best/ (hostile.py trials-csv-no-scores-tune)."""
    from keras_tuner.src import backend

    root, folder = search_copy(finished_search, tmp_path)
    tied_second_trial(folder)
    best = json.loads((folder / "best_run.json").read_text())
    (folder / "best_run.json").write_text(json.dumps({**best, "trial": "1", "trial_run_dir": "trial_1"}))
    glob = backend.io.glob
    monkeypatch.setattr(backend.io, "glob", lambda pattern: sorted(glob(pattern), reverse=True))  # trial_1 first
    before = {k: v for k, v in snapshot(root).items() if not k.endswith((runs.LOCK, "trials.csv"))}
    code, err = tune(capsys, root)
    assert code == 0, err
    after = {k: v for k, v in snapshot(root).items() if not k.endswith((runs.LOCK, "trials.csv"))}
    assert after == before  # best/, best_run.json, events.jsonl (no trial started), the state files
    # Without the record, ties go to the trial that started first, whatever the file system's order.
    from nnkeras.tuning import jobs
    from nnkeras.tuning.tuner import make_oracle

    oracle = make_oracle(jobs.prepare(jobs.load_job(str(root / "tinyjob.py")), []), "random")
    oracle._set_project_dir(str(folder.parent), folder.name)
    oracle.reload()
    assert list(oracle.trials) == ["0", "1"] and oracle.get_best_trials(1)[0].trial_id == "0"
