"""`nnkeras list | run | report`: the only place that parses command-line arguments.

TensorFlow is imported inside the commands that train, so `nnkeras --help`
and `nnkeras report` answer at once.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

from nnkeras.errors import NNKerasError

EXIT_BAD_INPUT = 2


def experiment_dirs() -> list[Path]:
    """Where experiment files are looked up: ./experiments, then the source checkout's."""
    here = Path.cwd() / "experiments"
    checkout = Path(__file__).resolve().parent.parent / "experiments"
    return [d for d in dict.fromkeys([here, checkout]) if d.is_dir()]


def find_experiment_file(name_or_file: str) -> Path:
    path = Path(name_or_file)
    if path.suffix == ".py":
        if not path.is_file():
            raise NNKerasError(f"{path}: no such experiment file")
        return path
    for folder in experiment_dirs():
        if (folder / f"{name_or_file}.py").is_file():
            return folder / f"{name_or_file}.py"
    known = sorted({p.stem for d in experiment_dirs() for p in d.glob("[!_]*.py")})
    raise NNKerasError(f"unknown experiment '{name_or_file}'; known: {', '.join(known) or 'none found'}"
                       " (or pass the path of a .py file that defines EXPERIMENT)")


def load_experiment(name_or_file: str):
    """Import an experiment file and return its `EXPERIMENT`."""
    from nnkeras.config import Experiment

    path = find_experiment_file(name_or_file)
    spec = importlib.util.spec_from_file_location(f"nnkeras_experiment_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    experiment = getattr(module, "EXPERIMENT", None)
    if not isinstance(experiment, Experiment):
        raise NNKerasError(f"{path}: defines no EXPERIMENT = nnkeras.Experiment(...)")
    return experiment


def cmd_list(args) -> int:
    from nnkeras import data, models

    print("experiments:")
    for folder in experiment_dirs():
        for path in sorted(folder.glob("[!_]*.py")):
            print(f"  {path.stem:<20} {_first_doc_line(path)}")
    print("datasets:")
    for name, text in data.describe().items():
        print(f"  {name:<20} {text}")
    print("models:")
    for name, text in models.describe().items():
        print(f"  {name:<20} {text}")
    return 0


def _first_doc_line(path: Path) -> str:
    import ast

    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def cmd_run(args) -> int:
    from nnkeras import config, models, runs

    if args.resume:
        run_dir = runs.check_resumable(Path(args.resume))
        experiment = config.Experiment.load(run_dir / runs.CONFIG)
        if any(not item.startswith("train.epochs=") for item in args.set):
            raise NNKerasError("--resume keeps the run's config; only --set train.epochs=N (to train longer) is allowed")
        experiment = config.apply_overrides(experiment, args.set)
    else:
        if not args.experiment:
            raise NNKerasError("run: name an experiment (see `nnkeras list`) or pass --resume RUN_DIR")
        experiment = load_experiment(args.experiment)
        experiment = config.apply_overrides(experiment, args.set, model_defaults=models.builder_defaults)
        if args.smoke:
            experiment = config.smoke(experiment)
        run_dir = runs.new_run_dir(args.runs_dir, experiment.name)

    from nnkeras.training import train

    result = train(experiment, run_dir, resume=bool(args.resume), verbose=1 if sys.stdout.isatty() else 2)
    m = result.metrics
    print(f"run directory: {result.run_dir}")
    print(f"test accuracy: {m['test_accuracy']:.4f} (test loss {m['test_loss']:.4f}, "
          f"{m['epochs_run']} epochs, {m['train_seconds']:.1f} s of training, {m['dataset']}, n_train={m['n_train']})")
    return 0


def cmd_report(args) -> int:
    from nnkeras import report

    table = report.runs_table(args.runs_dir)
    if table.empty:
        print(f"no runs under {args.runs_dir}")
        return 0
    print(table.drop(columns=["path"]).to_markdown(index=False, floatfmt=".4f"))
    out = Path(args.runs_dir) / "report.csv"
    table.to_csv(out, index=False)
    print(f"\nsaved {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nnkeras", description="Keras experiments from a NumPy neuron to a phone.")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="experiments, datasets and models").set_defaults(func=cmd_list)

    run = sub.add_parser("run", help="train an experiment into a run directory")
    run.add_argument("experiment", nargs="?", help="experiment name (see `nnkeras list`) or path to a .py file")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a setting, e.g. --set train.epochs=10 --set model.hidden=64,32")
    run.add_argument("--runs-dir", default="runs", help="where run directories go (default: runs)")
    run.add_argument("--smoke", action="store_true", help="shrink to seconds: 512 examples, 2 epochs")
    run.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run in RUN_DIR")
    run.set_defaults(func=cmd_run)

    rep = sub.add_parser("report", help="one row per run: a Markdown table, saved as CSV")
    rep.add_argument("runs_dir", nargs="?", default="runs")
    rep.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Before TensorFlow loads: hide its C++ start-up notices (INFO and WARNING).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except NNKerasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted; continue with `nnkeras run --resume RUN_DIR`", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
