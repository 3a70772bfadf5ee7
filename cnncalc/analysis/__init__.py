"""One pass over the layer graph → rows of plain integers, totals and diagnostics.

Counting convention (stated once here, in the README and in every table header):
MACs are the multiply-accumulates of conv and dense layers, bias excluded;
FLOPs = 2·MACs; every other element-wise operation (bias adds, batchnorm,
activations, pooling window reads, residual adds) is counted separately as
`other_ops` and never folded into FLOPs.  Activations are the elements of every
tensor the forward pass holds, the input included; bytes assume float32.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnncalc import layers as registry
from cnncalc.errors import CnncalcError, Phrase, SpecError
from cnncalc.graph import INPUT, Graph
from cnncalc.layers.arith import BOUND, PIXEL, ReceptiveField
from cnncalc.layers.base import Diagnostic
from cnncalc.layers.records import InexactDivision, Notation, UnusedOutput, Window
from cnncalc.shapes import Shape, elements, is_map, shape_text

BYTES_PER_VALUE = 4  # float32
_INPUT_NOTATION = Notation(INPUT)


class _Counts:
    """What follows from the counted integers, for a row and for the totals alike."""

    trainable: int
    non_trainable: int
    macs: int
    activations: int

    @property
    def params(self) -> int:
        """Trainable + non-trainable: Keras' "Total params". PyTorch's parameters() count is `trainable`."""
        return self.trainable + self.non_trainable

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def activation_bytes(self) -> int:
        return BYTES_PER_VALUE * self.activations


@dataclass
class Row(_Counts):
    """One layer's numbers (or a folded block's sums); only render/ turns them into text.

    layer_type: the layer in course notation, as a record; window: conv's and pooling's
    resolved window (None for other kinds and folded blocks).
    """

    name: str
    kind: str
    layer_type: Notation
    inputs: list[str]
    in_shapes: list[Shape]
    out_shape: Shape
    trainable: int = 0
    non_trainable: int = 0
    macs: int = 0
    other_ops: int = 0
    activations: int = 0
    rf: ReceptiveField | None = None
    depth: int = 0
    scope: tuple = ()
    window: Window | None = None
    folded: int = 1  # how many layers this row stands for
    output: str = ""  # the node whose output this row shows (a folded block: its last layer)
    aux: bool = False  # only an auxiliary head reads it: it runs in training only
    rf_whole: tuple[bool, bool] = (False, False)  # per axis: every output position sees every input pixel
    rf_beyond: bool = False  # r exceeds the input along an axis (r_H > n_H or r_W > n_W)

    @property
    def rf_whole_input(self) -> bool:
        """Every output value sees every pixel of the input, along n_H and n_W (`coverage`)."""
        return self.rf_whole == (True, True)

    @property
    def rf_reads_whole(self) -> bool:
        """Tables say 'whole input' instead of r_H×r_W: the field is the whole input and r exceeds it
        (619×619 on 224×224 overstates; 32×32 on 32×32 is the input itself and stays a number)."""
        return self.rf_whole_input and self.rf_beyond

    def __post_init__(self):
        self.output = self.output or self.name



@dataclass
class Totals(_Counts):
    trainable: int
    non_trainable: int
    macs: int
    other_ops: int
    activations: int
    output_shape: Shape
    rf: ReceptiveField | None
    layers: int
    # the aux heads' share: their params are in trainable/non_trainable above, their work is not in macs…
    aux_trainable: int = 0
    aux_non_trainable: int = 0
    aux_macs: int = 0
    aux_other_ops: int = 0
    aux_activations: int = 0

    @property
    def params_bytes(self) -> int:
        return BYTES_PER_VALUE * self.params

    @property
    def aux_params(self) -> int:
        return self.aux_trainable + self.aux_non_trainable

    @property
    def aux_flops(self) -> int:
        return 2 * self.aux_macs

    @property
    def aux_activation_bytes(self) -> int:
        return BYTES_PER_VALUE * self.aux_activations


@dataclass
class Report:
    graph: Graph
    rows: list[Row]
    diagnostics: list[Diagnostic]
    error: CnncalcError | None = None

    @property
    def totals(self) -> Totals:
        last = self.rows[-1] if self.rows else None
        main = [r for r in self.rows if not r.aux]
        aux = [r for r in self.rows if r.aux]
        return Totals(
            trainable=sum(r.trainable for r in self.rows),
            non_trainable=sum(r.non_trainable for r in self.rows),
            macs=sum(r.macs for r in main),
            other_ops=sum(r.other_ops for r in main),
            activations=sum(r.activations for r in main),
            output_shape=self._output_row().out_shape if self.error is None else (last.out_shape if last else ()),
            rf=self._output_row().rf if self.error is None else (last.rf if last else None),
            layers=sum(r.folded for r in self.rows if r.kind != INPUT),
            aux_trainable=sum(r.trainable for r in aux),
            aux_non_trainable=sum(r.non_trainable for r in aux),
            aux_macs=sum(r.macs for r in aux),
            aux_other_ops=sum(r.other_ops for r in aux),
            aux_activations=sum(r.activations for r in aux),
        )

    @property
    def output_row_whole(self) -> bool:
        """The output's receptive field is the whole input (Row.rf_whole_input); False after an error."""
        return self.error is None and bool(self.rows) and self._output_row().rf_whole_input

    @property
    def output_reads_whole(self) -> bool:
        """The totals line says 'whole input' beside r (Row.rf_reads_whole)."""
        return self.output_row_whole and self._output_row().rf_beyond

    def _output_row(self) -> Row:
        for r in self.rows:
            if r.name == self.graph.output:
                return r
        return self.rows[-1]


