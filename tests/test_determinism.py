"""Same seed, same run: identical metrics and bit-identical weights (docs/determinism.md).

Each case trains through the real trainer in this process: twice with one
seed, which must agree exactly (every weight array of model.keras,
history.csv, the test scores), once with another seed, which must not (so
the comparison can fail), and once stopped after epoch 1 and resumed, which
must agree with the uninterrupted run exactly. The MLP takes the fast path with dropout (the
seeded RNG matters); the CNN takes plain model.fit with batch norm and
dropout (convolutions are where op determinism picks different kernels).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from nnkeras import models, runs
from nnkeras.config import DataConfig, Experiment, ModelConfig, TrainConfig

CASES = {
    "mlp_fast_path": (ModelConfig(name="mlp", params={"hidden": (32,), "dropout": 0.2}), {}),
    "convnet_plain_fit": (ModelConfig(name="convnet", params={"filters": (4, 8), "dense": 16}),
                          {"fast_path": False}),
}
TIMING = ("train_seconds", "finished_at")  # wall-clock facts, not results


def experiment(case: str, seed: int) -> Experiment:
    model, train = CASES[case]
    return Experiment(name=case, data=DataConfig(name="digits", val_fraction=0.1, limit=600), model=model,
                      train=TrainConfig(epochs=2, batch_size=32, histogram_freq=0, **train), seed=seed)


def outcome(run_dir) -> tuple[dict, pd.DataFrame, list[np.ndarray]]:
    metrics = json.loads((run_dir / runs.METRICS).read_text())
    history = pd.read_csv(run_dir / runs.HISTORY).drop(columns=["seconds"])
    weights = models.load_model(run_dir / runs.MODEL).get_weights()
    return {k: v for k, v in metrics.items() if k not in TIMING}, history, weights


def assert_identical(got, want) -> None:
    metrics, history, weights = want
    assert got[0] == metrics  # test accuracy and loss, best epoch, best val loss: exactly
    pd.testing.assert_frame_equal(got[1], history, check_exact=True)
    assert len(got[2]) == len(weights)
    for mine, theirs in zip(got[2], weights):
        assert np.array_equal(mine, theirs)  # bit for bit, not within a tolerance


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The seed-7 run of each case, trained once for all the tests below."""
    from nnkeras.training import train

    root = tmp_path_factory.mktemp("reference")
    return {case: outcome(train(experiment(case, 7), root / case).run_dir) for case in sorted(CASES)}


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_seed_gives_bit_identical_runs_and_another_seed_does_not(case, reference, tmp_path):
    from nnkeras.training import train

    assert_identical(outcome(train(experiment(case, 7), tmp_path / "again").run_dir), reference[case])

    other = outcome(train(experiment(case, 8), tmp_path / "other").run_dir)
    assert not all(np.array_equal(a, b) for a, b in zip(other[2], reference[case][2]))
    assert other[1]["loss"].tolist() != reference[case][1]["loss"].tolist()


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_resumed_run_is_bit_identical_to_an_uninterrupted_one(case, reference, tmp_path):
    """Dropout draws its masks from seed generators that model.keras does not keep;
    RunCheckpoint saves their state with each checkpoint (without it: 5e-3 apart)."""
    from nnkeras.training import train

    full, run_dir = experiment(case, 7), tmp_path / "run"
    train(dataclasses.replace(full, train=dataclasses.replace(full.train, epochs=1)), run_dir)
    (run_dir / runs.METRICS).unlink()  # as if killed after epoch 1's checkpoint
    assert_identical(outcome(train(full, run_dir, resume=True).run_dir), reference[case])
