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
from cnncalc.data.files import check_size, open_regular
from cnncalc.errors import DataError, Mark

IMAGES = 0x00000803
LABELS = 0x00000801
_KIND = {IMAGES: "images", LABELS: "labels"}
_IDX_TYPES = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "int16", 0x0C: "int32", 0x0D: "float32",
              0x0E: "float64"}
GZIP_MAGIC = b"\x1f\x8b"


def _stream(fh, path: str):
    """fh itself, or a gunzipping reader over it when the file starts with gzip's magic 1f 8b."""
    head = fh.read(2)
    fh.seek(0)
    if head == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=fh, mode="rb"), True
    if path.endswith(".gz"):
        raise DataError("the name ends in .gz but the file is not gzip data", Mark(path),
                        received=head.hex(" ") or "an empty file", allowed="gzip's magic 1f 8b")
    return fh, False


def _read_up_to(stream, n: int) -> bytearray:
    """Up to n bytes of stream (fewer only at its end), into one buffer of n bytes, never more:
    a gzip bomb inflates no further than the header allows."""
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = stream.readinto(view[got:])
        if not k:
            break
        got += k
    del view
    if got < n:
        del buf[got:]
    return buf


def describe_magic(magic: int) -> str:
    """What a 4-byte magic number says, in words, for an error message."""
    if magic in _KIND:
        return f"0x{magic:08X} is an IDX {_KIND[magic]} file"
    if magic >> 16 == 0 and (magic >> 8) & 0xFF in _IDX_TYPES:
        return f"0x{magic:08X} is an IDX file of {_IDX_TYPES[(magic >> 8) & 0xFF]} with {magic & 0xFF} dimensions"
    return f"0x{magic:08X} is not an IDX magic number"


def read_idx(path: str, magic: int) -> np.ndarray:
    """The uint8 array of an IDX file, raw or gzipped, read-only.

    magic: IMAGES (returns (m, n_H, n_W)) or LABELS (returns (m,)). The header's sizes are checked
    against the file before the payload is read, and a gzipped payload is inflated only up to the
    size the header gives (plus one byte, to see whether more follows), so neither a lying header
    nor a tiny .gz that inflates to gigabytes can exhaust memory.
    """
    n_dims = magic & 0xFF
    header = 4 + 4 * n_dims
    sizes = f"the magic number and {n_dims} size{'s' if n_dims > 1 else ''}"
    gzipped = False
    with open_regular(path) as fh:
        try:
            stream, gzipped = _stream(fh, path)
            head = _read_up_to(stream, header)
            if len(head) < 4:
                raise DataError("truncated IDX header (bytes)", Mark(path), received=len(head),
                                allowed=f"{header} bytes ({sizes})")
            found = int.from_bytes(head[:4], "big")
            if found != magic:
                raise DataError(f"wrong magic number for an IDX {_KIND[magic]} file: {describe_magic(found)}",
                                Mark(path), received=found, allowed=f"{magic} (0x{magic:08X})",
                                fix="check that the images and labels files are not swapped or renamed")
            if len(head) < header:
                raise DataError("truncated IDX header (bytes)", Mark(path), received=len(head),
                                allowed=f"{header} bytes ({sizes})")
            dims = tuple(int.from_bytes(head[4 + 4 * i: 8 + 4 * i], "big") for i in range(n_dims))
            expected = 1
            for d in dims:
                expected *= d
            if dims[0] == 0:
                raise DataError(f"the IDX {_KIND[magic]} file holds no items", Mark(path), received=dims)
            if 0 in dims:
                raise DataError(f"the IDX {_KIND[magic]} file declares images of {shape_text(dims[1:])} pixels",
                                Mark(path), received=dims, allowed="every size ≥ 1")
            what = f"the header's {shape_text(dims)} values"
            if gzipped:
                check_size(expected, path, what)
                payload = _read_up_to(stream, expected + 1)
                found_bytes = len(payload)
                longer = f"more than {expected:,}"
            else:
                found_bytes = os.fstat(fh.fileno()).st_size - header
                longer = found_bytes
                payload = None
                if found_bytes == expected:
                    check_size(expected, path, what)
                    payload = _read_up_to(stream, expected)
        except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError; a cut file an EOFError
            if not gzipped:
                raise DataError(f"cannot read the file ({exc})", Mark(path)) from None
            raise DataError(f"corrupt or truncated gzip data ({exc})", Mark(path),
                            fix="download the file again") from None
    if found_bytes != expected or len(payload) != expected:
        short = found_bytes < expected
        what = "truncated payload" if short else "payload longer than its header says"
        raise DataError(f"{what}: bytes after the {header}-byte header, which gives {shape_text(dims)} values",
                        Mark(path), received=found_bytes if short else longer, allowed=f"{expected:,} bytes",
                        fix="download the file again")
    x = np.frombuffer(payload, np.uint8).reshape(dims)
    x.flags.writeable = False
    return x


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
    return Raw(x, y, x_test, y_test, kind="IDX", source=path, name=name)
