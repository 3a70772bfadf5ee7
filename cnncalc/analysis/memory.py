"""`cnncalc memory`: what training a spec holds, per layer and in all, before anything is allocated.

The plan follows the engine's own allocations (engine/executor.Network, engine/params.Params,
engine/optim, engine/train.Loop) category by category, as benchmarks/memory_breakdown.py sorts the
arrays of a built network, so the two can be compared (tests/test_memory_planner.py does):

    per layer (each kind's `memory` rule, layers/*/rules.py → layers.memory.LayerMemory)
      outputs            the output buffer (m, …) every layer keeps: backward reads them
      masks, argmax, statistics   what forward leaves for backward beyond the outputs
      params, grads      4 bytes per parameter each (the running statistics and counters with params)
      optimizer state    sgd: none; momentum: a velocity per parameter; adam: two moments
      input gradients    the dx buffers as each layer would own them (shared below)
      workspace          scratch a layer keeps to itself (conv's tap offsets, packed weights)
    network-wide
      input gradients, shared   one block for every dx and gradient sum, placed by lifetimes
                                (layers/workspace.gradient_lives and place, the executor's own walk)
      arena              the conv and batchnorm scratch: one block of the largest lease
      batch and loss     the input batch (m, input) float32, labels int64, dlogits and probabilities (m, K)

peak = the sum of all of them: the engine allocates every buffer once, when the network is built, and
keeps it for the run. Bytes are Python ints; the peak is affine in m but for the conv workspaces of
the batched depthwise and 1×1 paths, which grow with a lane's share of the batch, so the largest batch
for a budget is searched with the plan itself (largest_batch). No numpy, no Numba.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from cnncalc.analysis import Report
from cnncalc.errors import CnncalcError, EngineError
from cnncalc.graph import INPUT
from cnncalc.layers import lookup
from cnncalc.layers.memory import FLOAT32, LayerMemory, elementwise
from cnncalc.shapes import elements

OPTIMIZER_SLOTS = {"sgd": 0, "momentum": 1, "adam": 2}  # arrays of the parameters' size the optimiser keeps
# the kinds a final layer of which is fused with the loss (layers.adapter.Trainer.loss_input): the logits are its input
FUSED_WITH_LOSS = frozenset({"softmax"})
KEPT = ("masks", "argmax", "statistics")  # the categories of LayerMemory.kept, in the table's order
# the table's columns of a layer row, in order (bytes each)
LAYER_PARTS = ("outputs",) + KEPT + ("params", "grads", "optimizer", "dx", "workspace")
# the network-wide parts of the peak, in order
NETWORK_PARTS = ("outputs", "kept", "params", "grads", "optimizer", "dx_shared", "workspace", "arena", "batch")


@dataclass
class LayerRow:
    """One layer's bytes (or a folded block's sums), by part (LAYER_PARTS)."""

    name: str
    kind: str
    depth: int
    parts: dict
    path: str = ""  # the conv workspace's kernel path
    folded: int = 1

    @property
    def total(self) -> int:
        return sum(self.parts.values())


@dataclass
class MemoryPlan:
    """The plan of one spec at batch m: rows, the network-wide parts and the peak, all in bytes."""

    spec: str
    batch: int
    optimizer: str
    lanes: int
    rows: list
    parts: dict  # NETWORK_PARTS → bytes
    dx_unshared: int  # Σ of the dx buffers and sums before sharing
    arena_layer: str  # the layer with the largest lease ("" when none)
    paths: dict = field(default_factory=dict)  # conv path → layers counted on it

    @property
    def peak(self) -> int:
        return sum(self.parts.values())


class BudgetError(CnncalcError):
    """--budget that no batch fits, or a value that is not a size."""


def default_lanes() -> int:
    """The threads Numba starts with, which the conv workspaces are sized for (numba.config.NUMBA_NUM_THREADS):
    NUMBA_NUM_THREADS, else the CPUs this process may run on."""
    value = os.environ.get("NUMBA_NUM_THREADS", "")
    if value.isdigit() and int(value) > 0:
        return int(value)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def _rule(kind: str):
    k = lookup(kind)
    return (k.memory if k is not None else None) or elementwise


def plan(report: Report, batch: int, optimizer: str = "sgd", lanes: int | None = None,
         depth: int | None = None) -> MemoryPlan:
    """The memory plan of an analysed spec for batches of `batch` (see the module's docstring).

    Follows executor.Network: only the layers that reach the logits (or an aux head's) are built; a layer
    wants a gradient when it has parameters or reads a layer that does; a layer read by several sums their
    gradients in a buffer of its own."""
    from cnncalc.layers import workspace

    if report.error is not None:
        raise report.error
    if optimizer not in OPTIMIZER_SLOTS:
        raise EngineError("unknown optimiser", received=optimizer, allowed=", ".join(OPTIMIZER_SLOTS))
    if batch < 1:
        raise EngineError("the batch size must be at least 1", received=batch)
    lanes = lanes or default_lanes()
    graph = report.graph
    rows = {r.name: r for r in report.rows}
    for node in graph.nodes[1:]:
        kind = lookup(node.kind)
        if kind is not None and kind.trainer is None:
            why = f" ({kind.analysis_only})" if kind.analysis_only else ""
            raise EngineError(f"{node.name}: the trainer cannot run {node.kind} layers{why}", node.mark)

    def logits_of(name):
        node = graph.node(name)
        return node.inputs[0] if node.kind in FUSED_WITH_LOSS else node.name

    logits = logits_of(graph.output)
    if logits == INPUT or len(rows[logits].out_shape) != 1 or rows[logits].out_shape[0] < 2:
        # executor.check_runnable's condition: training scores one class per output
        raise EngineError(f"the network ends in {'its input' if logits == INPUT else rows[logits].out_shape}; "
                          "training, which the plan is for, needs one score per class", graph.node(graph.output).mark,
                          fix="end the spec with flatten (or global_avgpool) and dense: K")
    aux = [logits_of(head.name) for head in graph.aux]
    active = graph.reaching(logits)
    for name in aux:
        active |= graph.reaching(name)
    n_classes = elements(rows[logits].out_shape)

    wants_grad = {INPUT: False}
    layers, uses, consumers = [], {}, {}
    for node in graph.nodes[1:]:
        if node.name not in active:
            continue
        row = rows[node.name]
        wants_grad[node.name] = row.trainable > 0 or any(wants_grad[i] for i in node.inputs)
        need_dx = [wants_grad[i] for i in node.inputs]
        uses[node.name] = _rule(node.kind)(row, batch, need_dx, lanes)
        layers.append(_Step(node, wants_grad[node.name], uses[node.name].passes_gradient))
        for i in node.inputs:
            consumers[i] = consumers.get(i, 0) + 1
    for name in [logits] + aux:
        consumers[name] = consumers.get(name, 0) + 1
    sums = {name: FLOAT32 * batch * elements(rows[name].out_shape) for name, k in consumers.items()
            if k > 1 and wants_grad.get(name)}

    # the shared block of input gradients: the executor's walk and placement, on sizes alone
    sizes, own_of, sum_of = [], {}, {}
    for step in layers:
        own_of[step.name] = []
        for nbytes in uses[step.name].dx:
            if nbytes:
                own_of[step.name].append(len(sizes))
                sizes.append(nbytes)
    for name, nbytes in sums.items():
        sum_of[name] = len(sizes)
        sizes.append(nbytes)
    seeds = [logits] + [name for name in aux if wants_grad.get(name)]
    lives = workspace.gradient_lives(layers, own_of, sum_of, seeds, wants_grad, len(sizes))
    _, dx_shared = workspace.place(sizes, lives)

    slots = OPTIMIZER_SLOTS[optimizer]
    out, arena, arena_layer, paths = [], 0, "", {}
    for row in report.rows[1:]:
        use = uses.get(row.name, LayerMemory())
        built = row.name in uses
        parts = {"outputs": use.output}
        for k in KEPT:
            parts[k] = use.kept.get(k, 0)
        # every parameter is laid out (engine.params), built or not; the optimiser keeps state for the built ones
        parts["params"] = FLOAT32 * (row.trainable + row.non_trainable) + use.counters
        parts["grads"] = FLOAT32 * row.trainable
        parts["optimizer"] = FLOAT32 * row.trainable * slots if built else 0
        parts["dx"] = sum(use.dx) + sums.get(row.name, 0)
        parts["workspace"] = use.workspace
        out.append(LayerRow(row.name, row.kind, row.depth, parts, use.path))
        if use.scratch > arena:
            arena, arena_layer = use.scratch, row.name
        if use.path:
            paths.setdefault(use.path, []).append(row.name)
    batch_bytes = (FLOAT32 * batch * elements(graph.input_shape) + 8 * batch  # x and the int64 labels
                   + 2 * FLOAT32 * batch * n_classes * (1 + len(aux)))  # dz and p, the main and each aux head's
    total = {k: sum(r.parts[k] for r in out) for k in LAYER_PARTS}
    network = {"outputs": total["outputs"], "kept": sum(total[k] for k in KEPT), "params": total["params"],
               "grads": total["grads"], "optimizer": total["optimizer"], "dx_shared": dx_shared,
               "workspace": total["workspace"], "arena": arena, "batch": batch_bytes}
    return MemoryPlan(graph.file, batch, optimizer, lanes, _fold(out, report, depth), network,
                      sum(sizes), arena_layer, paths)


@dataclass(frozen=True)
class _Step:
    """What gradient_lives reads of a built layer (the executor passes its Layer objects)."""

    node: object
    runs_backward: bool
    passes_gradient: bool

    @property
    def name(self) -> str:
        return self.node.name


def _fold(rows: list, report: Report, depth: int | None) -> list:
    """Rows with blocks `depth` levels deep summed into one row each, as analysis.fold does for the tables."""
    if depth is None:
        return rows
    depth = max(depth, 1)
    scope = {r.name: r.scope for r in report.rows}
    out, groups = [], {}
    for row in rows:
        s = scope[row.name]
        if len(s) < depth:
            out.append(row)
            continue
        group = groups.get(s[depth - 1])
        if group is None:
            group = groups[s[depth - 1]] = LayerRow(s[depth - 1], "block", depth - 1, dict.fromkeys(LAYER_PARTS, 0),
                                                    folded=0)
            out.append(group)
        for k, v in row.parts.items():
            group.parts[k] += v
        group.folded += 1
    return out


# ------------------------------------------------------------------ --budget

UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
         "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_size(text: str) -> int:
    """'4GB' → 4,000,000,000 (KB, MB, GB, TB: powers of 1000); '4GiB' → 4·2^30 (KiB, MiB, GiB, TiB: of 1024);
    '512' or '512B' → bytes. A decimal number is allowed ('1.5GB'), rounded down to a byte.
    BudgetError for anything else."""
    from fractions import Fraction

    raw = text.strip().replace(",", "").replace("_", "")
    number = raw.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ ")
    unit = raw[len(number):].strip().lower() or "b"
    try:
        value = Fraction(number) if number and not number.startswith(("+", "-")) else None
    except (ValueError, ZeroDivisionError):
        value = None
    if value is None or unit not in UNITS or value <= 0:
        raise BudgetError("--budget is not a memory size", field="budget", received=text,
                          allowed="a positive number with B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB "
                                  "(of 1024), e.g. 4GB")
    return int(value * UNITS[unit])


def size_base(text: str) -> str:
    """The catalogue key naming the base a size was written in: powers of 1000, of 1024, or plain bytes."""
    unit = text.strip().rstrip().lower()
    if unit.endswith("ib"):
        return "memory.base_binary"
    if unit.endswith(("kb", "mb", "gb", "tb")):
        return "memory.base_decimal"
    return "memory.base_bytes"


def largest_batch(report: Report, budget: int, optimizer: str = "sgd", lanes: int | None = None,
                  most: int = 2**31) -> tuple[int, MemoryPlan, MemoryPlan]:
    """(m, plan at m, plan at m + 1): the largest batch m ≤ most whose planned peak fits in `budget` bytes, and the
    plans that show it (the first fits, the second does not). The peak grows with m (every buffer is m rows, the
    workspaces a lane's share); m is found by doubling and bisection over exact integer plans.
    BudgetError when even one sample does not fit."""
    lanes = lanes or default_lanes()

    def peak(m):
        return plan(report, m, optimizer, lanes).peak

    if peak(1) > budget:
        one = plan(report, 1, optimizer, lanes)
        raise BudgetError(f"even a batch of 1 needs {one.peak:,} bytes", field="budget", received=f"{budget:,} bytes")
    lo, hi = 1, 2
    while hi <= most and peak(hi) <= budget:  # lo fits; at most 32 doublings
        lo, hi = hi, hi * 2
    hi = min(hi, most + 1)
    while hi - lo > 1:  # lo fits, hi does not (or lies past most)
        mid = (lo + hi) // 2
        if peak(mid) <= budget:
            lo = mid
        else:
            hi = mid
    return lo, plan(report, lo, optimizer, lanes), plan(report, lo + 1, optimizer, lanes)
