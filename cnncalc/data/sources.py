"""Which loader reads a path, judged by what is there (names in a folder, magic bytes of a file),
and the two entry points: `load` for train/evaluate, `load_inputs` for predict."""

from __future__ import annotations

import os

import numpy as np

from cnncalc.data import cifar10, idx, netpbm, npz, synthetic
from cnncalc.data.catalog import resolve
from cnncalc.data.dataset import Dataset, build, shape_text
from cnncalc.data.files import open_regular
from cnncalc.data.limit import stratified_first
from cnncalc.errors import DataError, Mark

ACCEPTED = ("an MNIST-format IDX folder or images file, a cifar-10-batches-py folder, an .npz with x and y, "
            "or 'synthetic'")
_IDX_HEAD = (b"\x00\x00\x08\x03", b"\x00\x00\x08\x01")


def _head(path: str, n: int = 8) -> bytes:
    with open_regular(path) as fh:
        try:
            return fh.read(n)
        except OSError as exc:
            raise DataError(f"cannot read the file ({exc.strerror})", Mark(path)) from None


def detect(source: str | None) -> str:
    """The loader for source — synthetic, cifar10, idx or npz — from what is there; DataError when none fits."""
    if source is None or source == "synthetic":
        return "synthetic"
    if not os.path.exists(source):
        raise DataError("no such data file or folder", Mark(source), allowed=ACCEPTED)
    if os.path.isdir(source):
        if cifar10.train_batches(source):
            return "cifar10"
        if idx.find_images(source):
            return "idx"
        names = sorted(os.listdir(source))
        fix = None
        if "cifar-10-batches-py" in names:
            fix = f"use {os.path.join(source, 'cifar-10-batches-py')}"
        elif "test_batch" in names or "batches.meta" in names:
            fix = "the folder has CIFAR-10's test_batch but no data_batch_N: extract the archive again"
        elif any(n.startswith("t10k-images") for n in names):
            fix = "the folder has t10k test files but no train-images-idx3-ubyte[.gz]"
        raise DataError("no training data recognised in this folder", Mark(source),
                        received=names[:6] + (["…"] if len(names) > 6 else []), allowed=ACCEPTED, fix=fix)
    head = _head(source)
    if head.startswith(npz.ZIP_MAGIC) or head.startswith(npz.NPY_MAGIC) or source.endswith((".npz", ".npy")):
        return "npz"
    if head.startswith(idx.GZIP_MAGIC) or head[:4] in _IDX_HEAD or "idx" in os.path.basename(source):
        return "idx"
    if os.path.basename(source) in ("test_batch", "batches.meta") or os.path.basename(source).startswith("data_batch_"):
        raise DataError("a single CIFAR-10 batch", Mark(source), fix="give the cifar-10-batches-py folder")
    raise DataError("cannot tell the data format of this file", Mark(source), received=head[:4].hex(" ") or "empty",
                    allowed=ACCEPTED)


