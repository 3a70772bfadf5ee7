"""Data loaders on small files the tests write in the original formats (IDX raw and gzipped, CIFAR-10
python pickles, .npz, PGM/PPM), checked against values computed here independently; every error
path by its message. The shared MNIST copy is used by one extra test only, when it is there."""

import gzip
import io
import os
import pickle

import numpy as np
import pytest

from cnncalc import data
from cnncalc.data import cifar10, synthetic
from cnncalc.errors import DataError
from cnncalc.render.training import data_text

MNIST = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist")


# ---------------------------------------------------------------- writers and oracles

def idx_bytes(array, magic=None):
    """An IDX file's bytes: big-endian magic 0x0000_08_NN, NN big-endian sizes, the uint8 values."""
    magic = (0x0800 | array.ndim) if magic is None else magic
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape) + \
        array.astype(np.uint8).tobytes()


def write_idx(folder, n=40, n_test=10, gz=True, shape=(6, 5), seed=0, prefix=("train", "t10k")):
    """MNIST-named IDX files in folder; returns the arrays written, by file stem."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for stem, m in zip(prefix, (n, n_test)):
        arrays[f"{stem}-images-idx3-ubyte"] = rng.integers(0, 256, (m, *shape), dtype=np.uint8)
        arrays[f"{stem}-labels-idx1-ubyte"] = rng.integers(0, 10, m, dtype=np.uint8)
    for name, a in arrays.items():
        raw = idx_bytes(a)
        (folder / (name + ".gz" if gz else name)).write_bytes(gzip.compress(raw) if gz else raw)
    return arrays


def split_rule(m, n_val, seed):
    """The documented split: val = the first n_val of default_rng(seed).permutation(m); both sorted."""
    order = np.random.default_rng(seed).permutation(m)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def stats(x):
    """Per-channel mean and population std of x: (m, n_H, n_W, n_C), in float64."""
    flat = x.reshape(-1, x.shape[-1]).astype(np.float64)
    return flat.mean(axis=0), flat.std(axis=0)


def assert_normalised(split, x_raw, mean, std):
    """split.x is float32 (x_raw − mean)/std, to float32 rounding."""
    assert split.x.dtype == np.float32 and split.x.shape == x_raw.shape
    assert np.allclose(split.x, (x_raw.astype(np.float64) - mean) / std, rtol=0, atol=2e-6 * (1 + 255 / std.min()))


def error(source, *fragments, **kw):
    """load(source, **kw) raises a one-line DataError that starts with the path and holds every fragment."""
    with pytest.raises(DataError) as info:
        data.load(str(source), **kw)
    text = str(info.value)
    assert "\n" not in text
    for fragment in fragments:
        assert fragment in text, text
    return text


# ---------------------------------------------------------------- IDX

@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip_split_and_normalisation(tmp_path, gz):
    arrays = write_idx(tmp_path, gz=gz)
    ds = data.load(str(tmp_path), input_shape=(6, 5, 1), n_classes=10, seed=1, val_fraction=0.25)
    x = arrays["train-images-idx3-ubyte"][..., None]
    y = arrays["train-labels-idx1-ubyte"]
    train, val = split_rule(40, 10, seed=1)
    mean, std = stats(x[train])
    assert np.allclose(ds.mean, mean, rtol=1e-6) and np.allclose(ds.std, std, rtol=1e-6)
    assert ds.mean.dtype == ds.std.dtype == np.float32 and ds.mean.shape == (1,)
    assert_normalised(ds.train, x[train], mean, std)
    assert_normalised(ds.val, x[val], mean, std)
    assert_normalised(ds.test, arrays["t10k-images-idx3-ubyte"][..., None], mean, std)
    assert ds.train.y.dtype == np.int64 and np.array_equal(ds.train.y, y[train])
    assert np.array_equal(ds.val.y, y[val]) and np.array_equal(ds.test.y, arrays["t10k-labels-idx1-ubyte"])
    # the bytes come back exactly once the normalisation is undone
    assert np.array_equal(np.rint(ds.train.x * ds.std + ds.mean).astype(np.uint8), x[train])
    assert ds.input_shape == (6, 5, 1) and ds.n_classes == 10 and ds.class_names == [str(c) for c in range(10)]
    assert ds.kind == "IDX"
    assert data_text(ds.summary) == f"IDX ({tmp_path.name}), 30 train / 10 val / 10 test, 6×5×1, 10 classes"


def test_idx_images_file_finds_its_labels(tmp_path):
    arrays = write_idx(tmp_path, gz=False)
    ds = data.load(str(tmp_path / "train-images-idx3-ubyte"), val_fraction=0)
    assert np.array_equal(ds.train.y, arrays["train-labels-idx1-ubyte"]) and len(ds.test) == 10
    only_test = data.load(str(tmp_path / "t10k-images-idx3-ubyte"), val_fraction=0)
    assert np.array_equal(only_test.train.y, arrays["t10k-labels-idx1-ubyte"]) and only_test.test is None
    # some mirrors spell the names train-images.idx3-ubyte
    dotted = tmp_path / "dotted"
    dotted.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        (dotted / name.replace("-idx", ".idx")).write_bytes((tmp_path / name).read_bytes())
    assert len(data.load(str(dotted), val_fraction=0).train) == 40
    error(tmp_path / "train-labels-idx1-ubyte",
          "wrong magic number for an IDX images file: 0x00000801 is an IDX labels file")


def _truncate(path, n):
    path.write_bytes(path.read_bytes()[:n])


def _append(path, extra):
    path.write_bytes(path.read_bytes() + extra)


IDX_ERRORS = [  # (what to do to a fresh folder, fragments of the message, file named first)
    (lambda f: _truncate(f / "train-images-idx3-ubyte", -7),
     ["truncated payload: bytes after the 16-byte header, which gives 40×6×5 values", "received 1193",
      "allowed: 1,200 bytes — download the file again"],
     "train-images-idx3-ubyte"),
    (lambda f: _append(f / "train-images-idx3-ubyte", b"x"),
     ["payload longer than its header says", "received 1201"], "train-images-idx3-ubyte"),
    (lambda f: _truncate(f / "train-labels-idx1-ubyte", 6),
     ["truncated IDX header (bytes); received 6; allowed: 8 bytes (the magic number and 1 size)"],
     "train-labels-idx1-ubyte"),
    (lambda f: f.joinpath("train-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros(40), 0x0801)),
     ["wrong magic number for an IDX images file: 0x00000801 is an IDX labels file", "received 2049",
      "allowed: 2051 (0x00000803)"], "train-images-idx3-ubyte"),
    (lambda f: f.joinpath("train-labels-idx1-ubyte").write_bytes(b"\x12\x34\x56\x78" + bytes(8)),
     ["0x12345678 is not an IDX magic number", "received 305419896", "allowed: 2049"], "train-labels-idx1-ubyte"),
    (lambda f: f.joinpath("train-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((39, 6, 5)))),
     ["images and labels differ in count: train-images-idx3-ubyte has 39 images, train-labels-idx1-ubyte 40 labels",
      "received 40", "allowed: 39 (one per image)"], "train-labels-idx1-ubyte"),
    (lambda f: f.joinpath("train-labels-idx1-ubyte").unlink(),
     ["no labels file beside the images", "allowed: train-labels-idx1-ubyte or train-labels-idx1-ubyte.gz"],
     "train-images-idx3-ubyte"),
    (lambda f: f.joinpath("t10k-images-idx3-ubyte").unlink(),
     ["t10k labels without t10k images", "allowed: both t10k files, or neither"], "t10k-labels-idx1-ubyte"),
    (lambda f: f.joinpath("t10k-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((10, 5, 5)))),
     ["the test images are 5×5 but the training images are 6×5"], "t10k-images-idx3-ubyte"),
    (lambda f: f.joinpath("train-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((0, 6, 5)))),
     ["the IDX images file holds no items"], "train-images-idx3-ubyte"),
]


@pytest.mark.parametrize("corrupt, fragments, named", IDX_ERRORS)
def test_idx_errors(tmp_path, corrupt, fragments, named):
    write_idx(tmp_path, gz=False)
    corrupt(tmp_path)
    text = error(tmp_path, *fragments)
    assert text.startswith(f"{tmp_path / named}: "), text


def test_gzip_errors(tmp_path):
    write_idx(tmp_path, gz=True)
    images = tmp_path / "train-images-idx3-ubyte.gz"
    assert len(data.load(str(images), val_fraction=0).test) == 10  # one .gz images file, its labels beside it
    whole = images.read_bytes()
    images.write_bytes(whole[: len(whole) // 2])
    assert error(tmp_path, "corrupt or truncated gzip data", "download the file again").startswith(f"{images}: ")
    images.write_bytes(whole[:10] + b"\xff" * (len(whole) - 10))
    error(tmp_path, f"{images}: corrupt or truncated gzip data")
    images.write_bytes(idx_bytes(np.zeros((40, 6, 5))))  # raw bytes under a .gz name
    error(tmp_path, f"{images}: the name ends in .gz but the file is not gzip data", "received '00 00'",
          "allowed: gzip's magic 1f 8b")


# ---------------------------------------------------------------- the spec's shapes and classes

def test_shape_and_class_checks(tmp_path):
    write_idx(tmp_path)
    error(tmp_path, f"{tmp_path}: the data is 6×5×1 but the spec's input is 32×32×3 — use --input 6,5,1 "
                    "or a spec with input [6, 5, 1]", input_shape=(32, 32, 3))
    error(tmp_path, "the data has labels up to 9 but the spec's output has 4 classes", "allowed: labels in [0, 4)",
          "end the spec with dense: 10", input_shape=(6, 5, 1), n_classes=4)
    wide = data.load(str(tmp_path), n_classes=12)  # more outputs than classes in the data is allowed
    assert wide.n_classes == 12 and wide.class_names[-1] == "11"
    x = np.zeros((6, 4, 4), np.uint8)
    np.savez(tmp_path / "neg.npz", x=x, y=np.array([0, 1, -1, 2, 0, 1]))
    error(tmp_path / "neg.npz", "the train labels must not be negative", "received -1")
    np.savez(tmp_path / "test_labels.npz", x=x, y=np.zeros(6, int), x_test=x[:2], y_test=np.array([0, 7]))
    error(tmp_path / "test_labels.npz", "labels up to 7 but the spec's output has 3 classes", n_classes=3)
    np.savez(tmp_path / "names.npz", x=x, y=np.zeros(6, int), class_names=np.array(["a", "b", "c", "d"]))
    error(tmp_path / "names.npz", "field 'class_names': the data has 4 classes but the spec's output has 2",
          n_classes=2)
    np.savez(tmp_path / "few_names.npz", x=x, y=np.array([0, 1, 2, 3, 0, 1]), class_names=np.array(["a", "b"]))
    error(tmp_path / "few_names.npz", "the data names 2 classes but has labels up to 3")


# ---------------------------------------------------------------- the validation split

def test_validation_split_is_seeded_disjoint_and_complete(tmp_path):
    m = 50
    x = np.arange(m, dtype=np.uint8).reshape(m, 1, 1, 1).repeat(3, axis=1)  # image i holds the value i
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(m) % 5)

    def rows(split, ds):  # which images a split holds, read back from their pixels
        return np.rint(split.x[:, 0, 0, 0] * ds.std[0] + ds.mean[0]).astype(int)

    a = data.load(str(tmp_path / "d.npz"), seed=7, val_fraction=0.2)
    train, val = split_rule(m, 10, seed=7)
    assert np.array_equal(rows(a.train, a), train) and np.array_equal(rows(a.val, a), val)
    assert np.array_equal(a.train.y, train % 5)
    b = data.load(str(tmp_path / "d.npz"), seed=7, val_fraction=0.2)
    assert np.array_equal(a.val.x, b.val.x) and np.array_equal(a.train.y, b.train.y)
    c = data.load(str(tmp_path / "d.npz"), seed=8, val_fraction=0.2)
    assert not np.array_equal(rows(c.val, c), rows(a.val, a))
    assert len(data.load(str(tmp_path / "d.npz"), val_fraction=0.33).val) == round(50 * 0.33) == 16
    none = data.load(str(tmp_path / "d.npz"), val_fraction=0)
    assert none.val is None and len(none.train) == m and "50 train / 0 val / 0 test" in data_text(none.summary)
    for bad in (1.0, -0.1, float("nan")):
        error(tmp_path / "d.npz", "field 'val_fraction': the validation fraction must be in [0, 1)",
              f"received {bad}", val_fraction=bad)
    np.savez(tmp_path / "two.npz", x=x[:2], y=np.zeros(2, int))
    error(tmp_path / "two.npz", "holding out 2 of 2 images for validation leaves none to train on", val_fraction=0.8)
    error(tmp_path / "d.npz", "field 'seed': the seed must be a non-negative integer", "received -1", seed=-1)


def test_normalise_and_channel_stats():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (7, 3, 4, 2)).astype(np.uint8)
    x[..., 1] = 9  # a constant channel: std 1, so it normalises to 0 rather than dividing by 0
    mean, std = data.channel_stats(x)
    expected_mean, expected_std = stats(x)
    assert np.allclose(mean, expected_mean, rtol=1e-7)
    assert std[1] == 1 and np.isclose(std[0], expected_std[0], rtol=1e-6)
    before = x.copy()
    out = data.normalise(x, mean, std)
    assert out.dtype == np.float32 and np.array_equal(x, before) and np.all(out[..., 1] == 0)
    floats = x.astype(np.float32)
    data.normalise(floats, mean, std)
    assert np.array_equal(floats, x.astype(np.float32))  # float input is not modified either
    # the chunked variance pass gives the same answer as one pass over everything
    big = rng.normal(100, 20, (300, 40, 40, 3)).astype(np.float32)
    assert np.allclose(data.channel_stats(big)[1], stats(big)[1], rtol=1e-6)


# ---------------------------------------------------------------- npz

def test_npz_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (20, 4, 3, 3)).astype(np.uint8)
    y = rng.integers(0, 3, 20)
    np.savez(tmp_path / "d.npz", x=x, y=y, x_test=x[:5], y_test=y[:5], class_names=np.array(["cat", "dog", "eel"]))
    ds = data.load(str(tmp_path / "d.npz"), val_fraction=0, input_shape=(4, 3, 3), n_classes=3)
    mean, std = stats(x)
    assert np.allclose(ds.mean, mean, rtol=1e-6) and np.allclose(ds.std, std, rtol=1e-6)
    assert_normalised(ds.train, x, mean, std)
    assert_normalised(ds.test, x[:5], mean, std)
    assert ds.class_names == ["cat", "dog", "eel"]
    assert data_text(ds.summary) == "npz (d.npz), 20 train / 0 val / 5 test, 4×3×3, 3 classes"
    gray = rng.normal(0, 1, (10, 5, 5)).astype(np.float32)  # (m, n_H, n_W) floats: one channel
    np.savez_compressed(tmp_path / "g.npz", x=gray, y=np.arange(10) % 2)
    g = data.load(str(tmp_path / "g.npz"), val_fraction=0)
    assert g.input_shape == (5, 5, 1) and np.allclose(g.train.x[..., 0], (gray - gray.mean()) / gray.std(), atol=1e-5)


NPZ_ERRORS = [  # (arrays to save, fragments)
    ({"images": np.zeros((3, 4, 4))}, ["an .npz for training needs arrays x and y", "received ['images']"]),
    ({"x": np.zeros((20, 4, 4)), "y": np.zeros(3, int)},
     ["field 'y': y must be 20 integer labels, one per image", "received 'int64 (3,)'"]),
    ({"x": np.zeros((4, 4, 4)), "y": np.zeros(4)},
     ["y must be 4 integer labels", "float64", "y.astype(np.int64).ravel()"]),
    ({"x": np.zeros((4, 4)), "y": np.zeros(4, int)}, ["field 'x': x must hold images", "received (4, 4)"]),
    ({"x": np.zeros((4, 4, 4), bool), "y": np.zeros(4, int)}, ["x must be numbers", "received 'bool'"]),
    ({"x": np.full((4, 4, 4), np.nan), "y": np.zeros(4, int)}, ["x holds NaN or infinite values", "received 64"]),
    ({"x": np.zeros((4, 4, 4)), "y": np.zeros(4, int), "x_test": np.zeros((2, 4, 4))},
     ["x_test and y_test come together"]),
    ({"x": np.zeros((4, 4, 4)), "y": np.zeros(4, int), "x_test": np.zeros((2, 5, 4)), "y_test": np.zeros(2, int)},
     ["x_test's images differ in shape from x's", "received (5, 4, 1)"]),
    ({"x": np.zeros((4, 4, 4)), "y": np.zeros(4, int), "class_names": np.array([1, 2])},
     ["class_names must be a 1-D array of strings"]),
    ({"x": np.zeros((4, 4, 4)), "y": np.zeros(4, int), "class_names": np.array(["a", None], dtype=object)},
     ["array 'class_names' holds Python objects, which are not loaded"]),
]


@pytest.mark.parametrize("arrays, fragments", NPZ_ERRORS)
def test_npz_errors(tmp_path, arrays, fragments):
    np.savez(tmp_path / "bad.npz", **arrays)
    assert error(tmp_path / "bad.npz", *fragments).startswith(f"{tmp_path / 'bad.npz'}: ")


def test_unreadable_npz_files(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 3, 3)), y=np.zeros(4, int))
    whole = (tmp_path / "d.npz").read_bytes()
    (tmp_path / "d.npz").write_bytes(whole[: len(whole) // 2])
    error(tmp_path / "d.npz", "corrupt or truncated .npz")
    (tmp_path / "e.npz").write_bytes(b"not a zip at all")
    error(tmp_path / "e.npz", "not an .npz (zip) file", "received '6e 6f 74 20'")
    np.save(tmp_path / "f.npy", np.zeros(3))
    error(tmp_path / "f.npy", "this is an .npy (one array); training needs an .npz with x and y")


# ---------------------------------------------------------------- CIFAR-10

def write_cifar(folder, batches=("data_batch_1", "data_batch_2", "test_batch"), m=6, protocol=2, seed=0):
    """CIFAR-10 python batches: dicts with bytes keys, data uint8 (m, 3072), labels a list of ints."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in batches:
        d = rng.integers(0, 256, (m, 3072)).astype(np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, m)]
        (folder / name).write_bytes(pickle.dumps({b"batch_label": name.encode(), b"data": d, b"labels": labels},
                                                 protocol=protocol))
        written[name] = (d, labels)
    names = [n.encode() for n in ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                                  "truck")]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names, b"num_vis": 3072}, protocol=protocol))
    return written


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_round_trip(tmp_path, protocol):
    folder = tmp_path / "cifar-10-batches-py"
    written = write_cifar(folder, protocol=protocol)
    ds = data.load(str(folder), val_fraction=0, input_shape=(32, 32, 3), n_classes=10)
    # row i of a batch is the R plane, then G, then B, each 32×32 row-major
    x = np.concatenate([written[b][0] for b in ("data_batch_1", "data_batch_2")]).reshape(12, 3, 32, 32)
    x = x.transpose(0, 2, 3, 1)
    mean, std = stats(x)
    assert np.allclose(ds.mean, mean, rtol=1e-6) and np.allclose(ds.std, std, rtol=1e-6)
    assert_normalised(ds.train, x, mean, std)
    test_raw = written["test_batch"][0]
    pixel = ds.test.x[0, 1, 2, 2] * ds.std[2] + ds.mean[2]  # row 1, column 2, blue
    assert np.isclose(pixel, test_raw[0, 2 * 1024 + 1 * 32 + 2], atol=1e-3)
    assert ds.train.y.tolist() == written["data_batch_1"][1] + written["data_batch_2"][1]
    assert ds.test.y.tolist() == written["test_batch"][1]
    assert ds.class_names[:3] == ["airplane", "automobile", "bird"] and ds.kind == "CIFAR-10"
    assert data_text(ds.summary) == "CIFAR-10 (2 training batches), 12 train / 0 val / 6 test, 32×32×3, 10 classes"


