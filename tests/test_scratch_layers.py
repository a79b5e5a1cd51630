"""Every scratch layer's backward pass against central differences (float64), and its shape errors.

Each check is L = sum(g * layer(x)) for a random g (any upstream gradient),
so dL/dx and every dL/dp of the layer are compared with the numerical
derivative; `gradcheck` explains why 1e-6 separates a wrong pass from noise.
"""

import numpy as np
import pytest

from nnkeras.errors import DataError
from nnkeras.scratch import gradcheck, nets
from nnkeras.scratch.attention import LayerNorm, MultiHeadSelfAttention, attention_backward, attention_forward
from nnkeras.scratch.conv import Conv2D, MaxPool2D
from nnkeras.scratch.layers import Dense, Dropout, Flatten
from nnkeras.scratch.optimizers import clip_by_global_norm
from nnkeras.scratch.recurrent import LSTM, Embedding, SimpleRNN
from nnkeras.scratch.transformer import GlobalAveragePooling1D, TokenAndPositionEmbedding, TransformerBlock

TOLERANCE = 1e-6


def rng(seed=0):
    return np.random.default_rng(seed)


def assert_checks(errors, expected):
    assert set(errors) == set(expected), errors
    assert max(errors.values()) < TOLERANCE, errors


def without_key_bias(errors, layers):
    """The errors without attention's key bias, after checking its gradient is 0 as it must be.

    The key bias adds q . b_k to every score of a query's row, and softmax ignores
    a shift of its row: the gradient is exactly 0, both sides of the check are
    rounding noise, and their relative error means nothing.
    """
    for layer in layers:
        if isinstance(layer, MultiHeadSelfAttention):
            assert np.abs(layer.grads[layer.param_names.index("key/bias")]).max() < 1e-12
    return {name: e for name, e in errors.items() if not name.endswith("key/bias")}


def with_biases(layer, seed=1):
    """Non-zero biases (and gammas), so their gradients are checked at a general point.

    Embeddings grow from U(-0.05, 0.05) to U(-1, 1): with tiny embeddings every
    attention row is almost uniform, the query gradients are ~1e-4, and the
    numerical derivative's rounding (~1e-10) alone would be a 1e-6 relative error.
    """
    for name, p in zip(layer.param_names, layer.params):
        if name.endswith(("bias", "beta", "gamma")):
            p += rng(seed).normal(scale=0.3, size=p.shape)
        if name.endswith("embeddings"):
            p *= 20.0
    return layer


@pytest.mark.parametrize("activation", ["linear", "relu", "tanh", "sigmoid"])
def test_dense_on_sequences(activation):
    layer = with_biases(Dense("d", 4, 3, activation, rng()))
    assert_checks(gradcheck.check_layer(layer, rng(2).normal(size=(2, 5, 4)), rng(3)), {"input", "kernel", "bias"})


@pytest.mark.parametrize("shape, kernel, stride, padding, out", [
    ((7, 7, 2), 3, 1, "same", (7, 7)),
    ((7, 6, 2), 3, 1, "valid", (5, 4)),
    ((7, 7, 2), 3, 2, "same", (4, 4)),     # TF pads 2 rows: one on top, one below
    ((8, 8, 2), 3, 2, "same", (4, 4)),     # pads 1 row: below only
    ((8, 7, 2), (3, 2), 2, "valid", (3, 3)),  # the last row is never reached
    ((6, 6, 1), 5, 1, "same", (6, 6)),     # LeNet's first layer
])
def test_conv2d(shape, kernel, stride, padding, out):
    layer = with_biases(Conv2D("c", shape[2], 3, kernel, stride, padding, "tanh", rng()))
    x = rng(2).normal(size=(2, *shape))
    assert layer.forward(x).shape == (2, *out, 3)
    assert_checks(gradcheck.check_layer(layer, x, rng(3)), {"input", "kernel", "bias"})


def test_conv2d_equals_the_direct_sum():
    layer = Conv2D("c", 2, 3, 3, 2, "same", rng=rng())
    x = rng(1).normal(size=(1, 5, 5, 2))
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))  # 5 -> out 3, pad 2: one each side
    kernel, bias = layer.params
    direct = np.array([[[np.sum(xp[0, 2 * i:2 * i + 3, 2 * j:2 * j + 3, :, None] * kernel, axis=(0, 1, 2)) + bias
                         for j in range(3)] for i in range(3)]])
    np.testing.assert_allclose(layer.forward(x), direct, rtol=1e-13)


def test_maxpool_crops_and_routes_to_the_winner():
    layer = MaxPool2D("p", 2)
    x = rng(1).normal(size=(2, 5, 7, 3))
    y = layer.forward(x)
    assert y.shape == (2, 2, 3, 3)
    assert y[1, 1, 2, 0] == x[1, 2:4, 4:6, 0].max()
    assert_checks(gradcheck.check_layer(layer, x, rng(2)), {"input"})
    ties = layer.forward(np.zeros((1, 2, 2, 1)))
    assert ties.shape == (1, 1, 1, 1)
    np.testing.assert_array_equal(layer.backward(np.ones((1, 1, 1, 1)))[0, :, :, 0], [[1, 0], [0, 0]])


