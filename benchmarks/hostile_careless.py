"""The careless user's cases of benchmarks/hostile.py: odd values, odd files, odd terminals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hostile import REPO, TINY_JOB, Case, Ctx, env_for, finish, start

CARELESS_CASES: list[Case] = []


def add(name, setup, expect=(2,), timeout=90, runner=None):
    CARELESS_CASES.append(Case(name, "careless", setup, expect, timeout, runner))


def out(ctx: Ctx) -> list:
    return ["--runs-dir", ctx.tmp / "out"]


TINY = ["run", "mnist_mlp", "--set", "data.name=synthetic", "--set", "data.shape=4", "--set", "model.hidden=4",
        "--set", "train.epochs=1", "--set", "train.histogram_freq=0"]
for name, setting in [("empty-hidden", "model.hidden="), ("hex-hidden", "model.hidden=0x10"),
                      ("learning-rate-underflows", "train.learning_rate=1e-400"),
                      ("seed-of-20-digits", "seed=99999999999999999999"), ("negative-shape", "data.shape=4,-1"),
                      ("empty-holdout", "data.holdout_classes=,"), ("no-key", "=5"), ("empty-dataset", "data.name="),
                      ("unicode-digits", "train.epochs=٣"), ("huge-limit", "data.limit=10**12"),
                      ("nan-dropout", "model.dropout=nan"), ("space-in-number", "train.epochs=1 0")]:
    add(f"set-{name}", lambda c, s=setting: [*TINY, "--set", s, *out(c)], expect=(0, 2))


def write(ctx: Ctx, name: str, content) -> Path:
    path = ctx.tmp / name
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    return path


add("experiment-file-binary", lambda c: ["run", write(c, "bin.py", os.urandom(300) + b"\0"), *out(c)])
add("experiment-file-no-experiment", lambda c: ["run", write(c, "none.py", "x = 1\n"), *out(c)])
add("experiment-is-a-number", lambda c: ["run", write(c, "five.py", "EXPERIMENT = 5\n"), *out(c)])
add("experiments-list-of-text", lambda c: ["run", write(c, "texts.py", "EXPERIMENTS = ['a', 'b']\n"), *out(c)])
add("experiment-file-is-a-folder", lambda c: ["run", (c.tmp / "d.py").mkdir() or c.tmp / "d.py", *out(c)])
add("tuning-job-is-a-folder", lambda c: ["tune", (c.tmp / "j.py").mkdir() or c.tmp / "j.py", *out(c)])
add("tuning-job-space-returns-list", lambda c: ["tune", write(c, "j.py", TINY_JOB.replace("return {", "return [{")
                                                                          .replace(")}\n", ")}]\n")), *out(c)])
add("runs-dir-name-of-300", lambda c: [*TINY, "--runs-dir", c.tmp / ("r" * 300)])
add("runs-dir-is-a-file", lambda c: [*TINY, "--runs-dir", write(c, "file", "x")])
add("convert-interrupted-run", lambda c: ["convert", c.fx.run_copy(c, finished=False)])
add("serve-run-without-model", lambda c: (lambda r: ((r / "model.keras").unlink(), ["serve", r, "--port", "0"])[1])(
    c.fx.run_copy(c)))
add("serve-run-without-data-spec", lambda c: (lambda r: ((r / "data_spec.json").unlink(),
                                                          ["serve", r, "--port", "0"])[1])(c.fx.run_copy(c)))
add("convert-table-int8-io", lambda c: ["convert", c.fx.run_copy(c, source=c.fx.titanic), "--quantize", "int8-io"],
    timeout=150)
add("serve-host-999", lambda c: ["serve", c.fx.run / "model.tflite", "--host", "999.999.1.1", "--port", "0"])
add("serve-port-negative", lambda c: ["serve", c.fx.run / "model.tflite", "--port", "-1"])
add("resume-finished-run", lambda c: ["run", "--resume", c.fx.run_copy(c)])
add("resume-search-folder", lambda c: ["run", "--resume", c.fx.search_copy(c)[1]])
add("report-symlink-loop", lambda c: (lambda r: ((r / "loop").symlink_to(r, target_is_directory=True),
                                                 ["report", r])[1])(c.fx.run_copy(c).parent.parent), expect=(0,))
add("multi-worker-tf-config-garbage", lambda c: [*TINY, "--set", "train.distribution=multi_worker", *out(c)])
add("data-dir-of-unknown-user", lambda c: [*TINY, "--set", "data.name=mnist", "--set", "data.dir=~nouser_xyz/x",
                                           *out(c)])
add("mnist-download-offline", lambda c: ["run", "mnist_mlp", "--set", "data.name=fashion_mnist", *out(c)],
    expect=(0, 2), timeout=120)


def stdout_closed(ctx: Ctx, argv):
    """`nnkeras ARGS | head -0`: the reader is gone before anything is printed."""
    process = start(argv)
    process.stdout.close()
    result = finish(process, 60)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if len(lines) > 1:
        result.problem = f"{len(lines)} lines on a closed pipe: {' | '.join(lines)[:120]}"
    result.code = 0 if not result.problem and not result.timed_out else result.code
    return result


def stdout_full(ctx: Ctx, argv):
    """`nnkeras ARGS > /dev/full`: printing fails with ENOSPC."""
    with open("/dev/full", "w") as full:
        process = subprocess.Popen([sys.executable, "-m", "nnkeras", *map(str, argv)], env=env_for(),
                                   stdin=subprocess.DEVNULL, stdout=full, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True)
        result = finish(process, 60)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if len(lines) != 1 or result.code not in (1, 2):
        result.problem = f"exit {result.code}, {len(lines)} lines: {' | '.join(lines)[:120]}"
    result.code = 0 if not result.problem and not result.timed_out else result.code
    return result


def deleted_cwd(ctx: Ctx, argv):
    gone = ctx.tmp / "gone"
    gone.mkdir()
    script = f"cd {gone} && rmdir {gone} && exec {sys.executable} -m nnkeras " + " ".join(map(str, argv))
    process = subprocess.Popen(["sh", "-c", script], env={**env_for(), "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO))},
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    return finish(process, 60)


add("list-into-closed-pipe", lambda c: ["list"], expect=(0,), runner=stdout_closed)
add("report-into-closed-pipe", lambda c: ["report", c.fx.root / "runs"], expect=(0,), runner=stdout_closed)
add("list-into-dev-full", lambda c: ["list"], expect=(0,), runner=stdout_full)
add("report-into-dev-full", lambda c: ["report", c.fx.run_copy(c).parent.parent], expect=(0,), runner=stdout_full)
add("list-from-deleted-folder", lambda c: ["list"], expect=(0, 2), runner=deleted_cwd)
add("report-from-deleted-folder", lambda c: ["report"], expect=(0, 2), runner=deleted_cwd)
