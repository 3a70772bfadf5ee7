"""`cnncalc compare`: several designs against the first, as numbers.

For each spec: output shape, receptive field, parameters split into weights, biases and the rest
(batchnorm's γ and β, PReLU's slopes), MACs, activations, depth (weighted layers: conv,
conv_transpose, dense) and non-linearities; per stage (the rows `fold` gives at depth 1, grouped by
the n_H×n_W they output) where the difference comes from; and, when the two designs are a known
pair, the closed form of their weights (two 3×3 against one 5×5, depthwise-separable against
standard, a 1×1 bottleneck against one wide conv). `render.compare` writes the words.

The closed forms quote `arith.conv_params` (bias=False) for every weight count; biases are the
n_C of each weighted layer with a bias, so params = weights + biases + other, term by term.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from cnncalc.analysis import Report, fold
from cnncalc.errors import CnncalcError
from cnncalc.graph import INPUT
from cnncalc.layers import arith

WEIGHTED = ("conv", "conv_transpose", "dense")
# the element-wise non-linearities between layers (softmax normalises the output; identity is none)
NONLINEAR = frozenset({"relu", "leaky_relu", "sigmoid", "tanh", "relu6", "hardsigmoid", "hardswish", "silu",
                       "gelu", "elu", "prelu"})
# the metrics every comparison lists, in order; each is an integer attribute of Design
METRICS = ("trainable", "weights", "biases", "other_params", "non_trainable", "macs", "activations",
           "activation_bytes", "depth", "nonlinearities")


@dataclass(frozen=True)
class ConvShape:
    """A conv layer's window and channels, what the closed forms are recognised from."""

    name: str
    f: tuple[int, int]
    s: tuple[int, int]
    d: tuple[int, int]
    groups: int
    n_C_prev: int
    n_C: int

    @property
    def weights(self) -> int:
        return arith.conv_params(self.f[0], self.f[1], self.n_C_prev, self.n_C, self.groups, bias=False)

    def plain(self, f: int | None = None) -> bool:
        """Square, stride 1, no dilation, one group (and kernel f if given)."""
        return (self.f[0] == self.f[1] and self.s == (1, 1) and self.d == (1, 1) and self.groups == 1
                and (f is None or self.f[0] == f))


@dataclass(frozen=True)
class Stage:
    """The top-level rows (blocks folded) that output one n_H×n_W (n_H = n_W = None: vectors)."""

    n_H: int | None
    n_W: int | None
    first: str
    last: str
    rows: int
    params: int
    macs: int
    activations: int


@dataclass(frozen=True)
class Design:
    name: str
    file: str
    output_shape: tuple
    rf: tuple[int, int] | None
    trainable: int
    weights: int
    biases: int
    non_trainable: int
    macs: int
    activations: int
    activation_bytes: int
    depth: int
    nonlinearities: int
    stages: tuple[Stage, ...]
    convs: tuple[ConvShape, ...]
    only_convs: bool  # no dense or conv_transpose: the closed forms apply

    @property
    def other_params(self) -> int:
        """Trainable parameters that are neither weights nor biases: batchnorm's γ, β, PReLU's slopes."""
        return self.trainable - self.weights - self.biases


@dataclass(frozen=True)
class StackedConvs:
    """k stacked plain convs (kernels f_i, C → C) against one F×F with the same receptive field,
    F = 1 + Σ(f_i − 1): weights Σ f_i²·C² against F²·C² (two 3×3 against one 5×5: 18/25 = 0.72)."""

    stack: int  # index of the stacked design
    single: int
    C: int
    kernels: tuple[int, ...]
    F: int
    weights_stack: int
    weights_single: int
    nonlinearities_stack: int
    nonlinearities_single: int

    @property
    def ratio(self) -> Fraction:
        return Fraction(sum(f * f for f in self.kernels), self.F * self.F)


