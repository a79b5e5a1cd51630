"""Seconds per epoch of the two IMDB models: nnkeras's fast path against plain `model.fit`.

    python benchmarks/sequence_speed.py                     # IMDB's size: 25,000 x 200 tokens, 2 epochs
    python benchmarks/sequence_speed.py --n 2000 --epochs 1 # a quick look

The models are those of experiments/imdb_lstm_attention.py and
experiments/imdb_transformer.py (their builder arguments, batch 64, Adam),
on word_order reviews (generated token ids, vocabulary 10,000, padded at the
front as IMDB is). Each measurement runs in a fresh subprocess:
- fit:        `model.fit(x, y, batch_size=64, epochs=E)`, jit_compile off;
- fit_jit:    the same with `compile(jit_compile=True)` (XLA);
- nnkeras:    `fastfit.fit_in_memory`, the trainer's fast path (a whole epoch in one graph call;
              it calls `train_step` inside its own graph, so XLA does not apply to it; its
              epoch includes a validation pass over 64 reviews, which the fast path needs).
Variants of the Transformer say where its epoch goes: `transformer_no_dropout` (dropout 0),
`transformer_post_average` (the old recipe: post-norm, average pooling, learned positions, no mask),
`transformer_seq100` (the same reviews cut to their last 100 tokens: attention is quadratic in length).
Printed: first epoch (with tracing or XLA compilation) and the median of the later ones, per job and
path, with the machine's load average (this machine is shared: compare rows of one session).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time

TRANSFORMER = {"embed_dim": 64, "num_heads": 4, "ff_dim": 128, "norm": "pre", "pooling": "attention",
               "positions": "sinusoidal", "mask_padding": True}
JOBS = {  # job -> (builder, builder arguments, tokens per review)
    "lstm_attention": ("lstm_attention", {"units": 64, "embed_dim": 64, "bidirectional": True}, 200),
    "transformer": ("transformer", TRANSFORMER, 200),
    "transformer_no_dropout": ("transformer", {**TRANSFORMER, "dropout": 0.0}, 200),
    "transformer_post_average": ("transformer", {**TRANSFORMER, "norm": "post", "pooling": "average",
                                                 "positions": "learned", "mask_padding": False}, 200),
    "transformer_seq100": ("transformer", TRANSFORMER, 100),
}
PATHS = ("fit", "fit_jit", "nnkeras")


def measure(job: str, path: str, n: int, epochs: int) -> dict:
    """Seconds of each epoch of one job on one path, in this process."""
    import keras

    from nnkeras import fastfit, models
    from nnkeras.config import DataConfig
    from nnkeras.data.word_order import load_word_order

    builder, params, seq_len = JOBS[job]
    raw = load_word_order(DataConfig(name="word_order", vocab_size=10000, seq_len=200, size=n))
    x, y = raw.x_train[:, -seq_len:], raw.y_train
    spec = dataclasses.replace(raw.spec, input_shape=(seq_len,))
    keras.utils.set_random_seed(0)
    model = models.build(builder, spec, params)
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], jit_compile=path == "fit_jit")
    seconds = []

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.start)

    if path == "nnkeras":
        fastfit.fit_in_memory(model, x, y, batch_size=64, seed=0, first_epoch=0, epochs=epochs,
                              validation=(x[:64], y[:64]), callbacks=[EpochTimer()], verbose=0)
    else:
        model.fit(x, y, batch_size=64, epochs=epochs, callbacks=[EpochTimer()], verbose=0, shuffle=True)
    return {"epochs": seconds}


def run_child(job: str, path: str, n: int, epochs: int) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, __file__, "--child", job, path, str(n), str(epochs)]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{job}/{path} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=25_000, help="reviews per epoch")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--jobs", nargs="+", default=list(JOBS), choices=list(JOBS))
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=PATHS)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        job, path, n, epochs = args.child
        print(json.dumps(measure(job, path, int(n), int(epochs))))
        return
    print(f"machine: {os.cpu_count()} cores; {args.n:,} reviews, {args.epochs} epochs, batch 64")
    print("| job | path | first epoch s | later epochs s (median) | vs fit | load at start |")
    print("|---|---|---:|---:|---:|---:|")
    for job in args.jobs:
        later = {}
        for path in args.paths:
            load = os.getloadavg()[0]
            seconds = run_child(job, path, args.n, args.epochs)["epochs"]
            later[path] = statistics.median(seconds[1:] or seconds)
            ratio = f"{later[path] / later['fit']:.2f}x" if "fit" in later else ""
            print(f"| {job} | {path} | {seconds[0]:.1f} | {later[path]:.1f} | {ratio} | {load:.1f} |", flush=True)


if __name__ == "__main__":
    main()
