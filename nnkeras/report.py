"""The tables across runs (`nnkeras report`), and a group's summary; the figures are in nnkeras.plots."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from nnkeras import runs
from nnkeras.config import OBJECTIVES
from nnkeras.plots import plot_comparison, plot_runs_report


REPORT_COLUMNS = [
    "experiment", "run", "status", "dataset", "model", "epochs_run", "test_accuracy",
    "test_loss", "best_val_loss", "train_seconds", "params", "n_train", "path",
]


def runs_table(runs_dir: str | Path) -> pd.DataFrame:
    """One row per run directory under `runs_dir`; unfinished runs are listed as such."""
    return _table(runs.find_runs(runs_dir), Path(runs_dir))


def _table(run_dirs: list[Path], root: Path) -> pd.DataFrame:
    rows = []
    for run_dir in run_dirs:
        config = _read(run_dir / runs.CONFIG)
        metrics = _read(run_dir / runs.METRICS)
        row = {
            "experiment": config.get("name", run_dir.parent.name),
            "run": str(run_dir.relative_to(root)),
            "status": metrics.get("status", "complete") if metrics else "incomplete",
            "dataset": _get(config, "data", "name"),
            "model": _get(config, "model", "name"),
            "path": str(run_dir),
        }
        row.update({k: metrics.get(k) for k in REPORT_COLUMNS if k in metrics})
        rows.append(row)
    return pd.DataFrame(rows, columns=REPORT_COLUMNS)


FORMATS = ("md", "csv", "json")  # md: the console tables; csv, json: data only, to pipe

# How a Markdown table writes each column, by what it holds: counts as whole numbers (a missing
# value turns a pandas column into floats, which would print 4.0000 epochs), seconds to a tenth,
# every other number (accuracies, losses, scores) to 4 places; a missing value is left blank.
COUNT_COLUMNS = {"epochs_run", "params", "n_train", "trials", "completed", "failed"}
SECONDS_COLUMNS = {"train_seconds"}


def markdown(table: pd.DataFrame) -> str:
    """`table` without its path column as a Markdown table, each column written by its kind (see above)."""
    def number(column, value):
        if column in COUNT_COLUMNS:
            return f"{int(value):,}"
        return f"{value:.1f}" if column in SECONDS_COLUMNS else f"{value:.4f}"

    def cell(column, value):
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            return ""
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return number(column, value) if is_number else str(value)

    shown = table.drop(columns=["path"])
    text = pd.DataFrame({c: [cell(c, v) for v in shown[c].tolist()] for c in shown.columns}, columns=shown.columns)
    numeric = [pd.api.types.is_numeric_dtype(shown[c]) and not pd.api.types.is_bool_dtype(shown[c]) for c in shown]
    return text.to_markdown(index=False, disable_numparse=True, colalign=["right" if n else "left" for n in numeric])


def render(table: pd.DataFrame, searches: pd.DataFrame, fmt: str) -> str:
    """What `nnkeras report --format FMT` prints: csv is the runs table alone (searches.csv holds
    the other one), json both as {"runs": [...], "searches": [...]} with null for missing values."""
    if fmt == "csv":
        return table.to_csv(index=False).rstrip("\n")
    if fmt == "json":
        records = {name: json.loads(frame.to_json(orient="records"))
                   for name, frame in (("runs", table), ("searches", searches))}
        return json.dumps(records, indent=2)
    text = markdown(table)
    if not searches.empty:  # hyperparameter searches (nnkeras tune): one row each
        text += "\n\nsearches:\n" + markdown(searches)
    return text


def write_figure(table: pd.DataFrame, path: Path) -> bool:
    """report.png: the runs' test accuracies and validation curves (nnkeras.plots.plot_runs_report);
    False, and nothing written, when no run has either yet."""
    scores = pd.to_numeric(table["test_accuracy"], errors="coerce")
    test_accuracy = {run: float(score) for run, score in zip(table["run"], scores) if pd.notna(score)}
    histories = {}
    for run, folder in zip(table["run"], table["path"]):
        history = _read_history(Path(folder) / runs.HISTORY)
        if history is not None and "val_accuracy" in history:
            histories[run] = history.to_dict("records")
    if not test_accuracy and not histories:
        return False
    plot_runs_report(test_accuracy, histories, path)
    return True


def _read_history(path: Path) -> pd.DataFrame | None:
    """history.csv, or None when it is missing or damaged (like `_read`)."""
    if not path.is_file():  # a folder, or a FIFO whose read would wait forever
        return None
    try:
        history = pd.read_csv(path)
    except (OSError, ValueError):
        return None
    if "epoch" not in history:
        return None
    return history.apply(pd.to_numeric, errors="coerce")


def save_csv(table: pd.DataFrame, path: Path, folder: Path) -> None:
    """report.csv / searches.csv: atomically (a full disk keeps the previous one), never through a link out."""
    runs.check_inside(path, folder)
    runs.write_atomic(path, table.to_csv(index=False))


def _get(obj, *keys):
    """obj[k1][k2]..., or None where a level is missing or not an object (a hand-edited config)."""
    for key in keys:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def _read(path: Path) -> dict:
    """A JSON object, or {} when the file is missing or damaged: one bad run never stops the report."""
    if not path.is_file():  # missing, a folder, or a FIFO (whose read would wait forever)
        return {}
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def write_group_summary(group_dir: Path, run_dirs: list[Path]) -> pd.DataFrame:
    """summary.csv / summary.md / summary.png for a group of variant runs."""
    group_dir = Path(group_dir)
    # A variant's folder is its name (launch.run_plan): a "run" column would repeat "experiment".
    table = _table(run_dirs, group_dir).drop(columns=["run"])
    runs.write_atomic(group_dir / "summary.csv", table.to_csv(index=False))
    shown = markdown(table)
    runs.write_atomic(group_dir / "summary.md", f"# {group_dir.parent.name} ({group_dir.name})\n\n{shown}\n")
    histories = {d.name: history.to_dict("records")
                 for d in run_dirs if (history := _read_history(d / runs.HISTORY)) is not None}
    if histories:
        plot_comparison(histories, group_dir / "summary.png", f"{group_dir.parent.name}: learning curves")
    print(shown, flush=True)
    return table


SEARCH_COLUMNS = ["job", "tuner", "objective", "trials", "completed", "failed", "best_score", "best_trial",
                  "best_run", "path"]


def searches_table(runs_dir: str | Path) -> pd.DataFrame:
    """One row per hyperparameter search under `runs_dir` (folders with a search.json; see nnkeras.tuning.search)."""
    rows = []
    for spec in sorted(Path(runs_dir).rglob("search.json")):
        folder, info = spec.parent, _read(spec)
        best = _read(folder / "best_run.json")
        trials = _read_trials(folder / "trials.csv")
        status = trials["status"] if trials is not None else pd.Series(dtype=str)
        rows.append({
            "job": info.get("job"), "tuner": info.get("tuner"), "objective": info.get("objective"),
            "trials": len(status), "completed": int((status == "completed").sum()),
            "failed": int((status == "failed").sum()),
            **_best_trial(trials, info.get("objective")),
            "best_run": str(folder / best["run_dir"]) if isinstance(best.get("run_dir"), str) else None,
            "path": str(folder),
        })
    return pd.DataFrame(rows, columns=SEARCH_COLUMNS)


def _read_trials(path: Path) -> pd.DataFrame | None:
    """trials.csv, or None when it is missing or damaged: like `_read`, one bad file never stops the report."""
    if not path.is_file():
        return None
    try:
        trials = pd.read_csv(path, dtype={"trial": str})
    except (OSError, ValueError):  # pandas' ParserError and EmptyDataError are ValueErrors
        return None
    if not {"trial", "status", "score"} <= set(trials.columns):
        return None
    return trials.assign(score=pd.to_numeric(trials["score"], errors="coerce"))


def _best_trial(trials: pd.DataFrame | None, objective: str | None) -> dict:
    """The best completed trial's score and id, in the objective's direction (config.OBJECTIVES)."""
    done = trials[trials["status"] == "completed"] if trials is not None else pd.DataFrame()
    if done.empty:
        return {"best_score": None, "best_trial": None}
    if OBJECTIVES.get(objective) is None:  # a hand-edited search.json: no direction to rank by
        return {"best_score": None, "best_trial": None}
    best = done.loc[done["score"].idxmin() if OBJECTIVES[objective] == "min" else done["score"].idxmax()]
    return {"best_score": float(best["score"]), "best_trial": f"trial_{best['trial']}"}
