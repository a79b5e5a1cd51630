"""train.schedule: a constant rate, or linear warm-up then cosine decay, logged per epoch in TensorBoard."""

from __future__ import annotations

import math

import pytest

from nnkeras import runs
from nnkeras.config import TrainConfig, apply_overrides
from nnkeras.errors import ConfigError
from test_training import _tags, smoke_experiment


def textbook_rate(step: int, peak: float, warmup: int, total: int) -> float:
    """Written from the definition: linear 0 -> peak over `warmup` steps, then half a cosine down to 0."""
    if step < warmup:
        return peak * step / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))


def test_warmup_cosine_follows_its_definition_step_by_step():
    from nnkeras.run_steps import learning_rate

    cfg = TrainConfig(epochs=4, learning_rate=0.01, schedule="warmup_cosine", warmup_fraction=0.25)
    schedule = learning_rate(cfg, steps_per_epoch=10)  # 40 steps, 10 of warm-up
    for step in (0, 3, 10, 17, 25, 39, 40):
        assert float(schedule(step)) == pytest.approx(textbook_rate(step, 0.01, 10, 40), abs=1e-8)
    assert learning_rate(TrainConfig(learning_rate=0.01), 10) == 0.01


def test_a_run_logs_the_scheduled_rate_every_epoch(tmp_path):
    import tensorflow as tf

    from nnkeras.training import train

    experiment = smoke_experiment(schedule="warmup_cosine", warmup_fraction=0.5, epochs=4, learning_rate=0.01)
    run_dir = train(experiment, tmp_path / "run").run_dir
    logged = _tags(run_dir / runs.TENSORBOARD / "train").Tensors("epoch_learning_rate")
    steps = math.ceil(320 / 32)  # 400 examples, 80 held out for validation
    expected = [textbook_rate((epoch + 1) * steps, 0.01, 2 * steps, 4 * steps) for epoch in range(4)]
    got = [float(tf.make_ndarray(event.tensor_proto)) for event in logged]
    assert [e.step for e in logged] == [0, 1, 2, 3]
    assert got == pytest.approx(expected, abs=1e-7)  # up at the end of warm-up, down to 0 at the last step


@pytest.mark.parametrize("item, message", [
    ("train.schedule=linear", "train.schedule must be one of constant, warmup_cosine (got 'linear')"),
    ("train.warmup_fraction=1.5", "train.warmup_fraction must be in [0.0, 0.9]"),
])
def test_a_bad_schedule_is_one_line(item, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("]", r"\]")) as caught:
        apply_overrides(smoke_experiment(), [item])
    assert "\n" not in str(caught.value)


def test_the_numpy_engine_refuses_a_schedule_before_writing_anything(tmp_path):
    from nnkeras.config import DataConfig, Experiment, ModelConfig
    from nnkeras.training import train

    experiment = Experiment(name="scratch", data=DataConfig(name="synthetic", shape=(4,), num_classes=2, size=50),
                            model=ModelConfig(name="scratch_mlp", params={"hidden": (4,)}),
                            train=TrainConfig(schedule="warmup_cosine"))
    with pytest.raises(ConfigError, match="train.schedule=warmup_cosine is for the Keras engine"):
        train(experiment, tmp_path / "run")
    assert not (tmp_path / "run").exists()