def test_cifar10_reads_batches_pickled_by_numpy_1(tmp_path):
    # the real batches name numpy.core.multiarray, which numpy 2 renamed numpy._core.multiarray
    folder = tmp_path / "c"
    written = write_cifar(folder, batches=("data_batch_1",), protocol=2)
    raw = (folder / "data_batch_1").read_bytes().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in raw  # numpy 1 (the oldest-versions run) writes this name itself
    (folder / "data_batch_1").write_bytes(raw)
    ds = data.load(str(folder), val_fraction=0)
    assert ds.train.y.tolist() == written["data_batch_1"][1]


def test_cifar10_refuses_code_and_reports_damage(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar(folder)
    batch = folder / "data_batch_2"
    batch.write_bytes(pickle.dumps(os.system, protocol=2))
    error(folder, f"{batch}: not loaded: the pickle calls a function a CIFAR batch does not need",
          "received 'posix.system'; allowed: numpy arrays, lists, dicts, strings and numbers")

    class Boom:  # a pickle that would call os.system("…") on an ordinary pickle.load
        def __reduce__(self):
            return os.system, ("echo owned",)

    batch.write_bytes(pickle.dumps({b"data": Boom(), b"labels": []}))
    error(folder, "not loaded", "received 'posix.system'")
    whole = (folder / "data_batch_1").read_bytes()
    batch.write_bytes(whole[: len(whole) // 2])
    error(folder, f"{batch}: not a readable CIFAR-10 python batch", "download and extract cifar-10-python.tar.gz again")
    batch.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 2, 3]}))
    error(folder, "images and labels differ in count: 2 images, 3 labels", "received 3")
    batch.write_bytes(pickle.dumps({b"data": np.zeros((2, 1024), np.uint8), b"labels": [1, 2]}))
    error(folder, "field 'data': CIFAR-10 data has the wrong type or shape", "received 'uint8 (2, 1024)'",
          "allowed: uint8 (m, 3072)")
    for name in ("data_batch_1", "data_batch_2"):
        (folder / name).write_bytes(pickle.dumps({b"data": np.zeros((0, 3072), np.uint8), b"labels": []}))
    error(folder, "the data holds no training images", "received (0, 32, 32, 3)")
    batch.write_bytes(pickle.dumps({b"images": 1}))
    error(folder, "a CIFAR-10 batch is a dict with data and labels", "received ['images']")
    plain = [1, "a", b"b", 2.5, {"k": (1,)}]  # what needs no global loads as usual
    assert cifar10.RestrictedUnpickler(io.BytesIO(pickle.dumps(plain))).load() == plain


