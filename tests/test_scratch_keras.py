"""The scratch MLP against Keras: same weights, same batches, same losses; the twin predicts the same."""

import numpy as np
import pytest

from nnkeras.data import DataSpec
from nnkeras.scratch import MLP, SGD, Adam, initializers
from nnkeras.scratch.fit import batch_order
from nnkeras.models.scratch_twin import build_scratch_mlp, dense_layers
from nnkeras.scratch.twin import copy_to_keras

SPEC = DataSpec("tiny", (6,), 3, ("a", "b", "c"))


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6)), rng.integers(0, 3, size=n)


def twin_of(net, keras, optimizer):
    model = build_scratch_mlp(SPEC, hidden=net.sizes[1:-1], activation=net.activations[0].name)
    copy_to_keras(net, model)
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


# Keras's TensorFlow backend casts Python-float hyperparameters (Adam's beta_1, beta_2, SGD's
# momentum) through a float32 tensor even for float64 variables: 0.999 becomes 0.99900001287,
# which moves Adam's bias correction by ~6e-6 relative and the losses by ~1e-6 within 20 steps.
# Passed as NumPy float64 they stay exact, and then the two implementations agree to ~1e-15.
F64 = np.float64


@pytest.mark.parametrize("activation, scratch_opt, keras_opt", [
    ("relu", lambda: SGD(0.1), lambda k: k.optimizers.SGD(0.1)),
    ("sigmoid", lambda: SGD(0.05, momentum=0.9), lambda k: k.optimizers.SGD(0.05, momentum=F64(0.9))),
    ("tanh", lambda: Adam(0.01), lambda k: k.optimizers.Adam(0.01, beta_1=F64(0.9), beta_2=F64(0.999))),
    ("relu", lambda: Adam(0.003), lambda k: k.optimizers.Adam(0.003, beta_1=F64(0.9), beta_2=F64(0.999))),
])
def test_twenty_steps_give_the_same_losses_as_keras(float64_keras, activation, scratch_opt, keras_opt):
    keras = float64_keras
    x, y = data()
    net = MLP.create((6, 8, 5, 3), hidden=activation, init="xavier", seed=1)
    model = twin_of(net, keras, keras_opt(keras))
    assert model.get_layer("dense_1").kernel.dtype == "float64"
    optimizer = scratch_opt()
    xs, t = net.check(x, y)
    batches = [b for epoch in range(5) for b in batch_order(len(x), 16, seed=3, epoch=epoch)][:20]
    assert len(batches) == 20
    for step, index in enumerate(batches, start=1):
        loss, grads, _ = net.gradients(xs[index], t[index])
        optimizer.step(net.params(), grads)
        keras_loss = model.train_on_batch(x[index], y[index], return_dict=True)["loss"]
        assert keras_loss == pytest.approx(loss, rel=1e-9), f"batch loss before step {step}"
        after = model.test_on_batch(x, y, return_dict=True)["loss"]
        assert after == pytest.approx(net.loss_value(*net.forward(xs), t), rel=1e-9), f"loss after step {step}"
    for layer, w in zip(dense_layers(model), net.weights):
        np.testing.assert_allclose(np.asarray(layer.kernel), w.T, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("keras_adam, smallest", [
    (lambda k: k.optimizers.Adam(0.01, beta_1=F64(0.9), beta_2=F64(0.999), epsilon=1e-3), 1e-4),
    (lambda k: k.optimizers.Adam(0.01), 1e-8),  # Python-float betas: rounded to float32 (see F64)
])
def test_the_comparison_notices_a_different_update(float64_keras, keras_adam, smallest):
    """Controls: a different epsilon, or float32-rounded betas, part the losses within 20 steps."""
    keras = float64_keras
    x, y = data()
    net = MLP.create((6, 8, 3), hidden="relu", seed=1)
    model = twin_of(net, keras, keras_adam(keras))
    optimizer, (xs, t) = Adam(0.01), net.check(x, y)
    gaps = []
    for index in [b for epoch in range(5) for b in batch_order(len(x), 16, seed=3, epoch=epoch)][:20]:
        optimizer.step(net.params(), net.gradients(xs[index], t[index])[1])
        model.train_on_batch(x[index], y[index])
        scratch_loss = net.loss_value(*net.forward(xs), t)
        gaps.append(abs(model.test_on_batch(x, y) - scratch_loss) / scratch_loss)
    assert max(gaps) > smallest


def test_twin_predicts_exactly_like_the_scratch_net(float64_keras):
    x, _ = data(n=32, seed=5)
    net = MLP.create((6, 7, 4, 3), hidden="tanh", init="he", seed=2)
    model = build_scratch_mlp(SPEC, hidden=(7, 4), activation="tanh")
    copy_to_keras(net, model)
    np.testing.assert_allclose(model.predict(x, verbose=0), net.logits(x), rtol=1e-12, atol=1e-13)
    probabilities = float64_keras.ops.softmax(model(x), axis=-1)
    np.testing.assert_allclose(np.asarray(probabilities), net.predict(x), rtol=1e-12)


def test_float32_twin_agrees_to_float32_precision():
    import keras

    keras.backend.clear_session()
    x, _ = data(n=200, seed=6)
    net = MLP.create((6, 30, 3), hidden="relu", seed=3)
    model = build_scratch_mlp(SPEC, hidden=(30,))
    copy_to_keras(net, model)
    logits = model.predict(x.astype("float32"), verbose=0)
    np.testing.assert_allclose(logits, net.logits(x), rtol=1e-4, atol=1e-5)
    assert np.array_equal(logits.argmax(1), net.logits(x).argmax(1))


@pytest.mark.parametrize("init", initializers.INITS)
def test_keras_initializers_draw_from_the_scratch_distributions(init):
    keras_draw = np.asarray(initializers.keras_initializer(init)((400, 200)))  # Keras: (fan_in, units)
    scratch_draw = initializers.weights(init, 400, 200, np.random.default_rng(0))
    assert keras_draw.std() == pytest.approx(scratch_draw.std(), rel=0.03)
    # A uniform draw's largest |w| is its limit; a normal draw's largest is a random extreme (it moved by
    # 13% between two unseeded Keras draws), so a normal one is compared by its 99th percentile (~0.5% s.e.).
    spread = (lambda w: np.quantile(np.abs(w), 0.99)) if init == "small" else (lambda w: np.abs(w).max())
    assert spread(keras_draw) == pytest.approx(spread(scratch_draw), rel=0.03 if init == "small" else 0.01)


def test_copy_refuses_a_different_architecture(float64_keras):
    net = MLP.create((6, 8, 3), seed=0)
    with pytest.raises(ValueError, match="do not match"):
        copy_to_keras(net, build_scratch_mlp(SPEC, hidden=(8, 8)))
