"""The one-layer calculator and the solver, as plain data: no spec file, one sliding window.

Every output size is `arith.out_length`'s, every padding `arith.same_padding`'s or
`arith.fixing_paddings`', every stride `arith.fixing_strides`'; the inexact division and its
fixes are `window.slide`'s `InexactDivision` record, the one the spec commands warn with.
The solver searches the course formula

    n_out = ⌊(n_in + 2p − f)/s⌋ + 1

for the unknowns among n_in, n_out, f, s, p, with the knowns fixed; n_in (or p, when n_in and
n_out are both known) is solved in closed form from the floor's bounds
(n_out − 1)·s ≤ n_in + 2p − f ≤ (n_out − 1)·s + s − 1, the rest searched over bounded ranges.
Only render/calc.py turns these records into words.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from cnncalc.errors import ArgumentError
from cnncalc.layers import arith, window
from cnncalc.layers.arith import OutLength
from cnncalc.layers.records import InexactDivision

NAMES = ("n_in", "n_out", "f", "s", "p")
MAX_VALUE = 10**9  # sizes, kernels, strides and paddings stop here, as in a spec
MAX_STEPS = 2_000_000  # the solver's search is refused beyond this many candidate (f, s, p, n) tuples


# ---------------------------------------------------------------- reading the command line


def parse_int(field: str, value: str | int, minimum: int) -> int:
    """`value` as an integer ≥ minimum, or an ArgumentError naming `field` (ASCII digits only)."""
    if isinstance(value, int):
        number = value
    else:
        text = value.strip()
        if not re.fullmatch(r"-?[0-9]{1,10}", text):
            raise ArgumentError("calc.err_not_integer", field, value, minimum=minimum)
        number = int(text)
    if number < minimum or number > MAX_VALUE:
        raise ArgumentError("calc.err_range", field, value, minimum=minimum, maximum=MAX_VALUE)
    return number


def parse_padding(value: str | int) -> int | str:
    """A padding: an integer ≥ 0, 'same' or 'valid'."""
    if isinstance(value, str) and value.strip().lower() in ("same", "valid"):
        return value.strip().lower()
    if isinstance(value, str) and not re.fullmatch(r"\s*-?[0-9]+\s*", value):
        raise ArgumentError("calc.err_padding", "--padding", value)
    return parse_int("--padding", value, 0)


def parse_search(field: str, value: str | None, minimum: int) -> int | range | None:
    """A solver value: an integer (known), 'A..B' (unknown, searched from A to B), or None (unknown)."""
    if value is None:
        return None
    match = re.fullmatch(r"\s*([^.]*)\.\.([^.]*)\s*", value)
    if match is None:
        return parse_int(field, value, minimum)
    low, high = parse_int(field, match.group(1), minimum), parse_int(field, match.group(2), minimum)
    if high < low:
        raise ArgumentError("calc.err_empty_range", field, value)
    return range(low, high + 1)


# ---------------------------------------------------------------- one layer: conv N F, pool N F


@dataclass(frozen=True)
class WindowCalc:
    """One sliding window over an n-long axis (the same along n_H and n_W), with what a student asks.

    kind: 'conv' or 'pool'; length: the division as computed (arith.OutLength);
    same: the padding was written 'same' (length.p_a, length.p_b are TensorFlow's split);
    inexact: the InexactDivision record when real input rows are never read, else None;
    unread: (first, last) input row (1-based) that no window reads, or None;
    keeps_size: symmetric paddings p that give n_out = n at this stride and dilation;
    same_padding / same_n_out: TensorFlow's 'same' split (p_a, p_b) and its n_out = ⌈n/s⌉;
    exact_paddings: symmetric paddings p ≤ 3 whose division is exact at this stride;
    exact_strides: strides s ≤ f_eff whose division is exact at this padding;
    gap: s − f_eff when the stride is longer than the (dilated) window: that many rows between two
    neighbouring windows are never read (0 otherwise; `unread` counts only the rows after the last window).
    """

    kind: str
    length: OutLength
    same: bool
    inexact: InexactDivision | None
    unread: tuple[int, int] | None
    keeps_size: list[int]
    same_padding: tuple[int, int]
    same_n_out: int
    exact_paddings: list[int]
    exact_strides: list[int]
    gap: int = 0


def window_calc(kind: str, n: str | int, f: str | int, stride: str | int | None = None,
                padding: str | int = 0, dilation: str | int = 1, ceil: bool = False) -> WindowCalc:
    """`cnncalc conv N F …` (kind 'conv') or `cnncalc pool N F …` (kind 'pool', stride defaults to f).

    Arguments may be strings from the command line; bad ones raise ArgumentError.
    """
    n_ = parse_int("N", n, 1)
    f_ = parse_int("F", f, 1)
    s_ = f_ if stride is None and kind == "pool" else parse_int("--stride", 1 if stride is None else stride, 1)
    d_ = parse_int("--dilation", dilation, 1)
    pad = parse_padding(padding)
    f_eff = arith.dilated_extent(f_, d_)
    if pad == "same":
        p_a, p_b = arith.same_padding(n_, f_, s_, d_)
    else:
        p_a = p_b = 0 if pad == "valid" else pad
    if kind == "pool" and max(p_a, p_b) > f_ // 2:
        raise ArgumentError("calc.err_pool_padding", "--padding", padding, f=f_, half=f_ // 2)
    if f_eff > n_ + p_a + p_b:
        raise ArgumentError("calc.err_window", "F", f, n=n_, p_a=p_a, p_b=p_b, f_eff=f_eff,
                            padded=n_ + p_a + p_b, need=(f_eff - n_ - p_a - p_b + 1) // 2)
    shape = (n_, n_, 1)
    w = window.resolve(pad if pad in ("same", "valid") else (p_a, p_b, p_a, p_b), shape, (f_, f_), (s_, s_),
                       (d_, d_), groups=1 if kind == "conv" else None, ceil=ceil if kind == "pool" else None)
    window.slide("conv" if kind == "conv" else "maxpool", kind, None, shape, w)  # the spec commands' checks
    length = arith.out_length(n_, f_, s_, p_a, p_b, d_, ceil)
    # the diagnostics' own record and fixes; one layer alone has no architecture to keep its stride for
    inexact = (window.inexact_division("conv" if kind == "conv" else "maxpool", ("n_H", "n_W"), length,
                                       stride_free=True) if length.unread else None)
    same_p = arith.same_padding(n_, f_, s_, d_)
    limit = max(f_eff, 3)
    keeps = [p for p in range(0, limit + 1) if arith.out_length(n_, f_, s_, p, p, d_, ceil).n_out == n_]
    if kind == "pool":
        keeps = [p for p in keeps if p <= f_ // 2]
    return WindowCalc(
        kind=kind, length=length, same=pad == "same", inexact=inexact,
        unread=(n_ - length.unread + 1, n_) if length.unread else None,
        keeps_size=keeps, same_padding=same_p,
        same_n_out=arith.out_length(n_, f_, s_, *same_p, d_).n_out,
        exact_paddings=[p for p in arith.fixing_paddings(n_, f_, s_, d_) if kind == "conv" or p <= f_ // 2],
        exact_strides=arith.fixing_strides(n_, f_, p_a, p_b, d_),
        gap=max(s_ - f_eff, 0) if length.n_out > 1 else 0,
    )


# ---------------------------------------------------------------- the solver


@dataclass(frozen=True)
class Solution:
    """One integer solution; length is arith.out_length(n_in, f, s, p) (exact, remainder, unread)."""

    n_in: int
    n_out: int
    f: int
    s: int
    p: int
    length: OutLength

    @property
    def exact(self) -> bool:
        return self.length.exact


@dataclass(frozen=True)
class Solved:
    """The solver's answer: every solution (smallest unknowns first) within the searched ranges.

    known: the given values by name; searched: the unknowns' ranges (first, last) by name, or
    None for one solved in closed form; exact_inputs: when n_in was given and no solution divides
    exactly, the exact solutions with n_in free (the other knowns kept), smallest unknowns first.
    """

    known: dict[str, int]
    unknown: tuple[str, ...]
    searched: dict[str, tuple[int, int] | None]
    solutions: list[Solution]
    exact_inputs: list[Solution]


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def solve(n_in: int | range | None = None, n_out: int | range | None = None, f: int | range | None = None,
          s: int | range | None = None, p: int | range | None = None) -> Solved:
    """All integer solutions of n_out = ⌊(n_in + 2p − f)/s⌋ + 1 for the unknowns.

    An int is known; a range is unknown and searched over it; None is unknown with a default range:
    f: 1 … n_in (a kernel as wide as the input) when n_in is known, else 1 … 11; s: 1 … the largest f
    (a wider stride skips input); p: 0 … the largest f − 1 (wider padding leaves windows wholly in
    padding); n_in or n_out: solved in closed form (at least one of them must be given or ranged).
    """
    given = dict(zip(NAMES, (n_in, n_out, f, s, p)))
    known = {k: v for k, v in given.items() if isinstance(v, int)}
    unknown = tuple(k for k in NAMES if k not in known)
    if not unknown:
        raise ArgumentError("calc.err_nothing_unknown", "solve", None)
    if n_in is None and n_out is None:
        raise ArgumentError("calc.err_no_size", "solve", None)
    f_range = f if f is not None else range(1, (n_in if isinstance(n_in, int) else 11) + 1)
    f_max = f_range if isinstance(f_range, int) else max(f_range, default=1)
    ranges = {"f": f_range,
              "s": s if s is not None else range(1, f_max + 1),
              "p": p if p is not None else range(0, f_max)}
    f_values, s_values, p_values = ([v] if isinstance(v, int) else v for v in ranges.values())
    by_input = isinstance(n_in, int) or (n_in is not None and not isinstance(n_out, int))
    sizes = n_in if by_input else n_out  # n_in unknown and n_out known: n_in in closed form
    sizes = [sizes] if isinstance(sizes, int) else sizes
    closed_p = isinstance(n_in, int) and isinstance(n_out, int) and not isinstance(p, int)
    steps = len(sizes) * len(f_values) * len(s_values) * (1 if closed_p else len(p_values))
    if steps > MAX_STEPS:
        raise ArgumentError("calc.err_search", "solve", None, steps=steps, limit=MAX_STEPS)
    found = []
    for size in sizes:
        for f_ in f_values:
            for s_ in s_values:
                if by_input:
                    found.extend(_with_input(size, n_out, f_, s_, p_values, closed_p))
                else:
                    found.extend(_with_output(size, f_, s_, p_values))
    if isinstance(n_in, range):
        found = [x for x in found if x.n_in in n_in]
    if isinstance(n_out, range):
        found = [x for x in found if x.n_out in n_out]
    found.sort(key=lambda x: tuple(getattr(x, k) for k in unknown))
    exact_inputs: list[Solution] = []
    if isinstance(n_in, int) and isinstance(n_out, int) and found and not any(x.exact for x in found):
        try:
            others = solve(None, n_out, **ranges).solutions
        except ArgumentError:  # n_in free makes the search too large: no suggestion rather than no answer
            others = []
        exact_inputs = sorted((x for x in others if x.exact),
                              key=lambda x: (tuple(getattr(x, k) for k in unknown), x.n_in))
    searched = {k: None if v is None else (v[0], v[-1]) if len(v) else (1, 0)
                for k, v in {"n_in": n_in, "n_out": n_out, **ranges}.items() if k in unknown}
    return Solved(known, unknown, searched, found, exact_inputs)


def _solution(n_in: int, f: int, s: int, p: int) -> Solution:
    length = arith.out_length(n_in, f, s, p, p)
    return Solution(n_in, length.n_out, f, s, p, length)


def _with_input(n_in: int, n_out, f: int, s: int, p_values, closed_p: bool) -> list[Solution]:
    """Solutions for a given n_in: p from the floor's bounds when n_out is known too, else each p."""
    if not len(p_values):
        return []
    if closed_p:
        low, high = (n_out - 1) * s, (n_out - 1) * s + s - 1  # bounds of n_in + 2p − f
        first, last = max(_ceil_div(low - n_in + f, 2), p_values[0]), min((high - n_in + f) // 2, p_values[-1])
        candidates = range(first, last + 1)
    else:
        candidates = p_values
    out = []
    for p in candidates:
        if n_in + 2 * p < f:
            continue  # the window does not fit
        sol = _solution(n_in, f, s, p)
        if isinstance(n_out, int) and sol.n_out != n_out:
            continue
        out.append(sol)
    return out


def _with_output(n_out: int, f: int, s: int, p_values) -> list[Solution]:
    """Solutions for a given n_out: n_in from (n_out − 1)·s ≤ n_in + 2p − f ≤ (n_out − 1)·s + s − 1."""
    out = []
    for p in p_values:
        low = (n_out - 1) * s + f - 2 * p
        for n_in in range(max(low, 1), low + s):
            out.append(_solution(n_in, f, s, p))
    return out


# ---------------------------------------------------------------- a spec's input sizes


@dataclass(frozen=True)
class LayerDivision:
    """A conv or pooling layer's division at one input size: its name, notation record, the axes it
    holds for (('n_H',), ('n_W',) or both when their arithmetic is the same) and the division."""

    name: str
    notation: object  # records.Notation
    axes: tuple[str, ...]
    length: OutLength


@dataclass(frozen=True)
class InputSizes:
    """`cnncalc solve SPEC --input-sizes`: the sizes within `near` of the spec's input for which every
    conv and pooling window divides exactly (remainder 0), nearest first, per axis (n_W equal to n_H
    when the input is square: `square`), and the divisions that are not exact at the spec's own size."""

    spec: str
    input_shape: tuple
    near: int
    square: bool
    inexact: list[LayerDivision]
    sizes_H: list[int]
    sizes_W: list[int]


_SLIDING = ("conv", "maxpool", "avgpool")  # the kinds whose windows `arith.out_length` slides


def _divisions(report, axis: int) -> list[LayerDivision] | None:
    """Each sliding window's division along axis 0 (n_H) or 1 (n_W); None when the network breaks."""
    if report.error is not None:
        return None
    out = []
    for row in report.rows:
        w = row.window
        if w is None or row.kind not in _SLIDING:
            continue
        n = row.in_shapes[0][axis]
        p_a, p_b = w.p[2 * axis], w.p[2 * axis + 1]
        length = arith.out_length(n, w.f[axis], w.s[axis], p_a, p_b, w.d[axis], bool(w.ceil))
        out.append(LayerDivision(row.name, row.layer_type, (("n_H", "n_W")[axis],), length))
    return out


def input_sizes(spec: str, near: int = 32) -> InputSizes:
    """The input sizes n within `near` of the spec's (n ≥ 1) for which no window leaves a remainder."""
    from cnncalc import api
    from cnncalc.analysis import analyze
    from cnncalc.errors import Phrase, SpecError

    graph = api.load(spec)
    shape = graph.input_shape
    if len(shape) != 3:
        raise SpecError(Phrase("errors.input_vector", n=shape[0]), None, "input",
                        list(shape), "[n_H, n_W, n_C]")
    own = analyze(graph, search_inputs=False)
    along_H, along_W = (_divisions(own, axis) or [] for axis in (0, 1))
    inexact = [dataclasses.replace(h, axes=("n_H", "n_W")) if h.length == w.length else h
               for h, w in zip(along_H, along_W) if not h.length.exact]
    inexact += [w for h, w in zip(along_H, along_W) if not w.length.exact and h.length != w.length]
    if own.error is not None:
        raise own.error
    square = shape[0] == shape[1]
    sizes_H, sizes_W = exact_input_sizes(graph, near)
    return InputSizes(spec, shape, near, square, inexact, sizes_H, sizes_W)


def exact_input_sizes(graph, near: int) -> tuple[list[int], list[int]]:
    """(sizes along n_H, sizes along n_W): the input sizes within `near` of the graph's for which every
    conv and pooling window divides exactly, nearest first (the smaller first at equal distance); a
    square input keeps n_W = n_H.  The diagnostics' input-size fixes quote it."""
    from cnncalc.analysis import analyze

    shape = graph.input_shape
    square = shape[0] == shape[1]
    found: list[list[int]] = []
    for axis in ((0,) if square else (0, 1)):
        sizes = []
        for n in range(max(1, shape[axis] - near), shape[axis] + near + 1):
            trial = (n, n, shape[2]) if square else ((n, shape[1], shape[2]) if axis == 0 else (shape[0], n, shape[2]))
            report = analyze(dataclasses.replace(graph, input_shape=trial), search_inputs=False)
            divisions = _divisions(report, axis)
            if divisions is not None and all(d.length.exact for d in divisions):
                sizes.append(n)
        found.append(sorted(sizes, key=lambda v: (abs(v - shape[axis]), v)))
    return found[0], found[0] if square else found[1]
