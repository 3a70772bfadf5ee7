"""The machine's resources for a run: Numba's threads with BLAS held to one, the free memory,
and the memory check before a run begins."""

from __future__ import annotations

import gc
import os

from cnncalc.engine.events import Note
from cnncalc.errors import EngineError
from cnncalc.render.words import gib

def freeze_heap() -> None:
    """Move every object alive now out of the cyclic collector's sight (gc.freeze), once the
    network is built and its kernels loaded. Numba's modules, types and loaded kernels are about a
    million objects that live as long as the process; each full collection walked them again
    (two of 45 ms in the first step of a small net), and so did the interpreter's last collection
    at exit (0.3 s of a 1.4 s cached start). Objects made later are collected as before."""
    gc.freeze()


class Threads:
    """Numba's thread count set to n for the run, BLAS single-threaded; both restored on exit.

    The conv, pool and optimiser kernels run on Numba's threads; numpy's BLAS (the dense layers'
    products) runs between them from Python. OpenBLAS's own threads keep spinning after each
    call and take the cores from Numba's (5× slower loops measured on 2 cores), so BLAS gets one
    thread while training (threadpoolctl's threadpool_limits, which finds whichever BLAS numpy
    loaded). n above the cores Numba started with is capped, with a note."""

    def __init__(self, n: int | None):
        import numba

        self.available = numba.config.NUMBA_NUM_THREADS
        self.n = self.available if n is None else min(n, self.available)
        self.capped = n is not None and n > self.available

    def __enter__(self):
        import numba
        from threadpoolctl import threadpool_limits

        self.previous = numba.get_num_threads()
        numba.set_num_threads(self.n)
        self.blas = threadpool_limits(limits=1, user_api="blas")
        return self

    def __exit__(self, *exc):
        import numba

        numba.set_num_threads(self.previous)
        self.blas.restore_original_limits()
        return False


# cgroup v1 writes "no limit" as the largest multiple of the page size below 2^63
_NO_LIMIT = 2**62


def _read_int(path: str) -> int | None:
    try:
        with open(path) as fh:
            text = fh.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max" (cgroup v2's no limit) and junk: None


def _cgroup_paths(root: str) -> dict[str, str]:
    """{controller or "": path} of this process's cgroups from /proc/self/cgroup ("" is v2's)."""
    paths = {}
    try:
        with open(os.path.join(root, "proc", "self", "cgroup")) as fh:
            for line in fh:
                parts = line.rstrip("\n").split(":", 2)
                if len(parts) == 3:
                    for controller in parts[1].split(",") if parts[1] else [""]:
                        paths[controller] = parts[2].lstrip("/")
    except OSError:
        pass
    return paths


def _cgroup_free(root: str) -> int | None:
    """The container's limit less its usage in bytes: cgroup v2 memory.max − memory.current, or
    v1 memory.limit_in_bytes − memory.usage_in_bytes; None where no limit is set or readable.
    Looked up in the process's own cgroup and at the mount's top (where a container sees its own)."""
    base = os.path.join(root, "sys", "fs", "cgroup")
    own = _cgroup_paths(root)
    candidates = [(os.path.join(base, own.get("", "")), "memory.max", "memory.current"),
                  (base, "memory.max", "memory.current"),
                  (os.path.join(base, "memory", own.get("memory", "")), "memory.limit_in_bytes",
                   "memory.usage_in_bytes"),
                  (os.path.join(base, "memory"), "memory.limit_in_bytes", "memory.usage_in_bytes")]
    for folder, limit_file, usage_file in candidates:
        limit = _read_int(os.path.join(folder, limit_file))
        if limit is None or limit >= _NO_LIMIT:
            continue
        usage = _read_int(os.path.join(folder, usage_file)) or 0
        return max(limit - usage, 0)
    return None


def available_memory(root: str = "/") -> int | None:
    """Bytes a run can still take: the smaller of MemAvailable (/proc/meminfo) and the
    container's cgroup limit less its usage; None where neither can be read.
    root: where /proc and /sys are (a folder of fake files in the tests)."""
    meminfo = None
    try:
        with open(os.path.join(root, "proc", "meminfo")) as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    meminfo = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        meminfo = None
    found = [v for v in (meminfo, _cgroup_free(root)) if v is not None]
    return min(found) if found else None



def _memory_check(report, config, pool, force, on_event, threads):
    """The free memory (None: unknown); EngineError when the run's estimate exceeds it (unless force)."""
    from cnncalc.engine import train as tr

    if pool.capped:
        on_event(Note("threads_capped", {"requested": threads, "available": pool.available}))
    free = available_memory()
    est = tr.estimate(report, config["batch_size"], 0, config["optimizer"], config["momentum"], pool.n)
    if free is not None and est["bytes"] > free and not force:
        raise EngineError(f"the run needs about {gib(est['bytes'])} (weights, gradients, optimiser state "
                          f"and activations for batch {config['batch_size']}) but {gib(free)} is free",
                          fix="use a smaller --batch-size, or --force to try anyway")
    return free


def _versions():
    import platform

    import numba
    import numpy as np

    return {"python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__}

