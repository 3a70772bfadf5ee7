"""The arrays a built training network really holds, sorted by the memory planner's categories.

by_category(network, optimizer, loop) walks what the executor, the parameter store, the optimiser and
the training loop allocated and returns {category: bytes}, each array counted once by the buffer it
views (a view of the shared gradient block or of the arena counts as the block, once). The categories
are analysis.memory.NETWORK_PARTS', so a plan can be held against the real thing
(tests/test_memory_planner.py, benchmarks/memory_breakdown.py); an array the planner has no category
for comes back as "other: kind.role", so a new buffer cannot hide.
"""

from __future__ import annotations

import numpy as np

# a layer's attribute → the planner's category; the attributes not named here and not SKIPPED are "other"
ROLES = {"out": "outputs", "dx": "dx_shared", "dxs": "dx_shared", "argmax": "kept", "mask": "kept", "keep": "kept",
         "save_mean": "kept", "save_inv_std": "kept", "ws": "workspace", "tables": "workspace"}
# references to arrays counted elsewhere (parameters, the input it read, caches of views), and empty markers
SKIPPED = {"own", "own_grads", "node", "row", "cache", "x", "values", "need_dx", "_none", "_no_dx", "conv", "pool",
           "plan", "choice", "arena", "shared", "fields", "in_shapes", "out_shape"}


def by_category(network, optimizer=None, loop=None) -> dict[str, int]:
    """{category: bytes} of every array network (executor.Network), optimizer (engine.optim) and loop
    (train.Loop) hold."""
    seen: set[int] = set()
    table: dict[str, int] = {}

    def base_of(array):
        while isinstance(array.base, np.ndarray):
            array = array.base
        return array

    def count(category, array, nbytes=None):
        if not isinstance(array, np.ndarray):
            return
        base = base_of(array)
        if id(base) in seen:
            return
        seen.add(id(base))
        table[category] = table.get(category, 0) + (base.nbytes if nbytes is None else nbytes)

    def walk(category, value):
        if isinstance(value, np.ndarray):
            count(category, value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(category, v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(category, v)

    # the two blocks first, at their own size (aligned_zeros' slack of ALIGN bytes is not theirs): their views,
    # the layers' dx buffers, the sums and the leased workspaces, then count as the block
    if network.gradients is not None:
        count("dx_shared", network.gradients, network.gradients.nbytes)
    if network.arena is not None:
        count("arena", network.arena.block, network.arena.block.nbytes)
    walk("params", network.store.params)
    walk("params", network.store.buffers)
    walk("grads", network.store.grads)
    if optimizer is not None:
        walk("optimizer", {k: v for k, v in vars(optimizer).items() if k != "params"})
    walk("dx_shared", network.sums)
    for layer in network.layers:
        parts = dict(vars(layer))
        for inner in ("conv", "pool"):
            obj = getattr(layer, inner, None)
            if obj is not None:
                parts.update({k: v for k, v in vars(obj).items() if k not in parts or k in ("out", "dx", "ws")})
        for role, value in parts.items():
            if role in SKIPPED:
                continue
            walk(ROLES.get(role, f"other: {layer.node.kind}.{role}"), value)
    if loop is not None:
        walk("batch", [loop.x, loop.y, loop.dz, loop.p, loop.aux_dz, loop.aux_p])
    return table


class MemoryWatch:
    """The planned peak of a run (analysis.memory.plan for its batch, optimiser and Numba's threads) beside the
    measured one: the bytes of the arrays the built network, optimiser and loop hold (by_category, each array
    walked) plus tracemalloc's peak of what the run allocates on top of them, from the end of the warm-up to the
    run's end (the shuffles' orders, evaluation's outputs, the checkpoints' copies). numpy reports its arrays'
    allocations to tracemalloc; tracing starts after the warm-up because compiling (or loading) the kernels makes
    tens of MiB of Python objects that are Numba's, not the run's. The data set, the interpreter and the compiled
    code are not in it. Tracing cost nothing measurable on a LeNet-5 epoch (the time goes to the kernels, which
    allocate nothing), so every run measures. A tracemalloc already tracing (a profiler's) is left running."""

    def __init__(self, report, batch_size: int, optimizer: str, momentum: float):
        import numba

        from cnncalc.analysis.memory import plan

        kind = "adam" if optimizer == "adam" else ("momentum" if momentum else "sgd")
        self.planned = plan(report, batch_size, kind, lanes=max(1, numba.config.NUMBA_NUM_THREADS)).peak
        self.held = self.baseline = None
        self.started = False

    def begin(self, network, optimizer, loop) -> None:
        """After the warm-up: the arrays held, walked; tracing from here."""
        import tracemalloc

        self.held = sum(by_category(network, optimizer, loop).values())
        self.started = not tracemalloc.is_tracing()
        if self.started:
            tracemalloc.start()
        else:
            tracemalloc.reset_peak()
        self.baseline = tracemalloc.get_traced_memory()[0]

    def finish(self) -> tuple[int, int | None]:
        """(planned bytes, measured peak bytes, or None when tracing never began or was stopped by someone
        else); stops tracing if this watch started it."""
        import tracemalloc

        if self.held is None or not tracemalloc.is_tracing():
            return self.planned, None
        measured = self.held + max(0, tracemalloc.get_traced_memory()[1] - self.baseline)
        self.stop()
        return self.planned, measured

    def stop(self) -> None:
        """Stops tracing if this watch started it (also for a run that failed or was interrupted)."""
        import tracemalloc

        if self.started and tracemalloc.is_tracing():
            tracemalloc.stop()
        self.started = False
