"""nnkeras.scratch in NumPy alone: the tutorial's numbers, shapes, gradients, optimisers, bad input."""

import numpy as np
import pytest

from nnkeras.errors import DataError, NNKerasError
from nnkeras.scratch import MLP, SGD, Adam, SigmoidNeuron, activations, gradcheck, initializers, losses
from nnkeras.scratch.fit import batch_order, evaluate, fit


def blobs(n=120, features=4, classes=3, seed=0):
    """Three well separated Gaussian clouds: any working classifier reaches ~100%."""
    centres = np.random.default_rng(1234).normal(scale=4.0, size=(classes, features))  # one problem
    rng = np.random.default_rng(seed)  # different draws from it
    y = rng.integers(0, classes, size=n)
    return centres[y] + rng.normal(size=(n, features)), y


def test_tutorial_hand_worked_forward_pass():
    # Each row of W1 is one neuron: z1 = W1 x + b1 = [0.5*1 + 0.3*2 + 0.1, 0.4*1 + 0.6*2 + 0.2].
    w1, b1 = [[0.5, 0.3], [0.4, 0.6]], [0.1, 0.2]
    net = MLP([w1, np.eye(2)], [b1, np.zeros(2)], ["relu", "softmax"])
    zs, outputs = net.forward(np.array([[1.0, 2.0]]))
    np.testing.assert_allclose(zs[0], [[1.2, 1.8]], rtol=1e-15)
    np.testing.assert_allclose(outputs[1], [[1.2, 1.8]], rtol=1e-15)  # ReLU keeps positive values
    # Reading W1 by columns instead would give [1.4, 1.7]: the layout is tested, not assumed.
    assert not np.allclose(zs[0], np.array(w1).T @ [1.0, 2.0] + b1)
    zs, outputs = net.forward(np.array([[-1.0, -2.0]]))
    np.testing.assert_allclose(outputs[1], [[0.0, 0.0]])  # z1 = [-1.0, -1.4]: ReLU zeroes it


def test_neuron_vector_labels_do_not_broadcast_into_a_matrix():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(5, 3)), np.array([0, 1, 1, 0, 1])
    neuron = SigmoidNeuron(3, init="xavier", seed=2)
    loss_vec, dw_vec, db_vec = neuron.backward(x, y)
    loss_col, dw_col, db_col = neuron.backward(x, y.reshape(5, 1))
    assert dw_vec.shape == (3, 1) and db_vec.shape == (1,)
    np.testing.assert_array_equal(dw_vec, dw_col)
    assert loss_vec == loss_col
    # The article's bug: (5, 1) - (5,) silently broadcasts to (5, 5).
    a = neuron.forward(x)
    assert (a - y).shape == (5, 5)
    np.testing.assert_allclose(dw_vec, x.T @ (a - y.reshape(5, 1)) / 5)  # dz = a - y, exact for BCE
    with pytest.raises(DataError, match=r"targets have shape \(5, 2\) but the network outputs \(5, 1\)"):
        neuron.backward(x, np.zeros((5, 2)))


@pytest.mark.parametrize("loss", ["binary_crossentropy", "mse"])
def test_neuron_gradient_is_exact(loss):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(6, 4)), rng.integers(0, 2, size=6)
    neuron = SigmoidNeuron(4, init="xavier", seed=4, loss=loss)
    _, dw, db = neuron.backward(x, y)
    value = lambda: neuron.backward(x, y)[0]  # noqa: E731
    assert gradcheck.relative_error(dw, gradcheck.numerical_gradient(value, neuron.w)) < 1e-8
    assert gradcheck.relative_error(db, gradcheck.numerical_gradient(value, neuron.b)) < 1e-8
    a = neuron.forward(x)
    a_minus_y = x.T @ (a - y.reshape(-1, 1)) / len(x)
    # a - y is the BCE gradient and *not* the MSE one (which carries 2 a (1 - a)).
    assert np.allclose(dw, a_minus_y) == (loss == "binary_crossentropy")


