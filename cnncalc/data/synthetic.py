"""A built-in image set of simple shapes, so `cnncalc train` works with nothing downloaded.

Class c draws shape c mod 10 (table SHAPES) at a random centre and size, light on a dark ground for
c < 10 and dark on a light ground for 10 ≤ c < 20 — so up to 20 classes a conv net can tell apart.
Colours are random per image and channel, independent of the class, and uniform noise is added:
only the shape carries the class. Every shape is a signed distance d (negative inside), drawn with
a one-pixel soft edge, clip(0.5 − d/pixel, 0, 1), so thin shapes survive on small images.
"""

from __future__ import annotations

import numpy as np

from cnncalc.data.dataset import Raw
from cnncalc.errors import DataError, Mark

N_SHAPES = 10
MAX_CLASSES = 2 * N_SHAPES  # each shape light-on-dark and dark-on-light
NOISE = 0.08                # std of the added noise, on the 0…1 scale of the colours
SIZE = (0.3, 0.45)          # range of r, the half side of a shape's box, in units of the shorter side
STROKE = 0.2                # half width of lines, as a fraction of r
_CHUNK_VALUES = 1 << 20     # pixel values per chunk of work


def _box(dy, dx, half_y, half_x):
    return np.maximum(np.abs(dy) - half_y, np.abs(dx) - half_x)


# Signed distances of each shape, in units of the image's shorter side: dy, dx from the centre,
# r the size, w the stroke's half width. Arrays (m_k, n_H, n_W), or broadcastable to it. The
# order puts the most different shapes first, for specs with few classes: square and disc,
# which differ only in their corners, are classes 0 and 7.
SHAPES = (
    ("filled square", lambda dy, dx, r, w: _box(dy, dx, r, r)),  # noqa: ARG005 — one signature for every shape
    ("horizontal bar", lambda dy, dx, r, w: _box(dy, dx, w, r)),
    ("vertical bar", lambda dy, dx, r, w: _box(dy, dx, r, w)),
    ("cross", lambda dy, dx, r, w: np.minimum(_box(dy, dx, w, r), _box(dy, dx, r, w))),
    ("ring", lambda dy, dx, r, w: np.abs(np.sqrt(dy * dy + dx * dx) - r * 0.75) - w),
    ("diagonal", lambda dy, dx, r, w: np.maximum(np.abs(dy - dx) * np.float32(0.5 ** 0.5) - w, _box(dy, dx, r, r))),
    # apex at the top (dy = −r), base at dy = r with half width r: inside where |dx| ≤ (dy + r)/2
    ("triangle", lambda dy, dx, r, w: np.maximum(dy - r, (2 * np.abs(dx) - dy - r) * np.float32(5 ** -0.5))),  # noqa: ARG005 — one signature for every shape
    ("disc", lambda dy, dx, r, w: np.sqrt(dy * dy + dx * dx) - r),  # noqa: ARG005 — one signature for every shape
    ("checker", lambda dy, dx, r, w: np.maximum(_box(dy, dx, r, r), _checker(dy, dx, r / 2))),  # noqa: ARG005 — one signature for every shape
    ("dot grid", lambda dy, dx, r, w: _dots(dy, dx, r * (2 / 3), np.maximum(w, r / 6))),
)


def _checker(dy, dx, cell):
    """Distance to the nearest cell edge, negative in the cells where ⌊dy/cell⌋ + ⌊dx/cell⌋ is even."""
    a, b = dy / cell, dx / cell
    edge = np.minimum(np.abs(a - np.round(a)), np.abs(b - np.round(b))) * cell
    even = (np.floor(a) + np.floor(b)) % 2 == 0
    return np.where(even, -edge, edge)


def _dots(dy, dx, gap, radius):
    """3×3 dots gap apart: distance to the nearest dot centre (each offset clipped to −1…1 gaps)."""
    ny = dy - gap * np.clip(np.round(dy / gap), -1, 1)
    nx = dx - gap * np.clip(np.round(dx / gap), -1, 1)
    return np.sqrt(ny * ny + nx * nx) - radius