# ---------------------------------------------------------------- synthetic

def test_synthetic_is_deterministic_balanced_and_sized():
    a = data.load(None, input_shape=(12, 10, 3), n_classes=5, seed=4, synthetic_size=500)
    b = data.load("synthetic", input_shape=(12, 10, 3), n_classes=5, seed=4, synthetic_size=500)
    assert np.array_equal(a.train.x, b.train.x) and np.array_equal(a.test.x, b.test.x)
    assert np.array_equal(a.val.y, b.val.y) and a.train.x.dtype == np.float32
    assert a.input_shape == (12, 10, 3) and a.n_classes == 5 and len(a.test) == 500 // 6
    assert np.bincount(np.concatenate([a.train.y, a.val.y]), minlength=5).tolist() == [100] * 5
    assert np.ptp(np.bincount(a.test.y, minlength=5)) <= 1
    assert a.class_names == ["filled square", "horizontal bar", "vertical bar", "cross", "ring"]
    assert data_text(a.summary) == "synthetic shapes (seed 4), 450 train / 50 val / 83 test, 12×10×3, 5 classes"
    c = data.load(None, input_shape=(12, 10, 3), n_classes=5, seed=5, synthetic_size=500)
    assert not np.array_equal(a.train.x, c.train.x)
    default = data.load(None, synthetic_size=100)
    assert default.input_shape == (28, 28, 1) and default.n_classes == 10