OUTPUTS = [  # (output activation, loss, number of outputs)
    ("softmax", "categorical_crossentropy", 3),  # fused: dz = (softmax - y) / n
    ("sigmoid", "binary_crossentropy", 1),        # fused: dz = (a - y) / n
    ("sigmoid", "binary_crossentropy", 2),        # fused, several independent outputs
    ("linear", "mse", 2),
    ("sigmoid", "mse", 1),
    ("tanh", "mse", 2),
    ("softmax", "mse", 3),                        # general path through the softmax Jacobian
]


def _targets(loss, outputs, n, rng):
    if loss == "categorical_crossentropy":
        return rng.integers(0, outputs, size=n)
    if loss == "binary_crossentropy":
        return rng.integers(0, 2, size=(n, outputs)) if outputs > 1 else rng.integers(0, 2, size=n)
    return rng.normal(size=(n, outputs)) if outputs > 1 else rng.normal(size=n)


@pytest.mark.parametrize("hidden", activations.HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("output, loss, outputs", OUTPUTS)
def test_backprop_matches_central_differences_for_every_layer(hidden, output, loss, outputs):
    rng = np.random.default_rng(5)
    net = MLP.create((4, 6, 5, outputs), hidden=hidden, output=output, loss=loss, init="xavier", seed=6)
    net.biases[0] += 0.1  # non-zero biases, so their gradients are checked on a general point too
    x, y = rng.normal(size=(7, 4)), _targets(loss, outputs, 7, rng)
    errors = gradcheck.check_network(net, x, y)
    assert set(errors) == {f"{layer}/{part}" for layer in ("dense_1", "dense_2", "logits") for part in ("kernel", "bias")}
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("name", ["mse", "binary_crossentropy", "categorical_crossentropy"])
def test_loss_gradients_with_respect_to_outputs(name):
    rng = np.random.default_rng(7)
    z = rng.normal(size=(5, 3))
    a = activations.softmax(z) if name == "categorical_crossentropy" else activations.sigmoid(z)
    y = np.eye(3)[rng.integers(0, 3, size=5)] if name != "mse" else rng.normal(size=(5, 3))
    loss = losses.get(name)
    numeric = gradcheck.numerical_gradient(lambda: loss.value(a, y), a)
    assert gradcheck.relative_error(loss.grad(a, y), numeric) < 1e-7
    if loss.natural:  # the from-z forms compute the same loss as the probability forms
        assert loss.value_from_z(z, y) == pytest.approx(loss.value(a, y), rel=1e-12)


@pytest.mark.parametrize("name", list(activations.ACTIVATIONS))
def test_activation_backward_is_the_chain_rule(name):
    rng = np.random.default_rng(8)
    z, g = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    act = activations.get(name)
    numeric = gradcheck.numerical_gradient(lambda: float(np.sum(g * act.forward(z))), z)
    assert gradcheck.relative_error(act.backward(z, act.forward(z), g), numeric) < 1e-8


def test_float32_parameters_are_refused_by_the_checker():
    with pytest.raises(TypeError, match="float64"):
        gradcheck.numerical_gradient(lambda: 0.0, np.zeros(3, dtype=np.float32))


def test_initialisations_have_their_documented_spread():
    rng = np.random.default_rng(9)
    inits = (("small", 0.01), ("xavier", np.sqrt(2 / 600)), ("xavier_sigmoid", 4 * np.sqrt(2 / 600)),
             ("he", np.sqrt(2 / 400)))
    for init, expected in inits:
        w = initializers.weights(init, 400, 200, rng)
        assert w.shape == (200, 400)  # (units, fan_in): row j is unit j
        assert w.std() == pytest.approx(expected, rel=0.02), init


def test_batches_cover_every_example_once_and_depend_only_on_seed_and_epoch():
    first = batch_order(50, 16, seed=1, epoch=0)
    assert [len(b) for b in first] == [16, 16, 16, 2]
    assert sorted(np.concatenate(first)) == list(range(50))
    assert all(np.array_equal(a, b) for a, b in zip(first, batch_order(50, 16, seed=1, epoch=0)))
    assert not np.array_equal(first[0], batch_order(50, 16, seed=1, epoch=1)[0])


@pytest.mark.parametrize("optimizer", [SGD(0.1), SGD(0.05, momentum=0.9), Adam(0.01)])
def test_minibatch_training_learns_separable_classes(optimizer):
    x, y = blobs()
    net = MLP.create((4, 16, 3), hidden="relu", init="he", seed=0)
    history = fit(net, optimizer, x, y, epochs=15, batch_size=16, seed=0, validation=blobs(seed=1))
    assert history[-1]["loss"] < 0.3 * history[0]["loss"]
    assert history[-1]["val_accuracy"] > 0.95


def test_adam_first_step_is_a_sign_step_with_keras_epsilon_placement():
    # Step 1 with bias correction: m_hat = g, sqrt(v_hat) = |g|, so the step is lr * g / (|g| + eps')
    # where Keras's epsilon (added to the uncorrected sqrt(v)) acts as eps' = eps / sqrt(1 - beta_2).
    params, grads = [np.zeros(4)], [np.array([3.0, -0.2, 1e-3, -50.0])]
    Adam(0.01).step(params, grads)
    g = grads[0]
    np.testing.assert_allclose(params[0], -0.01 * g / (np.abs(g) + 1e-7 / np.sqrt(1 - 0.999)), rtol=1e-12)
    assert params[0][2] == pytest.approx(-0.01 * 0.99685, rel=1e-4)  # small |g|: epsilon shows


@pytest.mark.parametrize("x, y, message", [
    (np.zeros((10, 5)), np.zeros(10, int), "inputs have 5 features per example but the network expects 4"),
    (np.zeros((10, 4)), np.zeros(9, int), "inputs hold 10 examples but targets hold 9"),
    (np.zeros((10, 4)), np.array([0] * 9 + [3]), "label 3 of example 9 is outside 0..2"),
    (np.zeros((10, 4)), np.array([0] * 9 + [-1]), "label -1 of example 9 is outside 0..2"),
    (np.where(np.arange(40).reshape(10, 4) == 13, np.nan, 0.0), np.zeros(10, int),
     "inputs hold NaN or infinite values (first in example 3)"),
    (np.zeros(4), np.zeros(1, int), "inputs must be 2-D (examples, features), got shape (4,)"),
    (np.zeros((10, 4)), np.full(10, 0.5), "class labels must be whole numbers"),
])
def test_bad_input_fails_with_one_line_before_any_step(x, y, message):
    net = MLP.create((4, 5, 3), seed=0)
    before = [p.copy() for p in net.params()]
    with pytest.raises(DataError) as info:
        fit(net, Adam(), x, y, epochs=1)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert isinstance(info.value, NNKerasError)
    assert all(np.array_equal(a, b) for a, b in zip(before, net.params()))


def test_bad_validation_data_fails_before_the_first_step():
    x, y = blobs()
    net = MLP.create((4, 5, 3), seed=0)
    before = net.weights[0].copy()
    with pytest.raises(DataError, match="label 7"):
        fit(net, Adam(), x, y, epochs=1, validation=(x[:5], np.array([0, 1, 7, 0, 1])))
    np.testing.assert_array_equal(before, net.weights[0])


def test_evaluate_reports_the_mean_loss_over_all_examples():
    x, y = blobs(n=50)
    net = MLP.create((4, 8, 3), seed=1)
    xs, t = net.check(x, y)
    whole = evaluate(net, xs, t, batch_size=1000)
    sliced = evaluate(net, xs, t, batch_size=7)  # uneven slices must weigh by their size
    assert sliced["loss"] == pytest.approx(whole["loss"], rel=1e-12)
    assert sliced["accuracy"] == whole["accuracy"]
