"""Loaders of the model-zoo datasets, on files written by the test."""

import numpy as np
import pytest

from nnkeras import data
from nnkeras.config import DataConfig
from nnkeras.errors import DataError


def test_cifar10_from_python_batches(cifar_dir):
    ds = data.load(DataConfig(name="cifar10", dir=str(cifar_dir.parent), val_fraction=0.2), seed=0)
    assert ds.sizes() == {"n_train": 80, "n_val": 20, "n_test": 20}
    assert ds.x_train.shape[1:] == (32, 32, 3) and ds.spec.class_names[0] == "airplane"


def test_cifar10_missing_batch_is_named(cifar_dir):
    (cifar_dir / "data_batch_3").unlink()
    with pytest.raises(DataError, match="missing data_batch_3"):
        data.load(DataConfig(name="cifar10", dir=str(cifar_dir)), seed=0)


def test_cifar10_corrupt_batch_is_named(cifar_dir):
    (cifar_dir / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="test_batch: not a CIFAR-10 python batch"):
        data.load(DataConfig(name="cifar10", dir=str(cifar_dir)), seed=0)


def test_imdb_npz_is_encoded_like_keras(imdb_dir):
    ds = data.load(DataConfig(name="imdb", dir=str(imdb_dir), vocab_size=50, seq_len=16), seed=0)
    assert ds.x_train.shape == (270, 16) and ds.x_train.dtype == np.int32
    assert ds.spec.input_dtype == "int32" and ds.spec.vocab_size == 50
    assert ds.x_train.max() < 50  # ranks past the vocabulary became the out-of-vocabulary id 2
    raw = np.load(imdb_dir / "imdb.npz", allow_pickle=True)
    first = [1] + [w + 3 if w + 3 < 50 else 2 for w in raw["x_test"][0]]
    expected = np.zeros(16, dtype=np.int32)
    expected[-min(16, len(first)):] = first[-16:]
    np.testing.assert_array_equal(ds.x_test[0], expected)  # start token, shifted ranks, padded in front


def test_long_range_label_is_the_first_token():
    ds = data.load(DataConfig(name="long_range", seq_len=30, num_classes=5, size=200), seed=0)
    assert ds.x_train.shape == (180, 30)
    np.testing.assert_array_equal(ds.x_train[:, 0], ds.y_train + 1)
    later = ds.x_train[:, 1:]
    assert (later >= 1).all() and (later <= 5).any()  # no padding; label ids reappear as distractors


def test_titanic_kaggle_csv(titanic_dir):
    ds = data.load(DataConfig(name="titanic", dir=str(titanic_dir)), seed=0)
    assert set(ds.x_train) == {"Pclass", "Sex", "Embarked", "Age", "SibSp", "Parch", "Fare"}
    assert ds.sizes()["n_test"] == 40
    assert ds.spec.features["categorical"]["Pclass"] == ["1", "2", "3"]
    assert np.isnan(ds.x_train["Age"]).any()  # missing ages reach the model, which fills them


def test_titanic_csv_without_a_column_is_rejected(titanic_dir):
    import pandas as pd

    csv = titanic_dir / "train.csv"
    pd.read_csv(csv).drop(columns=["Sex", "Parch"]).to_csv(csv, index=False)
    with pytest.raises(DataError, match="train.csv: missing columns Sex, Parch; expected Kaggle's Titanic"):
        data.load(DataConfig(name="titanic", dir=str(titanic_dir)), seed=0)


def test_titanic_offline_uses_the_bundled_passengers():
    ds = data.load(DataConfig(name="titanic"), seed=0)
    assert sum(ds.sizes().values()) == 1309
    assert 0.3 < np.mean(np.concatenate([ds.y_train, ds.y_val, ds.y_test])) < 0.45  # 500 of 1,309 survived


def _write_pictures(folder, classes=("cat", "dog"), per_class=5):
    from PIL import Image

    for i, name in enumerate(classes):
        (folder / name).mkdir(parents=True)
        for j in range(per_class):
            Image.new("RGB", (40, 30), (200 * i, 50, j * 10)).save(folder / name / f"{j}.png")


