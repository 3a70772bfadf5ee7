"""The arithmetic behind every number of a row, as records: what `cnncalc explain` writes out.

Each step quotes the formula that made the row's number (`layers.arith`) with the values it used;
`render.explain` turns the steps into lines in a language, and a test checks that every number it
prints equals the row's own (the tables read the same rows), so an explanation cannot disagree
with a table.  Plain data only: no strings are made here.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnncalc.analysis import Report, Row
from cnncalc.graph import INPUT
from cnncalc.layers import arith
from cnncalc.layers.arith import OutLength, ReceptiveField
from cnncalc.shapes import Shape, is_map

_WINDOWED = ("conv", "maxpool", "avgpool")
_WHOLE_MAP = ("flatten", "global_avgpool", "global_maxpool")  # rf: one window over the whole map, s = 1
_ADAPTIVE = ("adaptive_avgpool", "adaptive_maxpool")


@dataclass(frozen=True)
class Length:
    """n_out of one axis, ('n_H',) or ('n_W',): arith.out_length's record."""

    axes: tuple[str, ...]
    rec: OutLength


@dataclass(frozen=True)
class Same:
    """TensorFlow's 'same' padding of one axis: n_out = ⌈n/s⌉, total = max((n_out − 1)·s + f_eff − n, 0),
    p_a = ⌊total/2⌋ before, p_b = the rest after (arith.same_padding).  keep_total is what the course's
    p = ((n − 1)·s + f − n)/2 pads in all, 2p, to keep n_out = n."""

    axes: tuple[str, ...]
    n: int
    f_eff: int
    s: int
    n_out: int
    p_a: int
    p_b: int

    @property
    def total(self) -> int:
        return self.p_a + self.p_b

    @property
    def needed(self) -> int:
        """(n_out − 1)·s + f_eff − n before the max(…, 0)."""
        return (self.n_out - 1) * self.s + self.f_eff - self.n

    @property
    def keep_total(self) -> int:
        return (self.n - 1) * self.s + self.f_eff - self.n


@dataclass(frozen=True)
class LastWindow:
    """Ceil mode's last window along an axis: it starts at (n_out − 1)·s in the padded input and reads
    up to `end`; the padded input ends at n + p_a + p_b − 1, the real input at p_a + n − 1."""

    axes: tuple[str, ...]
    rec: OutLength

    @property
    def start(self) -> int:
        return (self.rec.n_out - 1) * self.rec.s

    @property
    def end(self) -> int:
        return self.start + self.rec.f_eff - 1

    @property
    def last_input(self) -> int:
        return self.rec.p_a + self.rec.n - 1

    @property
    def reads(self) -> int:
        """Real input positions the last window covers (its dilation taps aside)."""
        return max(0, min(self.end, self.last_input) - max(self.start, self.rec.p_a) + 1)

    @property
    def beyond(self) -> int:
        """Positions of the last window past the padded input (read as nothing)."""
        return max(0, self.end - (self.rec.n + self.rec.p_a + self.rec.p_b - 1))


@dataclass(frozen=True)
class Remainder:
    """A floor division with a remainder: (n + p_a + p_b − f_eff) mod s positions are never read;
    `lost` of them are real input (the others padding)."""

    axes: tuple[str, ...]
    rec: OutLength

    @property
    def lost(self) -> int:
        return self.rec.unread


@dataclass(frozen=True)
class ConvParams:
    """f_H·f_W·(n_C_prev/g)·n_C weights + n_C biases (arith.conv_params); transposed: n_C_prev·(n_C/g)·f_H·f_W."""

    transposed: bool
    f: tuple[int, int]
    n_C_prev: int
    n_C: int
    groups: int
    weights: int
    total: int

    @property
    def biases(self) -> int:
        return self.total - self.weights


@dataclass(frozen=True)
class ConvMacs:
    """n_H·n_W·n_C·f_H·f_W·(n_C_prev/g) (arith.conv_macs); transposed: n_H_prev·n_W_prev·n_C_prev·(n_C/g)·f_H·f_W."""

    transposed: bool
    sizes: tuple[int, int, int]  # (n_H, n_W, n_C), or (n_H_prev, n_W_prev, n_C_prev) transposed
    f: tuple[int, int]
    channels: int  # n_C_prev, or n_C transposed
    groups: int
    macs: int


