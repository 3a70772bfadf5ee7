"""Data loaders on small files the tests write in the original formats, and every error path."""

import gzip
import os
import pickle

import numpy as np
import pytest

from cnncalc import data
from cnncalc.errors import DataError


def idx_bytes(array, magic):
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(folder, n=40, n_test=10, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {"train-images-idx3-ubyte": (rng.integers(0, 256, (n, 6, 5)), 2051),
              "train-labels-idx1-ubyte": (rng.integers(0, 10, n), 2049),
              "t10k-images-idx3-ubyte": (rng.integers(0, 256, (n_test, 6, 5)), 2051),
              "t10k-labels-idx1-ubyte": (rng.integers(0, 10, n_test), 2049)}
    for name, (a, magic) in arrays.items():
        raw = idx_bytes(a, magic)
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return {k: v[0] for k, v in arrays.items()}


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip_and_normalisation(tmp_path, gz):
    arrays = write_mnist(tmp_path, gz=gz)
    ds = data.load(str(tmp_path), input_shape=(6, 5, 1), n_classes=10, seed=1, val_fraction=0.25)
    assert len(ds.train.y) == 30 and len(ds.val.y) == 10 and len(ds.test.y) == 10
    order = np.random.default_rng(1).permutation(40)
    x = arrays["train-images-idx3-ubyte"].astype(np.float64)
    train_x = x[order[10:]]
    assert np.allclose(ds.mean, train_x.mean(), rtol=1e-5) and np.allclose(ds.std, train_x.std(), rtol=1e-5)
    assert np.array_equal(ds.train.y, arrays["train-labels-idx1-ubyte"][order[10:]])
    assert np.allclose(ds.train.x[..., 0], (train_x - train_x.mean()) / train_x.std(), atol=1e-4)
    assert np.array_equal(ds.test.y, arrays["t10k-labels-idx1-ubyte"])
    assert ds.input_shape == (6, 5, 1) and "IDX" in ds.description


def test_idx_errors(tmp_path):
    write_mnist(tmp_path, gz=False)
    images = tmp_path / "train-images-idx3-ubyte"
    raw = images.read_bytes()
    images.write_bytes(raw[:-7])
    with pytest.raises(DataError, match="payload size does not match"):
        data.load(str(tmp_path))
    images.write_bytes((1234).to_bytes(4, "big") + raw[4:])
    with pytest.raises(DataError, match="magic number 1234"):
        data.load(str(tmp_path))
    images.write_bytes(idx_bytes(np.zeros((39, 6, 5)), 2051))
    with pytest.raises(DataError, match="differ in count"):
        data.load(str(tmp_path))
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="no labels file"):
        data.load(str(images))
    gz = tmp_path / "g"
    gz.mkdir()
    (gz / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8bnot gzip")
    (gz / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(3), 2049))
    with pytest.raises(DataError, match="corrupt gzip") as info:
        data.load(str(gz))
    assert str(info.value).startswith(str(gz / "train-images-idx3-ubyte.gz"))


def test_shape_and_class_checks(tmp_path):
    write_mnist(tmp_path)
    with pytest.raises(DataError, match="the data is 6×5×1 but the spec's input is 32×32×3"):
        data.load(str(tmp_path), input_shape=(32, 32, 3))
    with pytest.raises(DataError, match="labels up to 9 but the spec's output has 4 classes"):
        data.load(str(tmp_path), input_shape=(6, 5, 1), n_classes=4)


def test_npz(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 255, (20, 4, 4, 3)).astype(np.uint8), rng.integers(0, 3, 20)
    np.savez(tmp_path / "d.npz", x=x, y=y, x_test=x[:5], y_test=y[:5])
    ds = data.load(str(tmp_path / "d.npz"), val_fraction=0)
    assert ds.val is None and ds.input_shape == (4, 4, 3) and len(ds.test.y) == 5
    assert np.allclose(ds.mean, x.reshape(-1, 3).mean(0), rtol=1e-5)
    np.savez(tmp_path / "bad.npz", images=x)
    with pytest.raises(DataError, match="needs arrays x and y"):
        data.load(str(tmp_path / "bad.npz"))
    np.savez(tmp_path / "bad2.npz", x=x, y=y[:3])
    with pytest.raises(DataError, match="y must be 20 integer labels"):
        data.load(str(tmp_path / "bad2.npz"))


def test_cifar10_batches(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches = []
    for name in ("data_batch_1", "data_batch_2", "test_batch"):
        d = rng.integers(0, 256, (6, 3072)).astype(np.uint8)
        labels = list(rng.integers(0, 10, 6))
        (folder / name).write_bytes(pickle.dumps({b"data": d, b"labels": [int(v) for v in labels]}))
        batches.append((d, labels))
    ds = data.load(str(folder), val_fraction=0)
    assert ds.input_shape == (32, 32, 3) and len(ds.train.y) == 12 and len(ds.test.y) == 6
    # pixel (row 0, col 1) of channel 2 of the first test image is byte 2·1024 + 1 of its row
    x = ds.test.x * ds.std + ds.mean
    assert np.isclose(x[0, 0, 1, 2], batches[2][0][0, 2048 + 1], atol=1e-3)
    (folder / "data_batch_2").write_bytes(pickle.dumps(os.system))
    with pytest.raises(DataError, match="not allowed in a CIFAR batch"):
        data.load(str(folder))


def test_synthetic_is_deterministic_balanced_and_sized():
    a = data.load(None, input_shape=(12, 10, 3), n_classes=5, seed=4, synthetic_size=500)
    b = data.load("synthetic", input_shape=(12, 10, 3), n_classes=5, seed=4, synthetic_size=500)
    assert np.array_equal(a.train.x, b.train.x) and np.array_equal(a.train.y, b.train.y)
    assert a.input_shape == (12, 10, 3) and a.n_classes == 5
    counts = np.bincount(np.concatenate([a.train.y, a.val.y]), minlength=5)
    assert counts.min() == counts.max() == 100
    c = data.load(None, input_shape=(12, 10, 3), n_classes=5, seed=5, synthetic_size=500)
    assert not np.array_equal(a.train.x, c.train.x)


def test_missing_source(tmp_path):
    with pytest.raises(DataError, match="no such data file or folder"):
        data.load(str(tmp_path / "nope"))


@pytest.mark.skipif(not os.path.isdir(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist")),
                    reason="the shared MNIST copy is not beside this checkout")
def test_real_mnist_counts():
    ds = data.load(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist"), val_fraction=0)
    assert len(ds.train.y) == 60000 and len(ds.test.y) == 10000 and ds.input_shape == (28, 28, 1)
