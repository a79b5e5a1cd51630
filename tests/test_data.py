import gzip

import numpy as np
import pytest

from conftest import IDX_NAMES, idx_bytes, learnable_digits, write_idx
from nnkeras import data
from nnkeras.config import DataConfig
from nnkeras.data.idx import read_idx
from nnkeras.errors import ConfigError, DataError


def test_idx_round_trip_is_exact(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint32).reshape(2, 28, 28) % 256
    labels = np.array([7, 3], dtype=np.uint8)
    write_idx(tmp_path / "i.gz", images)
    write_idx(tmp_path / "l.gz", labels)
    np.testing.assert_array_equal(read_idx(tmp_path / "i.gz", ndim=3), images)
    np.testing.assert_array_equal(read_idx(tmp_path / "l.gz", ndim=1), labels)


def test_mnist_from_idx_folder_reads_every_image(mnist_idx_dir):
    ds = data.load(DataConfig(name="mnist", dir=str(mnist_idx_dir), val_fraction=0.1), seed=0)
    assert ds.sizes() == {"n_train": 540, "n_val": 60, "n_test": 200}
    assert ds.x_train.shape == (540, 28, 28, 1) and ds.x_train.dtype == np.float32
    expected_images, expected_labels = learnable_digits(200, seed=2)
    np.testing.assert_array_equal(ds.y_test, expected_labels)
    # Normalised exactly as the tutorial says: (x / 255 - 0.1307) / 0.3081.
    np.testing.assert_allclose(ds.x_test[..., 0], (expected_images / 255 - 0.1307) / 0.3081, rtol=1e-5, atol=1e-6)
    assert ds.spec.mean == 0.1307 and ds.spec.std == 0.3081


def test_mnist_from_keras_npz(tmp_path):
    images, labels = learnable_digits(50, seed=3)
    np.savez(tmp_path / "mnist.npz", x_train=images, y_train=labels, x_test=images[:10], y_test=labels[:10])
    ds = data.load(DataConfig(name="mnist", dir=str(tmp_path), val_fraction=0.2), seed=0)
    assert ds.sizes() == {"n_train": 40, "n_val": 10, "n_test": 10}


def test_npz_with_missing_arrays_names_the_file(tmp_path):
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((2, 28, 28)))
    with pytest.raises(DataError, match=r"mnist.npz: missing arrays y_train, x_test, y_test"):
        data.load(DataConfig(name="mnist", dir=str(tmp_path)), seed=0)


def _break(folder, name, content: bytes, compress=True):
    path = folder / name
    path.write_bytes(gzip.compress(content) if compress else content)
    return path