def test_synthetic_streams_and_contents():
    x, y = synthetic.generate(400, 16, 16, 3, 20, seed=[0, 3])
    assert x.dtype == np.uint8 and x.shape == (400, 16, 16, 3) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [20] * 20
    # classes 10…19 are the same shapes dark on a light ground: brighter on average than 0…9
    assert x[y >= 10].mean() > x[y < 10].mean() + 40
    # every class looks different from every other on average
    means = np.stack([x[y == c].mean(axis=(0, 3)) for c in range(20)]).reshape(20, -1)
    gaps = np.abs(means[:, None] - means[None]).mean(axis=2) + np.eye(20) * 1e9
    assert gaps.min() > 2
    # one seed's test set is not another seed's training set (streams [1, s] and [0, s'])
    train_seed_1 = synthetic.load_synthetic((8, 8, 1), 4, seed=1, size=60)
    test_seed_0 = synthetic.load_synthetic((8, 8, 1), 4, seed=0, size=60)
    assert not np.array_equal(train_seed_1.x[:10], test_seed_0.x_test)
    wide = data.load(None, input_shape=(8, 8, 1), n_classes=30, synthetic_size=300)
    assert wide.n_classes == 30 and wide.train.y.max() == 19 and "30 classes (20 drawn)" in data_text(wide.summary)
    with pytest.raises(DataError, match="at least one image per class"):
        data.load(None, n_classes=10, synthetic_size=5)