def test_image_folder_reads_and_resizes_your_pictures(tmp_path):
    _write_pictures(tmp_path / "pics")
    ds = data.load(DataConfig(name="image_folder", dir=str(tmp_path / "pics"), shape=(16, 16, 3)), seed=0)
    assert ds.spec.class_names == ("cat", "dog")
    assert ds.x_test.shape == (2, 16, 16, 3)
    assert sum(ds.sizes().values()) == 10


@pytest.mark.parametrize("setup, message", [
    ("one_class", "found 1 class sub-folders, need at least 2"),
    ("broken_image", "0.png: not a readable image"),
    ("empty_class", "no images"),
])
def test_image_folder_problems_are_named(tmp_path, setup, message):
    folder = tmp_path / "pics"
    if setup == "one_class":
        _write_pictures(folder, classes=("cat",))
    elif setup == "broken_image":
        _write_pictures(folder)
        (folder / "dog" / "0.png").write_bytes(b"garbage")
    else:
        _write_pictures(folder)
        (folder / "bird").mkdir()
    with pytest.raises(DataError, match=message):
        data.load(DataConfig(name="image_folder", dir=str(folder), shape=(8, 8, 1)), seed=0)


def test_holdout_classes_are_kept_out_and_the_rest_renumbered():
    ds = data.load(DataConfig(name="digits", holdout_classes=(7, 8, 9)), seed=0)
    assert ds.spec.num_classes == 7 and ds.spec.class_names == tuple("0123456")
    assert ds.y_train.max() == 6 and set(np.unique(ds.y_holdout)) == {7, 8, 9}
    assert ds.sizes()["n_holdout"] == len(ds.y_holdout) > 400


def test_adding_problem_labels_follow_the_two_marked_values():
    ds = data.load(DataConfig(name="adding", seq_len=40, size=300), seed=0)
    assert ds.x_train.shape == (270, 40, 2) and ds.spec.input_dtype == "float32"
    markers = ds.x_train[..., 1] > 0
    assert (markers.sum(axis=1) == 2).all() and markers[:, :4].any(axis=1).all()  # one marker in the first tenth
    sums = (ds.x_train[..., 0] * markers).sum(axis=1)
    np.testing.assert_array_equal(ds.y_train, (sums > 1.0).astype(int))
    assert 0.35 < ds.y_train.mean() < 0.65


def test_raw_rows_predict_through_a_reloaded_wide_deep_model(tmp_path):
    import keras
    import pandas as pd

    from nnkeras import models
    from nnkeras.data.tabular import rows_to_inputs

    ds = data.load(DataConfig(name="titanic"), seed=0)
    model = models.build("wide_deep", ds.spec, {"hidden": (8,)})
    model.save(tmp_path / "model.keras")
    model = keras.models.load_model(tmp_path / "model.keras")
    rows = [{"Pclass": 1, "Sex": "female", "Age": 29, "SibSp": 0, "Parch": 0},
            {"Pclass": "3", "Sex": None, "Age": None, "SibSp": 1, "Parch": 2},      # missing values
            {"Pclass": 9, "Sex": "unknown", "Age": float("nan"), "SibSp": 0, "Parch": 0}]  # unseen category
    as_dicts = rows_to_inputs(rows, ds.spec.features)
    as_frame = rows_to_inputs(pd.DataFrame(rows), ds.spec.features)
    assert as_dicts["Pclass"].ravel().tolist() == ["1", "3", "9"] and np.isnan(as_dicts["Age"][1:]).all()
    import tensorflow as tf

    # Keras's predict() refuses string arrays; calling the model on tensors takes them.
    logits = model({k: tf.constant(v) for k, v in as_dicts.items()}).numpy()
    assert logits.shape == (3, 2) and np.isfinite(logits).all()
    np.testing.assert_array_equal(as_frame["Sex"], as_dicts["Sex"])
    with pytest.raises(DataError, match="rows lack columns Age"):
        rows_to_inputs([{"Pclass": 1, "Sex": "male", "SibSp": 0, "Parch": 0}], ds.spec.features)
    with pytest.raises(DataError, match=r"column Age: 1 value\(s\) are not numbers \(first: 'n/a'\)"):
        rows_to_inputs([{**rows[0], "Age": "n/a"}], ds.spec.features)  # a typo is not a missing value
