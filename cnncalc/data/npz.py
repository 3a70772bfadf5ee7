"""An .npz of your own data: x (m, n_H, n_W, n_C) or (m, n_H, n_W), y (m,) integers, and
optionally x_test, y_test and class_names (a str array). Loaded with allow_pickle=False: an .npz
can hold pickled objects, and unpickling a downloaded file can run code."""

from __future__ import annotations

import os
import zipfile
import zlib

import numpy as np

from cnncalc.data.dataset import Raw
from cnncalc.errors import DataError, Mark

ZIP_MAGIC = b"PK\x03\x04"
NPY_MAGIC = b"\x93NUMPY"
KEYS = ("x", "y", "x_test", "y_test", "class_names")


def read_arrays(path: str, keys=KEYS) -> tuple[dict[str, np.ndarray], list[str]]:
    """(the arrays named in keys that are present, the names of all arrays in the file);
    a DataError for anything unreadable."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(NPY_MAGIC))
    except OSError as exc:
        raise DataError(f"cannot read the file ({exc.strerror})", Mark(path)) from None
    if head.startswith(NPY_MAGIC):
        raise DataError("this is an .npy (one array); training needs an .npz with x and y", Mark(path),
                        fix="np.savez(path, x=images, y=labels)")
    if not head.startswith(ZIP_MAGIC):
        raise DataError("not an .npz (zip) file", Mark(path), received=head[:4].hex(" ") or "an empty file",
                        allowed=f"zip's magic {ZIP_MAGIC.hex(' ')}")
    arrays, names, key = {}, [], None
    try:
        with np.load(path, allow_pickle=False) as f:
            for key in f.files:
                if key in keys:
                    arrays[key] = f[key]
            names = sorted(f.files)
    except ValueError as exc:
        if "allow_pickle" in str(exc) and key is not None:
            raise DataError(f"array {key!r} holds Python objects, which are not loaded", Mark(path), field=key,
                            fix="save numbers, or class names as a str array: np.array(names, dtype=str)") from None
        raise DataError(f"not a readable .npz ({exc})", Mark(path)) from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as exc:
        raise DataError(f"corrupt or truncated .npz ({type(exc).__name__}: {exc})", Mark(path)) from None
    return arrays, names


def _images(path, arrays, key):
    x = arrays[key]
    if x.ndim == 3:
        x = x[..., None]  # (m, n_H, n_W) is one channel
    if x.ndim != 4 or 0 in x.shape:
        raise DataError(f"{key} must hold images", Mark(path), field=key, received=x.shape,
                        allowed="(m, n_H, n_W, n_C) or (m, n_H, n_W), none of them 0")
    if x.dtype == np.bool_ or not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise DataError(f"{key} must be numbers", Mark(path), field=key, received=str(x.dtype),
                        allowed="uint8 (0…255) or another integer or float type")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        raise DataError(f"{key} holds NaN or infinite values", Mark(path), field=key,
                        received=int(np.size(x) - np.count_nonzero(np.isfinite(x))))
    return x


def _labels(path, arrays, key, m):
    y = arrays[key]
    if y.ndim != 1 or len(y) != m or y.dtype == np.bool_ or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{key} must be {m:,} integer labels, one per image", Mark(path), field=key,
                        received=f"{y.dtype} {y.shape}", allowed=f"integers, shape ({m},)",
                        fix="y.astype(np.int64).ravel()" if y.size == m else None)
    return y.astype(np.int64)


def load_npz(path: str) -> Raw:
    arrays, files = read_arrays(path)
    if "x" not in arrays or "y" not in arrays:
        raise DataError("an .npz for training needs arrays x and y", Mark(path), received=files,
                        allowed="x (m, n_H, n_W, n_C) or (m, n_H, n_W), y (m,); optional x_test, y_test, class_names")
    x = _images(path, arrays, "x")
    y = _labels(path, arrays, "y", len(x))
    x_test = y_test = None
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise DataError("x_test and y_test come together", Mark(path), received=files)
    if "x_test" in arrays:
        x_test = _images(path, arrays, "x_test")
        y_test = _labels(path, arrays, "y_test", len(x_test))
        if x_test.shape[1:] != x.shape[1:]:
            raise DataError("x_test's images differ in shape from x's", Mark(path), field="x_test",
                            received=x_test.shape[1:], allowed=f"{x.shape[1:]}, as in x")
    names = None
    if "class_names" in arrays:
        c = arrays["class_names"]
        if c.ndim != 1 or c.dtype.kind not in "US":
            raise DataError("class_names must be a 1-D array of strings", Mark(path), field="class_names",
                            received=f"{c.dtype} {c.shape}")
        names = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in c.tolist()]
    return Raw(x, y, x_test, y_test, kind="npz", source=path, class_names=names,
               label=f"npz ({os.path.basename(path)})")
