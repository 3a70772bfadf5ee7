"""CIFAR-10's python batches: the `cifar-10-batches-py` folder (data_batch_1…5, test_batch, batches.meta).

Each batch is a Python 2 pickle of a dict: b"data" a uint8 array (10000, 3072) whose rows hold the
red, green and blue 32×32 planes one after another, row-major; b"labels" a list of ints 0…9.
https://www.cs.toronto.edu/~kriz/cifar.html
"""

from __future__ import annotations

import importlib
import os
import pickle
import re

import numpy as np

from cnncalc.data.dataset import Raw
from cnncalc.data.files import open_regular
from cnncalc.errors import DataError, Mark

n_H = n_W = 32
n_C = 3


def _numpy_global(module: str, name: str):
    # numpy 2 moved numpy.core to numpy._core; the batches name the old module, which still
    # imports but warns, so look in the new place first.
    for candidate in (module.replace("numpy.core", "numpy._core"), module):
        try:
            return getattr(importlib.import_module(candidate), name)
        except (ImportError, AttributeError):
            continue
    raise pickle.UnpicklingError(f"{module}.{name} is not in this numpy")


class Refused(pickle.UnpicklingError):
    """The pickle names a global that a CIFAR batch has no need of."""


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles only dicts, lists, strings, numbers and numpy arrays.

    A pickle may name any importable callable and have it called while loading, so an ordinary
    `pickle.load` of a downloaded file can run arbitrary code. A CIFAR batch needs only the globals
    that rebuild a numpy array (plus `_codecs.encode`, which Python 3 writes for bytes in protocol 2);
    every other global is refused before it is imported.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),  # protocol 5
        ("numpy", "ndarray"), ("numpy", "dtype"),
    }

    def find_class(self, module, name):
        if (module, name) == ("_codecs", "encode"):
            return super().find_class(module, name)
        if (module, name) in self.ALLOWED:
            return _numpy_global(module, name)
        raise Refused(f"{module}.{name}")


def _get(d: dict, key: str):
    # Python 2 str keys arrive as bytes under encoding="bytes"; a batch re-pickled in Python 3 has str keys
    return d[key.encode()] if key.encode() in d else d.get(key)


def unpickle(path: str):
    try:
        with open_regular(path) as fh:
            return RestrictedUnpickler(fh, encoding="bytes").load()
    except OSError as exc:
        raise DataError(f"cannot read the file ({exc.strerror})", Mark(path)) from None
    except Refused as exc:
        raise DataError("not loaded: the pickle calls a function a CIFAR batch does not need, and unpickling "
                        "could run code", Mark(path), received=str(exc),
                        allowed="numpy arrays, lists, dicts, strings and numbers") from None
    except Exception as exc:  # a damaged pickle can raise almost anything while it is rebuilt
        raise DataError(f"not a readable CIFAR-10 python batch ({type(exc).__name__}: {exc})", Mark(path),
                        fix="download and extract cifar-10-python.tar.gz again") from None


def _array(value, path: str, key: str) -> np.ndarray:
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged nested lists, objects numpy cannot hold
        raise DataError(f"CIFAR-10 {key} is not an array ({exc})", Mark(path), field=key,
                        received=type(value).__name__, allowed="uint8 (m, 3072) data and a list of m integer labels"
                        ) from None


def read_batch(path: str) -> tuple[np.ndarray, np.ndarray]:
    """One batch as x: uint8 (m, 32, 32, 3) (a view of the file's array) and y: int64 (m,)."""
    d = unpickle(path)
    data = _get(d, "data") if isinstance(d, dict) else None
    labels = _get(d, "labels") if isinstance(d, dict) else None
    if data is None or labels is None:
        found = sorted(k.decode() if isinstance(k, bytes) else str(k) for k in d) if isinstance(d, dict) else \
            type(d).__name__
        raise DataError("a CIFAR-10 batch is a dict with data and labels", Mark(path), received=found,
                        allowed="data (m, 3072) uint8 and labels (the python version of CIFAR-10)")
    data = _array(data, path, "data")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != n_C * n_H * n_W:
        raise DataError("CIFAR-10 data has the wrong type or shape", Mark(path), field="data",
                        received=f"{data.dtype} {data.shape}", allowed=f"uint8 (m, {n_C * n_H * n_W})")
    y = _array(labels, path, "labels")
    if y.size == 0:
        y = y.astype(np.int64)  # np.asarray([]) is float64
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError("CIFAR-10 labels must be a list of integers", Mark(path), field="labels",
                        received=f"{y.dtype} {y.shape}", allowed="(m,) integers 0…9")
    if len(y) != len(data):
        raise DataError(f"images and labels differ in count: {len(data):,} images, {len(y):,} labels",
                        Mark(path), field="labels", received=len(y), allowed=f"{len(data):,} (one per image)")
    # rows are [R plane | G plane | B plane]: (m, n_C, n_H, n_W) → the course's (m, n_H, n_W, n_C)
    return data.reshape(-1, n_C, n_H, n_W).transpose(0, 2, 3, 1), y.astype(np.int64)


def class_names(folder: str) -> list[str] | None:
    path = os.path.join(folder, "batches.meta")
    if not os.path.exists(path):
        return None
    d = unpickle(path)
    names = _get(d, "label_names") if isinstance(d, dict) else None
    if not isinstance(names, list) or not names:
        raise DataError("batches.meta has no label_names list", Mark(path))
    return [n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in names]


def train_batches(folder: str) -> list[str]:
    """data_batch_N files in folder, by N."""
    found = [(int(m.group(1)), name) for name in os.listdir(folder)
             if (m := re.fullmatch(r"data_batch_(\d+)", name))]
    return [os.path.join(folder, name) for _, name in sorted(found)]


def load_cifar10(folder: str) -> Raw:
    """The training batches (all data_batch_N present), test_batch as the test split, names from batches.meta."""
    paths = train_batches(folder)
    if not paths:
        raise DataError("no data_batch_1 … data_batch_5 in this folder", Mark(folder),
                        allowed="the cifar-10-batches-py folder of cifar-10-python.tar.gz")
    xs, ys = zip(*(read_batch(p) for p in paths))
    x, y = (xs[0], ys[0]) if len(xs) == 1 else (np.concatenate(xs), np.concatenate(ys))
    test = os.path.join(folder, "test_batch")
    x_test, y_test = read_batch(test) if os.path.exists(test) else (None, None)
    return Raw(x, y, x_test, y_test, kind="CIFAR-10", source=folder, class_names=class_names(folder),
               name=os.path.basename(os.path.normpath(folder)), parts=len(paths) if len(paths) < 5 else None)
