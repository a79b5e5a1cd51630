"""SIGKILL `nnkeras run`, `tune` and `convert` at random moments; check what each promises.

    python benchmarks/kill_safety.py                        # 20 kills per phase, seed 0
    python benchmarks/kill_safety.py --kills 3 --phases run  # a quick look

Each kill falls at a moment uniform over the wall time of an uninterrupted
reference command (so start-up, training, checkpoint writes and the final
writes are all hit in proportion to how long they take). After every kill,
before anything is rerun, every file under the folder is opened the way its
reader would open it (JSON, CSV, .keras, .png, .tflite, TensorBoard events);
then the command is resumed or rerun and its result compared with the
reference:

- run:     `nnkeras run --resume RUN_DIR` (a fresh run when the kill came
           before the run directory had a config.json) must finish with the
           reference's test metrics, history.csv and bit-identical weights;
- tune:    benchmarks/tuning_kill.py's `random_kills`: no finished trial lost
           or trained again, every finished search has the reference's trials;
- convert: no partial .tflite under the final name (absent, or a file that
           LiteRT loads, with a verify.json that describes it), and a rerun
           writes the reference's exact bytes.

Prints one table and writes it, with the command and the machine, to
benchmarks/RESULTS_reliability.md (`--results ''` to skip).
"""

from __future__ import annotations

import argparse
import collections
import csv
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tuning_kill  # noqa: E402
from results_file import replace_section  # noqa: E402

RUN = ["run", "mnist_mlp", "--set", "data.name=mnist_sample"]  # offline: 5,000 real digits
COMPARED_METRICS = ("test_accuracy", "test_loss", "best_val_loss", "best_epoch", "epochs_run")


# ---------------------------------------------------------------- processes

def nnkeras(args: list[str], delay: float | None, tmpdir: Path) -> tuple[str, float, str]:
    """Run `nnkeras ARGS`, SIGKILL it after `delay` s (None: let it end) -> (outcome, seconds, stderr)."""
    # TMPDIR of its own: temporary folders a killed process never removed can be counted.
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TMPDIR": str(tmpdir)}
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "nnkeras", *args], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, env=env)
    try:
        _, stderr = process.communicate(timeout=delay)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.communicate()
        return "killed", time.monotonic() - started, ""
    outcome = "finished" if process.returncode == 0 else f"failed ({process.returncode})"
    return outcome, time.monotonic() - started, stderr


def stray_temp(tmpdir: Path) -> list[str]:
    """Entries the last processes left in their TMPDIR (then removed, so each check counts its own)."""
    found = sorted(tmpdir.iterdir())
    for path in found:
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink()
    return [f"TMPDIR/{path.name}" for path in found]


# ---------------------------------------------------------------- the audit

def is_temporary(path: Path) -> bool:
    # runs.write_atomic writes `.<name>.<pid>.tmp`, save_model_atomic `.<stem>.tmp.keras`,
    # tuning's checkpoint copy `.checkpoints.tmp/`.
    return any(part.startswith(".") and ".tmp" in part for part in path.parts)


def check_file(path: Path) -> str | None:
    """Why `path` is not a whole, readable file of its kind, or None."""
    try:
        if "tfevents" in path.name:
            import tensorflow as tf

            for _ in tf.data.TFRecordDataset(str(path)):  # checks each record's length and CRC
                pass
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".jsonl":
            for line in path.read_text().splitlines():
                json.loads(line)
        elif path.suffix == ".csv":
            rows = list(csv.reader(path.open(newline="")))
            if not rows or any(len(row) != len(rows[0]) for row in rows):
                return "empty, or rows with a different number of columns than the header"
        elif path.suffix == ".keras":
            from nnkeras import models

            models.load_model(path)
        elif path.suffix == ".png":
            from PIL import Image

            with Image.open(path) as image:
                image.load()  # decodes every byte: a truncated PNG raises
        elif path.suffix == ".tflite":
            from ai_edge_litert.interpreter import Interpreter

            Interpreter(model_path=str(path)).allocate_tensors()
        elif path.suffix == ".md":
            if not path.read_text().endswith("\n"):
                return "does not end with a newline"
    except Exception as exc:  # any reader's complaint is the finding
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
    return None


