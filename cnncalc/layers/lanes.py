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
goes on with the rest. The parallel kernels around the bodies have no declared signature; for them,
`hand_over(walk, payload)` gives the helper a walk over the network about to run (engine/prewarm.py),
which calls the kernels with the network's own arrays in walking("compile") mode: each is compiled,
and none runs, from the last layer's backward pass up. The two processes share the work without
compiling anything twice: each claims a body or kernel (by name and signature) before compiling it
(a file created exclusively in a directory of their own), this process in the order it runs them,
the helper from the other end (the last given body first, the walk from the last layer), so the two
meet in the middle rather than queue for the same code. What the helper claimed, this process waits
for, then loads from the cache; what nobody claimed yet, it claims and compiles itself. On a warm
cache nothing is started. A helper that fails or is missing only means this process compiles it all
itself. CNNCALC_PREFETCH=0 turns it off; it is off where fewer than two CPUs are usable.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import types as pytypes

import numba
from numba import njit, types
from numba.core import cgutils, sigutils
from numba.core.errors import TypingError
from numba.extending import intrinsic, overload


# ------------------------------------------------------------------ SciPy's BLAS table without scipy.linalg's import

class _DeferredPackage(pytypes.ModuleType):
    """A package whose __init__ runs at the first attribute it lacks; its submodules import meanwhile."""

    def __getattr__(self, name):
        self.__class__ = pytypes.ModuleType  # from here on a plain module: no second run
        self.__spec__.loader.exec_module(self)
        return getattr(self, name)


def defer_scipy_linalg() -> None:
    """Numba's first compile or cache load in a process imports `scipy.linalg.cython_blas` (its BLAS for np.dot,
    numba.np.linalg.ensure_blas), and Python first runs scipy.linalg's whole __init__ (its solvers, decompositions,
    array-API layer): 0.15 s of a cached start of about a second (SciPy 1.17, Zen 4), for a package whose only use
    here is that table of function pointers. scipy.linalg is registered as a deferred package instead: importing its
    cython_blas loads that module alone (~10 ms), and the first use of anything else of scipy.linalg (`solve`, …)
    runs the real __init__ into the same module object then. Nothing happens where scipy.linalg is already
    imported or SciPy is absent."""
    if "scipy.linalg" in sys.modules:
        return
    try:
        spec = importlib.util.find_spec("scipy.linalg")
    except ImportError:
        return
    if spec is None or spec.loader is None or not spec.submodule_search_locations:
        return
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _DeferredPackage
    sys.modules["scipy.linalg"] = module
    sys.modules["scipy"].linalg = module


defer_scipy_linalg()


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
        _HELPER.settle(_name(caller))
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
            if _WALK.mode is not None:  # the helper's compile walk: nothing runs
                if _WALK.mode == "compile":
                    _WALK.compile(kernel, fn, bodies, args)
                return None
            if not kernel.overloads:  # compile the kernel while the helper may still compile its bodies
                signature = _signature(bodies, args)
                _HELPER.settle(_kernel_name(fn, signature))
                kernel.compile(signature)
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


def _claim(claims: str, name: str) -> bool | None:
    """Claim a body or kernel for the calling process: True for the first process to ask, False for every
    later one, None where no claim can be made (the directory is gone: the parent has stopped the helper)."""
    if not claims:
        return None
    try:
        os.close(os.open(os.path.join(claims, name.replace(":", "-").replace("/", "-")),
                         os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False
    except OSError:
        return None


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

    def settle(self, name: str) -> None:
        """Before this process compiles or loads a body or kernel: claim it, or wait for the helper that
        claimed it (then Numba's cache holds it)."""
        if not self.mine() or name in self.done:
            return
        if _claim(self.claims, name) is not False:  # mine, or no claim possible: compiled here either way
            self.compiled_here.add(name)
            return
        for line in self.proc.stdout:  # what the helper is through with, in its order
            if self._heard(line) == name:
                return
        self.close()  # the helper ended without it: this process compiles it

    def hand_over(self, walk: str, payload: dict) -> None:
        """Have the helper run `walk` ("module:function", called with the path of payload as JSON) next:
        a compile walk (see walking) over what this process is about to run. Only while a helper runs,
        that is on a cold cache."""
        if not self.mine():
            return
        path = os.path.join(self.claims, "walk.json")
        try:
            with open(path, "w", encoding="utf-8") as fh:
                json.dump(payload, fh)
            self.proc.stdin.write(f"walk {walk} {path}\n")
            self.proc.stdin.flush()
        except (OSError, ValueError):
            self.close()

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


def hand_over(walk: str, payload: dict) -> None:
    """Have the helper, if one runs (a cold cache), take a compile walk next (_Helper.hand_over)."""
    _HELPER.hand_over(walk, payload)


def _signature(bodies, args) -> tuple:
    return tuple([types.intp] * len(bodies) + [numba.typeof(a) for a in args])


def _kernel_name(fn, signature) -> str:
    return f"{fn.__module__}:{fn.__qualname__}/{hashlib.sha1(str(signature).encode()).hexdigest()[:16]}"


class _Walk:
    """The helper's compile walk. mode None: kernels run as usual; "skip": no kernel runs or compiles
    (the layers' Python goes through its motions, so that a later pass finds them ready); "compile":
    each kernel and body not compiled yet is compiled if this process can claim it, and none runs."""

    mode = None
    claims = ""

    def compile(self, kernel, fn, bodies, args) -> None:
        signature = _signature(bodies, args)
        if signature not in kernel.overloads:
            self._one(_kernel_name(fn, signature), lambda: kernel.compile(signature))
        for b in bodies:
            if getattr(b, "address", None) is None:
                self._one(_name(b), lambda b=b: address(b))

    def _one(self, name, compile_it) -> None:
        if not _claim(self.claims, name):
            return
        outcome = "left"
        try:
            compile_it()
            outcome = "compiled"
        except Exception:  # noqa: BLE001 — the parent compiles what the helper could not
            pass
        print(outcome, name, flush=True)


_WALK = _Walk()


class walking:
    """with walking("skip" | "compile"): the helper's compile walk over a network's passes (_Walk)."""

    def __init__(self, mode: str):
        self.mode = mode

    def __enter__(self):
        self.previous, _WALK.mode = _WALK.mode, self.mode
        return self

    def __exit__(self, *exc):
        _WALK.mode = self.previous


def _serve(claims: str) -> None:
    """The helper: compile the bodies named on stdin ("module:name"), the last given first, each one it
    can claim; print every name when it is through with it: "compiled NAME" (into the cache) or "left NAME"
    (claimed by the parent, or failed here)."""
    import importlib
    import threading

    os.environ["CNNCALC_PREFETCH"] = "0"  # no helper of its own
    _WALK.claims = claims
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
        if name.startswith("walk "):  # a compile walk (hand_over); what it compiles it names as it goes
            _, walk, path = name.split(" ", 2)
            module, _, function = walk.partition(":")
            try:
                getattr(importlib.import_module(module), function)(path)
            except Exception:  # noqa: BLE001 — the parent compiles what the walk did not reach
                pass
            continue
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
    # run as the module the kernels import (`python -m` made this one __main__, a second copy): one _WALK
    from cnncalc.layers import lanes as _lanes

    _lanes._serve(sys.argv[1])
