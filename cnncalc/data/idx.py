"""MNIST-format IDX files, raw or gzipped: MNIST, Fashion-MNIST and KMNIST all ship this way.

An IDX file (http://yann.lecun.com/exdb/mnist/) is a big-endian int32 magic number 0x000008NN —
0x08 says unsigned bytes, NN the number of dimensions — then NN big-endian int32 sizes, then the
bytes in row-major order: images are 0x00000803 = 2051, (m, n_H, n_W); labels 0x00000801 = 2049, (m,).
"""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

from cnncalc.data.dataset import Raw, shape_text
from cnncalc.errors import DataError, Mark

IMAGES = 0x00000803
LABELS = 0x00000801
_KIND = {IMAGES: "images", LABELS: "labels"}
_IDX_TYPES = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "int16", 0x0C: "int32", 0x0D: "float32",
              0x0E: "float64"}
GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: str) -> bytes:
    """The file's bytes, gunzipped when they start with gzip's magic 1f 8b."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise DataError(f"cannot read the file ({exc.strerror})", Mark(path)) from None
    if raw[:2] == GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError; a cut file an EOFError
            raise DataError(f"corrupt or truncated gzip data ({exc})", Mark(path),
                            fix="download the file again") from None
    if path.endswith(".gz"):
        raise DataError("the name ends in .gz but the file is not gzip data", Mark(path),
                        received=raw[:2].hex(" ") or "an empty file", allowed="gzip's magic 1f 8b")
    return raw


def describe_magic(magic: int) -> str:
    """What a 4-byte magic number says, in words, for an error message."""
    if magic in _KIND:
        return f"0x{magic:08X} is an IDX {_KIND[magic]} file"
    if magic >> 16 == 0 and (magic >> 8) & 0xFF in _IDX_TYPES:
        return f"0x{magic:08X} is an IDX file of {_IDX_TYPES[(magic >> 8) & 0xFF]} with {magic & 0xFF} dimensions"
    return f"0x{magic:08X} is not an IDX magic number"


def read_idx(path: str, magic: int) -> np.ndarray:
    """The uint8 array of an IDX file, read-only, without copying the payload.

    magic: IMAGES (returns (m, n_H, n_W)) or LABELS (returns (m,)).
    """
    raw = read_bytes(path)
    n_dims = magic & 0xFF
    header = 4 + 4 * n_dims
    sizes = f"the magic number and {n_dims} size{'s' if n_dims > 1 else ''}"
    if len(raw) < 4:
        raise DataError("truncated IDX header (bytes)", Mark(path), received=len(raw),
                        allowed=f"{header} bytes ({sizes})")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise DataError(f"wrong magic number for an IDX {_KIND[magic]} file: {describe_magic(found)}",
                        Mark(path), received=found, allowed=f"{magic} (0x{magic:08X})",
                        fix="check that the images and labels files are not swapped or renamed")
    if len(raw) < header:
        raise DataError("truncated IDX header (bytes)", Mark(path), received=len(raw),
                        allowed=f"{header} bytes ({sizes})")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(n_dims))
    expected = 1
    for d in dims:
        expected *= d
    found_bytes = len(raw) - header
    if found_bytes != expected:
        what = "truncated payload" if found_bytes < expected else "payload longer than its header says"
        raise DataError(f"{what}: bytes after the {header}-byte header, which gives {shape_text(dims)} values",
                        Mark(path), received=found_bytes, allowed=f"{expected:,} bytes", fix="download the file again")
    if dims[0] == 0:
        raise DataError(f"the IDX {_KIND[magic]} file holds no items", Mark(path), received=dims)
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


# ---------------------------------------------------------------- finding the files

def _candidates(stem: str) -> list[str]:
    # the original names, and the "train-images.idx3-ubyte" spelling some mirrors use
    dashed = stem.replace(".idx", "-idx")
    dotted = dashed.replace("-idx", ".idx")
    return [dashed, dashed + ".gz", dotted, dotted + ".gz"]


def _find(folder: str, stem: str) -> str | None:
    for name in _candidates(stem):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def find_images(folder: str) -> str | None:
    """The training images file in folder, if there is one."""
    return _find(folder, "train-images-idx3-ubyte")


def labels_beside(images: str) -> str:
    """The labels file that belongs to an images file (…images…idx3… → …labels…idx1…)."""
    folder, name = os.path.split(images)
    base = name[:-3] if name.endswith(".gz") else name
    stem = base.replace("images", "labels").replace("idx3", "idx1")
    found = _find(folder or ".", stem) if stem != base else None
    if found is None:
        raise DataError("no labels file beside the images", Mark(images),
                        allowed=" or ".join(_candidates(stem)[:2]) if stem != base else
                        "an images file named like train-images-idx3-ubyte, with its -labels-idx1- file",
                        fix="put the labels file in the same folder")
    return found


def _pair(images: str) -> tuple[np.ndarray, np.ndarray]:
    x = read_idx(images, IMAGES)  # first, so that a labels file given by mistake is named as one
    labels = labels_beside(images)
    y = read_idx(labels, LABELS)
    if len(x) != len(y):
        raise DataError(f"images and labels differ in count: {os.path.basename(images)} has {len(x):,} images, "
                        f"{os.path.basename(labels)} {len(y):,} labels", Mark(labels), received=len(y),
                        allowed=f"{len(x):,} (one per image)")
    return x[..., None], y.astype(np.int64)


def load_idx(path: str) -> Raw:
    """A folder of train-/t10k- IDX files, or one images file with its labels file beside it.

    The t10k pair beside the train pair becomes the test split; one must not come without the other.
    """
    if os.path.isdir(path):
        folder, images = path, find_images(path)
        if images is None:
            raise DataError("no train-images-idx3-ubyte[.gz] in this folder", Mark(path),
                            allowed="train-/t10k-images-idx3-ubyte and -labels-idx1-ubyte, .gz or raw")
    else:
        folder, images = os.path.dirname(path) or ".", path
    x, y = _pair(images)
    x_test = y_test = None
    if os.path.basename(images).startswith("train-"):
        test_images = _find(folder, "t10k-images-idx3-ubyte")
        test_labels = _find(folder, "t10k-labels-idx1-ubyte")
        if test_labels and not test_images:
            raise DataError("t10k labels without t10k images", Mark(test_labels),
                            allowed="both t10k files, or neither")
        if test_images:
            x_test, y_test = _pair(test_images)
            if x_test.shape[1:] != x.shape[1:]:
                raise DataError(f"the test images are {shape_text(x_test.shape[1:3])} but the training images "
                                f"are {shape_text(x.shape[1:3])}", Mark(test_images))
    name = os.path.basename(os.path.normpath(folder if os.path.isdir(path) else path))
    return Raw(x, y, x_test, y_test, kind="IDX", source=path, label=f"IDX ({name})")