@dataclass(frozen=True)
class DenseParams:
    """(n_prev + 1)·n (arith.dense_params); n_prev·n weights + n biases."""

    n_prev: int
    n: int
    weights: int
    total: int

    @property
    def biases(self) -> int:
        return self.total - self.weights


@dataclass(frozen=True)
class DenseMacs:
    n_prev: int
    n: int
    macs: int


@dataclass(frozen=True)
class BatchnormParams:
    """2·n_C trainable (γ, β) + 2·n_C running statistics (arith.batchnorm_params)."""

    n_C: int
    trainable: int
    non_trainable: int


@dataclass(frozen=True)
class Params:
    """A kind without a formula here: the counts alone."""

    trainable: int
    non_trainable: int


@dataclass(frozen=True)
class Activations:
    """The elements of the row's output; flat_of: the map a flatten turned into this vector."""

    shape: Shape
    count: int
    flat_of: Shape | None = None


@dataclass(frozen=True)
class OtherOps:
    count: int


@dataclass(frozen=True)
class FieldStep:
    """r = r_prev + (f − 1)·d·j_prev, j = j_prev·s (ReceptiveField.step), per axis or both;
    whole_map: flatten and global pooling, one window over the n_H_prev×n_W_prev map."""

    axes: tuple[str, ...]
    r_prev: int
    j_prev: int
    f: int
    s: int
    d: int
    r: int
    j: int
    whole_map: bool = False


@dataclass(frozen=True)
class FieldKept:
    """A receptive field without a step written here: merged, the widest of the inputs (ReceptiveField.widest);
    kept, its input's (one position read per output); neither, the rule's own (transposed conv, upsample)."""

    rf: ReceptiveField
    merged: bool
    kept: bool = False


@dataclass
class Explanation:
    row: Row
    steps: list


def select(report: Report, layer: str) -> list[str]:
    """The rows `--layer` names: the layer itself, or every layer of the block (scope) of that name."""
    return [r.name for r in report.rows if r.name == layer or layer in r.scope]


def explain(report: Report, names: list[str] | None = None) -> list[Explanation]:
    """The steps of every row (or of the rows named), in the order of the table."""
    rows = {r.name: r for r in report.rows}
    return [Explanation(r, _steps(r, rows)) for r in report.rows if names is None or r.name in names]


def _pair_axes(h, w):
    """[(('n_H', 'n_W'), h)] when both axes agree, else one entry per axis."""
    return [(("n_H", "n_W"), h)] if h == w else [(("n_H",), h), (("n_W",), w)]


