"""Training data: MNIST-format IDX, CIFAR-10 python batches, .npz, and a built-in synthetic set.

Every loader returns images as (m, n_H, n_W, n_C) — the course's layout — and int64 labels;
`load` normalises per channel with the train split's mean and std and carves a validation
split by a seeded shuffle. The engine transposes to NCHW itself.
"""

from __future__ import annotations

import gzip
import os
import pickle
from dataclasses import dataclass, field

import numpy as np

from cnncalc.errors import DataError, Mark


@dataclass
class Split:
    x: np.ndarray  # float32 (m, n_H, n_W, n_C), normalised
    y: np.ndarray  # int64 (m,)


@dataclass
class Dataset:
    train: Split
    val: Split | None
    test: Split | None
    n_classes: int
    input_shape: tuple
    mean: np.ndarray
    std: np.ndarray
    description: str
    class_names: list = field(default_factory=list)


def _fail(path, message, received=None, allowed=None, fix=None):
    raise DataError(message, Mark(str(path)), received=received, allowed=allowed, fix=fix)


# ---------------------------------------------------------------- IDX (MNIST, Fashion-MNIST, KMNIST)

def _open_bytes(path):
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        _fail(path, f"cannot read: {exc.strerror}")
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            _fail(path, f"corrupt gzip data ({exc})")
    return raw


def read_idx(path, expect_magic):
    """An IDX file: big-endian magic (2051 images, 2049 labels), counts, then uint8 data."""
    raw = _open_bytes(path)
    if len(raw) < 8:
        _fail(path, "truncated IDX header", f"{len(raw)} bytes", "at least 8 bytes")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expect_magic:
        _fail(path, "not an IDX file of the expected kind", f"magic number {magic}",
              f"{expect_magic} ({'images' if expect_magic == 2051 else 'labels'})")
    n_dims = raw[3]
    header = 4 + 4 * n_dims
    if len(raw) < header:
        _fail(path, "truncated IDX header", f"{len(raw)} bytes", f"{header} bytes")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(n_dims)]
    size = 1
    for d in dims:
        size *= d
    if len(raw) - header != size:
        _fail(path, "IDX payload size does not match its header", f"{len(raw) - header:,} bytes",
              f"{size:,} bytes for dimensions {dims}")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def _find(folder, stem):
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return path
    return None


def load_idx(path):
    """(x_train, y_train, x_test, y_test) from a folder of IDX files or one images file."""
    if os.path.isdir(path):
        folder = path
        train_images = _find(folder, "train-images-idx3-ubyte")
        if train_images is None:
            _fail(path, "no train-images-idx3-ubyte[.gz] in this folder",
                  allowed="train/t10k images and labels IDX files (MNIST, Fashion-MNIST, KMNIST)")
    else:
        folder, train_images = os.path.dirname(path) or ".", path
    base = os.path.basename(train_images)
    prefix = base.split("-images")[0]
    labels = _find(folder, f"{prefix}-labels-idx1-ubyte")
    if labels is None:
        _fail(train_images, "no labels file beside the images", allowed=f"{prefix}-labels-idx1-ubyte[.gz]")
    x, y = read_idx(train_images, 2051), read_idx(labels, 2049)
    if len(x) != len(y):
        _fail(labels, "images and labels differ in count", f"{len(y):,} labels", f"{len(x):,} (one per image)")
    x_test = y_test = None
    if prefix == "train":
        test_images, test_labels = _find(folder, "t10k-images-idx3-ubyte"), _find(folder, "t10k-labels-idx1-ubyte")
        if test_images and test_labels:
            x_test, y_test = read_idx(test_images, 2051), read_idx(test_labels, 2049)
            if len(x_test) != len(y_test):
                _fail(test_labels, "images and labels differ in count", f"{len(y_test):,} labels",
                      f"{len(x_test):,}")
    return x[..., None], y, (x_test[..., None] if x_test is not None else None), y_test


# ---------------------------------------------------------------- CIFAR-10 python batches

