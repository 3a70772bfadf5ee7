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

# numpy is imported where arrays are made: place(), gradient_lives() and lease_bytes() are plain Python, which the
# memory planner (analysis/memory.py) calls without loading numpy
ENABLED = os.environ.get("CNNCALC_ARENA", "1") != "0"
ALIGN = 64  # bytes: a cache line, and the widest vector register


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


ITEMSIZE = {"float32": 4, "float64": 8, "int64": 8, "uint8": 1}


def lease_bytes(shapes: dict) -> int:
    """Bytes of a lease {name: (shape, dtype)}: each array rounded up to ALIGN, laid out one after the other."""
    return sum(_aligned(_itemsize(dtype) * prod(shape)) for shape, dtype in shapes.values())


def _itemsize(dtype) -> int:
    if isinstance(dtype, str):
        return ITEMSIZE[dtype]
    import numpy as np

    return np.dtype(dtype).itemsize


def aligned_zeros(size: int):
    """A zeroed uint8 block of `size` bytes whose start is aligned to ALIGN."""
    import numpy as np

    raw = np.zeros(size + ALIGN, np.uint8)
    start = (-raw.ctypes.data) % ALIGN
    return raw[start:start + size]


class Lease:
    """One layer's part of the arena: its arrays' shapes, the dict to write the views into, and
    which arrays are zeroed when the layer takes the block over from another."""

    def __init__(self, shapes: dict, into: dict, rewritten: frozenset):
        self.shapes, self.into = dict(shapes), into
        self.zeroed = [name for name in self.shapes if name not in rewritten]
        self.nbytes = lease_bytes(self.shapes)

    def place(self, block) -> None:
        """Writes this lease's arrays, consecutive aligned views of `block` (uint8), into `into`."""
        offset = 0
        for name, (shape, dtype) in self.shapes.items():
            size = _itemsize(dtype) * prod(shape)
            self.into[name] = block[offset:offset + size].view(dtype).reshape(shape)
            offset += _aligned(size)

    def restore(self) -> None:
        for name in self.zeroed:
            self.into[name].fill(0)


class Arena:
    """The scratch block of one network's layers; see the module's docstring."""

    def __init__(self):
        import numpy as np

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


def gradient_lives(layers, own_of: dict, sum_of: dict, seeds: list, wants_grad: dict, count: int) -> list:
    """The steps (first, last) over which each of `count` gradient buffers is alive in the backward pass, for
    place(): the executor's (engine/executor.Network._share_gradients) and the memory planner's one walk.

    layers: in forward order, each with .name, .node.inputs, .runs_backward and .passes_gradient; own_of:
    {layer name: indices of its dx buffers}; sum_of: {layer name: index of the sum of its readers' gradients};
    seeds: the layers whose gradient the loss sends (the logits, the aux heads'); wants_grad: {name: bool}.

    Lifetimes follow backward() step by step: a layer's buffers are written at its backward; what it sends
    is read by the producer's backward, or at once when the producer sums its readers' gradients (the sum
    lives from the first arrival to the producer's backward); a layer that passes dout on (passes_gradient)
    makes what it received live on into what it sends. A buffer the walk never sees written (a layer no
    gradient reaches) lives over every step, so it shares no byte with any other."""
    lives = [None] * count

    def read(token, step):
        for k in token:
            lives[k] = (lives[k][0], max(lives[k][1], step))

    incoming: dict = {}

    def send(name, token, step):
        if name in sum_of:  # copied (or added) into the sum at once, at the step that sends it
            read(token, step)
            k = sum_of[name]
            lives[k] = (step, step) if lives[k] is None else (lives[k][0], step)
            incoming[name] = frozenset({k})
        else:
            incoming[name] = token

    for name in seeds:
        send(name, frozenset(), 0)
    for step, layer in enumerate(reversed(layers), start=1):
        if not layer.runs_backward:
            continue
        dout = incoming.pop(layer.name, None)
        if dout is None:
            continue
        read(dout, step)
        for k in own_of[layer.name]:
            lives[k] = (step, step)
        token = frozenset(own_of[layer.name]) | (dout if layer.passes_gradient else frozenset())
        for name in layer.node.inputs:
            if wants_grad[name]:
                send(name, token, step)
    return [life if life is not None else (0, len(layers) + 1) for life in lives]
