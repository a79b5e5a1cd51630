"""Attack nnkeras through its command line, as a hostile or a careless user would.

    python benchmarks/hostile.py                 # every case, one after the other (about 15 min)
    python benchmarks/hostile.py --kind data,hang  # the cases of some kinds
    python benchmarks/hostile.py --case fifo     # cases whose name contains "fifo"

Each case makes its own files in a temporary folder (data files, damaged run
and search folders, symlinks, FIFOs, tiny file-size limits, signals, several
processes at once, a real server with slow clients), runs `python -m nnkeras`
in a fresh process with a time limit, and judges what a user would see:

    handled    the documented outcome: exit code as promised, and for exit 2
               exactly one `error:` line; files unchanged where promised
    traceback  a Python traceback on stderr
    hang       the time limit passed (the process group is then killed)
    wrong exit another exit code, more than one line, a 5xx or non-JSON answer
    file lost  a file the command must not touch changed or vanished, or a
               write landed outside the folder it belongs to

Only the CLI and files are used (no import of nnkeras), so the script keeps
working whatever the package's layout. The cases live in hostile_cases.py.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
TF_NOISE = ("WARNING: All log messages before absl::InitializeLog()", "I0000 ", "W0000 ", "E0000 ",
            "INFO: Created TensorFlow Lite XNNPACK delegate")
OUTCOMES = ("handled", "traceback", "hang", "wrong exit", "file lost")


@dataclass
class Result:
    code: int | None
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    problem: str | None = None  # what a check found (a lost file, a 500, ...)
    lost: bool = False  # the problem is a lost file or a write outside its folder


@dataclass
class Case:
    name: str
    kind: str
    setup: Callable  # (Ctx) -> argv list (the default runner) or anything the case's runner takes
    expect: tuple = (2,)
    timeout: float = 90
    runner: Callable | None = None  # (Ctx, setup's value) -> Result; default: one process
    check: Callable | None = None  # (Ctx, Result) -> problem or None: a lost file, or "wrong: ..."
    guard: bool = True  # the folders setup lists in ctx.guard must be unchanged afterwards


@dataclass
class Ctx:
    tmp: Path
    fx: "Fixtures"
    guard: list = field(default_factory=list)
    outside: Path | None = None  # a folder with a sentinel file nothing may touch

    def make_outside(self) -> Path:
        self.outside = self.tmp / "outside"
        self.outside.mkdir(exist_ok=True)
        (self.outside / "sentinel.txt").write_text("keep me\n")
        return self.outside


# ---------------------------------------------------------------- processes

def env_for(extra: dict | None = None) -> dict:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(extra or {})}


def file_limit(limit: int):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write over the limit then fails with EFBIG
        resource_limit(limit)
    return apply


def resource_limit(limit: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def _child_setup(preexec):
    def setup():
        # A harness started in the background (nohup ... &) has SIGINT ignored, and a child inherits
        # that: Python would then install no KeyboardInterrupt handler, and Ctrl-C cases would lie.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if preexec:
            preexec()
    return setup


def start(argv, env=None, preexec=None, cwd=None, stdout=subprocess.PIPE, prefix=()) -> subprocess.Popen:
    # cwd: not the checkout (python -m would import the nnkeras beside it, whatever PYTHONPATH says)
    return subprocess.Popen([*prefix, sys.executable, "-m", "nnkeras", *map(str, argv)], cwd=cwd,
                            env=env_for(env), stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE,
                            text=True, errors="replace", start_new_session=True, preexec_fn=_child_setup(preexec))


def finish(process: subprocess.Popen, timeout: float) -> Result:
    try:
        out, err = process.communicate(timeout=timeout)
        return Result(process.returncode, out or "", err or "")
    except subprocess.TimeoutExpired:
        kill_group(process)
        out, err = process.communicate()
        return Result(None, out or "", err or "", timed_out=True)


def kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run(argv, timeout=90, env=None, preexec=None, cwd=None, prefix=()) -> Result:
    return finish(start(argv, env, preexec, cwd, prefix=prefix), timeout)


def run_with_signal(argv, after: float, sig=signal.SIGTERM, grace: float = 30, env=None,
                    wait_for: Callable | None = None) -> Result:
    """Start, send `sig` after `after` s (or once `wait_for()` is true), give it `grace` s to end."""
    process = start(argv, env)
    deadline = time.monotonic() + after
    while time.monotonic() < deadline and process.poll() is None and not (wait_for and wait_for()):
        time.sleep(0.2)
    if process.poll() is None:
        process.send_signal(sig)
    return finish(process, grace)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith(TF_NOISE)]


# ---------------------------------------------------------------- files

def snapshot(path: Path) -> dict:
    """Every entry under `path` (or the file itself): bytes of files, kind of the rest."""
    if not path.exists() and not path.is_symlink():
        return {}
    entries = [path, *sorted(path.rglob("*"))] if path.is_dir() and not path.is_symlink() else [path]
    out = {}
    for entry in entries:
        if entry.name == ".lock":  # the pid of the last process that held the folder, no data
            continue
        key = str(entry.relative_to(path.parent))
        if entry.is_symlink():
            out[key] = ("link", os.readlink(entry))
        elif entry.is_file():
            out[key] = entry.read_bytes()
        else:
            out[key] = "dir" if entry.is_dir() else "special"
    return out


def diff(before: dict, after: dict) -> str | None:
    gone = sorted(set(before) - set(after))
    new = sorted(set(after) - set(before))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    parts = [f"{what} {', '.join(keys[:3])}" for what, keys in (("lost", gone), ("new", new), ("changed", changed))
             if keys]
    return "; ".join(parts) or None


# ---------------------------------------------------------------- fixtures

TINY_EXPERIMENT = '''"""A 4-4-3 MLP on 60 synthetic examples: the smallest run there is."""
from nnkeras import DataConfig, Experiment, ModelConfig, TrainConfig
EXPERIMENT = Experiment(name="tiny", data=DataConfig(name="synthetic", shape=(4,), num_classes=3, size=60),
                        model=ModelConfig(name="mlp", params={"hidden": (4,)}),
                        train=TrainConfig(epochs=2, histogram_freq=0), seed=0)
'''
TINY_JOB = '''from nnkeras import DataConfig, Experiment, ModelConfig, TrainConfig
EXPERIMENT = Experiment(name="t", data=DataConfig(name="synthetic", shape=(4,), num_classes=3, size=60),
                        model=ModelConfig(name="mlp", params={"hidden": (4,)}),
                        train=TrainConfig(epochs=1, histogram_freq=0))
def space(hp):
    return {"train.learning_rate": hp.Float("lr", 1e-3, 1e-2)}
MAX_TRIALS = 2
'''


class Fixtures:
    """Run folders made once through the CLI; cases get copies."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir()
        (root / "tiny.py").write_text(TINY_EXPERIMENT)
        (root / "tinyjob.py").write_text(TINY_JOB)
        self.experiment, self.job = root / "tiny.py", root / "tinyjob.py"
        self.run = self._train(["run", self.experiment, "--runs-dir", root / "runs"], root / "runs" / "tiny")
        self._ok(run(["convert", self.run], timeout=300), "convert")
        self.titanic = self._train(["run", "titanic_wide_deep", "--smoke", "--set", "train.histogram_freq=0",
                                    "--runs-dir", root / "truns"], root / "truns" / "titanic_wide_deep")
        self._ok(run(["tune", self.job, "--runs-dir", root / "sruns"], timeout=300), "tune")
        self.search_root = root / "sruns"

    def _train(self, argv, parent: Path) -> Path:
        self._ok(run(argv, timeout=300), " ".join(map(str, argv[:2])))
        (run_dir,) = parent.iterdir()
        return run_dir

    @staticmethod
    def _ok(result: Result, what: str) -> None:
        if result.code != 0:
            sys.exit(f"fixture `nnkeras {what}` failed ({result.code}):\n{result.stderr[-3000:]}")

    def run_copy(self, ctx: Ctx, finished: bool = True, source: Path | None = None) -> Path:
        """A copy of a finished run (finished=False: without metrics.json, as --resume wants it)."""
        target = ctx.tmp / "runs" / "tiny" / "run"
        shutil.copytree(source or self.run, target, symlinks=True)
        if not finished:
            (target / "metrics.json").unlink()
        return target

    def search_copy(self, ctx: Ctx) -> tuple[Path, Path]:
        """(runs folder, search folder) of a copy of the finished 2-trial search."""
        runs = Path(shutil.copytree(self.search_root, ctx.tmp / "sruns", symlinks=True))
        return runs, runs / "search" / "tinyjob" / "random"