# ---------------------------------------------------------------- finding the format

def test_detection_errors(tmp_path):
    error(tmp_path / "nope", f"{tmp_path / 'nope'}: no such data file or folder", "allowed: an MNIST-format IDX")
    (tmp_path / "empty").mkdir()
    error(tmp_path / "empty", "no training data recognised in this folder", "received []")
    parent = tmp_path / "download"
    write_cifar(parent / "cifar-10-batches-py", batches=("data_batch_1",))
    error(parent, f"use {parent / 'cifar-10-batches-py'}")
    error(parent / "cifar-10-batches-py" / "data_batch_1", "a single CIFAR-10 batch",
          "give the cifar-10-batches-py folder")
    (tmp_path / "notes.txt").write_text("hello")
    error(tmp_path / "notes.txt", "cannot tell the data format of this file", "received '68 65 6c 6c'")
    t10k = tmp_path / "t10k"
    t10k.mkdir()
    write_idx(t10k, prefix=("t10k", "none"), n_test=1)
    error(t10k, "the folder has t10k test files but no train-images-idx3-ubyte[.gz]")
    error(tmp_path / "nope", "image data needs an input of n_H × n_W × n_C", input_shape=(784,))


# ---------------------------------------------------------------- inputs for predict

def test_load_inputs(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (3, 4, 5, 1)).astype(np.uint8)
    np.savez(tmp_path / "x.npz", x=x)
    assert np.array_equal(data.load_inputs(str(tmp_path / "x.npz"), (4, 5, 1)), x.astype(np.float32))
    np.savez(tmp_path / "gray.npz", x=x[..., 0])  # (m, n_H, n_W) when n_C is 1
    assert data.load_inputs(str(tmp_path / "gray.npz"), (4, 5, 1)).shape == (3, 4, 5, 1)
    np.save(tmp_path / "one.npy", x[0, ..., 0])  # one (n_H, n_W) image
    assert data.load_inputs(str(tmp_path / "one.npy"), (4, 5, 1)).shape == (1, 4, 5, 1)
    (tmp_path / "a.pgm").write_bytes(b"P5\n# a comment\n5 4\n255\n" + x[0].tobytes())
    assert np.array_equal(data.load_inputs(str(tmp_path / "a.pgm"), (4, 5, 1)), x[:1].astype(np.float32))
    (tmp_path / "b.pgm").write_bytes(b"P2 5 4 15\n" + " ".join(str(v % 16) for v in x[0].ravel()).encode())
    assert np.allclose(data.load_inputs(str(tmp_path / "b.pgm"))[0, ..., 0], (x[0, ..., 0] % 16) * 17)
    rgb = rng.integers(0, 65536, (2, 3, 3)).astype(">u2")  # 16-bit P6: rescaled to 0…255
    (tmp_path / "c.ppm").write_bytes(b"P6 3 2 65535\n" + rgb.tobytes())
    assert np.allclose(data.load_inputs(str(tmp_path / "c.ppm"), (2, 3, 3))[0], rgb * (255 / 65535), rtol=1e-6)
    (tmp_path / "d.ppm").write_bytes(b"P3 1 1 255 10 20 30")
    assert data.load_inputs(str(tmp_path / "d.ppm"), (1, 1, 3)).tolist() == [[[[10, 20, 30]]]]
    (tmp_path / "t.idx").write_bytes(gzip.compress(idx_bytes(x[..., 0])))
    assert data.load_inputs(str(tmp_path / "t.idx"), (4, 5, 1)).shape == (3, 4, 5, 1)
    with pytest.raises(DataError, match=r"the inputs are 3×4×5×1 but the network's input is 28×28×1; received"):
        data.load_inputs(str(tmp_path / "x.npz"), (28, 28, 1))
    with pytest.raises(DataError, match=r"the inputs are 3×4×5 but the network's input is 4×5×3"):
        data.load_inputs(str(tmp_path / "gray.npz"), (4, 5, 3))
    np.savez(tmp_path / "v.npz", x=np.ones((2, 6)))  # a spec whose input is a vector of 6
    assert data.load_inputs(str(tmp_path / "v.npz"), (6,)).shape == (2, 6)
    with pytest.raises(DataError, match=r"allowed: \(m, 7\) or \(7,\)"):
        data.load_inputs(str(tmp_path / "v.npz"), (7,))
    np.save(tmp_path / "nan.npy", np.full((4, 5), np.nan))
    with pytest.raises(DataError, match="the inputs hold NaN or infinite values"):
        data.load_inputs(str(tmp_path / "nan.npy"), (4, 5, 1))
    np.savez(tmp_path / "nox.npz", images=x)
    with pytest.raises(DataError, match=r"the \.npz has no array x; received \['images'\]"):
        data.load_inputs(str(tmp_path / "nox.npz"))
    (tmp_path / "short.pgm").write_bytes(b"P5 5 4 255\n" + bytes(7))
    with pytest.raises(DataError, match="truncated raster: 5×4×1 needs 20 bytes; received 7"):
        data.load_inputs(str(tmp_path / "short.pgm"))
    (tmp_path / "junk.bin").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(DataError, match="cannot tell the format of the inputs"):
        data.load_inputs(str(tmp_path / "junk.bin"))