def _steps(row: Row, rows: dict[str, Row]) -> list:
    steps: list = []
    w = row.window
    if row.kind in _WINDOWED and w is not None and row.in_shapes:
        n_H_prev, n_W_prev = row.in_shapes[0][0], row.in_shapes[0][1]
        recs = [arith.out_length(n, w.f[i], w.s[i], w.p[2 * i], w.p[2 * i + 1], w.d[i], bool(w.ceil))
                for i, n in enumerate((n_H_prev, n_W_prev))]
        pairs = _pair_axes(recs[0], recs[1])
        if w.same:
            steps.extend(Same(axes, r.n, r.f_eff, r.s, -(-r.n // r.s), r.p_a, r.p_b) for axes, r in pairs)
        steps.extend(Length((axis,), r) for axis, r in zip(("n_H", "n_W"), recs))
        for axes, r in pairs:
            if r.ceil:
                steps.append(LastWindow(axes, r))
            elif r.remainder:
                steps.append(Remainder(axes, r))
    steps.extend(_counts(row))
    flat_of = row.in_shapes[0] if row.kind == "flatten" and row.in_shapes and is_map(row.in_shapes[0]) else None
    steps.append(Activations(row.out_shape, row.activations, flat_of))
    if row.other_ops:
        steps.append(OtherOps(row.other_ops))
    steps.extend(_field(row, rows))
    return steps


def _counts(row: Row) -> list:
    kind = row.kind
    if kind in ("conv", "conv_transpose") and row.window is not None:
        w = row.window
        n_C_prev, n_C = row.in_shapes[0][2], row.out_shape[2]
        bias = row.layer_type.bias
        if kind == "conv":
            total = arith.conv_params(w.f[0], w.f[1], n_C_prev, n_C, w.groups, bias)
            weights = arith.conv_params(w.f[0], w.f[1], n_C_prev, n_C, w.groups, False)
            macs = ConvMacs(False, row.out_shape, w.f, n_C_prev, w.groups,
                            arith.conv_macs(*row.out_shape, w.f[0], w.f[1], n_C_prev, w.groups))
        else:
            total = arith.conv_transpose_params(w.f[0], w.f[1], n_C_prev, n_C, w.groups, bias)
            weights = arith.conv_transpose_params(w.f[0], w.f[1], n_C_prev, n_C, w.groups, False)
            macs = ConvMacs(True, row.in_shapes[0], w.f, n_C, w.groups,
                            arith.conv_transpose_macs(*row.in_shapes[0], n_C, w.f[0], w.f[1], w.groups))
        return [ConvParams(kind == "conv_transpose", w.f, n_C_prev, n_C, w.groups, weights, total), macs]
    if kind == "dense":
        n_prev, n = row.in_shapes[0][0], row.out_shape[0]
        return [DenseParams(n_prev, n, arith.dense_params(n_prev, n, False),
                            arith.dense_params(n_prev, n, row.layer_type.bias)),
                DenseMacs(n_prev, n, arith.dense_macs(n_prev, n))]
    if kind == "batchnorm" and (row.trainable, row.non_trainable) == arith.batchnorm_params(row.out_shape[-1]):
        return [BatchnormParams(row.out_shape[-1], *arith.batchnorm_params(row.out_shape[-1]))]
    if row.trainable or row.non_trainable:
        return [Params(row.trainable, row.non_trainable)]
    return []


def _field(row: Row, rows: dict[str, Row]) -> list:
    if row.rf is None:
        return []
    if row.kind == INPUT or not row.inputs or any(i not in rows or rows[i].rf is None for i in row.inputs):
        return [FieldKept(row.rf, False)]
    prev = rows[row.inputs[0]].rf
    shape = row.in_shapes[0]
    per_axis = None  # ((f_H, s_H, d_H), (f_W, s_W, d_W))
    whole = False
    if row.kind in _WINDOWED and row.window is not None:
        w = row.window
        per_axis = ((w.f[0], w.s[0], w.d[0]), (w.f[1], w.s[1], w.d[1]))
    elif row.kind in _WHOLE_MAP and is_map(shape):
        per_axis, whole = ((shape[0], 1, 1), (shape[1], 1, 1)), True
    elif row.kind in _ADAPTIVE and is_map(shape) and is_map(row.out_shape):
        rows_, cols = (arith.adaptive_length(shape[i], row.out_shape[i]) for i in (0, 1))
        per_axis = ((rows_.f_max, rows_.s_max, 1), (cols.f_max, cols.s_max, 1))
    if per_axis is None:
        return [FieldKept(row.rf, len(row.inputs) > 1, len(row.inputs) == 1 and row.rf == prev)]
    steps = [FieldStep(("n_H",), prev.r_H, prev.j_H, *per_axis[0], row.rf.r_H, row.rf.j_H, whole),
             FieldStep(("n_W",), prev.r_W, prev.j_W, *per_axis[1], row.rf.r_W, row.rf.j_W, whole)]
    a, b = steps
    if (a.r_prev, a.j_prev, a.f, a.s, a.d, a.r, a.j) == (b.r_prev, b.j_prev, b.f, b.s, b.d, b.r, b.j):
        return [FieldStep(("n_H", "n_W"), a.r_prev, a.j_prev, a.f, a.s, a.d, a.r, a.j, whole)]
    return steps