# ---------------------------------------------------------------- judging

def judge(case: Case, ctx: Ctx, before: dict, result: Result) -> tuple[str, str]:
    if result.timed_out:
        return "hang", f"no end within {case.timeout:.0f} s"
    if "Traceback (most recent call last)" in result.stderr:
        last = [line for line in result.stderr.splitlines() if line.strip()]
        return "traceback", last[-1][:140] if last else ""
    lost = []
    for path, snap in before.items():
        problem = diff(snap, snapshot(path))
        if problem:
            lost.append(f"{path.name}: {problem}")
    if lost:
        return "file lost", "; ".join(lost)[:160]
    if result.problem:
        return ("file lost" if result.lost else "wrong exit"), result.problem[:160]
    if case.check:
        problem = case.check(ctx, result)
        if problem:  # a lost or stray file, unless the check says the outcome itself is wrong
            wrong = problem.startswith("wrong: ")
            return ("wrong exit" if wrong else "file lost"), problem.removeprefix("wrong: ")[:160]
    if result.code not in case.expect:
        return "wrong exit", f"exit {result.code}, expected {case.expect}: {_last(result)}"
    lines = error_lines(result.stderr)
    if result.code == 2 and (len(lines) != 1 or not lines[0].startswith("error: ")):
        return "wrong exit", f"{len(lines)} stderr lines: {' | '.join(lines)[:140]}"
    return "handled", _last(result)


