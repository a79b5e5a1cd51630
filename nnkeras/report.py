"""Plots of one run, and the table of all runs (`nnkeras report`)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from nnkeras import runs  # noqa: E402


def plot_learning_curves(history: list[dict], path: Path) -> None:
    """Loss and accuracy per epoch, training against validation."""
    frame = pd.DataFrame(history)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for prefix, label in (("", "train"), ("val_", "validation")):
            if prefix + metric in frame:
                ax.plot(frame["epoch"], frame[prefix + metric], marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("Learning curves")
    fig.tight_layout()
    runs.write_atomic(path, _png(fig))


def plot_confusion_matrix(matrix: np.ndarray, class_names, path: Path, title: str) -> bytes:
    """Save the test-set confusion matrix; return the PNG bytes (also sent to TensorBoard)."""
    size = max(5, 0.5 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if len(class_names) <= 20:
        threshold = matrix.max() / 2 if matrix.size else 0
        for (i, j), count in np.ndenumerate(matrix):
            ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                    color="white" if count > threshold else "black")
    fig.tight_layout()
    png = _png(fig)
    runs.write_atomic(path, png)
    return png


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


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


def _get(obj, *keys):
    """obj[k1][k2]..., or None where a level is missing or not an object (a hand-edited config)."""
    for key in keys:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def _read(path: Path) -> dict:
    """A JSON object, or {} when the file is missing or damaged: one bad run never stops the report."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def plot_comparison(histories: dict[str, list[dict]], path: Path, title: str) -> None:
    """Overlaid learning curves of several runs: validation solid, training dashed,
    so a widening gap (overfitting) is visible per variant."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for (name, history), color in zip(histories.items(), plt.cm.tab10.colors * 3):
        frame = pd.DataFrame(history)
        for ax, metric in zip(axes, ("loss", "accuracy")):
            if f"val_{metric}" in frame:
                ax.plot(frame["epoch"], frame[f"val_{metric}"], color=color, label=name)
            if metric in frame:
                ax.plot(frame["epoch"], frame[metric], color=color, linestyle="--", alpha=0.6)
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_ylabel(f"{metric} (solid: validation, dashed: train)")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    runs.write_atomic(path, _png(fig))


def write_group_summary(group_dir: Path, run_dirs: list[Path]) -> pd.DataFrame:
    """summary.csv / summary.md / summary.png for a group of variant runs."""
    group_dir = Path(group_dir)
    table = _table(run_dirs, group_dir)
    runs.write_atomic(group_dir / "summary.csv", table.to_csv(index=False))
    shown = table.drop(columns=["path"]).to_markdown(index=False, floatfmt=".4f")
    runs.write_atomic(group_dir / "summary.md", f"# {group_dir.parent.name} ({group_dir.name})\n\n{shown}\n")
    histories = {d.name: pd.read_csv(d / runs.HISTORY).to_dict("records")
                 for d in run_dirs if (d / runs.HISTORY).is_file()}
    if histories:
        plot_comparison(histories, group_dir / "summary.png", f"{group_dir.parent.name}: learning curves")
    print(shown, flush=True)
    return table


SEARCH_COLUMNS = ["job", "tuner", "objective", "trials", "completed", "failed", "best_score", "best_trial",
                  "best_run", "path"]


def searches_table(runs_dir: str | Path) -> pd.DataFrame:
    """One row per hyperparameter search under `runs_dir` (folders with a search.json; see nnkeras.tuning_search)."""
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
    try:
        trials = pd.read_csv(path, dtype={"trial": str})
    except (OSError, ValueError):  # pandas' ParserError and EmptyDataError are ValueErrors
        return None
    if not {"trial", "status", "score"} <= set(trials.columns):
        return None
    return trials.assign(score=pd.to_numeric(trials["score"], errors="coerce"))


def _best_trial(trials: pd.DataFrame | None, objective: str | None) -> dict:
    """The best completed trial's score and id; accuracies are maximised, losses minimised."""
    done = trials[trials["status"] == "completed"] if trials is not None else pd.DataFrame()
    if done.empty:
        return {"best_score": None, "best_trial": None}
    best = done.loc[done["score"].idxmin() if "loss" in str(objective) else done["score"].idxmax()]
    return {"best_score": float(best["score"]), "best_trial": f"trial_{best['trial']}"}