_WINDOWED = ("conv", "maxpool", "avgpool")
_ADAPTIVE = ("adaptive_avgpool", "adaptive_maxpool")
_WHOLE_MAP = ("flatten", "global_avgpool", "global_maxpool")  # a 1×1×n_C map or a vector: one window


@dataclass(frozen=True)
class Coverage:
    """Which input pixels the positions of a layer's output see, along one axis (input pixels 0 … n − 1).

    Output position k's window spans a + k·j … b + k·j in input coordinates (a < 0 where it starts in the
    padding), clipped to the pixels the map reads at all, lo … hi:
        seen(k) = max(a + k·j, lo) … min(b + k·j, hi).
    solid: each position's field has no hole (a window whose taps, d·j apart, are farther apart than
    its input's fields are wide, r = b − a + 1, skips pixels between them: a 1×1 conv at stride 2).
    whole: every output position sees every input pixel, that is solid and
        max(a + (m − 1)·j, lo) ≤ 0   and   min(b, hi) ≥ n − 1      (m: the output's length, 1 for a vector);
    once true it stays true downstream (every later position reads at least one such position)."""

    a: int
    b: int
    lo: int
    hi: int
    solid: bool
    whole: bool


def coverage(kind: str, in_shapes: list[Shape], out_shape: Shape, window: Window | None,
             inputs: list[Coverage | None], rfs: list[ReceptiveField], axis: int, n: int) -> Coverage | None:
    """The Coverage of a layer's output from its inputs' (None where not followed: after a transposed
    conv or an upsample, or a merge whose union no one input's field holds; see Coverage).  A merge
    (add, mul) with a whole input is whole, one whose widest input holds the others' fields is that
    input's; a concat's values each come from one input: the narrowest of the fields stands for all.

    A window of f_eff = d·(f − 1) + 1 with padding p_a over m_in positions, output length m:
        a' = a − p_a·j,  b' = b + (f_eff − 1 − p_a)·j,  lo' = lo,
        hi' = min(b + min(m_in − 1, (m − 1)·s − p_a + f_eff − 1)·j, hi),  solid' = solid and d·j ≤ r,
    and the last output position's window starts at a + ((m − 1)·s − p_a)·j; a map read whole (flatten,
    global pooling): b' = b + (m_in − 1)·j, solid' = solid and j ≤ r; an adaptive pool: its first and
    last windows (arith.adaptive_length)."""
    if not inputs or any(c is None for c in inputs):
        return None
    if kind != "concat" and any(c.whole for c in inputs) or all(c.whole for c in inputs):
        return next(c for c in inputs if c.whole)
    if kind in ("conv_transpose", "upsample"):
        return None  # a field spread over several outputs: not followed
    if len(inputs) > 1:
        if len({(r.j_H, r.j_W)[axis] for r in rfs}) != 1:
            return None
        if kind == "concat":  # each value comes from one input: the narrowest field holds for all of them
            return Coverage(max(c.a for c in inputs), min(c.b for c in inputs), max(c.lo for c in inputs),
                            min(c.hi for c in inputs), all(c.solid for c in inputs), False)
        # add, mul: each value reads every input, the union of their fields, where one holds all the others
        widest = min(inputs, key=lambda c: (c.a, -c.b))
        if all(widest.a <= c.a and c.b <= widest.b and widest.lo <= c.lo and c.hi <= widest.hi for c in inputs):
            return widest
        return None
    (c,) = inputs
    shape, j = in_shapes[0], (rfs[0].j_H, rfs[0].j_W)[axis]
    width = c.b - c.a + 1
    if not is_map(shape):
        return c
    m_in = shape[axis]
    m = out_shape[axis] if is_map(out_shape) else 1
    if window is not None and kind in _WINDOWED:
        p_a, s, d = window.p[2 * axis], window.s[axis], window.d[axis]
        f_eff = d * (window.f[axis] - 1) + 1
        last = min(m_in - 1, (m - 1) * s - p_a + f_eff - 1)
        a, b, hi = c.a - p_a * j, c.b + (f_eff - 1 - p_a) * j, min(c.b + last * j, c.hi)
        last_start = c.a + ((m - 1) * s - p_a) * j  # where the last output position's window starts
        solid = c.solid and (f_eff == 1 or d * j <= width)
    elif not is_map(out_shape) or kind in _WHOLE_MAP:  # flatten, global pooling: one window over the whole map
        a, b, hi, last_start = c.a, c.b + (m_in - 1) * j, c.hi, c.a
        solid = c.solid and (m_in == 1 or j <= width)
    elif kind in _ADAPTIVE:
        from cnncalc.layers.arith import adaptive_length

        length = adaptive_length(m_in, m)
        a, b, hi = c.a, c.b + (length.window(0)[1] - 1) * j, c.hi
        last_start = c.a + length.window(m - 1)[0] * j
        solid = c.solid and (length.f_max == 1 or j <= width)
    else:
        return c
    lo = c.lo
    whole = solid and max(last_start, lo) <= 0 and min(b, hi) >= n - 1
    return Coverage(a, b, lo, hi, solid, whole)