def _last(result: Result) -> str:
    lines = error_lines(result.stderr) or result.stdout.strip().splitlines()
    return lines[-1][:140] if lines else ""


def run_case(case: Case, fx: Fixtures, root: Path) -> tuple[str, str, float]:
    ctx = Ctx(root / case.name, fx)
    ctx.tmp.mkdir()
    started = time.monotonic()
    try:
        prepared = case.setup(ctx)
        watched = ([*ctx.guard] if case.guard else []) + ([ctx.outside] if ctx.outside else [])
        before = {path: snapshot(path) for path in watched}
        result = case.runner(ctx, prepared) if case.runner else run(prepared, timeout=case.timeout)
        outcome, detail = judge(case, ctx, before, result)
    except Exception as exc:  # the harness itself: shown, not hidden
        outcome, detail = "wrong exit", f"harness: {type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(ctx.tmp, ignore_errors=True)
    return outcome, detail, time.monotonic() - started


def main() -> int:
    import hostile_cases

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", help="only the cases of these kinds (comma-separated)")
    parser.add_argument("--case", help="only the cases whose name contains one of these (comma-separated)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--results", help="rewrite this script's section of a Markdown file with the run's"
                                          " table (e.g. benchmarks/RESULTS_reliability.md; other sections stay)")
    args = parser.parse_args()
    cases = [c for c in hostile_cases.CASES if (not args.kind or c.kind in args.kind.split(","))
             and (not args.case or any(part in c.name for part in args.case.split(",")))]
    started = time.monotonic()
    load = open("/proc/loadavg").read().split()[:3]
    print(f"{len(cases)} cases, {datetime.datetime.now():%Y-%m-%d %H:%M}, load {' '.join(load)}", flush=True)
    root = Path(tempfile.mkdtemp(prefix="nnkeras-hostile-"))
    args.json, args.results = (args.json and Path(args.json).resolve()), (args.results and Path(args.results).resolve())
    os.chdir(root)  # relative --json/--results paths were resolved against the caller's folder above
    rows = []
    try:
        fx = Fixtures(root / "fixtures")
        print(f"fixtures ready in {time.monotonic() - started:.0f} s\n", flush=True)
        print("| case | kind | outcome | seconds | detail |\n|---|---|---|---|---|", flush=True)
        for case in cases:
            outcome, detail, seconds = run_case(case, fx, root)
            rows.append({"case": case.name, "kind": case.kind, "outcome": outcome, "seconds": round(seconds, 1),
                         "detail": detail})
            print(f"| {case.name} | {case.kind} | {outcome} | {seconds:.0f} | {detail.replace('|', '/')} |",
                  flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    counts = collections.Counter(row["outcome"] for row in rows)
    failed = len(rows) - counts["handled"]
    print(f"\ntried {len(rows)}, handled {counts['handled']}, failed {failed} ("
          + ", ".join(f"{o} {counts[o]}" for o in OUTCOMES[1:]) + f"), files lost {counts['file lost']};"
          f" {time.monotonic() - started:.0f} s, load {open('/proc/loadavg').read().split()[0]}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    if args.results:
        from results_file import replace_section

        replace_section(Path(args.results), "hostile.py", results_text(rows, load, started))
    return 1 if failed else 0


def results_text(rows: list[dict], load: list[str], started: float) -> str:
    """The latest run: its command, one row per kind, and every case it did not handle."""
    lines = [f"    python benchmarks/hostile.py {' '.join(sys.argv[1:])}", "",
             f"Latest run: {datetime.datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} cores (nproc), load"
             f" {' '.join(load)} at the start, {(time.monotonic() - started) / 60:.0f} min.", "",
             "| kind | cases | " + " | ".join(OUTCOMES) + " |", "|---|---|" + "---|" * len(OUTCOMES)]
    for kind in dict.fromkeys(row["kind"] for row in rows):
        counts = collections.Counter(row["outcome"] for row in rows if row["kind"] == kind)
        lines.append(f"| {kind} | {sum(counts.values())} | " + " | ".join(str(counts[o]) for o in OUTCOMES) + " |")
    counts = collections.Counter(row["outcome"] for row in rows)
    lines.append(f"| **all** | {len(rows)} | " + " | ".join(str(counts[o]) for o in OUTCOMES) + " |")
    failing = [row for row in rows if row["outcome"] != "handled"]
    lines += ["", "Not handled in that run:" if failing else "Every case of that run was handled.", ""]
    lines += ["| case | kind | outcome | detail |", "|---|---|---|---|"] if failing else []
    lines += [f"| {r['case']} | {r['kind']} | {r['outcome']} | {r['detail'].replace('|', '/')} |" for r in failing]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
