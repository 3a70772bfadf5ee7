"""Shared test helpers: one-line spec builders (a new case is one line) and the finite-difference oracle."""

import numpy as np

from cnncalc.analysis import analyze
from cnncalc.spec.parser import parse_text


def spec(layers: str, input_shape=(8, 8, 3), blocks: str = "") -> str:
    body = "\n".join("  " + line for line in layers.strip("\n").splitlines())
    return f"name: t\ninput: {list(input_shape)}\n{blocks}layers:\n{body}\n"


def run(layers: str, input_shape=(8, 8, 3), blocks: str = "", strict: bool = False):
    return analyze(parse_text(spec(layers, input_shape, blocks), "t.yaml"), strict)


def row(report, name):
    return next(r for r in report.rows if r.name == name)


def central_difference(f, v, idx, eps=1e-3):
    """(f() at v[idx] + eps − f() at v[idx] − eps)/(2·eps), v changed in place and put back."""
    keep = v[idx]
    v[idx] = keep + eps
    up = f()
    v[idx] = keep - eps
    down = f()
    v[idx] = keep
    return (up - down) / (2 * eps)


def numeric_grad(f, x, eps=1e-6):
    """Central differences of the scalar f() with respect to the float64 array x, one element at a
    time (x is changed in place and put back): the independent oracle of every backward kernel."""
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        grad[idx] = central_difference(f, x, idx, eps)
    return grad