class _SafeUnpickler(pickle.Unpickler):
    """CIFAR's batches are pickles of dicts of numpy arrays; nothing else may be constructed."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR batch")


def _cifar_batch(path):
    try:
        with open(path, "rb") as fh:
            d = _SafeUnpickler(fh, encoding="bytes").load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError) as exc:
        _fail(path, f"not a readable CIFAR-10 batch ({exc})")
    if not isinstance(d, dict) or b"data" not in d or b"labels" not in d:
        _fail(path, "a CIFAR-10 batch needs data and labels", allowed="the python version of cifar-10-batches-py")
    data = np.asarray(d[b"data"], np.uint8)
    if data.ndim != 2 or data.shape[1] != 3072:
        _fail(path, "CIFAR-10 data has the wrong shape", data.shape, "(m, 3072)")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), np.asarray(d[b"labels"], np.int64)


def load_cifar10(folder):
    parts = [os.path.join(folder, f"data_batch_{i}") for i in range(1, 6)]
    parts = [p for p in parts if os.path.exists(p)]
    if not parts:
        _fail(folder, "no data_batch_1 … 5 in this folder", allowed="a cifar-10-batches-py folder")
    xs, ys = zip(*[_cifar_batch(p) for p in parts])
    test = os.path.join(folder, "test_batch")
    x_test, y_test = _cifar_batch(test) if os.path.exists(test) else (None, None)
    return np.concatenate(xs), np.concatenate(ys), x_test, y_test


# ---------------------------------------------------------------- npz

def load_npz(path):
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError) as exc:
        _fail(path, f"not a readable .npz ({exc})")
    if "x" not in arrays or "y" not in arrays:
        _fail(path, "an .npz for training needs arrays x and y", sorted(arrays), "x (m, n_H, n_W, n_C), y (m,)")

    def images(key):
        x = arrays[key]
        if x.ndim == 3:
            x = x[..., None]
        if x.ndim != 4:
            _fail(path, f"{key} must be (m, n_H, n_W, n_C) or (m, n_H, n_W)", x.shape)
        return x

    def labels(key, n):
        y = arrays[key]
        if y.ndim != 1 or len(y) != n or not np.issubdtype(y.dtype, np.integer):
            _fail(path, f"{key} must be {n} integer labels", f"{y.dtype} {y.shape}", f"({n},) integers")
        return y.astype(np.int64)

    x = images("x")
    y = labels("y", len(x))
    x_test = images("x_test") if "x_test" in arrays else None
    y_test = labels("y_test", len(x_test)) if x_test is not None else None
    return x, y, x_test, y_test


# ---------------------------------------------------------------- synthetic

def synthetic(n, n_H, n_W, n_C, n_classes, seed):
    """Simple shapes with noise: class k draws shape k % 10 at a random place and size.

    Shapes: filled square, disc, horizontal bar, vertical bar, cross, diagonal, ring, checker,
    dot grid, corner triangle; each image gets a class-independent random tint per channel.
    """
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    rng.shuffle(y)
    yy, xx = np.mgrid[0:n_H, 0:n_W].astype(np.float32)
    yy, xx = yy[None] / max(n_H - 1, 1), xx[None] / max(n_W - 1, 1)
    cy = rng.uniform(0.35, 0.65, (n, 1, 1)).astype(np.float32)
    cx = rng.uniform(0.35, 0.65, (n, 1, 1)).astype(np.float32)
    r = rng.uniform(0.18, 0.3, (n, 1, 1)).astype(np.float32)
    dy, dx = yy - cy, xx - cx
    dist = np.sqrt(dy * dy + dx * dx)
    shapes = [
        (np.abs(dy) < r) & (np.abs(dx) < r),
        dist < r,
        np.abs(dy) < r / 3,
        np.abs(dx) < r / 3,
        (np.abs(dy) < r / 4) | (np.abs(dx) < r / 4),
        np.abs(dy - dx) < r / 3,
        np.abs(dist - r) < r / 4,
        ((np.floor(yy * 4) + np.floor(xx * 4)) % 2 == 0) & np.ones_like(dist, bool),
        (np.abs(np.sin(yy * 12)) > 0.8) & (np.abs(np.sin(xx * 12)) > 0.8) & np.ones_like(dist, bool),
        (dy + dx < 0) & (np.abs(dy) < r) & (np.abs(dx) < r),
    ]
    img = np.zeros((n, n_H, n_W), np.float32)
    for k in range(min(n_classes, 10)):
        sel = (y % 10) == k
        img[sel] = shapes[k][sel]
    tint = rng.uniform(0.6, 1.0, (n, 1, 1, n_C)).astype(np.float32)
    x = img[..., None] * tint + rng.normal(0, 0.15, (n, n_H, n_W, n_C)).astype(np.float32)
    return np.clip(x * 255, 0, 255).astype(np.uint8), y.astype(np.int64)


# ---------------------------------------------------------------- the one entry point

def normalise(x, mean, std):
    return ((np.asarray(x, np.float32) - mean) / std).astype(np.float32)


def load(source=None, *, input_shape=None, n_classes=None, seed=0, val_fraction=0.1,
         synthetic_size=6000) -> Dataset:
    """The data set named by source, normalised, split, and checked against the spec's shapes."""
    if source in (None, "synthetic"):
        shape = tuple(input_shape) if input_shape and len(input_shape) == 3 else (28, 28, 1)
        k = n_classes or 10
        x, y = synthetic(synthetic_size, *shape, k, seed)
        x_test, y_test = synthetic(max(synthetic_size // 6, k), *shape, k, seed + 1)
        what = "synthetic shapes"
    elif not os.path.exists(source):
        _fail(source, "no such data file or folder",
              allowed="an IDX folder/file, a cifar-10-batches-py folder, an .npz, or 'synthetic'")
    elif os.path.isdir(source) and os.path.exists(os.path.join(source, "data_batch_1")):
        x, y, x_test, y_test = load_cifar10(source)
        what = "CIFAR-10"
    elif source.endswith(".npz"):
        x, y, x_test, y_test = load_npz(source)
        what = "npz"
    else:
        x, y, x_test, y_test = load_idx(source)
        what = "IDX"
    data_shape = tuple(int(v) for v in x.shape[1:])
    if input_shape is not None and tuple(input_shape) != data_shape:
        _fail(source or "synthetic", f"the data is {'×'.join(map(str, data_shape))} but the spec's input is "
              f"{'×'.join(map(str, input_shape))}", fix=f"use --input {','.join(map(str, data_shape))} "
              f"or a spec with input: {list(data_shape)}")
    k = int(max(y.max(), y_test.max() if y_test is not None else 0)) + 1
    if y.min() < 0:
        _fail(source, "labels must not be negative", int(y.min()))
    if n_classes is not None and k > n_classes:
        _fail(source or "synthetic", f"the data has labels up to {k - 1} but the spec's output has {n_classes} classes",
              fix=f"end the spec with dense: {k}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    n_val = int(len(x) * val_fraction)
    val_idx, train_idx = order[:n_val], order[n_val:]
    x_train = x[train_idx].astype(np.float32)
    mean = x_train.mean(axis=(0, 1, 2), dtype=np.float64).astype(np.float32)
    std = x_train.std(axis=(0, 1, 2), dtype=np.float64).astype(np.float32)
    std[std == 0] = 1.0
    train = Split(normalise(x_train, mean, std), y[train_idx].astype(np.int64))
    val = Split(normalise(x[val_idx], mean, std), y[val_idx].astype(np.int64)) if n_val else None
    test = Split(normalise(x_test, mean, std), y_test.astype(np.int64)) if x_test is not None else None
    classes = n_classes or k
    desc = (f"{what}: {len(train.y):,} train / {len(val.y) if val else 0:,} val / "
            f"{len(test.y) if test else 0:,} test, {'×'.join(map(str, data_shape))}, {classes} classes")
    return Dataset(train, val, test, classes, data_shape, mean, std, desc)