def generate(m: int, n_H: int, n_W: int, n_C: int, n_classes: int, seed) -> tuple[np.ndarray, np.ndarray]:
    """m images x: uint8 (m, n_H, n_W, n_C) and labels y: int64 (m,), the same for the same arguments.

    Labels are balanced (counts differ by at most one) and shuffled; n_classes ≤ MAX_CLASSES.
    seed: anything np.random.default_rng takes (an int, or a list of ints for separate streams).
    """
    rng = np.random.default_rng(seed)
    y = np.arange(m) % n_classes
    rng.shuffle(y)
    side = min(n_H, n_W)
    pixel = np.float32(1 / side)
    # pixel centres, in units of the shorter side
    rows = ((np.arange(n_H, dtype=np.float32) + 0.5) * pixel)[None, :, None]
    cols = ((np.arange(n_W, dtype=np.float32) + 0.5) * pixel)[None, None, :]
    r = rng.uniform(*SIZE, m).astype(np.float32)
    # centres keep the shape's box of half side r inside the image
    cy = (r + rng.uniform(0, 1, m) * (n_H * pixel - 2 * r)).astype(np.float32)
    cx = (r + rng.uniform(0, 1, m) * (n_W * pixel - 2 * r)).astype(np.float32)
    w = np.maximum(r * STROKE, 0.6 * pixel)  # strokes at least ~1.2 pixels wide
    ground = rng.uniform(0.0, 0.3, (m, 1, 1, n_C)).astype(np.float32)
    colour = rng.uniform(0.6, 1.0, (m, 1, 1, n_C)).astype(np.float32)
    x = np.empty((m, n_H, n_W, n_C), np.uint8)
    # Chunks of images, so that the float32 work arrays stay small and are reused: a fresh
    # whole-set temporary costs more in page faults than the arithmetic on it.
    step = max(1, _CHUNK_VALUES // (n_H * n_W * n_C))
    for lo in range(0, m, step):
        hi = min(m, lo + step)
        ink = np.empty((hi - lo, n_H, n_W), np.float32)
        for k in range(N_SHAPES):
            sel = np.flatnonzero(y[lo:hi] % N_SHAPES == k)
            if len(sel):
                cy_k, cx_k, r_k, w_k = (v[lo:hi][sel, None, None] for v in (cy, cx, r, w))  # (m_k, 1, 1)
                d = SHAPES[k][1](rows - cy_k, cols - cx_k, r_k, w_k)
                ink[sel] = np.clip(0.5 - d / pixel, 0, 1)
        dark = y[lo:hi] >= N_SHAPES
        ink[dark] = 1 - ink[dark]
        # uniform noise of standard deviation NOISE (uniform draws cost a fifth of Gaussian ones)
        chunk = rng.random((hi - lo, n_H, n_W, n_C), dtype=np.float32)
        chunk -= 0.5
        chunk *= NOISE * 12 ** 0.5
        chunk += ground[lo:hi]
        chunk += ink[..., None] * (colour[lo:hi] - ground[lo:hi])
        chunk *= 255
        chunk += 0.5  # round half up on the cast below
        x[lo:hi] = np.clip(chunk, 0, 255, out=chunk)
    return x, y.astype(np.int64)


def load_synthetic(input_shape=None, n_classes=None, seed: int = 0, size: int = 6000) -> Raw:
    """size images for train + val and size // 6 for test, from independent streams of seed.

    input_shape defaults to (28, 28, 1) and n_classes to 10; a spec with more than MAX_CLASSES
    outputs gets labels 0 … MAX_CLASSES − 1 only.
    """
    n_H, n_W, n_C = tuple(input_shape) if input_shape is not None else (28, 28, 1)
    k = 10 if n_classes is None else n_classes
    if min(n_H, n_W, n_C) < 1:
        raise DataError("the synthetic set needs a positive image size", Mark("synthetic"),
                        received=(n_H, n_W, n_C), allowed="n_H, n_W, n_C ≥ 1")
    if k < 1:
        raise DataError("the synthetic set needs at least one class", Mark("synthetic"), received=k)
    drawn = min(k, MAX_CLASSES)
    if size < drawn:
        raise DataError(f"the synthetic set needs at least one image per class ({drawn})", Mark("synthetic"),
                        field="synthetic_size", received=size, allowed=f"≥ {drawn}")
    # [stream, seed] rather than seed + 1, so that one seed's test set is never another seed's training set
    x, y = generate(size, n_H, n_W, n_C, drawn, [0, seed])
    x_test, y_test = generate(max(size // 6, drawn), n_H, n_W, n_C, drawn, [1, seed])
    return Raw(x, y, x_test, y_test, kind="synthetic", source="synthetic",
               class_names=[_class_name(c) for c in range(drawn)], seed=seed,
               n_distinct=drawn)


def _class_name(c: int) -> str:
    name = SHAPES[c % N_SHAPES][0]
    return name if c < N_SHAPES else f"{name} (dark)"
