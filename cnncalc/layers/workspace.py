"""One arena of scratch memory per network: the layers run one at a time, so their workspaces can
be the same bytes.

A layer leases {name: (shape, dtype)} (whatever its plan's workspace_shapes returns, less what it
must keep to itself); when the network is built, Arena.allocate() makes one zeroed block of the
largest lease and writes every lease's arrays, C-contiguous views of that block laid out one after
the other, into the dict the layer passed (its `ws`, so the kernels' calls are unchanged). Memory:
max over the layers of Σ its arrays, not Σ over the layers.

What makes it correct:
  * the owner: a layer calls claim(self) before each forward and backward. When another layer used
    the block last, claim restores the state a fresh workspace has (zeros) in every leased array
    the layer did not declare `rewritten`: the kernels that write only an image's interior into a
    padded buffer, and read the never-written border as zeros, see exactly what their own private
    workspace would hold. Arrays a kernel fully writes before reading on every call are `rewritten`
    and skip the zeroing (the im2col + sgemm panels: the bulk of it).
  * what survives between calls stays out of the arena: constants written at build (offsets) and
    anything a forward leaves for its backward (other layers run in between); the lessee keeps
    those arrays of its own.
A lease changes nothing numerically: tests/test_workspace_arena.py trains with and without the
arena and compares losses and weights bit for bit.

ENABLED (environment CNNCALC_ARENA=0 turns it off): a network built while it is false gives every
layer its own workspace, as before the arena.
"""

from __future__ import annotations

import os
from math import prod

import numpy as np

ENABLED = os.environ.get("CNNCALC_ARENA", "1") != "0"
ALIGN = 64  # bytes: a cache line, and the widest vector register


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def aligned_zeros(size: int) -> np.ndarray:
    """A zeroed uint8 block of `size` bytes whose start is aligned to ALIGN."""
    raw = np.zeros(size + ALIGN, np.uint8)
    start = (-raw.ctypes.data) % ALIGN
    return raw[start:start + size]


class Lease:
    """One layer's part of the arena: its arrays' shapes, the dict to write the views into, and
    which arrays are zeroed when the layer takes the block over from another."""

    def __init__(self, shapes: dict, into: dict, rewritten: frozenset):
        self.shapes, self.into = dict(shapes), into
        self.zeroed = [name for name in self.shapes if name not in rewritten]
        self.nbytes = sum(_aligned(np.dtype(dtype).itemsize * prod(shape)) for shape, dtype in self.shapes.values())

    def place(self, block: np.ndarray) -> None:
        """Writes this lease's arrays, consecutive aligned views of `block` (uint8), into `into`."""
        offset = 0
        for name, (shape, dtype) in self.shapes.items():
            size = np.dtype(dtype).itemsize * prod(shape)
            self.into[name] = block[offset:offset + size].view(dtype).reshape(shape)
            offset += _aligned(size)

    def restore(self) -> None:
        for name in self.zeroed:
            self.into[name].fill(0)


class Arena:
    """The scratch block of one network's layers; see the module's docstring."""

    def __init__(self):
        self.leases: dict = {}  # {owner: Lease}
        self.block = np.zeros(0, np.uint8)
        self.owner = None

    def lease(self, owner, shapes: dict, into: dict, rewritten=()) -> None:
        """owner (the layer object that will claim) leases arrays {name: (shape, dtype)}, written into
        `into` by allocate(); `rewritten`: the names its kernels fully write before reading, every call."""
        self.leases[owner] = Lease(shapes, into, frozenset(rewritten))

    def allocate(self) -> None:
        """One zeroed block of the largest lease (plus the alignment slack), its views placed in every lease."""
        self.block = aligned_zeros(max((lease.nbytes for lease in self.leases.values()), default=0))
        for lease in self.leases.values():
            lease.place(self.block)
        self.owner = None

    def claim(self, owner) -> None:
        """Before owner's kernels run: the zeros its kernels rely on, unless it used the block last."""
        if self.owner is not owner:
            self.leases[owner].restore()
            self.owner = owner

    @property
    def nbytes(self) -> int:
        return self.block.nbytes


def place(sizes: list[int], lives: list[tuple[int, int]]) -> tuple[list[int], int]:
    """Byte offsets in one block for buffers of `sizes` alive over the steps lives[k] = (first, last),
    inclusive: two buffers alive at a common step never overlap. Greedy, largest first, each at the lowest
    offset free of the buffers already placed that share a step with it. Returns (offsets, block size)."""
    offsets = [0] * len(sizes)
    placed: list[int] = []
    for k in sorted(range(len(sizes)), key=lambda k: (-sizes[k], k)):
        first, last = lives[k]
        taken = sorted((offsets[j], offsets[j] + _aligned(sizes[j])) for j in placed
                       if lives[j][0] <= last and first <= lives[j][1])
        offset = 0
        for lo, hi in taken:
            if offset + sizes[k] <= lo:
                break
            offset = max(offset, hi)
        offsets[k] = offset
        placed.append(k)
    return offsets, max((offsets[k] + _aligned(sizes[k]) for k in range(len(sizes))), default=0)
