"""Scratch LeNet-5, RNN/LSTM and Transformer against the project's Keras builders, in float64.

Each scratch network starts from the Keras model's weights and both take the
same 20 batches: the batch losses, the logits on the whole set after every
step and the final weights must agree to far better than 1e-6 (they agree to
<= 1e-14 measured: the same formulas, only the order of float64 additions differs).
"""

import numpy as np
import pytest

from nnkeras.data import DataSpec
from nnkeras.scratch import SGD, Adam, nets
from nnkeras.scratch.fit import batch_order
from nnkeras.scratch.optimizers import clip_by_global_norm
from nnkeras.scratch.twin import copy_to_keras

F64 = np.float64  # hyperparameters as float64, or Keras rounds them through float32 (tests/test_scratch_keras.py)
CLASSES = ("a", "b", "c")
TOLERANCE = 1e-9  # relative, for losses and logits; the issue asks for 1e-6


def lenet5(activation):
    from nnkeras.models.cnn import build_lenet5

    spec = DataSpec("images", (12, 12, 1), 3, CLASSES)
    return (build_lenet5(spec, activation=activation), nets.lenet5((12, 12, 1), 3, activation),
            lambda r, n: r.normal(size=(n, 12, 12, 1)))


def rnn(cell, tokens):
    from nnkeras.models.recurrent import build_rnn

    if tokens:
        spec = DataSpec("tokens", (7,), 3, CLASSES, input_dtype="int32", vocab_size=11)
        return (build_rnn(spec, cell=cell, units=6, embed_dim=5, dropout=0.0),
                nets.rnn((7,), 3, cell, units=6, embed_dim=5, vocab_size=11), lambda r, n: r.integers(0, 11, size=(n, 7)))
    spec = DataSpec("sequences", (7, 2), 3, CLASSES)
    return build_rnn(spec, cell=cell, units=6, dropout=0.0), nets.rnn((7, 2), 3, cell, units=6), lambda r, n: r.normal(size=(n, 7, 2))


def transformer(norm="post", mask_padding=False):
    from nnkeras.models.transformer import build_transformer

    spec = DataSpec("tokens", (6,), 3, CLASSES, input_dtype="int32", vocab_size=12)
    model = build_transformer(spec, embed_dim=8, num_heads=2, ff_dim=16, num_blocks=2 if mask_padding else 1,
                              dropout=0.0, max_len=0, norm=norm, pooling="average", positions="learned",
                              mask_padding=mask_padding)
    net = nets.transformer(6, 12, 3, embed_dim=8, num_heads=2, ff_dim=16, num_blocks=2 if mask_padding else 1,
                           norm_first=norm == "pre", mask_padding=mask_padding)
    return model, net, front_padded if mask_padding else (lambda r, n: r.integers(0, 12, size=(n, 6)))


def front_padded(r, n):
    """Token ids padded at the front with 0 to 6 (one sequence of padding only), as IMDB's are."""
    ids = r.integers(1, 12, size=(n, 6))
    ids[np.arange(6)[None, :] < r.integers(0, 7, size=(n, 1))] = 0
    return ids


MODELS = {
    "lenet5_relu": lambda: lenet5("relu"),
    "lenet5_tanh": lambda: lenet5("tanh"),
    "simple_rnn": lambda: rnn("simple_rnn", tokens=False),
    "lstm": lambda: rnn("lstm", tokens=False),
    "lstm_tokens": lambda: rnn("lstm", tokens=True),
    "transformer": transformer,
    # The builder's defaults since the padding-mask change: pre-norm (final norm), mask, positions from the first token.
    "transformer_pre_masked": lambda: transformer(norm="pre", mask_padding=True),
}
OPTIMIZERS = {
    "sgd_momentum": (lambda: SGD(0.05, momentum=0.9), lambda k: k.optimizers.SGD(0.05, momentum=F64(0.9))),
    "adam": (lambda: Adam(0.01), lambda k: k.optimizers.Adam(0.01, beta_1=F64(0.9), beta_2=F64(0.999))),
}


def dense_step(model, x, y) -> float:
    """One Keras training step with the embedding's gradient made dense.

    TensorFlow hands an Embedding's gradient to the optimizer as IndexedSlices
    with one slice per token occurrence, and Keras 3.15's Adam squares each
    slice before they are summed: a token seen k times in a batch gets
    v += (1 - beta_2) sum g_i^2 instead of (sum g_i)^2 (and global_clipnorm
    measures the norm the same way). Densified first, the gradient is the one
    backpropagation defines, and the rest of the step is Keras's own; the
    sparse path's difference is pinned by the test at the end of this file.
    """
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = model.loss(y, model(x, training=True))
    grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, model.trainable_variables)]
    model.optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return float(loss)


def keras_step(model, x, y, dense: bool) -> float:
    return dense_step(model, x, y) if dense else model.train_on_batch(x, y, return_dict=True)["loss"]


