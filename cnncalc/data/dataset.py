"""What every loader hands back, and the steps shared by all of them: the seeded validation split,
per-channel statistics of the train split, normalisation, and the check against the spec.

Loaders (`idx`, `cifar10`, `npz`, `synthetic`) return a `Raw`: images as read, in the course's
layout x: (m, n_H, n_W, n_C), and int64 labels. `build` turns a `Raw` into a `Dataset`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from cnncalc.errors import DataError, Mark
from cnncalc.shapes import shape_text  # noqa: F401 — also imported from here by the data readers

# Rows per chunk when the variance pass converts to float64, so that the pass holds ~32 MiB of
# float64 at a time instead of a copy of the whole train split (CIFAR-10: 1.2 GiB).
_CHUNK_VALUES = 1 << 22
# Classes accepted when no spec says how many (load without n_classes): labels are class numbers.
MAX_CLASSES = 1 << 16


@dataclass
class Split:
    """One split: x: float32 (m, n_H, n_W, n_C), normalised; y: int64 (m,)."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Dataset:
    """Train/val/test splits normalised with the train split's per-channel mean and std.

    mean, std: float32 (n_C,), in the units of the files (0…255 for image bytes); predict and
    evaluate apply them to new data with `normalise`. val is None when val_fraction is 0, test
    when the source has no test set.
    """

    train: Split
    val: Split | None
    test: Split | None
    n_classes: int
    input_shape: tuple[int, int, int]
    mean: np.ndarray
    std: np.ndarray
    summary: "Summary"
    class_names: list[str] = field(default_factory=list)
    kind: str = ""      # "IDX", "CIFAR-10", "npz", "synthetic"
    source: str = ""    # the path, or "synthetic"
    limit: object = None  # a data.limit.Limit when --limit chose the training rows


@dataclass(frozen=True)
class Summary:
    """What a built data set is, for the training view (`render.training.data_text` words it)."""

    kind: str                 # "IDX", "CIFAR-10", "npz", "synthetic"
    name: str                 # the folder or file name; "" for synthetic
    seed: int | None          # synthetic: the seed
    parts: int | None         # CIFAR-10: training batches read, when fewer than five
    limited: tuple[int, int] | None  # --limit: (rows taken, rows available), by class
    n_train: int
    n_val: int
    n_test: int
    shape: tuple[int, int, int]
    n_classes: int
    n_distinct: int | None    # synthetic: classes it can draw apart, when fewer than n_classes


@dataclass
class Raw:
    """A loader's result before splitting: x: (m, n_H, n_W, n_C) uint8 or float; y: int64 (m,)."""

    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    kind: str
    source: str
    class_names: list[str] | None = None
    name: str = ""        # the folder or file the data came from ("mnist", "d.npz"); "" for synthetic
    seed: int | None = None    # synthetic: the seed that drew it
    parts: int | None = None   # CIFAR-10: training batches read, when fewer than the five
    limited: tuple[int, int] | None = None  # --limit: (rows taken, rows available)
    n_distinct: int | None = None  # synthetic only: how many classes it can draw apart


# ---------------------------------------------------------------- normalisation

def channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and population std (ddof 0) of x: (m, n_H, n_W, n_C), accumulated in float64.

    Returns float32 (n_C,) arrays. A constant channel gets std 1 rather than 0, so normalising
    leaves it at 0 instead of dividing by zero.
    """
    n_C = x.shape[-1]
    count = x.size // n_C
    mean = x.sum(axis=(0, 1, 2), dtype=np.float64) / count
    rows = max(1, _CHUNK_VALUES // max(1, x[0].size))
    square_sum = np.zeros(n_C, np.float64)
    for start in range(0, len(x), rows):  # two-pass variance, exact to float64 rounding
        d = (x[start:start + rows].astype(np.float64) - mean).reshape(-1, n_C)
        square_sum += np.einsum("ic,ic->c", d, d)
    std = np.sqrt(square_sum / count)
    std[std == 0] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


def normalise(x, mean, std) -> np.ndarray:
    """(x − mean) / std per channel, as a new float32 array; x: (..., n_C) uint8 or float.

    mean, std: (n_C,) from `Dataset.mean`/`Dataset.std` (or a checkpoint). x is never modified.
    """
    out = np.array(x, dtype=np.float32, copy=True)
    out -= np.asarray(mean, np.float32)
    out /= np.asarray(std, np.float32)
    return out


# ---------------------------------------------------------------- split, check, build

def validation_count(m: int, val_fraction: float, source: str) -> int:
    """round(m · val_fraction) images for validation; at least one must stay for training."""
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) \
            or not 0 <= val_fraction < 1 or math.isnan(val_fraction):
        raise DataError("the validation fraction must be in [0, 1)", Mark(source), field="val_fraction",
                        received=val_fraction, allowed="0 ≤ val_fraction < 1 (0.1 holds out 10%)")
    n_val = round(m * val_fraction)
    if n_val >= m:
        raise DataError(f"holding out {n_val} of {m} images for validation leaves none to train on",
                        Mark(source), field="val_fraction", received=val_fraction,
                        fix="use a smaller --val-fraction or more data")
    return n_val


def split_indices(m: int, n_val: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) row indices: val is the first n_val of default_rng(seed).permutation(m).

    Both come back sorted, so the splits keep the file's order (the trainer shuffles each epoch)
    and the gathers read memory forwards.
    """
    order = np.random.default_rng(seed).permutation(m)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def check_fit(raw: Raw, input_shape, n_classes) -> int:
    """Raise DataError unless the data fits the spec; return the number of classes to train for.

    input_shape: the spec's (n_H, n_W, n_C) or None; n_classes: the spec's output size or None.
    """
    where = Mark(raw.source)
    if len(raw.y) == 0:
        raise DataError("the data holds no training images", where, received=raw.x.shape)
    data_shape = tuple(int(v) for v in raw.x.shape[1:])
    if input_shape is not None and tuple(int(v) for v in input_shape) != data_shape:
        raise DataError(f"the data is {shape_text(data_shape)} but the spec's input is {shape_text(input_shape)}",
                        where, fix=f"use --input {','.join(map(str, data_shape))} or a spec with "
                                   f"input {list(data_shape)}")
    labels = [(name, y) for name, y in (("train", raw.y), ("test", raw.y_test)) if y is not None and len(y)]
    for name, y in labels:
        if y.min() < 0:
            raise DataError(f"the {name} labels must not be negative", where, received=int(y.min()),
                            allowed="class numbers 0, 1, 2, …")
    data_classes = max(int(y.max()) + 1 for _, y in labels)
    if n_classes is None and data_classes > MAX_CLASSES:  # a class name each would not fit in memory
        raise DataError(f"the data has labels up to {data_classes - 1:,}", where, received=data_classes - 1,
                        allowed=f"class numbers below {MAX_CLASSES:,}, or a spec whose output size says how many")
    named = len(raw.class_names or ())
    if raw.class_names and named < data_classes:
        raise DataError(f"the data names {named} classes but has labels up to {data_classes - 1}", where,
                        field="class_names", received=named, allowed=f"at least {data_classes} names")
    if n_classes is not None:
        if data_classes > n_classes:
            raise DataError(f"the data has labels up to {data_classes - 1} but the spec's output has "
                            f"{n_classes} classes", where, received=data_classes - 1,
                            allowed=f"labels in [0, {n_classes})", fix=f"end the spec with dense: {data_classes}")
        if named > n_classes:
            raise DataError(f"the data has {named} classes but the spec's output has {n_classes}", where,
                            field="class_names", received=named, allowed=f"at most {n_classes}",
                            fix=f"end the spec with dense: {named}")
        return int(n_classes)
    return max(data_classes, named)


def build(raw: Raw, *, input_shape=None, n_classes=None, seed: int = 0, val_fraction: float = 0.1) -> Dataset:
    """Check raw against the spec, carve the validation split, normalise every split with the
    train split's per-channel mean and std."""
    k = check_fit(raw, input_shape, n_classes)
    n_val = validation_count(len(raw.y), val_fraction, raw.source)
    train_idx, val_idx = split_indices(len(raw.y), n_val, seed)
    x_train = raw.x[train_idx] if n_val else raw.x  # a copy in the file's dtype; normalise makes the float32 one
    mean, std = channel_stats(x_train)
    train = Split(normalise(x_train, mean, std), raw.y[train_idx])
    del x_train
    val = Split(normalise(raw.x[val_idx], mean, std), raw.y[val_idx]) if n_val else None
    test = Split(normalise(raw.x_test, mean, std), raw.y_test) if raw.x_test is not None else None
    names = list(raw.class_names or ())
    names += [str(c) for c in range(len(names), k)]
    shape = tuple(int(v) for v in raw.x.shape[1:])
    summary = Summary(raw.kind, raw.name, raw.seed, raw.parts, raw.limited, len(train), n_val,
                      len(test) if test else 0, shape, k,
                      raw.n_distinct if raw.n_distinct is not None and raw.n_distinct < k else None)
    return Dataset(train, val, test, k, shape, mean, std, summary, names, raw.kind, raw.source)
