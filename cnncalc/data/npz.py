"""An .npz of your own data: x (m, n_H, n_W, n_C) or (m, n_H, n_W), y (m,) integers, and
optionally x_test, y_test and class_names (a str array). Loaded with allow_pickle=False: an .npz
can hold pickled objects, and unpickling a downloaded file can run code."""

from __future__ import annotations

import math
import os
import zipfile
import zlib

import numpy as np

from cnncalc.data.dataset import Raw
from cnncalc.data.files import check_size, open_regular
from cnncalc.errors import DataError, Mark

ZIP_MAGIC = b"PK\x03\x04"
NPY_MAGIC = b"\x93NUMPY"
_FLOAT32_MAX = float(np.finfo(np.float32).max)
KEYS = ("x", "y", "x_test", "y_test", "class_names")


def read_arrays(path: str, keys=KEYS) -> tuple[dict[str, np.ndarray], list[str]]:
    """(the arrays named in keys that are present, the names of all arrays in the file);
    a DataError for anything unreadable."""
    with open_regular(path) as fh:
        try:
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
                    member = f.zip.getinfo(key + ".npy" if key + ".npy" in f.zip.namelist() else key)
                    with f.zip.open(member) as stream:
                        check_declared(stream, member.file_size, path, key)
                    arrays[key] = f[key]
            names = sorted(f.files)
    except ValueError as exc:
        if "allow_pickle" in str(exc) and key is not None:
            raise DataError(f"array {key!r} holds Python objects, which are not loaded", Mark(path), field=key,
                            fix="save numbers, or class names as a str array: np.array(names, dtype=str)") from None
        raise DataError(f"not a readable .npz ({exc})", Mark(path)) from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as exc:
        raise DataError(f"corrupt or truncated .npz ({type(exc).__name__}: {exc})", Mark(path)) from None
    except MemoryError:
        raise DataError("not enough memory to load the arrays", Mark(path), received=names) from None
    return arrays, names


def check_declared(stream, size: int, path: str, key: str | None = None) -> None:
    """Read the .npy header at the start of stream (a member of size bytes, or an .npy file) and
    refuse an array larger than the bytes that follow it, or than memory.

    numpy allocates the array the header declares before reading its data, so a 100-byte file
    declaring shape (10⁶, 10⁶) would ask for 7 TiB; this check comes first."""
    version = np.lib.format.read_magic(stream)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read_header(stream)
    if dtype.hasobject:
        return  # allow_pickle=False refuses it, with its own message
    declared = math.prod(shape) * dtype.itemsize
    follows = size - stream.tell()
    name = f"array {key!r}" if key else "the .npy"
    if declared > follows:
        raise DataError(f"the header of {name} declares shape {tuple(shape)} of {dtype} = {declared:,} bytes, but only "
                        f"{follows:,} bytes follow it", Mark(path), field=key, received=follows,
                        allowed=f"{declared:,} bytes", fix="the file is truncated or damaged; save it again")
    check_size(declared, path, f"the header of {name}")


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
    if np.issubdtype(x.dtype, np.floating) and x.dtype.itemsize > 4 and np.abs(x).max() > _FLOAT32_MAX:
        # training runs in float32, where these become infinite
        raise DataError(f"{key} holds values beyond float32's range", Mark(path), field=key,
                        received=float(np.abs(x).max()), allowed=f"|value| ≤ {_FLOAT32_MAX:.4g}")
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
               name=os.path.basename(path))
