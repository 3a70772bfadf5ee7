"""Lints: design choices that are legal but cost parameters or lose information, as records.

Each finding has an id (silenced per layer with `lint: {ignore: [id]}` on the layer, its block call
or its block), the layer it is about, where the spec wrote it, and a record of the numbers its
reason and fix quote; `render.lint` and the catalogue (`render/lang/lint.py`) write the words.

A grouped conv whose channels do not divide is not a lint: the conv rules refuse it as a located
DimensionError (`layers/conv/rules.py`), which `cnncalc lint` prints like every other command.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnncalc.analysis import Report, Row
from cnncalc.errors import Mark
from cnncalc.layers import arith
from cnncalc.layers.records import UnusedArgument
from cnncalc.layers.window import axis_lengths

BIAS_BEFORE_BN = "bias-before-bn"
DENSE_HEAVY = "dense-heavy"
STRIDE_GAPS = "stride-over-kernel"
SMALL_RF = "small-receptive-field"
DROPOUT_BEFORE_BN = "dropout-before-bn"
POOL_PAST_END = "pool-past-end"
UNUSED_ARGUMENT = "unused-argument"
LINT_IDS = (BIAS_BEFORE_BN, DENSE_HEAVY, STRIDE_GAPS, SMALL_RF, DROPOUT_BEFORE_BN, POOL_PAST_END, UNUSED_ARGUMENT)

WEIGHTED = ("conv", "conv_transpose", "dense")
POOLS = ("maxpool", "avgpool")
# where a map stops being a map: what the classifier reads
HEAD_ENTRIES = ("flatten", "global_avgpool", "global_maxpool")
SHOWN_POSITIONS = 6  # unread rows listed by position; the count says how many in all


@dataclass(frozen=True)
class BiasBeforeNorm:
    """A conv or dense bias that the batchnorm reading it cancels: BN subtracts the batch mean,
    bias included, and its own β adds a learned shift back. biases: the n_C parameters wasted."""

    norm: str
    biases: int


@dataclass(frozen=True)
class DenseHeavy:
    """Dense layers hold most of the trainable parameters; most sit in the first one, which reads
    a flattened n_H×n_W×n_C map. With global average pooling instead of flatten it would read n_C.

    params_now = dense_params(n_H·n_W·n_C, units); params_gap = dense_params(n_C, units) (arith)."""

    dense_params: int
    total_params: int
    flatten: str
    n_H: int
    n_W: int
    n_C: int
    units: int
    bias: bool
    params_now: int
    params_gap: int

    @property
    def dense_params_gap(self) -> int:
        return self.dense_params - self.params_now + self.params_gap

    @property
    def total_params_gap(self) -> int:
        return self.total_params - self.params_now + self.params_gap


@dataclass(frozen=True)
class AxisGaps:
    """One axis of a window whose stride s is larger than its extent f_eff = d·(f − 1) + 1:
    between windows, input rows (or columns) are never read. positions: the first few unread, 0-based."""

    axis: str  # 'n_H' or 'n_W'
    n: int
    f_eff: int
    s: int
    unread: int
    positions: tuple[int, ...]


@dataclass(frozen=True)
class StrideGaps:
    axes: tuple[AxisGaps, ...]


@dataclass(frozen=True)
class SmallReceptiveField:
    """The features reaching the classifier (at `layer`, which flattens or pools them) each see
    r_H×r_W of the n_H×n_W input; j_H, j_W: their jump, what one more 3×3 conv there adds twice."""

    source: str
    r_H: int
    r_W: int
    j_H: int
    j_W: int
    n_H: int
    n_W: int

    @property
    def convs_needed(self) -> int:
        """3×3 stride-1 convs to add at the source's resolution for the field to cover the input:
        each adds 2·j (ReceptiveField.step with f = 3), so ⌈(n − r)/(2·j)⌉, the larger over the axes."""
        return max(-(-(n - r) // (2 * j)) for n, r, j in ((self.n_H, self.r_H, self.j_H), (self.n_W, self.r_W, self.j_W)))


@dataclass(frozen=True)
class DropoutBeforeNorm:
    """Dropout read by batchnorm: BN's running variance is learned on dropped, rescaled inputs and
    no longer matches inference, where dropout is off (the "variance shift")."""

    norm: str
    rate: float


@dataclass(frozen=True)
class AxisOverhang:
    """Ceil mode's last window along one axis: it starts at `start` and ends at `end` (input
    positions, 0-based; padding before is negative) and reads `past` positions beyond the end of
    the map and its padding after, n + p_b."""

    axis: str
    n: int
    p_a: int
    p_b: int
    f_eff: int
    s: int
    n_out: int
    start: int
    end: int
    past: int


@dataclass(frozen=True)
class PoolPastEnd:
    kind: str
    axes: tuple[AxisOverhang, ...]


@dataclass(frozen=True)
class Finding:
    id: str
    layer: str
    mark: Mark | None
    detail: object


@dataclass
class LintReport:
    report: Report
    findings: list[Finding]
    silenced: list[Finding]


def lint(report: Report) -> LintReport:
    """Every lint over an analysed spec, in the order of its layers; silenced findings apart."""
    graph = report.graph
    rows = {r.name: r for r in report.rows}
    consumers = graph.consumers()
    found: list[Finding] = []
    for d in graph.warnings:
        if isinstance(d.detail, UnusedArgument):  # the parser's record; silenced on the block, it is absent
            found.append(Finding(UNUSED_ARGUMENT, d.layer, d.mark, d.detail))
    head = _head_entry(report)
    for row in report.rows:
        node = graph.node(row.name)
        readers = [rows[c] for c in consumers.get(row.name, []) if c in rows]
        for lint_id, detail in _checks(report, row, readers, rows, consumers):
            found.append(Finding(lint_id, row.name, node.mark, detail))
        if row is head:
            small = _small_rf(report, row, rows)
            if small is not None:
                found.append(Finding(SMALL_RF, row.name, node.mark, small))
    kept, silenced = [], []
    for f in found:
        ignored = f.layer in rows and f.id in graph.node(f.layer).ignore
        (silenced if ignored else kept).append(f)
    return LintReport(report, kept, silenced)


def _head_entry(report: Report) -> Row | None:
    """Where the classifier starts: the last layer of the inference path that turns a map into a vector
    (flatten or a global pool; a squeeze-and-excitation pool inside the trunk comes before it)."""
    entries = [r for r in report.rows if r.kind in HEAD_ENTRIES and not r.aux and len(r.out_shape) == 1
               and r.in_shapes and len(r.in_shapes[0]) == 3]
    return entries[-1] if entries else None


def _checks(report: Report, row: Row, readers: list[Row], rows: dict, consumers: dict):
    fields = report.graph.node(row.name).fields
    if row.kind in WEIGHTED and fields.get("bias") and readers and all(r.kind == "batchnorm" for r in readers):
        yield BIAS_BEFORE_BN, BiasBeforeNorm(readers[0].name, row.out_shape[-1])
    if row.kind == "dropout":
        norms = [r for r in readers if r.kind == "batchnorm"]
        if norms:
            yield DROPOUT_BEFORE_BN, DropoutBeforeNorm(norms[0].name, fields["rate"])
    if row.kind == "dense" and not row.aux and row.inputs and rows.get(row.inputs[0]) is not None:
        heavy = _dense_heavy(report, row, rows[row.inputs[0]])
        if heavy is not None:
            yield DENSE_HEAVY, heavy
    if row.window is not None and row.kind in ("conv",) + POOLS:
        shared = len(consumers.get(row.inputs[0], [])) > 1  # another branch reads the rows this one skips
        gaps = None if shared else _stride_gaps(row)
        if gaps is not None:
            yield STRIDE_GAPS, gaps
        if row.kind in POOLS and row.window.ceil:
            past = _past_end(row)
            if past is not None:
                yield POOL_PAST_END, past


def _dense_heavy(report: Report, row: Row, source: Row) -> DenseHeavy | None:
    """A dense layer reading a flattened map, when the dense layers hold over half the parameters."""
    if source.kind != "flatten" or len(source.in_shapes[0]) != 3:
        return None
    n_H, n_W, n_C = source.in_shapes[0]
    if n_H * n_W == 1:  # global pooling would read the same n_C values
        return None
    # the deployed network's parameters: training-only aux heads are left out
    dense = sum(r.trainable for r in report.rows if r.kind == "dense" and not r.aux)
    total = sum(r.trainable for r in report.rows if not r.aux)
    if 2 * dense <= total:
        return None
    bias = bool(report.graph.node(row.name).fields.get("bias"))
    units = row.out_shape[0]
    return DenseHeavy(dense, total, source.name, n_H, n_W, n_C, units, bias,
                      arith.dense_params(n_H * n_W * n_C, units, bias), arith.dense_params(n_C, units, bias))


def _stride_gaps(row: Row) -> StrideGaps | None:
    axes = []
    for axis, rec in axis_lengths(row.in_shapes[0], row.window):
        n, s, p_a = rec.n, rec.s, rec.p_a
        if s <= rec.f_eff:
            continue
        read = _taps_read(rec)
        positions = []
        for pos in range(n):  # an unread position comes at least once a stride: this stops within s·SHOWN
            if not _is_read(rec, pos + p_a):
                positions.append(pos)
                if len(positions) == SHOWN_POSITIONS:
                    break
        axes.append(AxisGaps(axis, n, rec.f_eff, s, n - read, tuple(positions)))
    return StrideGaps(tuple(axes)) if axes else None


def _is_read(rec: arith.OutLength, q: int) -> bool:
    """Whether padded position q is a tap of some window (windows do not overlap: s > f_eff)."""
    i, offset = divmod(q, rec.s)
    return i < rec.n_out and offset < rec.f_eff and offset % rec.d == 0


def _taps_read(rec: arith.OutLength) -> int:
    """Input positions (not padding) read: for each tap k·d, the windows i with p_a ≤ i·s + k·d < p_a + n."""
    total = 0
    for k in range(rec.f):
        low = max(0, -(-(rec.p_a - k * rec.d) // rec.s))
        high = min(rec.n_out - 1, (rec.p_a + rec.n - 1 - k * rec.d) // rec.s)
        total += max(0, high - low + 1)
    return total


def _past_end(row: Row) -> PoolPastEnd | None:
    axes = []
    for axis, rec in axis_lengths(row.in_shapes[0], row.window):  # called for ceil-mode pools only
        n, s, p_a, p_b = rec.n, rec.s, rec.p_a, rec.p_b
        start = (rec.n_out - 1) * s - p_a
        end = start + rec.f_eff - 1
        past = end - (n + p_b - 1)
        if past > 0:
            axes.append(AxisOverhang(axis, n, p_a, p_b, rec.f_eff, s, rec.n_out, start, end, past))
    return PoolPastEnd(row.kind, tuple(axes)) if axes else None


def _small_rf(report: Report, row: Row, rows: dict) -> SmallReceptiveField | None:
    shape = report.graph.input_shape
    source = rows.get(row.inputs[0]) if row.inputs else None
    if len(shape) != 3 or source is None or source.rf is None or len(source.out_shape) != 3:
        return None
    rf = source.rf
    if rf.r_H >= shape[0] and rf.r_W >= shape[1]:
        return None
    return SmallReceptiveField(source.name, rf.r_H, rf.r_W, rf.j_H, rf.j_W, shape[0], shape[1])