def analyze(graph: Graph, strict: bool = False, search_inputs: bool = True) -> Report:
    """Shapes, parameters, MACs, other work, activations and receptive fields, layer by layer.

    A dimension error stops the pass: the rows up to that layer are kept and the
    error is returned in the report (not raised), so that the table can still be shown.
    Under strict, a warning (never a note) is an error: a division that leaves real input unread stops
    the pass at its layer; the parser's warnings (channels-first input, a block argument never used) and
    an output never used are refused after the last layer.  search_inputs: give a warning that only
    another input size would fix the nearest sizes that divide at every layer (the search analyses
    the graph again at each size, with search_inputs off).
    """
    rows: list[Row] = []
    diagnostics: list[Diagnostic] = list(graph.warnings)  # the parser's, e.g. a block argument never used
    shapes: dict[str, Shape] = {}
    rfs: dict[str, ReceptiveField] = {}
    training_only = graph.training_only()
    fields: dict[str, tuple] = {}  # per node, its Coverage along n_H and n_W
    n_in = graph.input_shape[:2] if is_map(graph.input_shape) else None
    for node in graph.nodes:
        if node.kind == INPUT:
            shape = graph.input_shape
            whole = (shape[0] == 1, shape[1] == 1) if n_in else (False, False)
            rows.append(Row(node.name, INPUT, _INPUT_NOTATION, [], [], shape, activations=elements(shape), rf=PIXEL,
                            rf_whole=whole))
            shapes[node.name], rfs[node.name] = shape, PIXEL
            fields[node.name] = tuple(Coverage(0, 0, 0, n - 1, True, n == 1) for n in n_in) if n_in else (None, None)
            continue
        kind = registry.lookup(node.kind)
        in_shapes = [shapes[i] for i in node.inputs]
        try:
            inf = kind.infer(node.fields, in_shapes, [rfs[i] for i in node.inputs], node.name, node.mark,
                             list(node.inputs))
        except CnncalcError as exc:
            return Report(graph, rows, diagnostics, exc)
        if any(v > BOUND for v in inf.out_shape):
            # e.g. sixty concats of a branch with itself: 2^60 channels; counts past this are noise
            from cnncalc.render.messages import dimension_error  # the words live in render

            return Report(graph, rows, diagnostics, dimension_error(
                "too_large", node.mark, ("too_large.fix", {}), allowed="sizes up to 10^18 along every axis",
                layer=node.name, shape=shape_text(inf.out_shape)))
        for warning in inf.warnings:
            if strict and warning.level == "warning":
                from cnncalc.render.messages import strict_error  # the words live in render

                return Report(graph, rows, diagnostics, strict_error(warning))
            diagnostics.append(warning)
        shapes[node.name], rfs[node.name] = inf.out_shape, inf.rf
        fields[node.name] = tuple(
            coverage(node.kind, in_shapes, inf.out_shape, inf.window, [fields[i][axis] for i in node.inputs],
                     [rfs[i] for i in node.inputs], axis, n_in[axis]) if n_in else None
            for axis in (0, 1))
        whole = tuple(c is not None and c.whole for c in fields[node.name])
        rows.append(Row(
            name=node.name, kind=node.kind, layer_type=kind.notation(node.fields, inf),
            inputs=list(node.inputs), in_shapes=in_shapes, out_shape=inf.out_shape,
            trainable=inf.trainable, non_trainable=inf.non_trainable, macs=inf.macs, other_ops=inf.other_ops,
            activations=elements(inf.out_shape), rf=inf.rf, depth=len(node.scope), scope=node.scope,
            window=inf.window, aux=node.name in training_only, rf_whole=whole,
            rf_beyond=bool(n_in and inf.rf is not None and (inf.rf.r_H > n_in[0] or inf.rf.r_W > n_in[1])),
        ))
    wrong = _aux_mismatch(graph, shapes)
    if wrong is not None:
        return Report(graph, rows, diagnostics, wrong)
    unused = _unused(graph)
    for name in unused:
        node = graph.node(name)
        diagnostics.append(Diagnostic("warning", name, node.mark, UnusedOutput(graph.output)))
    if strict:  # the parser's warnings and the unused outputs: refused once the table is whole
        first = next((d for d in diagnostics if d.level == "warning"), None)
        if first is not None:
            from cnncalc.render.messages import strict_error  # the words live in render

            return Report(graph, rows, diagnostics, strict_error(first))
    if search_inputs and any(_needs_inputs(d) for d in diagnostics):
        diagnostics = _with_input_fixes(graph, diagnostics)
    return Report(graph, rows, diagnostics)


