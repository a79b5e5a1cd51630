"""Tuners side by side (`nnkeras tune JOB --compare`): same problem, same budget.

The tutorial's chapter 4 says grid search is slower than a smarter search.
This puts numbers on it: for each tuner, the best score so far after each
trial and after each epoch spent (Hyperband trains most trials for a few
epochs, so it spends fewer epochs for the same number of trials).

    runs/search/<job>/comparison.csv, comparison.md, comparison.png
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from nnkeras import runs
from nnkeras.plots import plot_tuner_comparison
from nnkeras.tuning.jobs import Job

COLUMNS = ["tuner", "trials", "completed", "failed", "best_score", "best_trial", "trials_to_best",
           "epochs_spent", "epochs_to_best", "seconds"]


def best_so_far(trials: pd.DataFrame, direction: str) -> pd.DataFrame:
    """Per trial in start order: epochs spent so far and the best completed score so far."""
    score = trials["score"].where(trials["status"] == "completed")
    # cummax/cummin leave a failed trial's NaN in place; the best so far carries over it
    running = (score.cummax() if direction == "max" else score.cummin()).ffill()
    epochs = trials["epochs_trained"].fillna(0).cumsum()
    return pd.DataFrame({"trial_number": np.arange(1, len(trials) + 1), "epochs_spent": epochs, "best": running})


def summary_row(tuner: str, trials: pd.DataFrame, direction: str) -> dict:
    curve = best_so_far(trials, direction)
    final = curve["best"].iloc[-1] if len(curve) else np.nan
    reached = curve.index[curve["best"] == final] if pd.notna(final) else []
    first = reached[0] if len(reached) else None
    return {
        "tuner": tuner, "trials": len(trials),
        "completed": int((trials["status"] == "completed").sum()),
        "failed": int((trials["status"] == "failed").sum()),
        "best_score": final,
        "best_trial": f"trial_{trials['trial'].iloc[first]}" if first is not None else None,
        "trials_to_best": int(curve["trial_number"].iloc[first]) if first is not None else None,
        "epochs_spent": int(curve["epochs_spent"].iloc[-1]) if len(curve) else 0,
        "epochs_to_best": int(curve["epochs_spent"].iloc[first]) if first is not None else None,
        "seconds": round(float(trials["seconds"].fillna(0).sum()), 1),
    }


def write_comparison(tables: dict[str, pd.DataFrame], folder: Path, job: Job) -> pd.DataFrame:
    folder = Path(folder)
    table = pd.DataFrame([summary_row(t, trials, job.direction) for t, trials in tables.items()], columns=COLUMNS)
    table = table.astype({"trials_to_best": "Int64", "epochs_to_best": "Int64"})
    runs.write_atomic(folder / "comparison.csv", table.to_csv(index=False))
    shown = table.to_markdown(index=False, floatfmt=".4f")
    runs.write_atomic(folder / "comparison.md", f"# {job.name}: tuners compared ({job.objective},"
                                                f" {job.max_trials} trials each)\n\n{shown}\n")
    curves = {tuner: best_so_far(trials, job.direction) for tuner, trials in tables.items()}
    plot_tuner_comparison(curves, folder / "comparison.png", job.name, job.objective)
    return table