def load(source: str | None = None, *, input_shape: tuple[int, int, int] | None = None,
         n_classes: int | None = None, seed: int = 0, val_fraction: float = 0.1,
         synthetic_size: int = 6000, limit: int | None = None, data_dir: str | None = None) -> Dataset:
    """The data set at source, checked against the spec, split and normalised.

    source: None or "synthetic", an IDX folder or images file, a cifar-10-batches-py folder, an .npz.
    input_shape: the spec's (n_H, n_W, n_C), or None not to check (synthetic: the size to draw,
    default 28×28×1). n_classes: the spec's output size, or None (synthetic: default 10).
    seed: the validation split (and the synthetic images); val_fraction in [0, 1).
    source may also be a data set's name (mnist, cifar10, …), found in the cache under data_dir
    (catalog.resolve). limit: keep only the first `limit` training images, stratified by class
    (data.limit), before the validation split is carved from them.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DataError("the seed must be a non-negative integer", Mark(str(source or "synthetic")), field="seed",
                        received=seed)
    if input_shape is not None:
        input_shape = tuple(int(v) for v in input_shape)
        if len(input_shape) != 3:
            raise DataError("image data needs an input of n_H × n_W × n_C", Mark(str(source or "synthetic")),
                            received=input_shape, allowed="(n_H, n_W, n_C)")
    source = resolve(source, data_dir)
    kind = detect(source)
    if kind == "synthetic":
        raw = synthetic.load_synthetic(input_shape, n_classes, seed, synthetic_size)
    elif kind == "cifar10":
        raw = cifar10.load_cifar10(source)
    elif kind == "npz":
        raw = npz.load_npz(source)
    else:
        raw = idx.load_idx(source)
    chosen = None
    if limit is not None:
        rows, chosen = stratified_first(raw.y, limit, raw.source)
        if chosen.taken < chosen.available:
            raw.x, raw.y = raw.x[rows], raw.y[rows]
            raw.limited = (chosen.taken, chosen.available)
    dataset = build(raw, input_shape=input_shape, n_classes=n_classes, seed=seed, val_fraction=val_fraction)
    dataset.limit = chosen
    return dataset


def load_inputs(path: str, input_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Images for predict, not normalised: float32 (m, n_H, n_W, n_C) in the file's units
    ((m, n) when input_shape is a vector (n,)).

    path: an .npz with x, an .npy, a PGM/PPM image, or an IDX images file. x may be
    (m, n_H, n_W, n_C), one image (n_H, n_W, n_C), or without the channel axis when n_C is 1;
    with input_shape None a 3-D x is one image if its last axis is 1, 3 or 4, else m gray images.
    Apply `normalise(x, mean, std)` with the training run's statistics.
    """
    head = _head(path)
    if head.startswith(npz.ZIP_MAGIC):
        arrays, files = npz.read_arrays(path, keys=("x",))
        if "x" not in arrays:
            raise DataError("the .npz has no array x", Mark(path), received=files, allowed="x (m, n_H, n_W, n_C)")
        x = arrays["x"]
    elif head.startswith(npz.NPY_MAGIC):
        try:
            with open_regular(path) as fh:
                npz.check_declared(fh, os.fstat(fh.fileno()).st_size, path)
            x = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise DataError(f"not a readable .npy ({exc})", Mark(path)) from None
    elif netpbm.is_netpbm(head):
        x = netpbm.read_netpbm(path)
    elif head.startswith(idx.GZIP_MAGIC) or head[:4] in _IDX_HEAD:
        x = idx.read_idx(path, idx.IMAGES)
    else:
        raise DataError("cannot tell the format of the inputs", Mark(path), received=head[:4].hex(" ") or "empty",
                        allowed="PNG, JPEG, PGM/PPM (P2/P3/P5/P6), .npz with x, .npy, or an IDX images file")
    if x.dtype == np.bool_ or not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise DataError("inputs must be numbers", Mark(path), received=str(x.dtype), allowed="integer or float")
    return _as_batch(np.asarray(x, np.float32), input_shape, path)


def _as_batch(x: np.ndarray, want, path: str) -> np.ndarray:
    """x as (m, n_H, n_W, n_C) for the spec's (n_H, n_W, n_C) or None; as (m, n) for a spec whose input is (n,)."""
    given = x.shape
    want = None if want is None else tuple(int(v) for v in want)
    if want is not None and len(want) == 1:
        x = x[None] if x.shape == want else x
        fits = x.ndim == 2 and x.shape[1:] == want
        allowed = f"(m, {want[0]}) or ({want[0]},)"
    else:
        if x.ndim == 2 and (want is None or want[2] == 1):
            x = x[None, :, :, None]  # one gray image
        elif x.ndim == 3:
            one = x.shape == want if want else x.shape[-1] in (1, 3, 4)
            x = x[None] if one else x[..., None]  # one image, or m gray ones
        fits = x.ndim == 4 and (want is None or x.shape[1:] == want)
        allowed = "(m, n_H, n_W, n_C), (n_H, n_W, n_C), or (n_H, n_W) when n_C is 1"
    if not given or 0 in given:
        raise DataError("the inputs hold no image", Mark(path), received=given,
                        allowed="an array with at least one image, no size 0")
    if not fits:
        raise DataError(f"the inputs are {shape_text(given)} but the network's input is "
                        f"{shape_text(want) if want else 'n_H×n_W×n_C'}", Mark(path), received=given, allowed=allowed)
    if not np.isfinite(x).all():
        raise DataError("the inputs hold NaN or infinite values", Mark(path))
    return x