def train_both(keras, model, net, x, y, scratch_opt, keras_opt, clip=None, steps=20, batch_size=8, dense=None):
    """20 steps of each; yields the step and the largest relative gaps in batch loss and in logits.

    Models with an embedding take Keras steps through `dense_step` (unless dense=False), the others
    through `train_on_batch`, the path `model.fit` takes.
    """
    keras_opt = keras_opt(keras) if clip is None else keras_opt(keras, clip)
    model.compile(optimizer=keras_opt, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    nets.from_keras(net, model)
    dense = bool(net.vocab_size) if dense is None else dense
    optimizer, (xs, t) = scratch_opt(), net.check(x, y)
    batches = [b for epoch in range(20) for b in batch_order(len(x), batch_size, seed=3, epoch=epoch)][:steps]
    for step, index in enumerate(batches, start=1):
        loss, grads, _ = net.gradients(xs[index], t[index])
        if clip is not None:
            grads, _ = clip_by_global_norm(grads, clip)
        optimizer.step(net.params(), grads)
        keras_loss = keras_step(model, x[index], y[index], dense)
        keras_logits, logits = np.asarray(model(x, training=False)), net.logits(xs)
        yield step, abs(keras_loss - loss) / loss, np.abs(keras_logits - logits).max() / np.abs(logits).max()


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("name", list(MODELS))
def test_twenty_steps_match_the_keras_builder(float64_keras, name, optimizer):
    model, net, inputs = MODELS[name]()
    assert model.layers[-1].kernel.dtype == "float64"
    assert net.count_params() == model.count_params()
    r = np.random.default_rng(0)
    x, y = inputs(r, 32), r.integers(0, 3, size=32)
    gaps = list(train_both(float64_keras, model, net, x, y, *OPTIMIZERS[optimizer]))
    assert len(gaps) == 20
    for step, loss_gap, logit_gap in gaps:
        assert loss_gap < TOLERANCE and logit_gap < TOLERANCE, (step, loss_gap, logit_gap)
    for leaf in net.leaves():
        for mine, theirs in zip(leaf.params, model.get_layer(leaf.name).get_weights()):
            np.testing.assert_allclose(theirs, mine, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_clipped_lstm_matches_keras_global_clipnorm(float64_keras, optimizer):
    """A clip far below the gradient's norm (so every step is clipped) against Keras's global_clipnorm."""
    scratch_opt, _ = OPTIMIZERS[optimizer]
    keras_opt = {"sgd_momentum": lambda k, c: k.optimizers.SGD(0.05, momentum=F64(0.9), global_clipnorm=c),
                 "adam": lambda k, c: k.optimizers.Adam(0.01, beta_1=F64(0.9), beta_2=F64(0.999), global_clipnorm=c)}
    model, net, inputs = rnn("lstm", tokens=True)
    r = np.random.default_rng(1)
    x, y = inputs(r, 32), r.integers(0, 3, size=32)
    xs, t = net.check(x, y)
    nets.from_keras(net, model)
    assert clip_by_global_norm(net.gradients(xs[:8], t[:8])[1], 0.05)[1] > 0.1  # the clip bites
    for step, loss_gap, logit_gap in train_both(float64_keras, model, net, x, y, scratch_opt, keras_opt[optimizer], clip=0.05):
        assert loss_gap < TOLERANCE and logit_gap < TOLERANCE, (step, loss_gap, logit_gap)


def test_the_comparison_notices_a_missing_clip(float64_keras):
    """Control: the same run without clipping on the scratch side parts from Keras's clipped one."""
    model, net, inputs = rnn("lstm", tokens=True)
    r = np.random.default_rng(1)
    x, y = inputs(r, 32), r.integers(0, 3, size=32)
    keras_opt = lambda k: k.optimizers.SGD(0.05, momentum=F64(0.9), global_clipnorm=0.05)  # noqa: E731
    gaps = [gap for _, _, gap in train_both(float64_keras, model, net, x, y, lambda: SGD(0.05, momentum=0.9), keras_opt)]
    assert max(gaps) > 1e-3


def test_float32_twin_predicts_the_scratch_classes(float64_keras):
    """The Keras twin of a trained scratch net, in float32 as it is saved and served, agrees to float32 precision."""
    keras = float64_keras
    model64, net, inputs = transformer()
    r = np.random.default_rng(2)
    x, y = inputs(r, 32), r.integers(0, 3, size=32)
    for _ in train_both(keras, model64, net, x, y, *OPTIMIZERS["adam"], steps=5):
        pass
    keras.config.set_floatx("float32")
    model32 = transformer()[0]
    copy_to_keras(net, model32)
    logits = np.asarray(model32(x.astype("int32")))
    np.testing.assert_allclose(logits, net.logits(x), rtol=1e-4, atol=1e-5)
    assert np.array_equal(logits.argmax(1), net.logits(x).argmax(1))


@pytest.mark.parametrize("distinct_tokens, smallest, largest", [(False, 1e-3, 1.0), (True, 0.0, TOLERANCE)])
def test_keras_adam_on_sparse_embedding_gradients_differs_only_for_repeated_tokens(
        float64_keras, distinct_tokens, smallest, largest):
    """Keras's own train_on_batch with Adam: it parts from the scratch (textbook) Adam when a token
    occurs twice in a batch, and agrees when no batch repeats a token (one example per batch, each
    a sequence of distinct tokens). So the gap is the per-slice squaring `dense_step` explains."""
    model, net, _ = rnn("lstm", tokens=True)
    r = np.random.default_rng(3)
    x = (np.stack([r.permutation(11)[:7] for _ in range(16)]) if distinct_tokens
         else r.integers(0, 4, size=(16, 7)))  # 4 tokens in 7 places: every sequence repeats some
    y = r.integers(0, 3, size=16)
    gaps = [gap for _, _, gap in train_both(float64_keras, model, net, x, y, *OPTIMIZERS["adam"], steps=10,
                                            batch_size=1, dense=False)]
    assert smallest <= max(gaps) < largest
