"""`nnkeras list | run | report`: the only place that parses command-line arguments.

TensorFlow is imported inside the commands that train, so `nnkeras --help`
and `nnkeras report` answer at once.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import threading
from pathlib import Path

from nnkeras.errors import NNKerasError

EXIT_BAD_INPUT = 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a reader that closed the pipe early
TENSORFLOW_COMMANDS = {"run", "tune", "convert", "serve"}  # list, report and --help answer without it
# OSErrors a user fixes by freeing space or choosing another folder: answered in one line, not a traceback;
# {again} is how the command goes on afterwards (AGAIN).
DISK_ERRORS = {
    errno.ENOSPC: "free some space, or write elsewhere (--runs-dir, --out); {again}",
    errno.EDQUOT: "free some space, or write elsewhere (--runs-dir, --out); {again}",
    errno.EFBIG: "the file size limit (ulimit -f) is reached: raise it, or write elsewhere; {again}",
    errno.EACCES: "check the permissions, or write elsewhere (--runs-dir, --out)",
    errno.EPERM: "check the permissions, or write elsewhere (--runs-dir, --out)",
    errno.EROFS: "the file system is read-only; write elsewhere (--runs-dir, --out)",
    errno.ENOTDIR: "a part of that path is a file, not a folder; write elsewhere (--runs-dir, --out)",
    errno.ENAMETOOLONG: "a name in that path is too long; choose a shorter name or folder",
}
AGAIN = {  # what continues the work of each command after a full disk or Ctrl-C
    "run": "`nnkeras run --resume RUN_DIR` then continues the run",
    "tune": "rerunning the same `nnkeras tune` command then continues the search",
}
AGAIN_BY_DEFAULT = "the files written before are kept: run the same command again"
SIGTERM_AS_CTRL_C = {"run", "tune", "convert", "report"}  # serve: SIGTERM stops the server, as usual


class Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one `error:` line (and exit 2) like every other bad input."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"error: {self.prog}: {message} (see `{self.prog} --help`)\n")


def cmd_list(args) -> int:
    from nnkeras import data, launch, models

    print("experiments:")
    for path in launch.experiment_files():
        print(f"  {path.stem:<24} {_first_doc_line(path)}")
    print("datasets:")
    for name, text in data.describe().items():
        print(f"  {name:<24} {text}")
    print("models:")
    for name, text in models.describe().items():
        print(f"  {name:<24} {text}")
    return 0


def _first_doc_line(path: Path) -> str:
    import ast

    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def cmd_new(args) -> int:
    from nnkeras import launch
    from nnkeras.userfiles import start_experiment

    target = start_experiment(args.name, launch.find_experiment_file(args.source))
    print(f"wrote {target}; edit it, then: nnkeras run {args.name}")
    return 0


def cmd_run(args) -> int:
    from nnkeras import launch

    verbose = 1 if sys.stdout.isatty() else 2  # progress bar on a terminal, a line per epoch in logs
    if args.resume:
        if any(not item.startswith("train.epochs=") for item in args.set) or args.smoke:
            raise NNKerasError("--resume keeps the run's config; only --set train.epochs=N (to train longer) is allowed")
        folder, results = launch.resume(args.resume, args.set, verbose)
    else:
        if not args.experiment:
            raise NNKerasError("run: name an experiment (see `nnkeras list`) or pass --resume RUN_DIR")
        plan = launch.prepare(launch.load_plan(args.experiment), args.set, args.smoke)
        folder, results = launch.run_plan(plan, args.runs_dir, verbose)
    for result in results:
        m = result.metrics
        where = "" if result.run_dir.is_dir() else " (written by the chief worker)"
        print(f"run directory: {result.run_dir}{where}")
        print(f"test accuracy: {m['test_accuracy']:.4f} (test loss {m['test_loss']:.4f}, {m['epochs_run']} epochs,"
              f" {m['train_seconds']:.1f} s of training, {m['dataset']}, n_train={m['n_train']})")
        if "holdout_verification_accuracy" in m:  # an embedding (arcface): its point is the classes it never saw
            print(f"held-out classes: verification accuracy {m['holdout_verification_accuracy']:.4f} (pairs, same or"
                  f" not), nearest-neighbour accuracy {m['holdout_nearest_neighbour_accuracy']:.4f}"
                  f" (n_holdout={m['n_holdout']})")
    if len(results) > 1:
        print(f"summary: {folder / 'summary.md'}")
    return 0


def cmd_report(args) -> int:
    from nnkeras import report

    if args.folder and args.runs_dir and args.folder != args.runs_dir:
        raise NNKerasError(f"report: two folders ({args.folder}, --runs-dir {args.runs_dir}); give one")
    args.runs_dir = args.folder or args.runs_dir or "runs"
    if not Path(args.runs_dir).is_dir():
        raise NNKerasError(f"report {args.runs_dir}: not a folder; `nnkeras report [FOLDER]` (or --runs-dir FOLDER)"
                           " takes the folder your runs are in (default: runs)")
    if args.format not in report.FORMATS:
        raise NNKerasError(f"report --format {args.format}: choose one of {', '.join(report.FORMATS)}")
    notes = sys.stdout if args.format == "md" else sys.stderr  # csv and json go to stdout alone, so they pipe
    table = report.runs_table(args.runs_dir)
    if table.empty:
        print(f"no runs under {args.runs_dir}", file=notes)
        return 0
    folder, searches = Path(args.runs_dir), report.searches_table(args.runs_dir)
    print(report.render(table, searches, args.format))
    # The figure first: if it cannot be written (a full disk), the tables keep their previous versions too.
    saved = [folder / "report.png"] if report.write_figure(table, folder / "report.png") else []
    saved.insert(0, folder / "report.csv")
    report.save_csv(table, saved[0], folder)
    if not searches.empty:
        saved.insert(1, folder / "searches.csv")
        report.save_csv(searches, saved[1], folder)
    print(f"\nsaved {', '.join(map(str, saved))}", file=notes)
    return 0


def cmd_tune(args) -> int:
    from nnkeras.tuning import jobs, search

    search.set_role(args.chief, args.worker, args.oracle)
    job = jobs.prepare(jobs.load_job(args.job), args.set, tuner=args.tuner,
                         max_trials=args.max_trials, max_failures=args.max_failures)
    if args.compare:
        table, folder = search.compare(job, args.runs_dir, overwrite=args.overwrite, verbose=1)
        print(table.to_markdown(index=False, floatfmt=".4f"))
        print(f"comparison: {folder / 'comparison.md'}, {folder / 'comparison.png'}")
        return 0
    result = search.run_search(job, args.runs_dir, overwrite=args.overwrite, verbose=1)
    print("\n".join(search.describe(result)))
    return 0


def cmd_convert(args) -> int:
    from nnkeras.export import convert, verify

    conversion = convert.convert(args.run_dir, args.quantize, args.out, args.format, args.min_agreement)
    report, (out, *sidecars) = conversion.report, conversion.files
    print(verify.markdown(report))
    print(f"wrote {out} ({report['bytes']} bytes), {', '.join(path.name for path in sidecars)}")
    if not report["passed"]:
        print(f"verification failed: top-1 agreement {report['agreement']:.4f} is under {report['min_agreement']:.4f};"
              f" written as {out.name} for inspection, an earlier verified file left in place;"
              f" try another --quantize mode, or --min-agreement", file=sys.stderr)
        return 1
    return 0


def cmd_serve(args) -> int:
    from nnkeras import serve

    limits = {"max_body_bytes": args.max_body_bytes, "timeout": args.timeout}
    serve.serve(args.model, host=args.host, port=args.port, **{k: v for k, v in limits.items() if v is not None})
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="nnkeras", description="Keras experiments from a NumPy neuron to a phone.")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="experiments, datasets and models").set_defaults(func=cmd_list)

    new = sub.add_parser("new", help="start your own experiment: a copy of a shipped one in ./experiments/")
    new.add_argument("name", help="the new experiment's name (./experiments/NAME.py)")
    new.add_argument("--from", dest="source", default="mnist_mlp", metavar="EXPERIMENT",
                     help="the experiment to copy (default: mnist_mlp; see `nnkeras list`)")
    new.set_defaults(func=cmd_new)

    run = sub.add_parser("run", help="train an experiment into a run directory")
    run.add_argument("experiment", nargs="?", help="experiment name (see `nnkeras list`) or path to a .py file")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a setting, e.g. --set train.epochs=10 --set model.hidden=64,32")
    run.add_argument("--runs-dir", default="runs", help="where run directories go (default: runs)")
    run.add_argument("--smoke", action="store_true", help="shrink to seconds: 512 examples, 2 epochs")
    run.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run (or group of runs) in RUN_DIR")
    run.set_defaults(func=cmd_run)

    rep = sub.add_parser("report", help="one row per run: a table (md, csv or json), saved as CSV, and a figure")
    # The folder both ways, like run and tune take --runs-dir.
    rep.add_argument("folder", nargs="?", help="the folder your runs are in (default: runs)")
    rep.add_argument("--runs-dir", help="the same, as the other commands spell it")
    # Formats are checked by nnkeras.report (one list, and no pandas import for --help).
    rep.add_argument("--format", default="md",
                     help="md: tables for reading (default); csv, json: the data alone on stdout, to pipe")
    rep.set_defaults(func=cmd_report)

    convert = sub.add_parser("convert", help="a run directory to a verified .tflite (or .onnx)")
    convert.add_argument("run_dir", help="a finished run directory, runs/<experiment>/<run id>")
    # Modes and formats are checked by nnkeras.export.convert (one list, and no numpy import for --help).
    convert.add_argument("--quantize", default="none", metavar="MODE",
                         help="none: float32; dynamic: int8 weights; float16; int8: full integer;"
                              " int8-io: full integer with int8 input and output (default: none)")
    convert.add_argument("--format", default="tflite", help="tflite (default) or onnx (needs nnkeras[onnx])")
    convert.add_argument("--out", help="output file (default: RUN_DIR/model[-MODE].tflite or RUN_DIR/model.onnx)")
    convert.add_argument("--min-agreement", type=float, metavar="FRACTION",
                         help="exit 1 if top-1 agreement with Keras is lower (default: 0.99 float, 0.98 int8)")
    convert.set_defaults(func=cmd_convert)

    serve = sub.add_parser("serve", help="a web API: POST /predict, GET /health, GET /metadata")
    serve.add_argument("model", metavar="RUN_DIR_OR_TFLITE", help="a run directory, a .tflite or an .onnx file")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    serve.add_argument("--max-body-bytes", type=int,
                       help="larger request bodies get 413 (default: 8 MiB)")
    serve.add_argument("--timeout", type=float, metavar="SECONDS",
                       help="close a connection silent this long, a half-sent request included (default: 30)")
    serve.set_defaults(func=cmd_serve)

    tune = sub.add_parser("tune", help="hyperparameter search with Keras Tuner (jobs in tuning/)")
    tune.add_argument("job", help="tuning job name (tuning/<name>.py) or path to a .py job file")
    # Tuner names and limits are checked by nnkeras.tuning.jobs (one list, one message).
    tune.add_argument("--tuner", help="random, grid, bayesian or hyperband (default: the job's TUNER)")
    tune.add_argument("--max-trials", type=int, metavar="N", help="trials to run (default: the job's MAX_TRIALS)")
    tune.add_argument("--max-failures", type=int, metavar="N",
                      help="stop after N failed trials in a row (default: the job's MAX_FAILURES, 3)")
    tune.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="override a setting of the job's experiment, as in `nnkeras run`")
    tune.add_argument("--runs-dir", default="runs", help="searches go to RUNS_DIR/search/<job>/<tuner>/")
    tune.add_argument("--overwrite", action="store_true", help="delete the search directory and start over")
    tune.add_argument("--compare", action="store_true",
                      help="run grid, random, bayesian and hyperband on the same budget; table and plot")
    tune.add_argument("--chief", action="store_true", help="distributed: hold the oracle for the workers")
    tune.add_argument("--worker", metavar="ID", help="distributed: run trials as worker ID (e.g. tuner0)")
    tune.add_argument("--oracle", metavar="HOST:PORT", help="distributed: the chief's address")
    tune.set_defaults(func=cmd_tune)
    return parser


def main(argv: list[str] | None = None) -> int:
    code = _main(argv)
    if argv is None and threading.current_thread() is threading.main_thread():  # a process, not a caller
        # The work is done. Python now puts back the default signal actions and TensorFlow's teardown
        # takes seconds: SIGTERM or Ctrl-C then killed the process (exit -15 / -2) with every file
        # written. They are ignored from here on, so the exit code stays the command's (SIGKILL still works).
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_IGN)
    return code


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    _signalled.clear()
    if args.command in SIGTERM_AS_CTRL_C and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when started with SIGINT ignored
            signal.signal(signal.SIGINT, _interrupt)
    try:
        _check_cwd()
        if args.command in TENSORFLOW_COMMANDS:  # imported when first needed, its start-up notices off the console
            from nnkeras.quiet import import_quietly_when_needed

            import_quietly_when_needed()
        code = args.func(args)
        sys.stdout.flush()  # here, not at exit: a closed pipe must reach the handler below
        return code
    except BrokenPipeError:  # `nnkeras list | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit flush cannot fail again
        return EXIT_BROKEN_PIPE
    except NNKerasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        if exc.errno not in DISK_ERRORS:
            if _signalled:
                return _stopped(args)
            raise
        again = AGAIN.get(args.command, AGAIN_BY_DEFAULT)
        print(f"error: {exc.filename or 'a file'}: {exc.strerror}; {DISK_ERRORS[exc.errno].format(again=again)}",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return _stopped(args)
    except Exception:
        if _signalled:  # TensorFlow can turn the KeyboardInterrupt raised in its calls into another error
            return _stopped(args)
        raise


def _stopped(args) -> int:
    stopped = "server stopped" if args.command == "serve" else \
        f"interrupted; {AGAIN.get(args.command, AGAIN_BY_DEFAULT)}"
    print(stopped, file=sys.stderr)
    return 130


def _check_cwd() -> None:
    """Relative paths (runs/, experiments/, tuning/) need the current folder; a deleted one has no path."""
    try:
        os.getcwd()
    except FileNotFoundError:
        raise NNKerasError("the current folder no longer exists (deleted or moved away); cd into an existing"
                           " folder and run the command again") from None


_signalled: list[int] = []  # SIGTERM/SIGINT received during this command


def _interrupt(signum, frame):
    _signalled.append(signum)
    raise KeyboardInterrupt  # SIGTERM (kill, a scheduler) ends the command as Ctrl-C does: state kept, one hint


def run_script(path: str) -> None:
    """What an experiment file does when run as a script: `nnkeras run <that file> ARGS`."""
    sys.exit(main(["run", path, *sys.argv[1:]]))


if __name__ == "__main__":
    sys.exit(main())
