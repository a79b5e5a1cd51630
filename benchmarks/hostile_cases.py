"""The cases of benchmarks/hostile.py, kind by kind; each makes its own files.

Kinds: atomic (a failed write must not destroy the last good file), concurrent
(two processes on one run or search), paths (writes that leave their folder),
machine (a passing fault is not a trial's verdict), server, hang, data (files
trusted too far), sizes (no upper bound), edited (hand-edited run and search
files), hints (messages that fit the command), careless (everything else).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import signal
import socket
import struct
import time
import zipfile
from pathlib import Path

import numpy as np

from hostile import Case, Ctx, Result, error_lines, file_limit, finish, kill_group, run, run_with_signal, start

CASES: list[Case] = []
SMALL = ["--set", "train.histogram_freq=0"]


def case(name, kind, expect=(2,), timeout=90, runner=None, check=None, guard=True):
    def register(setup):
        CASES.append(Case(name, kind, setup, expect, timeout, runner, check, guard))
        return setup
    return register


def cases(kind, table, expect=(2,), timeout=90, runner=None, check=None):
    """One case per (name, setup) row."""
    for name, setup in table:
        CASES.append(Case(name, kind, setup, expect, timeout, runner, check))


# ---------------------------------------------------------------- data makers

def idx_bytes(array, dims=None) -> bytes:
    array = np.asarray(array, dtype=np.uint8)
    dims = array.shape if dims is None else dims
    return bytes([0, 0, 8, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + array.tobytes()


def mnist_folder(ctx: Ctx, train_shape=(28, 28), n_train=120, n_test=40, train_dims=None) -> Path:
    folder = ctx.tmp / "mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    names = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
             "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
    for split, n, shape, dims in (("train", n_train, train_shape, train_dims), ("test", n_test, (28, 28), None)):
        images = rng.integers(0, 255, size=(n, *shape))
        (folder / names[split][0]).write_bytes(gzip.compress(idx_bytes(images, dims), compresslevel=1))
        (folder / names[split][1]).write_bytes(gzip.compress(idx_bytes(np.arange(n) % 10)))
    return folder


def mnist_run(folder, *more) -> list:
    return ["run", "mnist_mlp", "--set", "data.name=mnist", "--set", f"data.dir={folder}", "--set",
            "train.epochs=1", *SMALL, *more]


def npz_folder(ctx: Ctx, x_train=None, x_test=None, y_train=None, name="mnist.npz") -> Path:
    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 255, size=(60, 28, 28)).astype(np.uint8) if x_train is None else x_train
    x_test = rng.integers(0, 255, size=(20, 28, 28)).astype(np.uint8) if x_test is None else x_test
    y_train = np.arange(len(x_train)) % 10 if y_train is None else y_train
    folder = ctx.tmp / "npz"
    folder.mkdir()
    np.savez(folder / name, x_train=x_train, y_train=y_train, x_test=x_test, y_test=np.arange(len(x_test)) % 10)
    return folder


def lying_npz(path: Path, shape, arrays=("x_train", "y_train", "x_test", "y_test")) -> None:
    """An .npz whose x_train header claims `shape` (terabytes) over a few bytes of data."""
    with zipfile.ZipFile(path, "w") as archive:
        for name in arrays:
            buffer = io.BytesIO()
            claim = shape if name == "x_train" else (10,)
            np.lib.format.write_array_header_1_0(buffer, {"descr": "|u1", "fortran_order": False, "shape": claim})
            buffer.write(bytes(100))
            archive.writestr(f"{name}.npy", buffer.getvalue())


TITANIC_HEADER = "PassengerId,Survived,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked"


def titanic_csv(ctx: Ctx, rows=80, age=None, fare=None, embarked=None, survived=None, header=TITANIC_HEADER) -> Path:
    lines = [header]
    for i in range(rows):
        a = f"{20 + i % 40}" if age is None else age
        f = f"{7 + i % 50}.25" if fare is None else fare
        e = "SCQ"[i % 3] if embarked is None else embarked
        s = i % 2 if survived is None else survived
        lines.append(f'{i + 1},{s},{1 + i % 3},"Doe, {i}",{("male", "female")[i % 2]},{a},{i % 3},{i % 2},T{i},{f},,{e}')
    path = ctx.tmp / "train.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def titanic_run(path, *more) -> list:
    return ["run", "titanic_wide_deep", "--smoke", *SMALL, "--set", f"data.dir={path}", *more]


def image_folder(ctx: Ctx, per_class=4, size=(10, 10)) -> Path:
    from PIL import Image

    folder = ctx.tmp / "images"
    for name in ("cat", "dog"):
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            Image.new("L", size, color=40 * i).save(folder / name / f"{i}.png")
    return folder


def image_run(folder, shape="8,8,1", *more) -> list:
    return ["run", "mnist_mlp", "--set", "data.name=image_folder", "--set", f"data.dir={folder}", "--set",
            f"data.shape={shape}", "--set", "train.epochs=1", *SMALL, *more]


def runs_dir(ctx: Ctx) -> list:
    return ["--runs-dir", ctx.tmp / "out"]


def nothing_written(ctx: Ctx, result: Result) -> str | None:
    """A refused run must leave no run directory behind; a finished one must not have diverged on the data."""
    out = ctx.tmp / "out"
    if result.code != 0 and out.exists() and any(out.rglob("*")):
        return f"left {sorted(str(p.relative_to(out)) for p in out.rglob('*'))[:2]} behind"
    for metrics in out.rglob("metrics.json") if result.code == 0 else ():
        m = json.loads(metrics.read_text(), parse_constant=lambda name: name)
        if m.get("status") == "diverged" or not isinstance(m.get("test_loss"), float):
            return f"wrong: trained into a useless run: status {m.get('status')}, test loss {m.get('test_loss')}"
    return None


def guarded_run(ctx: Ctx, finished=True, source=None) -> Path:
    run_dir = ctx.fx.run_copy(ctx, finished, source)
    ctx.guard.append(run_dir)
    return run_dir


# ---------------------------------------------------------------- 7 data files trusted too far

def _data(name, make, *more, expect=(2,), timeout=90):
    CASES.append(Case(name, "data", lambda ctx: [*make(ctx), *more, *runs_dir(ctx)], expect, timeout,
                      check=nothing_written))


_data("idx-header-14x56", lambda c: mnist_run(mnist_folder(c, train_shape=(14, 56))))
_data("idx-32x32", lambda c: mnist_run(mnist_folder(c, train_shape=(32, 32))))
_data("idx-count-larger-than-data", lambda c: mnist_run(mnist_folder(c, train_dims=(10**9, 28, 28))))
_data("idx-dims-overflow-int64", lambda c: mnist_run(mnist_folder(c, train_dims=(2**32 - 1,) * 3)))
_data("idx-empty-test-split", lambda c: mnist_run(mnist_folder(c, n_test=0)))
_data("idx-empty-train-split", lambda c: mnist_run(mnist_folder(c, n_train=0)))
_data("idx-zero-dims", lambda c: mnist_run(mnist_folder(c, train_dims=(120, 0, 28))))


def gzip_bomb(ctx: Ctx) -> list:
    """A 3 MB .gz that inflates to 3 GB behind an IDX header claiming 1.6 TB: must not be read whole."""
    folder = mnist_folder(ctx)
    path = folder / "train-images-idx3-ubyte.gz"
    zeros = bytes(64 << 20)
    with gzip.open(path, "wb", compresslevel=1) as handle:
        handle.write(struct.pack(">BBBBIII", 0, 0, 8, 3, 2**31, 28, 28))
        for _ in range(48):
            handle.write(zeros)
    return mnist_run(folder)


_data("idx-gzip-bomb", gzip_bomb, timeout=120)
_data("npz-header-claims-terabytes", lambda c: (lying_npz(c.tmp / "mnist.npz", (10**12, 28, 28)),
                                                 mnist_run(c.tmp))[1])
_data("npz-float64-overflows-float32", lambda c: mnist_run(npz_folder(c, x_train=np.full((60, 28, 28), 1e39))))
_data("npz-empty-test-split", lambda c: mnist_run(npz_folder(c, x_test=np.zeros((0, 28, 28), np.uint8))))
_data("npz-text-pixels", lambda c: mnist_run(npz_folder(c, x_train=np.full((60, 28, 28), "x"))))
_data("npz-complex-pixels", lambda c: mnist_run(npz_folder(c, x_train=np.full((60, 28, 28), 1 + 2j))))
_data("npz-pixels-4d", lambda c: mnist_run(npz_folder(c, x_train=np.zeros((60, 28, 28, 1)))))
_data("npz-labels-2d", lambda c: mnist_run(npz_folder(c, y_train=np.zeros((60, 2)))))
_data("npz-labels-huge", lambda c: mnist_run(npz_folder(c, y_train=np.full(60, 10**15))))
_data("npz-random-bytes", lambda c: ((c.tmp / "mnist.npz").write_bytes(os.urandom(4000)), mnist_run(c.tmp))[1])
_data("imdb-npz-header-claims-terabytes", lambda c: (lying_npz(c.tmp / "imdb.npz", (10**12,)),
                                                      ["run", "imdb_lstm_attention", "--smoke", "--set",
                                                       f"data.dir={c.tmp}"])[1])
_data("titanic-age-all-empty", lambda c: titanic_run(titanic_csv(c, age="")))
_data("titanic-embarked-all-empty", lambda c: titanic_run(titanic_csv(c, embarked="")), expect=(0, 2))
_data("titanic-fare-all-empty", lambda c: titanic_run(titanic_csv(c, fare="")), expect=(0, 2))
_data("titanic-three-rows", lambda c: titanic_run(titanic_csv(c, rows=3)))
_data("titanic-header-only", lambda c: titanic_run(titanic_csv(c, rows=0)))
_data("titanic-fare-overflows-float32", lambda c: titanic_run(titanic_csv(c, fare="1e39")))
_data("titanic-age-1e38", lambda c: titanic_run(titanic_csv(c, age="1e38")), expect=(0, 2))
_data("titanic-survived-text", lambda c: titanic_run(titanic_csv(c, survived="yes")))
_data("titanic-semicolons", lambda c: titanic_run(titanic_csv(c, header=TITANIC_HEADER.replace(",", ";"))))
_data("titanic-binary-garbage", lambda c: ((c.tmp / "train.csv").write_bytes(os.urandom(3000)),
                                           titanic_run(c.tmp / "train.csv"))[1])
_data("titanic-dir-is-a-folder-without-csv", lambda c: titanic_run(c.tmp))
_data("image-folder-one-image-per-class", lambda c: image_run(image_folder(c, per_class=1)))
_data("image-folder-30000x30000", lambda c: image_run(image_folder(c), "30000,30000,3"))
_data("image-folder-zero-byte-png", lambda c: ((image_folder(c) / "cat" / "0.png").write_bytes(b""),
                                               image_run(c.tmp / "images"))[1])
_data("image-folder-png-is-a-folder", lambda c: ((image_folder(c) / "cat" / "x.png").mkdir(),
                                                 image_run(c.tmp / "images"))[1])
_data("image-folder-text-as-png", lambda c: ((image_folder(c) / "dog" / "x.png").write_text("hello"),
                                             image_run(c.tmp / "images"))[1])
_data("image-folder-4-channels", lambda c: image_run(image_folder(c), "8,8,4"))
_data("mnist-dir-is-a-file", lambda c: ((c.tmp / "f").write_text("x"), mnist_run(c.tmp / "f"))[1])
_data("cifar-batch-labels-2d", lambda c: cifar_folder(c, labels=[[0, 1]] * 4))
_data("cifar-batch-wrong-width", lambda c: cifar_folder(c, width=100))


def cifar_folder(ctx: Ctx, labels=None, width=3072) -> list:
    import pickle

    folder = ctx.tmp / "cifar"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": np.zeros((4, width), np.uint8), b"labels": labels or [0, 1, 2, 3]}
        (folder / name).write_bytes(pickle.dumps(batch))
    return ["run", "mnist_mlp", "--set", "data.name=cifar10", "--set", f"data.dir={folder}"]


# ---------------------------------------------------------------- 8 sizes with no upper bound

def _size(name, argv, expect=(2,), timeout=90):
    CASES.append(Case(name, "sizes", lambda ctx: [*argv, *SMALL, *runs_dir(ctx)], expect, timeout,
                      check=nothing_written))


DIGITS = ["run", "mnist_mlp", "--set", "data.name=digits", "--set", "train.epochs=1"]
_size("mlp-1e11-units", [*DIGITS, "--set", "model.hidden=100000000000"])
_size("mlp-two-layers-1e5", [*DIGITS, "--set", "model.hidden=100000,100000"])
_size("convnet-1e8-filters", [*DIGITS, "--set", "model.name=convnet", "--set", "model.filters=100000000"])
_size("convnet-dense-1e10", [*DIGITS, "--set", "model.name=convnet", "--set", "model.filters=4",
                             "--set", "model.dense=10000000000"])
_size("rnn-1e9-units", ["run", "rnn_vs_lstm", "--smoke", "--set", "model.units=1000000000"])
_size("rnn-1e9-embedding", ["run", "imdb_lstm_attention", "--smoke", "--set", "data.name=long_range",
                            "--set", "model.embed_dim=1000000000"])
_size("attention-1e9-units", ["run", "imdb_lstm_attention", "--smoke", "--set", "data.name=long_range",
                              "--set", "model.attention_units=1000000000"])
_size("lenet5-3000x3000", ["run", "mnist_lenet5", "--set", "data.name=synthetic", "--set", "data.shape=3000,3000,1",
                           "--set", "data.size=10", "--set", "train.epochs=1"])
_size("synthetic-30000x30000", ["run", "mnist_mlp", "--set", "data.name=synthetic",
                                "--set", "data.shape=30000,30000", "--set", "data.size=10"])
_size("synthetic-2000-classes", ["run", "mnist_mlp", "--set", "data.name=synthetic", "--set", "data.shape=4",
                                 "--set", "data.num_classes=2000", "--set", "data.size=4000",
                                 "--set", "model.hidden=4", "--set", "train.epochs=1"], expect=(0, 2), timeout=150)
_size("long-range-seq-len-1e9", ["run", "rnn_vs_lstm", "--smoke", "--set", "data.seq_len=1000000000"])
_size("arcface-embedding-1e9", ["run", "arcface_embedding", "--smoke", "--set", "model.embedding_dim=1000000000"])
_size("wide-deep-deep-1e9", ["run", "titanic_wide_deep", "--smoke", "--set", "model.hidden=1000000000"])
_size("batch-size-1e5", [*DIGITS, "--set", "train.batch_size=100000"], expect=(0, 2))


# ---------------------------------------------------------------- 9 hand-edited run and search files

def edit(path: Path, content) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    if content is dir:
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content))


def edited_run(name, target, content, command, finished=True, expect=(2,)):
    def setup(ctx: Ctx):
        run_dir = guarded_run(ctx, finished)
        edit(run_dir / target, content)
        return {"resume": ["run", "--resume", run_dir], "convert": ["convert", run_dir],
                "report": ["report", run_dir.parent.parent]}[command]
    # convert writes its files into the run folder when it succeeds: only its failure must leave it unchanged
    CASES.append(Case(name, "edited", setup, expect, 120, guard=command != "convert" or expect == (2,)))


edited_run("history-csv-is-a-folder-report", "history.csv", dir, "report", expect=(0,))
edited_run("history-csv-is-a-folder-resume", "history.csv", dir, "resume", finished=False)
edited_run("metrics-json-is-a-folder-report", "metrics.json", dir, "report", expect=(0,))
edited_run("metrics-json-list-convert", "metrics.json", [], "convert", expect=(0, 2))
edited_run("metrics-accuracy-text-report", "metrics.json", {"test_accuracy": "abc", "status": 5}, "report",
           expect=(0,))
edited_run("config-json-is-a-folder-resume", "config.json", dir, "resume", finished=False)
edited_run("config-json-is-a-folder-convert", "config.json", dir, "convert")
edited_run("config-shape-text-resume", "config.json", {"name": "tiny", "data": {"name": "synthetic", "shape": "abc"}},
           "resume", finished=False)
edited_run("config-epochs-1e9-resume", "config.json", {"name": "tiny", "train": {"epochs": 10**9}}, "resume",
           finished=False)
edited_run("model-keras-is-a-folder-convert", "model.keras", dir, "convert")
edited_run("data-spec-scale-text-convert", "data_spec.json",
           {"name": "synthetic", "input_shape": [4], "num_classes": 3, "class_names": ["a", "b", "c"],
            "scale": "x"}, "convert")
edited_run("data-spec-two-names-three-classes", "data_spec.json",
           {"name": "synthetic", "input_shape": [4], "num_classes": 3, "class_names": ["a", "b"]}, "convert")
edited_run("data-spec-shape-not-the-model", "data_spec.json",
           {"name": "synthetic", "input_shape": [28, 28, 1], "num_classes": 3, "class_names": ["a", "b", "c"]},
           "convert")
edited_run("data-spec-features-list", "data_spec.json",
           {"name": "titanic", "input_shape": [4], "num_classes": 3, "class_names": ["a", "b", "c"],
            "input_dtype": "features", "features": [1, 2]}, "convert")
edited_run("state-epoch-1e12-resume", "checkpoints/state.json", None, "resume", finished=False)
edited_run("tb-is-a-file-resume", "tb", "not a folder", "resume", finished=False, expect=(0, 2))
edited_run("checkpoints-is-a-file-resume", "checkpoints", "not a folder", "resume", finished=False)
edited_run("history-csv-garbage-report", "history.csv", b"\xff\x00garbage,\n\n", "report", expect=(0,))


def _state_edit(changes):
    def setup(ctx: Ctx):
        run_dir = guarded_run(ctx, finished=False)
        state = run_dir / "checkpoints" / "state.json"
        state.write_text(json.dumps({**json.loads(state.read_text()), **changes}))
        return ["run", "--resume", run_dir]
    return setup


CASES[:] = [c for c in CASES if c.name != "state-epoch-1e12-resume"]
cases("edited", [("state-epoch-1e12-resume", _state_edit({"epoch": 10**12})),
                 ("state-history-of-numbers", _state_edit({"history": [1, 2]})),
                 ("state-best-val-loss-text", _state_edit({"best_val_loss": "low"})),
                 ("state-epoch-negative", _state_edit({"epoch": -5}))])


def edited_search(name, target, content, command="tune", expect=(2,)):
    def setup(ctx: Ctx):
        runs, folder = ctx.fx.search_copy(ctx)
        edit(folder / target, content)
        ctx.guard.append(runs if command == "tune" else folder)  # report writes report.csv beside the search
        return (["tune", ctx.fx.job, "--runs-dir", runs] if command == "tune" else ["report", runs])
    CASES.append(Case(name, "edited", setup, expect, 120))


edited_search("best-run-json-empty-object-tune", "best_run.json", {}, expect=(0, 2))
edited_search("best-run-json-empty-object-report", "best_run.json", {}, "report", expect=(0,))
edited_search("best-run-json-escapes-tune", "best_run.json", {"run_dir": "../../../../../../etc"}, expect=(0, 2))
edited_search("search-json-list-tune", "search.json", [])
edited_search("search-json-list-report", "search.json", [], "report", expect=(0,))
edited_search("search-json-empty-object-tune", "search.json", {})
edited_search("trials-csv-no-scores-report", "trials.csv", "trial,status\n0,completed\n1,completed\n", "report",
              expect=(0,))


def trials_csv_restored(ctx: Ctx, result: Result) -> str | None:
    """The rerun of the finished search writes trials.csv again from the oracle (and trains nothing)."""
    original = ctx.fx.search_root / "search" / "tinyjob" / "random" / "trials.csv"
    restored = ctx.tmp / "sruns" / "search" / "tinyjob" / "random" / "trials.csv"
    return None if restored.read_bytes() == original.read_bytes() else "trials.csv not written again from the oracle"


def edited_trials_csv(ctx: Ctx):
    runs, folder = ctx.fx.search_copy(ctx)
    (folder / "trials.csv").write_text("trial,status\n0,completed\n1,completed\n")
    ctx.guard += [entry for entry in folder.iterdir() if entry.name != "trials.csv"]  # best/ byte for byte
    return ["tune", ctx.fx.job, "--runs-dir", runs]


CASES.append(Case("trials-csv-no-scores-tune", "edited", edited_trials_csv, (0,), 120, check=trials_csv_restored))
edited_search("trials-csv-binary-report", "trials.csv", os.urandom(500), "report", expect=(0,))
edited_search("oracle-json-list-tune", "oracle.json", [])
edited_search("trial-json-list-tune", "trial_0/trial.json", [])
edited_search("tuner0-json-number-tune", "tuner0.json", 5)


def group_json(ctx: Ctx):
    (ctx.tmp / "group.json").write_text(json.dumps({"group": "g", "experiments": []}))
    return ["run", "--resume", ctx.tmp]


cases("edited", [("group-json-no-experiments", group_json)])


# ---------------------------------------------------------------- 3 paths that leave their folder

def symlinked(target: str, command: str, finished: bool, expect=(0, 2)):
    def setup(ctx: Ctx):
        run_dir = ctx.fx.run_copy(ctx, finished)
        outside = ctx.make_outside()
        moved = outside / Path(target).name
        source = run_dir / target
        if source.is_dir():
            shutil.copytree(source, moved)
            shutil.rmtree(source)
        elif source.exists():
            shutil.copy2(source, moved)
            source.unlink()
        else:
            moved.write_text("outside\n")
        source.symlink_to(moved, target_is_directory=moved.is_dir())
        return {"resume": ["run", "--resume", run_dir, "--set", "train.epochs=3"], "convert": ["convert", run_dir],
                "report": ["report", run_dir.parent.parent]}[command]
    return setup


cases("paths", [
    ("checkpoints-symlink-resume", symlinked("checkpoints", "resume", False)),
    ("tb-symlink-resume", symlinked("tb", "resume", False)),
    ("history-symlink-resume", symlinked("history.csv", "resume", False)),
    ("model-keras-symlink-resume", symlinked("model.keras", "resume", False)),
    ("config-symlink-resume", symlinked("config.json", "resume", False)),
    ("tflite-symlink-convert", symlinked("model.tflite", "convert", True)),
    ("verify-json-symlink-convert", symlinked("model.tflite.verify.json", "convert", True)),
    ("report-csv-symlink-report", lambda ctx: symlinked("../../report.csv", "report", True)(ctx)),
], expect=(0, 2), timeout=150)


def trial_symlink_overwrite(ctx: Ctx):
    runs, folder = ctx.fx.search_copy(ctx)
    outside = ctx.make_outside()
    shutil.copytree(folder / "trial_0", outside / "trial_0")
    shutil.rmtree(folder / "trial_0")
    (folder / "trial_0").symlink_to(outside / "trial_0", target_is_directory=True)
    return ["tune", ctx.fx.job, "--runs-dir", runs, "--overwrite", "--max-trials", "1"]


def convert_out_over(name: str):
    def setup(ctx: Ctx):
        run_dir = guarded_run(ctx)
        return ["convert", run_dir, "--out", run_dir / name]
    return setup


cases("paths", [("trial-symlink-tune-overwrite", trial_symlink_overwrite)], expect=(0, 2), timeout=150)
cases("paths", [("convert-out-over-model-keras", convert_out_over("model.keras")),
                ("convert-out-over-config-json", convert_out_over("config.json")),
                ("convert-out-is-checkpoints-folder", convert_out_over("checkpoints"))], timeout=150)


def fifo_out(ctx: Ctx):
    run_dir = ctx.fx.run_copy(ctx)
    os.mkfifo(ctx.tmp / "pipe.tflite")
    ctx.guard.append(ctx.tmp / "pipe.tflite")
    return ["convert", run_dir, "--out", ctx.tmp / "pipe.tflite"]


cases("paths", [("convert-out-is-a-fifo", fifo_out)], timeout=150)


# ---------------------------------------------------------------- 1 atomic writes, 10 hints

def limited(argv_of, limit: int, ok_hint=None, bad_hint="nnkeras run --resume", timeout=150):
    """Run under a file-size limit; the one line must not give `bad_hint`, and must give `ok_hint`."""
    def runner(ctx: Ctx, argv):
        result = run(argv, timeout=timeout, preexec=file_limit(limit))
        lines = error_lines(result.stderr)
        if result.code == 2 and lines and bad_hint and bad_hint in lines[-1]:
            result.problem = f"hint does not fit: {lines[-1][:120]}"
        elif result.code == 2 and lines and ok_hint and ok_hint not in lines[-1]:
            result.problem = f"hint lacks {ok_hint!r}: {lines[-1][:120]}"
        return result
    return runner


def report_setup(ctx: Ctx):
    run_dir = ctx.fx.run_copy(ctx)
    report = run_dir.parent.parent / "report.csv"
    report.write_text("experiment,run\nkeep,me\n" * 100)  # a good earlier report, bigger than the limit
    ctx.guard.append(report)
    return ["report", run_dir.parent.parent]


CONVERTED = ("model.tflite", "model.tflite.metadata.json", "model.tflite.verify.json", "model.tflite.verify.md")


def convert_setup(ctx: Ctx):
    run_dir = ctx.fx.run_copy(ctx)
    ctx.guard += [run_dir / name for name in CONVERTED]
    return ["convert", run_dir]


def old_or_new_set(ctx: Ctx, result: Result) -> str | None:
    """A signalled convert leaves the old model and reports, or (the signal fell after its writes) the
    whole new set: each file old or new, none missing, verify.json describing model.tflite, no temporary."""
    run_dir = ctx.tmp / "runs" / "tiny" / "run"
    strays = [p.name for p in run_dir.glob(".*.tmp")]
    missing = [name for name in CONVERTED if not (run_dir / name).is_file()]
    if strays or missing:
        return f"temporary files left {strays[:2]}, missing {missing}"
    report = json.loads((run_dir / "model.tflite.verify.json").read_text())
    if report.get("bytes") != (run_dir / "model.tflite").stat().st_size:
        return f"verify.json says {report.get('bytes')} bytes, model.tflite has another size"
    return None


def tune_limited(ctx: Ctx):
    runs, folder = ctx.fx.search_copy(ctx)
    ctx.guard.append(folder / "trials.csv")
    return ["tune", ctx.fx.job, "--runs-dir", runs, "--max-trials", "3"]


CASES += [
    Case("report-file-size-limit", "atomic", report_setup, (2,), 60, limited(None, 500, bad_hint="--resume")),
    Case("convert-file-size-limit", "atomic", convert_setup, (2,), 150, limited(None, 20_000, bad_hint="--resume")),
    Case("tune-file-size-limit", "atomic", tune_limited, (2,), 150, limited(None, 3_000, ok_hint="nnkeras tune")),
    Case("run-file-size-limit", "atomic", lambda c: ["run", c.fx.experiment, *runs_dir(c)], (2,), 150,
         limited(None, 20_000, ok_hint="--resume", bad_hint=None)),  # model.keras is 28 kB: the first checkpoint fails
]


def signalled(sig, after, bad_hint=None, ok_hint=None, expect_codes=(2, 130, 143)):
    def runner(ctx: Ctx, argv):
        result = run_with_signal(argv, after, sig)
        lines = error_lines(result.stderr)
        if not result.timed_out and result.code not in expect_codes:
            result.problem = f"exit {result.code} after {signal.Signals(sig).name}"
        elif lines and bad_hint and bad_hint in lines[-1]:
            result.problem = f"hint does not fit: {lines[-1][:120]}"
        elif ok_hint and not (lines and ok_hint in lines[-1]):
            result.problem = f"no {ok_hint!r} hint: {lines[-1][:120] if lines else 'silent'}"
        if len(lines) > 1 and not result.problem:
            result.problem = f"{len(lines)} lines: {' | '.join(lines)[:120]}"
        return result
    return runner


def long_run(ctx: Ctx):
    return ["run", "mnist_mlp", "--set", "data.name=digits", "--set", "train.epochs=2000", "--set",
            "train.patience=2000", *SMALL, *runs_dir(ctx)]


def resumable_after(ctx: Ctx, result: Result) -> str | None:
    """After a signal the run keeps its state: a checkpoint, no temporary file."""
    runs = list((ctx.tmp / "out").glob("mnist_mlp/*"))
    if not runs:
        return None  # stopped before anything was written
    strays = [p.name for p in runs[0].rglob("*.tmp*")]
    if strays:
        return f"temporary files left: {strays[:2]}"
    return None


CASES += [
    # exit 0: the signal fell after the work, while the process exited (old_or_new_set checks the files)
    Case("convert-ctrl-c", "hints", convert_setup, (0, 130, 2), 150,
         signalled(signal.SIGINT, 9, bad_hint="run --resume", expect_codes=(0, 2, 130)), check=old_or_new_set,
         guard=False),
    Case("convert-sigterm", "hints", convert_setup, (0, 130, 143, 2), 150,
         signalled(signal.SIGTERM, 9, bad_hint="run --resume", expect_codes=(0, 2, 130, 143)), check=old_or_new_set,
         guard=False),
    Case("run-sigterm", "hints", long_run, (130, 143, 2), 90,
         signalled(signal.SIGTERM, 14, ok_hint="--resume"), check=resumable_after),
    Case("run-ctrl-c", "hints", long_run, (130, 2), 90,
         signalled(signal.SIGINT, 14, ok_hint="--resume"), check=resumable_after),
    Case("tune-sigterm", "hints", lambda c: ["tune", c.fx.job, "--runs-dir", c.tmp / "s", "--max-trials", "50",
                                              "--set", "train.epochs=50"], (130, 143, 2), 120,
         signalled(signal.SIGTERM, 16, ok_hint="nnkeras tune", bad_hint="run --resume")),
    Case("report-ctrl-c", "hints", lambda c: ["report", c.fx.root / "runs"], (0, 130), 60,
         signalled(signal.SIGINT, 0.5, bad_hint="--resume", expect_codes=(0, 130))),
]


# ---------------------------------------------------------------- 2 concurrent processes

def together(argvs_of, expect_sorted, check_after=None, timeout=240, stagger=0.0):
    """Start every command at once; their exit codes, sorted, must be `expect_sorted`."""
    def runner(ctx: Ctx, argvs):
        processes = []
        for argv in argvs:
            processes.append(start(argv))
            time.sleep(stagger)
        results = [finish(p, timeout) for p in processes]
        merged = Result(0, stderr="\n".join(r.stderr for r in results), timed_out=any(r.timed_out for r in results))
        codes = sorted(r.code for r in results)
        if codes != sorted(expect_sorted) and not merged.timed_out:
            merged.problem = f"exit codes {codes}, expected {sorted(expect_sorted)}: " + " | ".join(
                (error_lines(r.stderr) or ["-"])[-1][:60] for r in results)
        elif check_after:
            merged.problem = check_after(ctx, results)
        if not merged.problem:  # the refused ones: one line each
            for r in results:
                if r.code == 2 and len(error_lines(r.stderr)) != 1:
                    merged.problem = f"refused with {len(error_lines(r.stderr))} lines: {r.stderr[-120:]}"
        merged.stderr = "" if not merged.problem else merged.stderr
        return merged
    return runner


def three_seeds(ctx: Ctx):
    return [["run", ctx.fx.experiment, "--set", f"seed={s}", "--runs-dir", ctx.tmp / "out"] for s in range(3)]


def distinct_runs(ctx: Ctx, results) -> str | None:
    finished = [p for p in (ctx.tmp / "out" / "tiny").glob("*") if (p / "metrics.json").is_file()]
    seeds = {json.loads((p / "config.json").read_text())["seed"] for p in finished}
    return None if len(finished) == 3 and seeds == {0, 1, 2} else f"wrong: {len(finished)} finished runs, seeds {seeds}"


def two_resumes(ctx: Ctx):
    run_dir = ctx.fx.run_copy(ctx, finished=False)
    return [["run", "--resume", run_dir, "--set", "train.epochs=40"]] * 2


def two_tunes(ctx: Ctx):
    return [["tune", ctx.fx.job, "--runs-dir", ctx.tmp / "s", "--set", "train.epochs=3"]] * 2


def two_converts(ctx: Ctx):
    run_dir = ctx.fx.run_copy(ctx)
    return [["convert", run_dir, "--quantize", "dynamic"]] * 2


def holder_named(ctx: Ctx, results) -> str | None:
    refused = [r for r in results if r.code == 2]
    if refused and "pid" not in error_lines(refused[0].stderr)[-1]:
        return f"the refusal does not name the holder: {error_lines(refused[0].stderr)[-1][:100]}"
    return None


def kill_then_resume(ctx: Ctx, argv):
    """SIGKILL a --resume mid-way; the next --resume must not find the run locked."""
    state = Path(argv[2]) / "checkpoints" / "state.json"

    def epoch() -> int:
        try:
            return json.loads(state.read_text())["epoch"]
        except (OSError, ValueError, KeyError):
            return 0

    # Killed once it has checkpointed an epoch of its own (it holds the lock then), not after a
    # fixed sleep: on a fast machine the 400 epochs ended inside the sleep and nothing was killed.
    resumed_from, first, deadline = epoch(), start(argv), time.monotonic() + 120
    while first.poll() is None and time.monotonic() < deadline and epoch() <= resumed_from:
        time.sleep(0.02)
    if first.poll() is not None:
        first.communicate()
        return Result(first.returncode, problem="the resume ended before it could be killed: nothing was checked")
    kill_group(first)
    first.communicate()
    return run(argv, timeout=120)


CASES += [
    Case("three-runs-one-second", "concurrent", three_seeds, (0,), 240, together(None, [0, 0, 0], distinct_runs)),
    Case("two-resumes-one-run", "concurrent", two_resumes, (0,), 240, together(None, [0, 2], holder_named, stagger=1)),
    Case("two-identical-tunes", "concurrent", two_tunes, (0,), 300, together(None, [0, 2], holder_named, stagger=1)),
    Case("two-converts-one-run", "concurrent", two_converts, (0,), 300, together(None, [0, 0])),
    Case("killed-resume-leaves-no-lock", "concurrent",
         lambda c: ["run", "--resume", c.fx.run_copy(c, finished=False), "--set", "train.epochs=400"], (0,), 150,
         kill_then_resume),
]


# ---------------------------------------------------------------- 4 machine errors during a search

def full_then_free(ctx: Ctx, argv):
    first = run(argv, timeout=150, preexec=file_limit(4_000))
    if first.timed_out:
        return first
    if first.code == 0:
        return Result(0, problem="a search whose trials could not be written exited 0")
    second = run(argv, timeout=150)
    trials = ctx.tmp / "s" / "search" / "tinyjob" / "random" / "trials.csv"
    text = trials.read_text() if trials.is_file() else ""
    if second.code != 0 or text.count("completed") < 2:
        second.problem = f"after freeing space: exit {second.code}, trials.csv {text.strip()[:100]!r}"
    return second


CASES += [Case("tune-full-disk-then-rerun", "machine", lambda c: ["tune", c.fx.job, "--runs-dir", c.tmp / "s"],
               (0,), 320, full_then_free)]


def readonly_trial_folder(ctx: Ctx):
    runs = ctx.tmp / "s"
    (runs / "search" / "tinyjob").mkdir(parents=True)
    (runs / "search" / "tinyjob" / "random").write_text("a file where the search folder belongs")
    return ["tune", ctx.fx.job, "--runs-dir", runs]


cases("machine", [("tune-search-folder-is-a-file", readonly_trial_folder)])


# ---------------------------------------------------------------- 6 hangs

def fifo_at(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    os.mkfifo(path)
    return path


def _hang(name, setup, expect=(2,), timeout=60):
    CASES.append(Case(name, "hang", setup, expect, timeout))


_hang("fifo-in-image-folder", lambda c: (fifo_at(image_folder(c) / "cat" / "pipe.png"),
                                         image_run(c.tmp / "images", "8,8,1", *runs_dir(c)))[1], expect=(0, 2))
_hang("fifo-as-titanic-csv", lambda c: titanic_run(fifo_at(c.tmp / "train.csv"), *runs_dir(c)))
_hang("fifo-as-idx-file", lambda c: (fifo_at(mnist_folder(c) / "t10k-images-idx3-ubyte.gz"),
                                     mnist_run(c.tmp / "mnist", *runs_dir(c)))[1])
_hang("fifo-as-mnist-npz", lambda c: mnist_run(fifo_at(c.tmp / "npz" / "mnist.npz").parent, *runs_dir(c)))
_hang("fifo-as-config-json", lambda c: ["run", "--resume", fifo_at(c.fx.run_copy(c, False) / "config.json").parent])
_hang("fifo-as-metrics-json-report", lambda c: ["report", fifo_at(c.fx.run_copy(c) / "metrics.json").parent.parent
                                                .parent], expect=(0,))
_hang("fifo-as-model-tflite-serve", lambda c: ["serve", fifo_at(c.tmp / "m.tflite"), "--port", "0"])
_hang("fifo-as-experiment-file", lambda c: ["run", fifo_at(c.tmp / "e.py"), *runs_dir(c)])
_hang("fifo-as-data-spec-convert", lambda c: ["convert", fifo_at(c.fx.run_copy(c) / "data_spec.json").parent])
_hang("fifo-as-tuning-job", lambda c: ["tune", fifo_at(c.tmp / "job.py"), "--runs-dir", c.tmp / "s"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def absent_peer(ctx: Ctx):
    cluster = {"worker": [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]}
    os.environ["_HOSTILE_TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}})
    return ["run", ctx.fx.experiment, "--set", "train.distribution=multi_worker", *runs_dir(ctx)]


def with_tf_config(after=None, sig=signal.SIGTERM, timeout=150):
    def runner(ctx: Ctx, argv):
        # the documented limit on the wait for peers, shortened (default 300 s)
        env = {"TF_CONFIG": os.environ.pop("_HOSTILE_TF_CONFIG"), "NNKERAS_PEER_TIMEOUT": "60"}
        if after is None:
            return finish(start(argv, env), timeout)
        return run_with_signal(argv, after, sig, grace=20, env=env)
    return runner


def absent_chief(ctx: Ctx):
    return ["tune", ctx.fx.job, "--worker", "tuner0", "--oracle", f"127.0.0.1:{free_port()}",
            "--runs-dir", ctx.tmp / "s"]


CASES += [
    Case("multi-worker-absent-peer-sigterm", "hang", absent_peer, (2, 130, 143), 60, with_tf_config(25)),
    Case("multi-worker-absent-peer-sigint", "hang", absent_peer, (2, 130), 60, with_tf_config(25, signal.SIGINT)),
    Case("multi-worker-absent-peer-time-limit", "hang", absent_peer, (2,), 120, with_tf_config(None, timeout=120)),
    # the documented limit on the wait for the chief, shortened (default 600 s)
    Case("tune-worker-absent-chief", "hang", absent_chief, (2,), 120,
         lambda ctx, argv: run(argv, timeout=120, env={"NNKERAS_CHIEF_TIMEOUT": "20"})),
    Case("tune-worker-absent-chief-sigterm", "hang", absent_chief, (130,), 60,
         lambda ctx, argv: run_with_signal(argv, 25, signal.SIGTERM, grace=20)),
]

# server cases, then the careless user's
from hostile_server import SERVER_CASES  # noqa: E402
from hostile_careless import CARELESS_CASES  # noqa: E402

CASES += SERVER_CASES + CARELESS_CASES