def audit(folder: Path) -> dict:
    """Files under final names that do not read back, temporary files left, torn TensorBoard logs."""
    broken, temporary, torn_tb = [], [], []
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()) if Path(folder).is_dir() else []:
        name = str(path.relative_to(folder))
        if is_temporary(path):
            temporary.append(name)
        elif problem := check_file(path):
            # TensorBoard appends to its event files: a kill can cut the last record,
            # which TensorBoard skips. Counted apart from files that are rewritten whole.
            (torn_tb if "tfevents" in path.name else broken).append(f"{name}: {problem}")
    return {"broken": broken, "temporary": temporary, "torn_tb": torn_tb}


# ---------------------------------------------------------------- nnkeras run

def run_dirs(runs_dir: Path) -> list[Path]:
    return sorted(p for p in (runs_dir / "mnist_mlp").glob("*") if p.is_dir())


def run_phase(run_dir: Path | None, epochs: int) -> str:
    """Where in its life a run was killed, read from what it left."""
    if run_dir is None:
        return "start-up (no run dir)"
    if (run_dir / "metrics.json").is_file():
        return "after metrics.json"
    state = run_dir / "checkpoints" / "state.json"
    if not state.is_file():
        return "before epoch 1 ended"
    if json.loads(state.read_text())["epoch"] < epochs:
        return "training"
    return "final evaluation and writes"


def run_result(run_dir: Path) -> dict:
    from nnkeras import models

    metrics = json.loads((run_dir / "metrics.json").read_text())
    history = pd.read_csv(run_dir / "history.csv").drop(columns=["seconds"])  # wall time is not a result
    weights = models.load_model(run_dir / "model.keras").get_weights()
    return {"metrics": [float(metrics[k]) for k in COMPARED_METRICS], "history": history.to_numpy(float),
            "weights": weights}


def max_abs_diff(a: dict, b: dict) -> float:
    """Largest absolute difference over metrics, history values and weights (inf if shapes differ)."""
    pairs = [(np.array(a["metrics"]), np.array(b["metrics"])), (a["history"], b["history"]),
             *zip(a["weights"], b["weights"])]
    if len(a["weights"]) != len(b["weights"]) or any(x.shape != y.shape for x, y in pairs):
        return float("inf")
    return max(float(np.max(np.abs(x - y), initial=0.0)) for x, y in pairs)


def kill_runs(root: Path, kills: int, epochs: int, rng: random.Random) -> tuple[dict, list[dict]]:
    tmpdir = root / "tmp"
    tmpdir.mkdir(parents=True)
    command = [*RUN, "--set", f"train.epochs={epochs}"]
    # Twice: the first pays for cold caches, so the second's wall time is the one the
    # killed runs take; that the two agree is also a check of determinism across processes.
    for name in ("reference", "reference-2"):
        outcome, reference_seconds, err = nnkeras([*command, "--runs-dir", str(root / name)], None, tmpdir)
        if outcome != "finished":
            raise SystemExit(f"the reference run failed:\n{err[-2000:]}")
    reference = run_result(run_dirs(root / "reference")[0])
    if max_abs_diff(run_result(run_dirs(root / "reference-2")[0]), reference) != 0:
        print("warning: two uninterrupted runs with the same seed differ", flush=True)
    stray_temp(tmpdir)  # start clean: only what killed processes leave is counted
    rows = []
    for k in range(kills):
        runs_dir = root / f"kill-{k:02d}"
        delay = rng.uniform(0, reference_seconds)
        outcome, _, err = nnkeras([*command, "--runs-dir", str(runs_dir)], delay, tmpdir)
        found = run_dirs(runs_dir)
        run_dir = found[0] if found else None
        phase = run_phase(run_dir, epochs) if outcome == "killed" else f"not killed: {outcome}"
        row = {"delay": delay, "phase": phase, **audit(runs_dir), "stray_temp": stray_temp(tmpdir)}
        if run_dir is None or not (run_dir / "config.json").is_file():
            again = [*command, "--runs-dir", str(runs_dir)]  # nothing to resume: a fresh run must work
        elif not (run_dir / "metrics.json").is_file():
            again = ["run", "--resume", str(run_dir)]
        else:
            again = None  # killed after the run was complete
        outcome, _, err = nnkeras(again, None, tmpdir) if again else ("finished", 0.0, "")
        done = [d for d in run_dirs(runs_dir) if (d / "metrics.json").is_file()]
        row["resumed_ok"] = outcome == "finished" and len(done) == 1
        row["diff"] = max_abs_diff(run_result(done[0]), reference) if row["resumed_ok"] else float("inf")
        row["left_at_end"] = audit(runs_dir)["temporary"] + stray_temp(tmpdir)
        if err and not row["resumed_ok"]:
            row["error"] = err.strip().splitlines()[-1]
        rows.append(row)
        print(f"run kill {k + 1}/{kills}: {delay:5.2f} s, {phase}, resumed ok {row['resumed_ok']},"
              f" diff {row['diff']:.3g}, broken {row['broken']}, temporary {row['temporary']}", flush=True)
    return {"reference_seconds": reference_seconds}, rows