def test_flatten_keeps_channels_last_order():
    x = np.arange(24.0).reshape(2, 2, 3, 2)
    layer = Flatten("f")
    np.testing.assert_array_equal(layer.forward(x)[1], np.arange(12.0, 24.0))
    np.testing.assert_array_equal(layer.backward(layer.forward(x)), x)


def test_dropout_scales_in_training_only_and_backward_uses_the_same_mask():
    layer = Dropout("d", 0.25, seed=1)
    x = np.ones((400, 50))
    assert layer.forward(x) is x
    y = layer.forward(x, training=True)
    assert set(np.unique(y)) == {0.0, 1 / 0.75}
    assert y.mean() == pytest.approx(1.0, abs=0.02)
    np.testing.assert_array_equal(layer.backward(np.full(x.shape, 2.0)), 2.0 * y)


def test_embedding_adds_the_gradient_of_repeated_tokens():
    layer = Embedding("e", 6, 3, rng())
    ids = np.array([[1, 2, 1], [5, 1, 0]])
    assert_checks(gradcheck.check_layer(layer, ids, rng(1)), {"embeddings"})
    layer.forward(ids)
    layer.backward(np.ones((2, 3, 3)))
    np.testing.assert_array_equal(layer.grads[0][:, 0], [1, 3, 1, 0, 0, 1])


@pytest.mark.parametrize("cell", [SimpleRNN, LSTM])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_recurrent_cells_backpropagate_through_time(cell, return_sequences):
    layer = with_biases(cell("r", 3, 4, return_sequences, rng()))
    x = rng(2).normal(size=(2, 6, 3))
    assert layer.forward(x).shape == ((2, 6, 4) if return_sequences else (2, 4))
    assert_checks(gradcheck.check_layer(layer, x, rng(3)), {"input", "kernel", "recurrent_kernel", "bias"})


def test_clip_by_global_norm_caps_the_joint_length_and_keeps_the_direction():
    grads = [np.array([3.0, 0.0]), np.array([[0.0], [4.0]])]  # joint norm 5
    clipped, norm = clip_by_global_norm(grads, 1.0)
    assert norm == 5.0
    np.testing.assert_allclose(clipped[0], [0.6, 0.0])
    np.testing.assert_allclose(clipped[1], [[0.0], [0.8]])
    unchanged, _ = clip_by_global_norm(grads, 10.0)
    np.testing.assert_array_equal(unchanged[1], grads[1])


@pytest.mark.parametrize("masked", [False, True])
def test_scaled_dot_product_attention(masked):
    r = rng(1)
    q, k, v = r.normal(size=(2, 3, 4, 5)), r.normal(size=(2, 3, 6, 5)), r.normal(size=(2, 3, 6, 2))
    mask = np.array([[True] * 6, [True] * 4 + [False] * 2])[:, None, None, :] if masked else None
    out, weights = attention_forward(q, k, v, mask)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0)
    if masked:
        assert np.all(weights[1, ..., 4:] == 0.0)
    g = r.normal(size=out.shape)
    analytic = attention_backward(g, q, k, v, weights)
    for array, grad in zip((q, k, v), analytic):
        numeric = gradcheck.numerical_gradient(lambda: float(np.sum(g * attention_forward(q, k, v, mask)[0])), array)
        assert gradcheck.relative_error(grad, numeric) < TOLERANCE


@pytest.mark.parametrize("masked", [False, True])
def test_multi_head_self_attention(masked):
    layer = with_biases(MultiHeadSelfAttention("a", 6, 3, 2, rng()))
    x = rng(2).normal(size=(2, 5, 6))
    mask = np.array([[True] * 5, [True, True, True, False, False]]) if masked else None
    names = {f"{p}/{w}" for p in ("query", "key", "value", "attention_output") for w in ("kernel", "bias")}
    errors = without_key_bias(gradcheck.check_layer(layer, x, rng(3), mask=mask), [layer])
    assert_checks(errors, names - {"key/bias"} | {"input"})
    if masked:  # a padding position changes nothing the real positions see
        moved = x.copy()
        moved[1, 4] += 10.0
        np.testing.assert_allclose(layer.forward(moved, mask=mask)[1, :3], layer.forward(x, mask=mask)[1, :3])


def test_layer_norm():
    layer = with_biases(LayerNorm("n", 5))
    x = rng(2).normal(loc=3.0, scale=2.0, size=(3, 4, 5))
    layer.params[1][:] = 0.0
    layer.params[0][:] = 1.0
    y = layer.forward(x)
    np.testing.assert_allclose(y.mean(axis=-1), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.std(axis=-1), 1.0, rtol=1e-5)  # epsilon 1e-6 against a variance of ~4
    assert_checks(gradcheck.check_layer(with_biases(layer), x, rng(3)), {"input", "gamma", "beta"})