@dataclass(frozen=True)
class SeparableConv:
    """Depthwise f×f on C plus pointwise 1×1 C → n_C, against a standard f×f C → n_C:
    f²·C + C·n_C against f²·C·n_C weights, ratio 1/n_C + 1/f² (MACs alike, per output position)."""

    separable: int
    standard: int
    C: int
    n_C: int
    f: int
    weights_separable: int
    weights_standard: int

    @property
    def ratio(self) -> Fraction:
        return Fraction(1, self.n_C) + Fraction(1, self.f * self.f)


@dataclass(frozen=True)
class BottleneckConv:
    """1×1 C → b, f×f b → b_out, then 1×1 b_out → n_C (or f×f b → n_C without it), against one f×f C → n_C."""

    bottleneck: int
    standard: int
    C: int
    b: int
    b_out: int  # the f×f conv's n_C (b again in ResNet's; n_C itself without the expanding 1×1)
    f: int
    n_C: int
    expand: bool
    terms: tuple[int, ...]  # each conv's weights
    weights_standard: int

    @property
    def weights_bottleneck(self) -> int:
        return sum(self.terms)

    @property
    def ratio(self) -> Fraction:
        return Fraction(self.weights_bottleneck, self.weights_standard)


@dataclass(frozen=True)
class StagePair:
    n_H: int | None
    n_W: int | None
    base: Stage | None
    other: Stage | None


@dataclass(frozen=True)
class Pair:
    """Design `index` against the first."""

    index: int
    same_output: bool
    same_rf: bool
    stages: tuple[StagePair, ...]
    closed_form: StackedConvs | SeparableConv | BottleneckConv | None


@dataclass
class DesignComparison:
    designs: list[Design]
    pairs: list[Pair]
    errors: list[CnncalcError | None]


def design(report: Report) -> Design:
    rows = [r for r in report.rows if r.kind != INPUT and not r.aux]
    t = report.totals
    weights = biases = 0
    convs = []
    for r in rows:
        if r.kind not in WEIGHTED:
            continue
        bias = r.out_shape[-1] if report.graph.node(r.name).fields.get("bias") else 0
        biases += bias
        weights += r.trainable - bias
        if r.kind == "conv":
            w = r.window
            convs.append(ConvShape(r.name, w.f, w.s, w.d, w.groups, r.in_shapes[0][2], r.out_shape[2]))
    return Design(
        name=report.graph.name, file=report.graph.file, output_shape=t.output_shape,
        rf=(t.rf.r_H, t.rf.r_W) if t.rf else None,
        trainable=sum(r.trainable for r in rows), weights=weights, biases=biases,
        non_trainable=sum(r.non_trainable for r in rows), macs=t.macs, activations=t.activations,
        activation_bytes=t.activation_bytes, depth=sum(1 for r in rows if r.kind in WEIGHTED),
        nonlinearities=sum(1 for r in rows if r.kind in NONLINEAR), stages=_stages(report),
        convs=tuple(convs), only_convs=all(r.kind == "conv" for r in rows if r.kind in WEIGHTED))


def _stages(report: Report) -> tuple[Stage, ...]:
    """The depth-1 rows (`fold`, as `summary --depth 1`) grouped by the n_H×n_W they output."""
    groups: dict[tuple, list] = {}
    for r in fold(report, 1):
        if r.kind == INPUT or r.aux:
            continue
        key = tuple(r.out_shape[:2]) if len(r.out_shape) == 3 else (None, None)
        groups.setdefault(key, []).append(r)
    return tuple(Stage(key[0], key[1], rs[0].name, rs[-1].name, len(rs), sum(r.trainable for r in rs),
                       sum(r.macs for r in rs), sum(r.activations for r in rs)) for key, rs in groups.items())