# ---------------------------------------------------------------- nnkeras tune

def kill_tune(root: Path, kills: int, trials: int, seed: int) -> tuple[dict, list[dict]]:
    summary = tuning_kill.random_kills(kills, trials, seed, root, after_kill=audit)
    for row in summary["rows"]:
        if row["outcome"] == "killed":
            row["phase"] = f"{row['completed']} of {trials} trials done"
        print(f"tune round {row['round']} (cycle {row['cycle']}): {row['outcome']}, {row['completed']} completed,"
              f" kept {row['finished trials kept']}, restarted {row['restarted after completion']},"
              f" broken {row.get('broken', [])}", flush=True)
    for text in summary["mismatches"]:
        print(text)
    return summary, summary["rows"]


# ---------------------------------------------------------------- nnkeras convert

def tflite_state(run_dir: Path) -> str | None:
    """None if model.tflite is absent or whole and described by its verify.json; else what is wrong."""
    out = run_dir / "model.tflite"
    if not out.exists():
        return None
    if problem := check_file(out):
        return f"model.tflite: {problem}"
    verify = run_dir / "model.tflite.verify.json"
    if not verify.is_file():
        return "model.tflite without model.tflite.verify.json"
    report = json.loads(verify.read_text())
    if report["file"] != out.name or report["bytes"] != out.stat().st_size or not report["passed"]:
        return f"verify.json does not describe model.tflite ({report['bytes']} vs {out.stat().st_size} bytes)"
    return None


def kill_convert(root: Path, kills: int, epochs: int, rng: random.Random) -> tuple[dict, list[dict]]:
    tmpdir = root / "tmp"
    tmpdir.mkdir(parents=True)
    outcome, _, err = nnkeras([*RUN, "--set", f"train.epochs={epochs}", "--runs-dir", str(root)], None, tmpdir)
    if outcome != "finished":
        raise SystemExit(f"the run to convert failed:\n{err[-2000:]}")
    run_dir = run_dirs(root)[0]
    convert = ["convert", str(run_dir)]
    for _ in range(2):  # the second one's wall time, as for the run phase
        outcome, reference_seconds, err = nnkeras(convert, None, tmpdir)
        if outcome != "finished":
            raise SystemExit(f"the reference conversion failed:\n{err[-2000:]}")
    reference = hashlib.sha256((run_dir / "model.tflite").read_bytes()).hexdigest()
    stray_temp(tmpdir)
    rows = []
    for k in range(kills):
        for old in run_dir.glob("model.tflite*"):  # every kill hits a first conversion
            old.unlink()
        delay = rng.uniform(0, reference_seconds)
        outcome, _, _ = nnkeras(convert, delay, tmpdir)
        written = sorted(p.name for p in run_dir.glob("model.tflite*"))
        # convert writes metadata.json, verify.json, verify.md, then model.tflite last.
        phase = ("not killed" if outcome != "killed" else "before any file" if not written
                 else "reports written, model not yet" if not (run_dir / "model.tflite").exists()
                 else "after every file")
        problem = tflite_state(run_dir)
        row = {"delay": delay, "phase": phase, **audit(run_dir), "stray_temp": stray_temp(tmpdir)}
        row["broken"] += [problem] if problem else []
        outcome, _, err = nnkeras(convert, None, tmpdir)
        digest = hashlib.sha256((run_dir / "model.tflite").read_bytes()).hexdigest() if outcome == "finished" else ""
        row["resumed_ok"] = outcome == "finished" and tflite_state(run_dir) is None
        row["diff"] = 0.0 if digest == reference else float("inf")  # same bytes as the reference, or not
        row["left_at_end"] = audit(run_dir)["temporary"] + stray_temp(tmpdir)
        rows.append(row)
        print(f"convert kill {k + 1}/{kills}: {delay:5.2f} s, {phase}, rerun ok {row['resumed_ok']},"
              f" same bytes {digest == reference}, broken {row['broken']}, stray temp {len(row['stray_temp'])}", flush=True)
    return {"reference_seconds": reference_seconds}, rows


