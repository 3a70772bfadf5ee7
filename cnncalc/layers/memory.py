"""What training holds for one layer, per kind: the record each family's `memory` rule returns.

Bytes, Python ints, as the engine allocates them (layers/*/train.py): float32 buffers of 4 bytes a
value, int64 argmax of 8, batchnorm's float64 scratch of 8. A rule is called for the batch m the
network is built for, with need_dx (per input: whether the producer wants a gradient, as
executor.Network decides) and lanes (the threads the conv workspaces are sized for). No numpy.

    output     the layer's output buffer (m, …): what the next layers read and, for most kinds, what
               backward reads again (a ReLU's backward reads its input, the previous layer's output)
    kept       {category: bytes} what forward leaves for backward beyond the outputs: "masks"
               (dropout's float32 mask, drop_path's per-sample scale), "argmax" (max pooling's int64
               indices), "statistics" (batchnorm's saved mean and 1/σ per channel)
    dx         per input, the bytes of the buffer its backward writes that input's gradient into
               (0: none); the executor places them in one shared block by their lifetimes
    passes_gradient  backward may hand dout itself on (add, flatten, identity, dropout in eval)
    workspace  bytes of scratch the layer keeps to itself (conv's tap offsets, the 1×1 path's packed weights)
    scratch    bytes of scratch leased from the network's arena (layers/workspace.py): one block of the
               largest lease serves every layer
    path       the conv kernel the workspace is counted for ("" for other kinds)
    counters   bytes of non-trainable arrays beyond the float32 values the analysis counts (batchnorm's int64
               num_batches_tracked)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cnncalc.shapes import elements

FLOAT32 = 4


@dataclass(frozen=True)
class LayerMemory:
    output: int = 0
    kept: dict = field(default_factory=dict)
    dx: tuple = ()
    passes_gradient: bool = False
    workspace: int = 0
    scratch: int = 0
    path: str = ""
    counters: int = 0


def elementwise(row, m: int, need_dx, lanes: int) -> LayerMemory:  # noqa: ARG001 — the rules' signature
    """The default rule: an output buffer (m, out) and, for every input, a dx buffer (m, in) allocated whether or
    not the producer wants a gradient (layers.adapter.Elementwise, pooling, concat, upsample, …)."""
    return LayerMemory(output=FLOAT32 * m * elements(row.out_shape),
                       dx=tuple(FLOAT32 * m * elements(s) for s in row.in_shapes))


def pass_through(row, m: int, need_dx, lanes: int) -> LayerMemory:  # noqa: ARG001 — the rules' signature
    """A kind that allocates nothing: its output is a view of its input and backward hands dout on
    (identity, flatten)."""
    return LayerMemory(passes_gradient=True)