# ---------------------------------------------------------------- the real thing, when it is there

@pytest.mark.skipif(not os.path.isdir(MNIST), reason="the shared MNIST copy is not beside this checkout")
def test_real_mnist():
    ds = data.load(MNIST, input_shape=(28, 28, 1), n_classes=10)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (54000, 6000, 10000)
    assert np.bincount(ds.test.y).tolist()[:3] == [980, 1135, 1032]  # the published per-digit test counts
    # MNIST's well-known statistics, 0.1307 and 0.3081 of 255, within the split's sampling error
    assert abs(ds.mean[0] / 255 - 0.1307) < 0.001 and abs(ds.std[0] / 255 - 0.3081) < 0.001


def test_the_data_line_says_what_limit_kept():
    """--limit's choice is in the summary and the line: 40 of the 500 synthetic training images
    (synthetic_size 500), and the validation split (10 %, ⌊40/10⌋ = 4) carved from those 40."""
    ds = data.load(None, input_shape=(12, 10, 3), n_classes=5, seed=4, synthetic_size=500, limit=40)
    assert ds.summary.limited == (40, 500)
    assert (ds.summary.n_train, ds.summary.n_val) == (36, 4)
    assert data_text(ds.summary).startswith("synthetic shapes (seed 4), first 40 of 500 by class, 36 train / 4 val")