def test_token_and_position_embedding_and_masked_average():
    layer = TokenAndPositionEmbedding("e", 7, 6, 4, rng())
    ids = np.array([[1, 2, 1, 0], [3, 3, 0, 0]])
    assert_checks(gradcheck.check_layer(layer, ids, rng(1)), {"tokens/embeddings", "positions/embeddings"})
    pool = GlobalAveragePooling1D("avg")
    x = rng(2).normal(size=(2, 4, 3))
    assert_checks(gradcheck.check_layer(pool, x, rng(3), mask=ids != 0), {"input"})
    np.testing.assert_allclose(pool.forward(x, mask=ids != 0)[1], x[1, :2].mean(axis=0))


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_block(norm_first):
    block = TransformerBlock("b", 6, 2, 8, norm_first=norm_first, rng=rng())
    for part in block.parts:
        with_biases(part)
    x = rng(2).normal(size=(2, 4, 6))
    errors = gradcheck.check_layer(block, x, rng(3), mask=np.array([[True] * 4, [True, True, True, False]]))
    expected = {"input"} | {f"{leaf.name}/{name}" for leaf in block.leaves() for name in leaf.param_names}
    assert_checks(without_key_bias(errors, block.leaves()), expected - {"b_attention/key/bias"})


NETWORKS = {
    "lenet5": (lambda: nets.lenet5((12, 12, 1), 3, activation="tanh", seed=1),
               lambda r: r.normal(size=(3, 12, 12, 1))),
    "lstm_tokens": (lambda: nets.rnn((5,), 3, "lstm", units=4, embed_dim=3, vocab_size=9, seed=1),
                    lambda r: r.integers(0, 9, size=(3, 5))),
    "simple_rnn": (lambda: nets.rnn((5, 2), 3, "simple_rnn", units=4, seed=1), lambda r: r.normal(size=(3, 5, 2))),
    "transformer": (lambda: nets.transformer(5, 9, 3, embed_dim=4, num_heads=2, ff_dim=6, num_blocks=2,
                                             mask_padding=True, seed=1),
                    lambda r: np.concatenate([r.integers(1, 9, size=(3, 3)), np.zeros((3, 2), int)], axis=1)),
}


@pytest.mark.parametrize("name", list(NETWORKS))
def test_whole_networks_backpropagate_exactly(name):
    make_net, make_x = NETWORKS[name]
    net, r = make_net(), rng(4)
    for leaf in net.leaves():
        with_biases(leaf)
    errors = gradcheck.check_network(net, make_x(r), r.integers(0, 3, size=3))
    assert set(errors) == set(net.param_names())
    assert_checks(without_key_bias(errors, net.leaves()), {n for n in errors if not n.endswith("key/bias")})


@pytest.mark.parametrize("layer, x, message", [
    (Conv2D("conv_1", 3, 4, 3), np.zeros((2, 8, 8, 1)), "conv_1: inputs of shape (2, 8, 8, 1), expected (n, height, width, 3)"),
    (Conv2D("conv_2", 1, 4, 5), np.zeros((2, 4, 4, 1)), "conv_2: a 5x5 kernel does not fit 4x4 inputs with 'valid' padding"),
    (MaxPool2D("pool", 2), np.zeros((2, 1, 5, 1)), "pool: a 2x2 pool does not fit 1x5 inputs"),
    (LSTM("lstm", 3, 4), np.zeros((2, 5, 2)), "lstm: inputs of shape (2, 5, 2), expected (n, steps, 3)"),
    (MultiHeadSelfAttention("att", 4, 2, 2), np.zeros((2, 5)), "att: inputs of shape (2, 5), expected (n, steps, 4)"),
])
def test_layers_name_a_wrong_input_shape_in_one_line(layer, x, message):
    with pytest.raises(DataError) as info:
        layer.forward(x)
    assert str(info.value) == message


@pytest.mark.parametrize("x, message", [
    (np.zeros((4, 12, 12)), "inputs have shape (4, 12, 12) but the network expects (examples, 12, 12, 1)"),
    (np.full((4, 12, 12, 1), np.nan), "inputs hold NaN or infinite values (first in example 0)"),
])
def test_networks_check_inputs_before_any_step(x, message):
    with pytest.raises(DataError) as info:
        nets.lenet5((12, 12, 1), 3).check(x, np.zeros(4, int))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_token_networks_refuse_ids_outside_the_vocabulary():
    net = nets.rnn((5,), 3, "lstm", units=4, embed_dim=3, vocab_size=9)
    with pytest.raises(DataError, match=r"example 1 holds a token id outside 0..8"):
        net.check(np.array([[1, 2, 3, 4, 5], [1, 2, 9, 0, 0]]), [0, 1])