def _needs_inputs(d: Diagnostic) -> bool:
    """A warning of real input unread: another input size may fix it where the layer's own padding would
    change its output size (AlexNet's 11×11 s4 conv on 224: no padding p < 11 divides, 227 does)."""
    x = d.detail
    return d.level == "warning" and isinstance(x, InexactDivision)


NEAR_INPUTS = 16  # how far from the spec's input the fixes look for sizes that divide at every layer


def _with_input_fixes(graph: Graph, diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Each such warning with the nearest network input sizes (one below, one above) along its axis for
    which every window of the network divides exactly: the solver's --input-sizes search, quoted."""
    from dataclasses import replace

    from cnncalc.analysis.solve import exact_input_sizes

    sizes_H, sizes_W = exact_input_sizes(graph, NEAR_INPUTS)
    out = []
    for d in diagnostics:
        if _needs_inputs(d):
            found = sizes_H if "n_H" in d.detail.axes else sizes_W
            n = graph.input_shape[0 if "n_H" in d.detail.axes else 1]
            below = [v for v in found if v < n][:1]
            above = [v for v in found if v > n][:1]
            d = replace(d, detail=replace(d.detail, fix_inputs=tuple(below + above)))
        out.append(d)
    return out


def _aux_mismatch(graph: Graph, shapes: dict[str, Shape]) -> SpecError | None:
    """An aux output must give the class scores the network's output gives: a vector of the same K."""
    out = shapes[graph.output]
    for head in graph.aux:
        shape = shapes[head.name]
        if len(out) != 1:
            return SpecError(Phrase("errors.aux_vector"), head.mark, "aux",
                             Phrase("errors.aux_vector.received", shape=shape_text(out))("en"),
                             Phrase("errors.aux_vector.allowed"))
        if shape != out:
            return SpecError(Phrase("errors.aux_scores", name=head.name, n=out[0]), head.mark, "from", shape_text(shape),
                             Phrase("errors.aux_scores.allowed", n=out[0]), Phrase("errors.aux_scores.fix", n=out[0]))
    return None


def _unused(graph: Graph) -> list[str]:
    needed = graph.reaching(graph.output)
    for head in graph.aux:
        needed |= graph.reaching(head.name)
    return [n.name for n in graph.nodes if n.name not in needed and n.kind != INPUT]


def fold(report: Report, depth: int | None) -> list[Row]:
    """Rows with blocks nested `depth` levels deep folded into one row each, like torchinfo's depth.

    depth 1 shows the top-level layers and one row per top-level block. A folded row
    sums its layers' counts; its shape and receptive field are those of its last
    layer, its inputs those of its first.  The rows still sum to the totals.
    """
    if depth is None:
        return list(report.rows)
    depth = max(depth, 1)
    out: list[Row] = []
    open_rows: dict[tuple[str, bool], Row] = {}
    for row in report.rows:
        if len(row.scope) < depth:
            out.append(row)
            continue
        scope_name = row.scope[depth - 1]
        # a block's training-only layers fold apart from the rest, so each row is wholly aux or not
        group = open_rows.get((scope_name, row.aux))
        if group is None:
            info = report.graph.scopes.get(scope_name)
            label = Notation("block", label=info.label if info else "block")
            group = Row(scope_name, "block", label, list(row.inputs), list(row.in_shapes), row.out_shape,
                        depth=depth - 1, scope=row.scope[:depth - 1], folded=0, aux=row.aux)
            open_rows[(scope_name, row.aux)] = group
            out.append(group)
        group.out_shape, group.rf, group.output = row.out_shape, row.rf, row.name
        group.rf_whole, group.rf_beyond = row.rf_whole, row.rf_beyond
        group.trainable += row.trainable
        group.non_trainable += row.non_trainable
        group.macs += row.macs
        group.other_ops += row.other_ops
        group.activations += row.activations
        group.folded += 1
    return out


@dataclass
class Comparison:
    """Totals of several specs, each with its ratio to the first."""

    names: list[str]
    files: list[str]
    totals: list[Totals]
    errors: list[CnncalcError | None]


def compare(reports: list[Report]) -> Comparison:
    return Comparison([r.graph.name for r in reports], [r.graph.file for r in reports],
                      [r.totals for r in reports], [r.error for r in reports])


