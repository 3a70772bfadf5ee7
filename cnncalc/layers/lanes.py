"""Lane bodies: the serial function a parallel kernel runs on each thread, called through its address.

Every parallel kernel of the engine has the same shape: a thin `prange` over lanes (or images),
each calling one large serial function, its body, for its share of the work. Called directly,
Numba links a copy of the body into the kernel and LLVM optimises it again there: a body that is
already vectorised and unrolled costs several times its own compilation to re-optimise inside the
parallel loop (a conv kernel's body: ~4 s of each kernel's ~8 s cold compile, numba 0.68), and the
engine has a dozen such kernels. Called through its address, the body is compiled once, on its
own, and the kernel compiles in a fraction of a second. The body is a large function called once
per lane or image, so the lost inlining costs nothing measurable.

    @lanes.body("void(i8, i8, f4[:, :, :, ::1], f4[:, :, :, ::1])")
    def _images(lo, hi, x, out): ...

    @lanes.parallel(_images)
    def scale(images, n_lanes, x, out):      # `images`: the body's address, passed by the caller
        for t in prange(n_lanes):
            _images(images, (lo, hi, x, out))     # the body, through its address

    scale(2, x, out)                         # the address is prepended: callers do not see it

The body declares its signature: the kernel is compiled and cached once, so the body's address
must come from the same signature in every later process. A call with other argument types is a
compile-time error naming both, never a wrong call. A kernel's `py_func` runs it and its bodies as
Python (the tests' reference).

The compiled call propagates the body's error status as a direct call would.

Cold start. The bodies are most of the engine's compile time, and their signatures are declared,
so another process can compile them: `prefetch(bodies)` hands the bodies that Numba's cache does
not hold yet to one helper process (`python -m cnncalc.layers.lanes`, started on the first cold
body) which compiles them into the same cache and names each when it is done, while this process
goes on with the rest (the kernels around the bodies, the other layers). The two share the bodies
without compiling one twice: each claims a body before compiling it (a file created exclusively in
a directory of their own), this process in the order it needs them, the helper from the last given
(the layers are built in order and run forward in that order, so the two meet in the middle rather
than queue for the same body). `address()` of a body the helper claimed waits for its name, then
loads the body from the cache; a body nobody claimed yet, it claims and compiles itself. On a warm
cache nothing is started. A helper that fails or is missing only means this process compiles the
body itself. CNNCALC_PREFETCH=0 turns it off; it is off where fewer than two CPUs are usable.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile

import numba
from numba import njit, types
from numba.core import cgutils, sigutils
from numba.core.errors import TypingError
from numba.extending import intrinsic, overload


def body(signature: str, **options):
    """A lane body: njit(cache=True, **options), compiled lazily for `signature` (Numba's string form).

    The decorated name becomes the body's caller, `body(address, (args…))`: in a kernel, a call
    through the address; as Python, the body run as Python. `.dispatcher` is the compiled body,
    `.python` the Python function (not `py_func`: the caller stays in place where tests swap every
    jitted function for its py_func).
    """
    def decorate(fn):
        dispatcher = njit(cache=True, **options)(fn)
        declared = tuple(sigutils.normalize_signature(signature)[0])

        def caller(address, args):  # noqa: ARG001 — the compiled form uses the address
            fn(*args)

        caller.__name__, caller.__qualname__, caller.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
        caller.dispatcher, caller.signature, caller.python = dispatcher, declared, fn

        @overload(caller)
        def _compiled(address, args):
            if not isinstance(address, types.Integer):
                raise TypingError(f"{fn.__qualname__}(address, (args…)): the address is an integer")
            if tuple(args.types) != declared:
                raise TypingError(f"{fn.__qualname__} called with {tuple(args.types)}, declared {declared}")

            def impl(address, args):
                _call_address(address, args)
            return impl
        return caller
    return decorate


def address(caller) -> int:
    """The machine address of the body compiled for its declared signature (compiled or loaded from the cache)."""
    found = getattr(caller, "address", None)
    if found is None:
        _HELPER.settle(caller)
        dispatcher, sig = caller.dispatcher, caller.signature
        dispatcher.compile(sig)  # compiles, loads from the cache, or finds it already there
        cres = dispatcher.overloads[sig]
        found = caller.address = cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name)
    return found


def parallel(*bodies, **options):
    """njit(parallel=True, cache=True) for a kernel whose first arguments are its bodies' addresses.

    The returned function takes the kernel's other arguments and prepends the addresses; `.kernel`
    is the compiled dispatcher and `.py_func` runs the whole kernel as Python.
    """
    def decorate(fn):
        kernel = njit(parallel=True, cache=True, **options)(fn)

        @functools.wraps(fn)
        def run(*args):
            if not kernel.overloads:  # compile the kernel while the helper may still compile its bodies
                kernel.compile(tuple([types.intp] * len(bodies) + [numba.typeof(a) for a in args]))
            return kernel(*[address(b) for b in bodies], *args)

        def py_func(*args):  # the bodies run as Python too: no address is read
            return fn(*[0] * len(bodies), *args)

        run.kernel, run.py_func, run.bodies = kernel, py_func, bodies
        py_func.bodies = bodies  # where tests swap the kernel for its py_func, its bodies are still named
        return run
    return decorate


@intrinsic
def _call_address(typingctx, fn_address, args):  # noqa: ARG001 — Numba's intrinsic interface
    argtys = tuple(args.types)

    def codegen(context, builder, signature, llargs):  # noqa: ARG001 — Numba's intrinsic interface
        fnty = context.call_conv.get_function_type(types.none, argtys)
        fnptr = builder.inttoptr(llargs[0], fnty.as_pointer())
        values = [builder.extract_value(llargs[1], i) for i in range(len(argtys))]
        status, _ = context.call_conv.call_function(builder, fnptr, types.none, argtys, values)
        with cgutils.if_unlikely(builder, status.is_error):
            context.call_conv.return_status_propagate(builder, status)
        return context.get_dummy_value()

    return types.none(fn_address, args), codegen


# ------------------------------------------------------------------ cold start: a helper process compiles bodies

def _name(caller) -> str:
    return f"{caller.python.__module__}:{caller.__name__}"


def _cached(caller) -> bool:
    """Whether Numba's cache holds an index for the body no older than its source (a cheap test, no loading)."""
    try:
        index = caller.dispatcher._cache._cache_file._index_path
        source = caller.python.__code__.co_filename
        return os.path.getmtime(index) >= os.path.getmtime(source)
    except (AttributeError, OSError):
        return False


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _claim(claims: str, name: str) -> bool:
    """Claim a body for the calling process: True for the first process to ask, False for every later one."""
    try:
        os.close(os.open(os.path.join(claims, name.replace(":", "-")), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False
    except OSError:  # the directory is gone: the parent has stopped the helper
        return False


class _Helper:
    """The one helper process of this process, and the bodies it was given and has finished."""

    def __init__(self):
        self.proc = None
        self.owner = 0  # the pid that started it: a forked child neither reads its pipe nor stops it
        self.claims = ""  # the directory of the claims (see _claim)
        self.given: set[str] = set()
        self.done: set[str] = set()  # named back by the helper: compiled by it, or left to this process
        self.compiled_there: set[str] = set()  # compiled by the helper
        self.compiled_here: set[str] = set()  # given to the helper, but claimed and compiled by this process

    def mine(self) -> bool:
        return self.proc is not None and self.owner == os.getpid()

    def enabled(self) -> bool:
        return os.environ.get("CNNCALC_PREFETCH", "1") != "0" and _usable_cpus() >= 2

    def give(self, callers) -> None:
        cold = [c for c in callers if getattr(c, "address", None) is None and _name(c) not in self.given
                and c.signature not in c.dispatcher.overloads and not _cached(c)]
        if not cold or not self.enabled():
            return
        if self.proc is not None and not self.mine():
            return
        if self.proc is None:
            try:
                self.claims = tempfile.mkdtemp(prefix="cnncalc-lanes-")
                self.proc = subprocess.Popen([sys.executable, "-m", "cnncalc.layers.lanes", self.claims],
                                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                             text=True)
            except OSError:
                shutil.rmtree(self.claims, ignore_errors=True)
                return
            self.owner = os.getpid()
            atexit.register(self.close)
        try:
            for c in cold:
                self.proc.stdin.write(_name(c) + "\n")
                self.given.add(_name(c))
            self.proc.stdin.flush()
        except (OSError, ValueError):
            self.close()

    def settle(self, caller) -> None:
        """Before this process compiles or loads a body: claim it, or wait for the helper that claimed it."""
        name = _name(caller)
        if name not in self.given or name in self.done or not self.mine():
            return
        if _claim(self.claims, name):
            self.compiled_here.add(name)
            return
        for line in self.proc.stdout:  # the bodies the helper is through with, in its order
            if self._heard(line) == name:
                return
        self.close()  # the helper ended without it: this process compiles it

    def _heard(self, line: str) -> str:
        """Record a line of the helper's, "compiled NAME" or "left NAME"; returns NAME."""
        outcome, _, name = line.strip().partition(" ")
        self.done.add(name)
        if outcome == "compiled":
            self.compiled_there.add(name)
        return name

    def drain(self) -> None:
        """Let the helper finish every body it was given, and hear all of it (for tests; close() does not wait)."""
        if self.mine():
            self.proc.stdin.close()
            for line in self.proc.stdout:
                self._heard(line)
            self.close()

    def close(self) -> None:
        if self.mine():
            proc, self.proc = self.proc, None
            self.given.clear()
            try:
                proc.stdin.close()
            except OSError:
                pass
            proc.kill()  # an unfinished body is only left uncached (Numba writes its cache files whole)
            proc.wait()
            shutil.rmtree(self.claims, ignore_errors=True)


_HELPER = _Helper()


def prefetch(callers) -> None:
    """Have the helper process compile the bodies Numba's cache does not hold yet (see the module docstring)."""
    _HELPER.give(callers)


def _serve(claims: str) -> None:
    """The helper: compile the bodies named on stdin ("module:name"), the last given first, each one it
    can claim; print every name when it is through with it: "compiled NAME" (into the cache) or "left NAME"
    (claimed by the parent, or failed here)."""
    import importlib
    import threading

    given: list[str] = []
    ended = threading.Event()
    arrived = threading.Condition()

    def read():
        for line in sys.stdin:
            with arrived:
                given.append(line.strip())
                arrived.notify()
        with arrived:
            ended.set()
            arrived.notify()

    threading.Thread(target=read, daemon=True).start()
    while True:
        with arrived:
            while not given and not ended.is_set():
                arrived.wait()
            if not given:
                return
            name = given.pop()  # the last given: the parent, from the first, meets it in the middle
        outcome = "left"  # to the parent, which claimed it
        if _claim(claims, name):
            module, _, attribute = name.partition(":")
            try:
                address(getattr(importlib.import_module(module), attribute))
                outcome = "compiled"
            except Exception:  # noqa: BLE001 — the parent compiles what the helper could not
                pass
        print(outcome, name, flush=True)


if __name__ == "__main__":
    _serve(sys.argv[1])
