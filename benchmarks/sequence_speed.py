"""Seconds per epoch of the two IMDB models: nnkeras's fast path against plain `model.fit`,
and the arithmetic floor of each model on this CPU.

    python benchmarks/sequence_speed.py                        # IMDB's size: 25,000 x 200 tokens
    python benchmarks/sequence_speed.py --n 1600 --repeats 5   # a fraction, as run here (README)
    python benchmarks/sequence_speed.py --jobs transformer transformer_no_dropout transformer_no_norm

The models are those of experiments/imdb_lstm_attention.py and experiments/imdb_transformer.py
(their builder arguments, batch 64, Adam 1e-3), on word_order reviews (generated token ids,
vocabulary 10,000, padded at the front as IMDB is). The paths are those of model_epochs.py
(fit, nnkeras, floor; nnkeras_jit, nnkeras_inter1, nnkeras_bf16), plus
- fit_jit: plain fit with `compile(jit_compile=True)` (XLA).
Variants of the Transformer say where its epoch goes: `transformer_no_dropout` (dropout 0),
`transformer_no_norm` (every LayerNormalization replaced by the identity: an ablation for speed
only), `transformer_post_average` (the old recipe: post-norm, average pooling, learned positions,
no mask), `transformer_seq100` (the same reviews cut to their last 100 tokens: attention is
quadratic in length). Printed: per job and path the first epoch (with tracing or XLA compilation)
and the median of the later ones over alternating repeats, ratios to fit and to the floor.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_epochs import (EXTRA_PATHS, PATHS, add_common_arguments, base_path, child_or_table, compiled,  # noqa: E402
                          epoch_seconds, mixed_for)

TRANSFORMER = {"embed_dim": 64, "num_heads": 4, "ff_dim": 128, "norm": "pre", "pooling": "attention",
               "positions": "sinusoidal", "mask_padding": True}
JOBS = {  # job -> (builder, builder arguments, tokens per review)
    "lstm_attention": ("lstm_attention", {"units": 64, "embed_dim": 64, "bidirectional": True}, 200),
    "transformer": ("transformer", TRANSFORMER, 200),
    "transformer_no_dropout": ("transformer", {**TRANSFORMER, "dropout": 0.0}, 200),
    "transformer_no_norm": ("transformer", TRANSFORMER, 200),
    "transformer_post_average": ("transformer", {**TRANSFORMER, "norm": "post", "pooling": "average",
                                                 "positions": "learned", "mask_padding": False}, 200),
    "transformer_seq100": ("transformer", TRANSFORMER, 100),
}


def measure(job: str, path: str, n: int, epochs: int) -> dict:
    """Seconds of each epoch of one job on one path, in this process."""
    import keras

    from nnkeras.config import DataConfig
    from nnkeras.data.word_order import load_word_order
    from nnkeras.models import transformer

    if path == "nnkeras_inter1":
        import tensorflow as tf

        tf.config.threading.set_inter_op_parallelism_threads(1)
    builder, params, seq_len = JOBS[job]
    if job == "transformer_no_norm":
        transformer._norm = lambda name: keras.layers.Identity(name=name)
    raw = load_word_order(DataConfig(name="word_order", vocab_size=10000, seq_len=200, size=n))
    x, y = raw.x_train[:, -seq_len:], raw.y_train
    model = compiled(builder, dataclasses.replace(raw.spec, input_shape=(seq_len,)), params, jit_compile=path == "fit_jit",
                     mixed=mixed_for(path))
    return {"epochs": epoch_seconds(model, x, y, base_path(path), epochs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=25_000, help="reviews per epoch")
    parser.add_argument("--jobs", nargs="+", default=["lstm_attention", "transformer"], choices=list(JOBS))
    add_common_arguments(parser, PATHS + EXTRA_PATHS + ("fit_jit",))
    args = parser.parse_args()
    if not args.child:
        print(f"{args.n:,} word_order reviews of 200 tokens (IMDB has 25,000)")
    child_or_table(args, measure, __file__, {job: args.n for job in args.jobs})

if __name__ == "__main__":
    main()
