"""The vanishing_gradients group at smoke size, and the GradientNorms callback of both engines."""

import numpy as np
import pandas as pd
import pytest

from nnkeras import runs
from nnkeras.callbacks import GradientNorms

LAYERS = [f"dense_{i}" for i in range(1, 11)] + ["logits"]


@pytest.fixture(scope="module")
def group(tmp_path_factory):
    """Every variant of experiments/vanishing_gradients.py, on tiny synthetic data, two epochs."""
    from nnkeras import launch, models

    tiny = ["data.name=synthetic", "data.shape=8,8,1", "data.num_classes=3", "data.size=300",
            "model.hidden=" + ",".join(["16"] * 10), "train.histogram_freq=0"]
    plan = launch.prepare(launch.load_plan("vanishing_gradients"), tiny, shrink=True)
    group_dir, results = launch.run_plan(plan, tmp_path_factory.mktemp("runs"), verbose=0)
    return group_dir, {r.run_dir.name: r for r in results}


def _first_epoch_norms(run_dir):
    return pd.read_csv(run_dir / GradientNorms.CSV).set_index("epoch").loc[1]


def test_every_variant_trains_with_per_layer_gradient_norms(group):
    group_dir, results = group
    engines, variants = ("numpy", "keras"), ("sigmoid_small", "sigmoid_xavier", "sigmoid_xavier_x4", "relu_he")
    assert set(results) == {f"{e}_{v}" for e in engines for v in variants}
    for name, result in results.items():
        table = pd.read_csv(result.run_dir / GradientNorms.CSV)
        assert list(table.columns) == ["epoch", *LAYERS], name
        assert table["epoch"].tolist() == [1, 2] and result.metrics["epochs_run"] == 2
        assert (result.run_dir / GradientNorms.PLOT).read_bytes()[:4] == b"\x89PNG"
    assert (group_dir / "summary.md").is_file() and (group_dir / "summary.png").is_file()


def test_gradient_norms_are_in_tensorboard_as_scalars_and_histograms(group):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    for name in ("numpy_sigmoid_small", "keras_sigmoid_small"):
        run_dir = group[1][name].run_dir
        events = EventAccumulator(str(run_dir / runs.TENSORBOARD / "train"), size_guidance={"tensors": 0})
        events.Reload()
        tags = set(events.Tags()["tensors"])
        assert {f"gradient_norm/{layer}" for layer in LAYERS} <= tags
        assert {f"gradient/{layer}" for layer in LAYERS} <= tags
        logged = [float(tensor_util.make_ndarray(e.tensor_proto)) for e in events.Tensors("gradient_norm/dense_1")]
        expected = pd.read_csv(run_dir / GradientNorms.CSV)["dense_1"].tolist()
        np.testing.assert_allclose(logged, expected, rtol=1e-6)


@pytest.mark.parametrize("engine", ["numpy", "keras"])
def test_deep_sigmoid_gradients_vanish_and_relu_or_scaled_xavier_keep_them(group, engine):
    """dL/dW of the first layer against the last, at the end of epoch 1."""
    ratio = {variant: (lambda n: n["dense_1"] / n["logits"])(_first_epoch_norms(group[1][f"{engine}_{variant}"].run_dir))
             for variant in ("sigmoid_small", "sigmoid_xavier", "sigmoid_xavier_x4", "relu_he")}
    assert ratio["sigmoid_small"] < 1e-10      # ~0.01 * 16 * 1/4 per layer: the signal dies both ways
    assert ratio["sigmoid_small"] < 1e-4 * ratio["sigmoid_xavier"] < ratio["sigmoid_xavier_x4"]
    assert ratio["sigmoid_xavier"] < 1e-2 * ratio["relu_he"]
    assert ratio["relu_he"] > 1e-2 and ratio["sigmoid_xavier_x4"] > 1e-3


def test_keras_callback_and_numpy_backprop_measure_the_same_norms(tmp_path):
    import keras

    from nnkeras.data import DataSpec
    from nnkeras.scratch import MLP
    from nnkeras.scratch.run import ScratchGradientNorms
    from nnkeras.models.scratch_twin import build_scratch_mlp
    from nnkeras.scratch.twin import copy_to_keras

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 5)), rng.integers(0, 4, size=64)
    net = MLP.create((5, 7, 6, 4), hidden="sigmoid", init="xavier", seed=1)
    model = build_scratch_mlp(DataSpec("t", (5,), 4, tuple("abcd")), hidden=(7, 6), activation="sigmoid")
    copy_to_keras(net, model)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    keras_side = GradientNorms(tmp_path, x.astype("float32"), y)
    keras_side.set_model(model)
    numpy_side = ScratchGradientNorms(tmp_path, net, *net.check(x, y))
    by_keras, by_numpy = keras_side.kernel_gradients(), numpy_side.kernel_gradients()
    assert list(by_keras) == list(by_numpy) == ["dense_1", "dense_2", "logits"]
    for name in by_keras:
        np.testing.assert_allclose(by_keras[name], by_numpy[name].T, rtol=1e-4, atol=1e-7)