@pytest.mark.parametrize("corruption, message", [
    ("missing", "missing train-labels-idx1-ubyte.gz"),
    ("truncated_gzip", "train-images-idx3-ubyte.gz: not a complete gzip file"),
    ("truncated_data", "train-images-idx3-ubyte.gz: header announces 470400 bytes"),
    ("wrong_magic", "train-images-idx3-ubyte.gz: wrong magic number 0x00000801, expected 0x00000803"),
    ("count_mismatch", "600 images but"),
    ("label_out_of_range", "label 12 is outside 0..9"),
])
def test_corrupt_idx_files_are_rejected_naming_the_file(mnist_idx_dir, corruption, message):
    images_name, labels_name = IDX_NAMES["train"]
    images, labels = learnable_digits(600, seed=1)
    if corruption == "missing":
        (mnist_idx_dir / labels_name).unlink()
    elif corruption == "truncated_gzip":
        whole = (mnist_idx_dir / images_name).read_bytes()
        (mnist_idx_dir / images_name).write_bytes(whole[: len(whole) // 2])
    elif corruption == "truncated_data":
        _break(mnist_idx_dir, images_name, idx_bytes(images)[:-100])
    elif corruption == "wrong_magic":
        _break(mnist_idx_dir, images_name, idx_bytes(labels))
    elif corruption == "count_mismatch":
        _break(mnist_idx_dir, labels_name, idx_bytes(labels[:-1]))
    elif corruption == "label_out_of_range":
        labels[5] = 12
        _break(mnist_idx_dir, labels_name, idx_bytes(labels))
    with pytest.raises(DataError) as info:
        data.load(DataConfig(name="mnist", dir=str(mnist_idx_dir)), seed=0)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_offline_download_failure_says_how_to_supply_files(monkeypatch):
    import keras

    def no_network(*args, **kwargs):
        raise Exception("URL fetch failure on https://example/mnist.npz: None -- [Errno -2] Name or service not known")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", no_network)
    with pytest.raises(DataError) as info:
        data.load(DataConfig(name="mnist"), seed=0)
    assert "could not download mnist" in str(info.value)
    assert "--set data.dir=FOLDER" in str(info.value) and "data.name=mnist_sample" in str(info.value)


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        data.load(DataConfig(name="fashion_mnist", dir=str(tmp_path / "nope")), seed=0)


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(ConfigError, match="choose one of mnist, fashion_mnist, mnist_sample, digits, synthetic"):
        data.load(DataConfig(name="imagenet"), seed=0)


def test_mnist_sample_is_real_offline_mnist():
    ds = data.load(DataConfig(name="mnist_sample"), seed=0)
    assert ds.sizes() == {"n_train": 3600, "n_val": 400, "n_test": 1000}
    assert ds.x_train.shape[1:] == (28, 28, 1)
    assert sorted(np.unique(ds.y_test)) == list(range(10))
    # The MNIST statistics of the spec fit these digits: roughly zero mean, unit std.
    assert abs(ds.x_train.mean()) < 0.05 and 0.95 < ds.x_train.std() < 1.05


def test_digits_spec_states_its_own_statistics():
    ds = data.load(DataConfig(name="digits"), seed=0)
    assert ds.x_train.shape[1:] == (8, 8, 1) and ds.sizes()["n_test"] == 360
    assert abs(ds.x_train.mean()) < 0.02 and 0.98 < ds.x_train.std() < 1.02


def test_validation_split_is_deterministic_by_seed_and_disjoint():
    cfg = DataConfig(name="synthetic", size=300, shape=(4,), num_classes=3, val_fraction=0.2)
    a, b, c = data.load(cfg, seed=1), data.load(cfg, seed=1), data.load(cfg, seed=2)
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert not np.array_equal(a.x_val, c.x_val)
    np.testing.assert_array_equal(a.x_test, c.x_test)  # the test set never moves
    train_rows = {row.tobytes() for row in a.x_train}
    assert not any(row.tobytes() in train_rows for row in a.x_val)
    assert a.sizes() == {"n_train": 240, "n_val": 60, "n_test": 60}


def test_limit_caps_the_training_pool():
    ds = data.load(DataConfig(name="synthetic", size=1000, limit=100, val_fraction=0.1), seed=0)
    assert ds.sizes()["n_train"] + ds.sizes()["n_val"] == 100


def test_synthetic_has_the_requested_shape():
    ds = data.load(DataConfig(name="synthetic", shape=(5, 7, 3), num_classes=4, size=50), seed=0)
    assert ds.x_train.shape[1:] == (5, 7, 3) and ds.spec.num_classes == 4
    assert ds.y_train.max() < 4


@pytest.mark.parametrize("name", ["mnist_sample", "digits"])
def test_image_specs_say_the_raw_range_their_pixels_lie_in(name):
    # The server refuses raw pixels outside it: it must hold every real example.
    import json

    raw = data.DATASETS[name](DataConfig(name=name))
    low, high = raw.spec.raw_range
    assert raw.x_train.min() == low and raw.x_train.max() == high  # the range is the data's, not wider
    again = data.DataSpec.from_dict(json.loads(json.dumps(raw.spec.to_dict())), "data_spec.json")
    assert again == raw.spec