def compare_designs(reports: list[Report]) -> DesignComparison:
    designs = [design(r) for r in reports]
    base = designs[0]
    pairs = [Pair(i, d.output_shape == base.output_shape, d.rf == base.rf, _align(base, d), closed_form(designs, 0, i))
             for i, d in enumerate(designs) if i > 0]
    return DesignComparison(designs, pairs, [r.error for r in reports])


def _align(base: Design, other: Design) -> tuple[StagePair, ...]:
    """Stages matched by resolution: the base's order, then the other's own (vectors last)."""
    keys = [(s.n_H, s.n_W) for s in base.stages]
    keys += [(s.n_H, s.n_W) for s in other.stages if (s.n_H, s.n_W) not in keys]
    keys.sort(key=lambda k: k[0] is None)  # stable: maps in their order, the vector stage last
    by_base = {(s.n_H, s.n_W): s for s in base.stages}
    by_other = {(s.n_H, s.n_W): s for s in other.stages}
    return tuple(StagePair(k[0], k[1], by_base.get(k), by_other.get(k)) for k in keys)


def closed_form(designs: list[Design], i: int, j: int):
    """The known pair designs i and j are, in either order, or None."""
    a, b = designs[i], designs[j]
    if not (a.only_convs and b.only_convs):
        return None
    for x, y, xi, yi in ((a, b, i, j), (b, a, j, i)):
        found = _stacked(x, y, xi, yi) or _separable(x, y, xi, yi) or _bottleneck(x, y, xi, yi)
        if found is not None:
            return found
    return None


def _stacked(x: Design, y: Design, xi: int, yi: int) -> StackedConvs | None:
    if len(x.convs) < 2 or len(y.convs) != 1:
        return None
    (single,) = y.convs
    C = single.n_C
    if not single.plain() or single.n_C_prev != C:
        return None
    if not all(c.plain() and c.n_C_prev == c.n_C == C for c in x.convs):
        return None
    kernels = tuple(c.f[0] for c in x.convs)
    if 1 + sum(f - 1 for f in kernels) != single.f[0]:
        return None
    return StackedConvs(xi, yi, C, kernels, single.f[0], sum(c.weights for c in x.convs), single.weights,
                        x.nonlinearities, y.nonlinearities)


def _separable(x: Design, y: Design, xi: int, yi: int) -> SeparableConv | None:
    if len(x.convs) != 2 or len(y.convs) != 1:
        return None
    depthwise, pointwise = x.convs
    (standard,) = y.convs
    C, f = depthwise.n_C_prev, depthwise.f[0]
    if not (depthwise.groups == C == depthwise.n_C and depthwise.f[0] == depthwise.f[1]
            and pointwise.plain(1) and pointwise.n_C_prev == C
            and standard.groups == 1 and standard.f == depthwise.f and standard.s == depthwise.s
            and standard.d == depthwise.d and standard.n_C_prev == C and standard.n_C == pointwise.n_C):
        return None
    return SeparableConv(xi, yi, C, pointwise.n_C, f, depthwise.weights + pointwise.weights, standard.weights)


def _bottleneck(x: Design, y: Design, xi: int, yi: int) -> BottleneckConv | None:
    if len(x.convs) not in (2, 3) or len(y.convs) != 1:
        return None
    (standard,) = y.convs
    reduce, middle = x.convs[0], x.convs[1]
    last = x.convs[2] if len(x.convs) == 3 else middle
    f = standard.f[0]
    if not (standard.plain() and reduce.plain(1) and middle.plain(f) and f > 1 and last.plain()
            and reduce.n_C_prev == standard.n_C_prev and middle.n_C_prev == reduce.n_C
            and reduce.n_C < reduce.n_C_prev and last.n_C == standard.n_C
            and (len(x.convs) == 2 or (last.f == (1, 1) and last.n_C_prev == middle.n_C))):
        return None
    return BottleneckConv(xi, yi, standard.n_C_prev, reduce.n_C, middle.n_C, f, standard.n_C, len(x.convs) == 3,
                          tuple(c.weights for c in x.convs), standard.weights)
