"""Shapes, once: (n_H, n_W, n_C) for feature maps, (n,) for flat vectors, tuples of Python ints.

Every package imports these (analysis, layers, render, data) instead of writing its own
product or `×` join; no numpy here, so the calculator's imports stay light.
"""

from __future__ import annotations

Shape = tuple


def is_map(shape: Shape) -> bool:
    return len(shape) == 3


def elements(shape) -> int:
    """The number of values in a tensor of this shape: n_H·n_W·n_C (1 for the empty shape), exact."""
    n = 1
    for v in shape:
        n *= v
    return n


def shape_text(shape) -> str:
    """'28×28×1'; numpy's integers print as plain numbers too; '' for the empty shape."""
    return "×".join(map(str, shape))