# ---------------------------------------------------------------- the table

def summary_row(phase: str, kills: int, rows: list[dict], reference_seconds: float, seconds: float) -> dict:
    killed = [r for r in rows if r.get("outcome", "killed") == "killed"]
    phases = collections.Counter(r["phase"] for r in rows if "phase" in r)
    return {
        "phase": phase,
        "kills": kills,
        "reference s": round(reference_seconds, 1),
        "where the kills fell": ", ".join(f"{n} {p}" for p, n in phases.items()) or "-",
        "resumed ok": f"{sum(r.get('resumed_ok', True) for r in rows)}/{len(rows)}",
        "metric max abs diff": max((r["diff"] for r in rows if "diff" in r), default=0.0),
        "half-written files found": sum(len(r.get("broken", [])) for r in killed),
        "temp files left after kill": sum(len(r.get("temporary", [])) for r in killed),
        "temp files left at end": sum(len(r.get("left_at_end", [])) for r in rows),
        "torn TB event logs": sum(len(r.get("torn_tb", [])) for r in killed),
        "stray TMPDIR entries after kill": sum(len(r.get("stray_temp", [])) for r in rows),
        "phase wall s": round(seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs per phase (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments (default 0)")
    parser.add_argument("--runs-dir", type=Path, help="where runs go (default: a temporary folder, removed)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the killed run (default 10)")
    parser.add_argument("--trials", type=int, default=6, help="trials of the killed search (default 6)")
    parser.add_argument("--phases", default="run,tune,convert", help="comma-separated subset of run,tune,convert")
    parser.add_argument("--results", default=str(Path(__file__).with_name("RESULTS_reliability.md")),
                        help="Markdown file to write the table to ('' to skip)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    root = args.runs_dir or Path(tempfile.mkdtemp(prefix="nnkeras-kill-"))
    table, details = [], {}
    started_all = time.monotonic()
    for phase in args.phases.split(","):
        started = time.monotonic()
        if phase == "run":
            info, rows = kill_runs(root / "run", args.kills, args.epochs, rng)
        elif phase == "tune":
            info, rows = kill_tune(root / "tune", args.kills, args.trials, args.seed)
            for row in rows:  # tuning_kill's own checks, folded into the common columns
                row["resumed_ok"] = row["finished trials kept"] and row["restarted after completion"] == "none"
                if row["outcome"] == "finished":  # the search's trials against the reference's
                    row["diff"] = 0.0 if row["same trials as reference"] else float("inf")
            if info["mismatches"]:  # e.g. two uninterrupted searches that disagree
                rows[-1]["diff"] = float("inf")
        elif phase == "convert":
            info, rows = kill_convert(root / "convert", args.kills, args.epochs, rng)
        else:
            raise SystemExit(f"--phases: unknown phase {phase!r}; choose from run, tune, convert")
        table.append(summary_row(f"nnkeras {phase}", args.kills, rows, info["reference_seconds"],
                                 time.monotonic() - started))
        details[phase] = rows
    markdown = pd.DataFrame(table).to_markdown(index=False, floatfmt=".3g")
    print(markdown)
    print(f"total {time.monotonic() - started_all:.0f} s")
    if args.results:
        write_results(Path(args.results), markdown, details, time.monotonic() - started_all)
    if not args.runs_dir:
        shutil.rmtree(root, ignore_errors=True)


def write_results(path: Path, markdown: str, details: dict, seconds: float) -> None:
    findings = []
    for phase, rows in details.items():
        for row in rows:
            for key in ("broken", "temporary", "stray_temp", "left_at_end", "torn_tb"):
                findings += [f"- {phase}, {key}: {item}" for item in row.get(key, [])]
    load = os.getloadavg()
    text = (f"    python benchmarks/kill_safety.py {' '.join(sys.argv[1:])}\n\n"
            f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores (nproc), load average {load[0]:.1f},"
            f" {seconds / 60:.0f} min in all.\n\n{markdown}\n\n## Every file a kill left\n\n"
            + ("\n".join(findings) or "none") + "\n")
    replace_section(path, "kill_safety.py", text)  # the notes around it and hostile.py's section stay


if __name__ == "__main__":
    main()
