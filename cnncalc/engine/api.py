"""What `cnncalc train`, `evaluate` and `predict` call: run directories, checkpoints, resume.

A run directory keeps
    spec.yaml       the spec as trained
    config.json     every setting, the initialisation scheme per layer, thread count, versions
    metrics.csv     one row per epoch: epoch, train_loss, train_acc, val_loss, val_acc, test_loss,
    metrics.json    test_acc, lr, seconds, images_per_s (the same rows as JSON); the test split is
                    measured once, after the last epoch (its cells are blank before)
    last.npz        after every epoch, written atomically (engine.checkpoint)
    best.npz        the epoch with the best validation accuracy (train accuracy without a val split)
    .lock           held by the training process (RunLock); its PID

A finished epoch is never lost: Ctrl-C keeps (or writes) the checkpoint of the last finished
epoch and raises Interrupted (the CLI exits 130); a loss that turns NaN or infinite stops the run
with an EngineError, the last good checkpoint untouched. A replaced run (--force) stays on disk
until the new one's first save. `train_run(resume=RUN_DIR)` continues from last.npz with the
optimiser's state and the Generator's state, and gives the losses an uninterrupted run gives,
first finishing an evaluation that a Ctrl-C cut short.
Errors are CnncalcError subclasses with one line each; the CLI prints them and exits 1.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import signal
import threading
import time

import numpy as np

from cnncalc.engine import checkpoint
from cnncalc.errors import CnncalcError, DataError, EngineError, Mark

METRICS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "lr", "seconds",
           "images_per_s")
SCHEDULES = ("constant", "step", "cosine")
INIT_TEXT = {"torch": "PyTorch's defaults: weights and biases U(±1/√fan_in); batchnorm γ 1, β 0",
             "he-glorot": "he_normal before ReLU-family layers, glorot_uniform otherwise; biases 0; batchnorm γ 1, β 0",
             "glorot": "glorot_uniform for every layer (Keras' default); biases 0; batchnorm γ 1, β 0"}


# ------------------------------------------------------------------ threads and memory

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


# ------------------------------------------------------------------ option checks

def _check_options(epochs, batch_size, lr, optimizer, momentum, weight_decay, schedule, threads, val_fraction):
    def bad(field, value, allowed):
        raise EngineError("invalid training option", field=field, received=value, allowed=allowed)

    if optimizer not in ("sgd", "adam"):
        bad("optimizer", optimizer, "sgd, adam")
    if schedule not in SCHEDULES:
        bad("schedule", schedule, ", ".join(SCHEDULES))
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        bad("epochs", epochs, "a whole number ≥ 1")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        bad("batch_size", batch_size, "a whole number ≥ 1")
    if lr is not None and not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        bad("lr", lr, "a positive number")
    if not (isinstance(momentum, (int, float)) and 0 <= momentum < 1):
        bad("momentum", momentum, "0 ≤ momentum < 1")
    if not (isinstance(weight_decay, (int, float)) and math.isfinite(weight_decay) and weight_decay >= 0):
        bad("weight_decay", weight_decay, "a number ≥ 0")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        bad("threads", threads, "a whole number ≥ 1")
    if not (isinstance(val_fraction, (int, float)) and 0 <= val_fraction < 1):
        bad("val_fraction", val_fraction, "0 ≤ val_fraction < 1")


def _read_spec(spec: str) -> str:
    try:
        with open(spec, encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        raise EngineError(f"cannot read the spec ({exc.strerror})", Mark(spec)) from None
    except UnicodeDecodeError:
        raise EngineError("the spec is not UTF-8 text", Mark(spec)) from None


RUN_FILES = ("spec.yaml", "config.json", "metrics.csv", "metrics.json", "last.npz", "best.npz")
LOCK_FILE = ".lock"


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) during a run, raised after every finished epoch was saved and the user
    was told what was kept: the CLI exits 128 + signum (130, or 143 for SIGTERM). saved_epoch: the
    epoch last.npz holds (0: none of this run); last: the last epoch's metrics, as train_run
    returns them."""

    def __init__(self, saved_epoch: int, last: dict, signum: int = signal.SIGINT):
        super().__init__(saved_epoch)
        self.saved_epoch, self.last, self.signum = saved_epoch, last, int(signum)


class Stopped(KeyboardInterrupt):
    """SIGTERM during a run: handled as Ctrl-C is (a kill, a service manager or a batch system's
    time limit stops the run as a person would, the finished epochs kept); signum for the exit code."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = int(signum)


def _raise_stopped(signum, frame):  # noqa: ARG001 — a signal handler's signature
    raise Stopped(signum)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def _stop_signals():
    """For the life of a run: SIGTERM raises Stopped, as SIGINT raises KeyboardInterrupt; both
    handlers as they were afterwards. (Signals reach only the main thread's handlers.)"""
    if not _main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


def _ignore_signals() -> None:
    """From the first Ctrl-C or SIGTERM on, the run is stopping: another one (a second Ctrl-C
    while the first's save is written) must not cut that save short. _stop_signals restores."""
    if _main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


class _Held:
    """Ctrl-C and SIGTERM wait, and are delivered on release():
    - while an epoch's files are written: a save cut in two would leave last.npz an epoch ahead
      of metrics.csv, or a new run's checkpoint beside the replaced run's config.json;
    - while Numba compiles or loads the kernels (the warm-up and the first batch, which compiles
      the optimiser's): llvmlite calls back into Python there through ctypes, which prints a
      KeyboardInterrupt's traceback, swallows it, and the run went on as if never interrupted.
    Either takes a moment. As a context manager: released at the end, dropped (nothing delivered)
    when an exception leaves it."""

    def __init__(self):
        self.previous, self.caught = None, []

    def __enter__(self):
        if _main_thread():
            self.previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
            for s in self.previous:
                signal.signal(s, self._record)
        return self

    def _record(self, signum, frame):  # noqa: ARG002 — a signal handler's signature
        self.caught.append(signum)

    def drop(self):
        """The handlers as they were; a signal that came meanwhile is not delivered."""
        previous, self.previous = self.previous, None
        for s, handler in (previous or {}).items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        return previous

    def release(self):
        """The handlers as they were, and a signal that came meanwhile delivered now."""
        previous = self.drop()
        if previous and self.caught:
            signum = self.caught[0]
            self.caught = []
            handler = previous[signum]
            if callable(handler):
                handler(signum, None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(signum)

    def __exit__(self, exc_type, *exc):
        if exc_type is None:
            self.release()
        else:
            self.drop()
        return False


class RunLock:
    """An exclusive lock on a run directory for the life of one training process: an advisory lock
    (fcntl.flock; msvcrt.locking on Windows) on LOCK_FILE, which holds the owner's PID so that a
    second process can say who has it. The kernel drops the lock when the process dies, however it
    dies, so a stale lock file is harmless. Where neither is available the run goes unlocked (a
    note says so). evaluate and predict only read (checkpoints are replaced atomically): no lock."""

    def __init__(self, run_dir: str):
        self.run_dir, self.path, self.fd = run_dir, os.path.join(run_dir, LOCK_FILE), None
        self.supported = True

    def acquire(self) -> RunLock:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise EngineError(f"cannot write to the run directory ({exc.strerror})", Mark(self.run_dir),
                              fix="choose a folder you can write to") from None
        try:
            self.supported = _lock_fd(fd)
        except OSError:
            holder = _read_holder(fd)
            os.close(fd)
            who = f"process {holder}" if holder else "another process"
            raise EngineError(f"the run directory is in use by {who} (its lock is {LOCK_FILE})",
                              Mark(self.run_dir),
                              fix="wait for that run to end, or choose another --out") from None
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as exc:  # a full disk: not even the PID fits
            os.close(fd)
            raise EngineError(f"cannot write to the run directory ({exc.strerror})", Mark(self.run_dir),
                              fix="free some space, or choose another --out") from None
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            try:
                os.ftruncate(self.fd, 0)
            except OSError:
                pass
            os.close(self.fd)  # closing drops an flock; msvcrt's lock goes with the handle too
            self.fd = None


def _lock_fd(fd: int) -> bool:
    """Lock fd exclusively without waiting (OSError when another process holds it); False where
    the platform has no advisory locks."""
    try:
        import fcntl
    except ImportError:
        fcntl = None
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    try:
        import msvcrt
    except ImportError:
        return False
    # one byte far past the PID, so that the holder's PID stays readable by the one refused
    os.lseek(fd, 1 << 20, os.SEEK_SET)
    msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    os.lseek(fd, 0, os.SEEK_SET)
    return True


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 32).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""


def _folder_name(name: str) -> str:
    """A spec's name as one folder name: a name is free text (`../x`, `a/b`, a newline), so each run
    of characters other than ASCII letters, digits, '.', '_' and '-' becomes one '_', and the
    ends lose their dots, dashes and underscores (no '..', no hidden folder)."""
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[:80] or "run"


def _plan_run_dir(out, name, force, spec=None):
    """The run directory a new run will use (checked now, taken by _take_run_dir before the data loads)."""
    if out is None:
        base = os.path.join("runs", f"{_folder_name(name)}-{time.strftime('%Y%m%d-%H%M%S')}")
        out, k = base, 1
        while os.path.exists(out):
            k += 1
            out = f"{base}-{k}"
    else:
        _check_replace(out, force, spec)
    return out


def _check_replace(out, force, spec=None):
    """A new run may go into a new or empty folder, or any folder whose files it will not
    overwrite; a run already there is replaced only with --force. Files of the run's names in a
    folder that holds no run (a config.json or metrics.csv of the user's own, in the spec's folder
    or in `.`) are refused even with --force: they are not a run to replace."""
    if os.path.exists(os.path.join(out, "last.npz")):
        if not force:
            raise EngineError("the run directory already holds a run", Mark(out),
                              fix=f"continue it with --resume {out}, choose another --out, or --force to replace it")
    elif os.path.exists(out) and not os.path.isdir(out):
        raise EngineError("the run directory is a file", Mark(out), fix="choose another --out")
    elif os.path.isdir(out):
        theirs = [n for n in RUN_FILES if os.path.lexists(os.path.join(out, n))
                  and not (n == "spec.yaml" and spec is not None and _same_file(os.path.join(out, n), spec))]
        if theirs:
            raise EngineError(f"the folder holds files that are not a run's and that a run would overwrite: "
                              f"{', '.join(theirs)}", Mark(out),
                              fix="choose another --out (a new or empty folder)")


def _same_file(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _take_run_dir(run_dir: str, *, new: bool, force: bool, err_console, spec=None) -> tuple[RunLock, bool]:
    """Create run_dir if needed, lock it, clear killed saves' temporaries and check that it can be
    written, all before any data is read or epoch trained. Returns (lock, created): created lists
    the folders made for it (the run directory and any missing parents), deepest first."""
    from cnncalc.render import training as view

    created, folder = [], os.path.abspath(run_dir)
    while not os.path.exists(folder) and os.path.dirname(folder) != folder:
        created.append(folder)
        folder = os.path.dirname(folder)
    try:
        os.makedirs(run_dir, exist_ok=True)
    except OSError as exc:
        raise EngineError(f"cannot create the run directory ({exc.strerror})", Mark(run_dir)) from None
    try:
        lock = RunLock(run_dir).acquire()
    except BaseException:
        _remove_created(run_dir, created)
        raise
    try:
        if not lock.supported:
            view.note(err_console, "this system has no file locks: two runs in one directory are not refused")
        if new:  # again under the lock: a run may have finished here since the first check
            _check_replace(run_dir, force, spec)
        removed = checkpoint.remove_stale(run_dir)
        removed += [n for n in (f + ".tmp" for f in RUN_FILES) if _unlink(os.path.join(run_dir, n))]
        if removed:
            view.stale_removed(err_console, run_dir, len(removed))
        _probe(run_dir)
    except BaseException:
        _release(lock, run_dir, created)
        raise
    return lock, created


def _unlink(path) -> bool:
    try:
        os.unlink(path)
        return True
    except OSError:
        return False


def _probe(run_dir):
    """Write and delete a small file: a read-only or full folder is found now, not after an epoch."""
    path = os.path.join(run_dir, f".write-probe-{os.getpid()}")
    try:
        with open(path, "wb") as fh:
            fh.write(b"\0" * 4096)
            fh.flush()
            os.fsync(fh.fileno())
        os.unlink(path)
    except OSError as exc:
        _unlink(path)
        raise EngineError(f"cannot write to the run directory ({exc.strerror})", Mark(run_dir),
                          fix="choose a folder you can write to with --out") from None


def _release(lock, run_dir, created, saved=True):
    """Drop the lock; the folders this run created and never saved into go too (--out a/b/c
    where a did not exist leaves no empty a/b behind)."""
    lock.release()
    if not saved:
        _remove_created(run_dir, created)


def _remove_created(run_dir, created):
    if created:
        _unlink(os.path.join(run_dir, LOCK_FILE))
    for folder in created:
        try:
            os.rmdir(folder)
        except OSError:
            break


def _write_text(path, text):
    tmp = path + ".tmp"
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:  # a full disk: no half-written temporary left behind
        _unlink(tmp)
        raise


def _ordered(row):
    return {k: row[k] for k in METRICS if k in row}


def _write_metrics(run_dir, history):
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRICS, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: row.get(k, "") for k in METRICS})
    _write_text(os.path.join(run_dir, "metrics.csv"), buf.getvalue())
    _write_text(os.path.join(run_dir, "metrics.json"), json.dumps(history, indent=2) + "\n")


def _load_data(source, report, seed, val_fraction, n_classes=None, stats=None, limit=None, data_dir=None):
    """The data set checked against the spec, in the engine's layout: (dataset, {split: (X, Y)}).

    stats: the (mean, std) a trained network expects; the loader normalises with the data's own,
    so where they differ the splits are brought to the network's. limit: the first N training
    images, stratified by class (data.limit). data_dir: where a bare name (mnist, …) is looked up."""
    from cnncalc import data as data_mod
    from cnncalc.engine import train as tr

    input_shape = report.graph.input_shape
    where = Mark(str(source or "synthetic"))
    try:
        dataset = data_mod.load(None if source in (None, "synthetic") else source,
                                input_shape=input_shape if len(input_shape) == 3 else None,
                                n_classes=n_classes, seed=seed, val_fraction=val_fraction, limit=limit,
                                data_dir=data_dir)
    except MemoryError:
        raise DataError("not enough memory to load the data", where) from None
    if len(input_shape) == 1 and int(np.prod(dataset.input_shape)) != input_shape[0]:
        raise DataError(f"the data has {int(np.prod(dataset.input_shape))} values per image "
                        f"({'×'.join(map(str, dataset.input_shape))}) but the spec's input is a vector of "
                        f"{input_shape[0]}", where)
    renormalise = stats is not None and stats[0] is not None and not (
        np.array_equal(stats[0], dataset.mean) and np.array_equal(stats[1], dataset.std))
    engine_shape = tr.input_shape_of(report)
    splits = {}
    for name in ("train", "val", "test"):
        split = getattr(dataset, name)
        if split is not None and len(split.y):
            x = split.x
            if renormalise:
                x = data_mod.normalise(x * dataset.std + dataset.mean, stats[0], stats[1])
            splits[name] = (tr.to_engine(x, engine_shape), np.ascontiguousarray(split.y, np.int64))
            split.x = None  # the engine's copy is the one kept
    return dataset, splits


# ------------------------------------------------------------------ train

def _stored_source(data: str | None) -> str:
    """The data source as config.json keeps it: 'synthetic', a data set's name (found again in the
    cache on resume), or an absolute path, so that a resume from another folder reads the same files."""
    from cnncalc.data.catalog import CATALOGUE

    if data in (None, "synthetic"):
        return "synthetic"
    if data in CATALOGUE and not os.path.exists(data):
        return data
    return os.path.abspath(data)


def train_run(spec: str | None, *, data: str | None = None, epochs: int | None = 3, batch_size: int = 64,
              lr: float | None = None, optimizer: str = "adam", momentum: float = 0.9, weight_decay: float = 0.0,
              schedule: str = "constant", seed: int = 0, threads: int | None = None, out: str | None = None,
              resume: str | None = None, force: bool = False, val_fraction: float = 0.1,
              input_override: tuple | None = None, console=None, err_console=None,
              init: str = "torch", limit: int | None = None, data_dir: str | None = None) -> dict:
    """Train spec (a YAML path) and return the last epoch's metrics (METRICS' names).

    epochs None: 3, or with resume the run's own total (a number extends the run to that total).
    lr None: 1e-3 for adam, 0.01 for sgd. With resume, the run's own spec, data and settings are
    used; only epochs, threads and force apply. force: train even when the memory estimate exceeds
    the free memory, and replace a run already in out (else refused); the old run's files stay
    until the new run's first checkpoint replaces them. init: the initialisation scheme
    (engine.init): "torch" (PyTorch's defaults, the default), "he-glorot" or "glorot". limit: train
    on the first N training images, stratified by class (recorded in config.json). data_dir: where
    `data` as a bare name (mnist, …) is looked up (default $CNNCALC_DATA or the user cache).

    The run directory is locked (RunLock) from before the data loads to the end. Ctrl-C or SIGTERM
    raises Interrupted once the finished epochs are saved and the user told; before the run has
    begun, KeyboardInterrupt (Stopped for SIGTERM)."""
    with _stop_signals():
        return _train_run(spec, data, epochs, batch_size, lr, optimizer, momentum, weight_decay, schedule, seed,
                          threads, out, resume, force, val_fraction, input_override, console,
                          err_console or console, init, limit, data_dir)


def _train_run(spec, data, epochs, batch_size, lr, optimizer, momentum, weight_decay, schedule, seed, threads,
               out, resume, force, val_fraction, input_override, console, err_console, init, limit, data_dir):
    from cnncalc.engine import train as tr
    from cnncalc.render import training as view

    if resume:
        run_dir = resume if os.path.isdir(resume) else os.path.dirname(os.path.abspath(resume))
        if not os.path.exists(checkpoint.resolve(resume)):
            checkpoint.load(resume)  # its error: no such checkpoint
        if not os.path.isdir(resume) and not _same_file(resume, os.path.join(run_dir, "last.npz")):
            # training on from best.npz (or a copy) would write over the run's later epochs in last.npz
            raise EngineError("--resume continues a run from its last.npz", Mark(resume),
                              fix="give the run directory; to train on from another checkpoint, copy it "
                                  "as last.npz into a new folder and resume that")
        lock, created = _take_run_dir(run_dir, new=False, force=force, err_console=err_console)
        try:
            return _resume(resume, run_dir, spec, data, lr, out, input_override, epochs, threads, force,
                           console, err_console)
        finally:
            _release(lock, run_dir, created)
    if spec is None:
        raise EngineError("give a spec to train, or resume= a run directory")
    _check_options(epochs, batch_size, lr, optimizer, momentum, weight_decay, schedule, threads, val_fraction)
    if init not in INIT_TEXT:
        raise EngineError("invalid training option", field="init", received=init, allowed=", ".join(INIT_TEXT))
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise EngineError("invalid training option", field="seed", received=seed, allowed="a whole number ≥ 0")
    spec_text = _read_spec(spec)
    # paths as absolute: a resume from another folder reads the same data
    config = {"spec": os.path.abspath(spec),
              "data": _stored_source(data),
              "epochs": epochs or 3, "batch_size": batch_size,
              "lr": float(lr) if lr is not None else tr.DEFAULT_LR[optimizer], "optimizer": optimizer,
              "momentum": float(momentum), "weight_decay": float(weight_decay), "schedule": schedule,
              "seed": seed, "val_fraction": float(val_fraction),
              "input": list(input_override) if input_override else None, "limit": limit,
              "data_dir": os.path.abspath(data_dir) if data_dir else None}
    report = tr.analyse(spec_text, spec, config["input"])  # the spec is checked before any work
    run_dir = _plan_run_dir(out, report.graph.name, force, spec)
    with Threads(threads) as pool:
        free = _memory_check(report, config, pool, force, err_console, threads)
        replacing = os.path.exists(os.path.join(run_dir, "last.npz"))
        lock, created = _take_run_dir(run_dir, new=True, force=force, err_console=err_console, spec=spec)
        state = {"saved": 0}
        try:
            dataset, splits = _load_data(config["data"], report, config["seed"], config["val_fraction"],
                                         report.totals.output_shape[0], None, limit, config["data_dir"])
            if dataset.limit is not None and dataset.limit.taken < dataset.limit.requested:
                view.limit_exceeds(err_console, dataset.limit)
            network, opt = _build(report, config, dataset, splits, pool, free, console)
            from cnncalc.engine.init import initialise

            config["init"] = {"scheme": init, "description": INIT_TEXT[init],
                              "layers": initialise(network, config["seed"], init)}
            config["threads"] = pool.n
            config["threads_requested"] = threads
            config["versions"] = _versions()
            run = _Run(network, opt, tr.training_rng(config["seed"]), splits, dataset, report, config, run_dir,
                       spec_text, spec, console, err_console, replacing=replacing)
            state = run.state
            return run.train([], -1.0, 0, 0)
        finally:
            _release(lock, run_dir, created, saved=state["saved"] > 0)


def _resume(resume, run_dir, spec, data, lr, out, input_override, epochs, threads, force, console, err_console):
    from cnncalc.engine import train as tr
    from cnncalc.render import training as view

    weights, optim_state, meta = checkpoint.load(resume)
    checkpoint.check_run(meta)
    config = dict(meta["config"])
    if epochs is not None:
        config["epochs"] = epochs
    ignored = [name for name, value in (("SPEC", spec), ("--data", data), ("--lr", lr), ("--out", out),
                                        ("--input", input_override)) if value is not None]
    if ignored:
        view.note(err_console, f"--resume keeps the run's own settings; ignored: {', '.join(ignored)}")
    evaluated = meta.get("evaluated", meta["epoch"])
    _sync_run_files(run_dir, meta)
    if epochs is not None and epochs < meta["epoch"]:
        raise EngineError(f"the run has already trained {view.count(meta['epoch'], 'epoch')}", Mark(run_dir),
                          field="epochs", received=epochs, allowed=f"a total ≥ {meta['epoch']}")
    if meta["epoch"] >= config["epochs"] and evaluated >= meta["epoch"]:
        raise EngineError(f"the run has finished its {view.count(meta['epoch'], 'epoch')}", Mark(run_dir),
                          fix=f"give --epochs N with N > {meta['epoch']} to train further")
    _check_options(config["epochs"], config["batch_size"], config["lr"], config["optimizer"], config["momentum"],
                   config["weight_decay"], config["schedule"], threads, config["val_fraction"])
    report = tr.analyse(meta["spec"], meta["spec_file"], config.get("input"))
    with Threads(threads if threads is not None else config.get("threads_requested")) as pool:
        free = _memory_check(report, config, pool, force, err_console, threads)
        dataset, splits = _load_data(config["data"], report, config["seed"], config["val_fraction"],
                                     report.totals.output_shape[0], (meta["mean"], meta["std"]),
                                     config.get("limit"), config.get("data_dir"))
        network, opt = _build(report, config, dataset, splits, pool, free, console)
        network.load_state(weights, meta["path"])
        try:
            opt.load_state(optim_state)
        except (KeyError, ValueError) as exc:
            raise EngineError(f"the checkpoint's optimiser state does not fit ({exc})", Mark(meta["path"])) from None
        rng = tr.training_rng(config["seed"])
        try:
            rng.bit_generator.state = meta["rng"]
        except (KeyError, ValueError, TypeError) as exc:
            raise EngineError(f"the checkpoint's generator state does not fit ({exc})", Mark(meta["path"]),
                              field="meta.rng") from None
        if meta["mean"] is not None and not (np.array_equal(meta["mean"], dataset.mean)
                                             and np.array_equal(meta["std"], dataset.std)):
            view.note(err_console, "the data's statistics differ from the run's (the files changed since); "
                                   "normalising with the run's")
        # an uninterrupted run of this length measures the test set once, after its last epoch
        history = [dict(row) for row in meta["history"]]
        for row in history:
            if row.get("epoch", 0) < config["epochs"]:
                row.pop("test_loss", None)
                row.pop("test_acc", None)
        run = _Run(network, opt, rng, splits, dataset, report, config, run_dir, meta["spec"], meta["spec_file"],
                   console, err_console)
        return run.train(history, meta.get("best_val_acc", -1.0), meta["epoch"], evaluated)


def _sync_run_files(run_dir, meta):
    """The metrics (and a missing spec.yaml or config.json) as last.npz records them: a save stopped
    between last.npz and the metrics (a full disk, a kill) leaves them an epoch behind, and a
    finished run would otherwise keep them so."""
    try:
        _write_run_files(run_dir, meta)
    except OSError as exc:
        raise EngineError(f"cannot write to the run directory ({exc.strerror or exc})", Mark(run_dir)) from None


def _write_run_files(run_dir, meta):
    history = [_ordered(row) for row in meta["history"]]
    for name, text in (("spec.yaml", meta["spec"]),
                       ("config.json", json.dumps(meta["config"], indent=2, ensure_ascii=False) + "\n")):
        if not os.path.exists(os.path.join(run_dir, name)):
            _write_text(os.path.join(run_dir, name), text)
    try:
        with open(os.path.join(run_dir, "metrics.json"), encoding="utf-8") as fh:
            current = json.load(fh)
    except (OSError, ValueError):
        current = None
    if current != history:
        _write_metrics(run_dir, history)


def _memory_check(report, config, pool, force, err_console, threads):
    from cnncalc.engine import train as tr
    from cnncalc.render import training as view

    if pool.capped:
        view.threads_capped(err_console, threads, pool.available)
    free = available_memory()
    est = tr.estimate(report, config["batch_size"], 0, config["optimizer"], config["momentum"], pool.n)
    if free is not None and est["bytes"] > free and not force:
        raise EngineError(f"the run needs about {view.gib(est['bytes'])} (weights, gradients, optimiser state "
                          f"and activations for batch {config['batch_size']}) but {view.gib(free)} is free",
                          fix="use a smaller --batch-size, or --force to try anyway")
    return free


def _build(report, config, dataset, splits, pool, free, console):
    from cnncalc.engine import train as tr
    from cnncalc.render import training as view

    n_train = len(splits["train"][1]) if "train" in splits else 0
    est = tr.estimate(report, config["batch_size"], n_train, config["optimizer"], config["momentum"], pool.n)
    view.estimate_line(console, est, free, dataset.description, pool.n)
    try:
        network = tr.Network(report, config["batch_size"])
    except (MemoryError, ValueError):  # ValueError: numpy's "array is too big" for a huge batch
        raise EngineError(f"not enough memory for the buffers of batch {config['batch_size']}",
                          fix="use a smaller --batch-size") from None
    need = network.min_train_batch
    if config["batch_size"] < need:
        raise EngineError("batchnorm with one value per channel (flat features or a 1×1 map) cannot train on "
                          "one image per batch", field="batch_size", received=config["batch_size"],
                          allowed=f"a whole number ≥ {need}")
    if n_train < need:
        raise DataError(f"the training split has {view.count(n_train, 'image')}; training needs at least {need}",
                        Mark(str(config["data"])), fix="use more data or a smaller --val-fraction")
    opt = tr.make_optimizer(network, config["optimizer"], config["lr"], config["momentum"], config["weight_decay"])
    return network, opt


def _versions():
    import platform

    import numba

    return {"python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__}


class _Run:
    """The epochs of one run and what it keeps on disk.

    After each epoch's training: evaluate the validation split (and the test split after the last
    epoch), decide best.npz, save last.npz and the metrics. The checkpoint records in "evaluated"
    the last epoch whose evaluation and best.npz are done, so a Ctrl-C during the evaluation is
    completed on resume exactly as the uninterrupted run would have done it. A new run writes
    nothing before its first save; that save replaces an old run's files (--force)."""

    def __init__(self, network, opt, rng, splits, dataset, report, config, run_dir, spec_text, spec_file,
                 console, err_console, replacing=False):
        from cnncalc.engine import train as tr

        self.network, self.opt, self.rng, self.splits = network, opt, rng, splits
        self.dataset, self.report, self.config, self.run_dir = dataset, report, config, run_dir
        self.spec_text, self.spec_file, self.console, self.err_console = spec_text, spec_file, console, err_console
        self.replacing = replacing
        self.loop = tr.Loop(network, opt, config["batch_size"])
        self.names = list(dataset.class_names or [])
        self.state = {"saved": 0, "finished": 0, "evaluated": 0, "best": -1.0, "rng": rng.bit_generator.state,
                      "fresh": True}
        self.history = []

    def save(self, kind, **override):
        st = {**self.state, **override}
        meta = {"spec": self.spec_text, "spec_file": self.spec_file, "config": self.config,
                "epoch": st["finished"], "evaluated": st["evaluated"], "rng": st["rng"],
                "n_classes": self.network.n_classes, "class_names": self.names, "history": self.history,
                "best_val_acc": st["best"], "input_shape": list(self.report.graph.input_shape)}
        checkpoint.save(os.path.join(self.run_dir, kind), self.network.state(), self.opt.state(), meta,
                        self.dataset.mean, self.dataset.std)

    def persist(self):
        """last.npz and the metrics; at a new run's first save, its spec and config too, and no
        best.npz of an older run left beside them. Ctrl-C waits until all of them are written."""
        with _Held():
            self._persist()

    def _persist(self):
        self.save("last.npz")
        self.state["saved"] = self.state["finished"]
        if self.state["fresh"]:
            _write_text(os.path.join(self.run_dir, "spec.yaml"), self.spec_text)
            _write_text(os.path.join(self.run_dir, "config.json"),
                        json.dumps(self.config, indent=2, ensure_ascii=False) + "\n")
            if self.state["best"] < 0:  # none of this run's yet: an old one must not pass as it
                _unlink(os.path.join(self.run_dir, "best.npz"))
            self.state["fresh"] = False
        _write_metrics(self.run_dir, self.history)

    def finish(self, row):
        """Evaluate the finished epoch `row`, decide best.npz, save, show the epoch's line."""
        from cnncalc.render import training as view

        epoch = row["epoch"]
        final = epoch == self.config["epochs"]
        for name in ("val", "test"):
            if name in self.splits and (name == "val" or final) and f"{name}_loss" not in row:
                row[f"{name}_loss"], row[f"{name}_acc"], _ = self.loop.evaluate(*self.splits[name])
        row = _ordered(row)
        self.history[-1] = row
        score = row.get("val_acc", row["train_acc"])
        with _Held():
            if score > self.state["best"]:
                self.save("best.npz", best=score, evaluated=epoch)
                self.state["best"] = score
            self.state["evaluated"] = epoch
            self._persist()
        view.epoch_line(self.console, row, self.config["epochs"])
        return row

    def train(self, history, best, start, evaluated):
        from cnncalc.engine.optim import make_schedule
        from cnncalc.render import training as view

        st, config = self.state, self.config
        self.history = history
        st.update(saved=start, finished=start, evaluated=evaluated, best=best, fresh=not start,
                  rng=self.rng.bit_generator.state)
        lr_at = make_schedule(config["schedule"], config["lr"], config["epochs"])
        X, Y = self.splits["train"]
        view.run_header(self.console, self.run_dir, self.report, config)
        compiling = _Held().__enter__()  # until the first batch has run every kernel once
        try:
            view.warmed_up(self.console, self.loop.warm_up())
            if history and evaluated < start:  # a Ctrl-C came during that epoch's evaluation
                view.completing(self.err_console, start)
                self.finish(history[-1])
            for epoch in range(start, config["epochs"]):
                self.opt.lr = lr_at(epoch)
                began = time.perf_counter()
                with view.epoch_progress(self.console, epoch, config["epochs"], len(Y)) as advance:
                    def on_batch(*figures, advance=advance):
                        compiling.release()
                        if advance is not None:
                            advance(*figures)

                    loss, acc = self.loop.epoch(X, Y, self.rng, on_batch)
                compiling.release()  # an epoch of no full batch (batchnorm's last one skipped)
                seconds = time.perf_counter() - began
                if not math.isfinite(loss):
                    raise EngineError(f"the loss became {loss} in epoch {epoch + 1}; stopped "
                                      f"({view.kept_text(self.run_dir, st['saved'], self.replacing)})",
                                      fix=f"lower the learning rate (was {self.opt.lr:g})")
                if not _finite(self.network):  # the epoch's last update overflowed: its loss was finite
                    raise EngineError(f"the weights became NaN or infinite in epoch {epoch + 1}; stopped "
                                      f"({view.kept_text(self.run_dir, st['saved'], self.replacing)})",
                                      fix=f"lower the learning rate (was {self.opt.lr:g})")
                # the weights are now those at the end of this epoch: a Ctrl-C from here on saves them
                st["finished"], st["rng"] = epoch + 1, self.rng.bit_generator.state
                self.history.append({"epoch": epoch + 1, "train_loss": loss, "train_acc": acc, "lr": self.opt.lr,
                                     "seconds": seconds, "images_per_s": len(Y) / seconds if seconds > 0 else 0.0})
                self.finish(self.history[-1])
        except KeyboardInterrupt as exc:
            compiling.drop()
            self.stop(exc)
        except OSError as exc:
            self.write_failed(exc)
        except SystemExit:  # rich's answer to a closed stdout (`| head`): exit 1 without a word
            self.output_closed()
        finally:
            compiling.drop()
        last = dict(self.history[-1]) if self.history else {}
        try:
            view.test_line(self.console, last)
            view.summary(self.console, self.history)
        except KeyboardInterrupt as exc:  # every epoch is saved: say so, not "nothing was written"
            self.stop(exc)
        except SystemExit:
            self.output_closed()
        return last

    def output_closed(self):
        """The output was closed under the run (a pipe's reader gone): stop, and say on stderr what is kept."""
        from cnncalc.render import training as view

        st = self.state
        if st["finished"] > st["saved"]:
            try:
                self._persist()
            except OSError as error:
                self.write_failed(error)
        raise EngineError(f"the output was closed (broken pipe); stopped "
                          f"({view.kept_text(self.run_dir, st['saved'], self.replacing)})", Mark(self.run_dir),
                          fix="continue with --resume" if st["saved"] else None) from None

    def stop(self, exc):
        """Ctrl-C or SIGTERM: save a finished epoch not yet saved, say what is kept, raise Interrupted.
        Further signals are ignored from here on (a second Ctrl-C must not cut this save short)."""
        from cnncalc.render import training as view

        _ignore_signals()
        st = self.state
        if st["finished"] > st["saved"]:  # stopped between the end of an epoch and its save
            try:
                self._persist()
            except OSError as error:
                self.write_failed(error)
        view.interrupted(self.err_console, self.run_dir, st["saved"], self.config["epochs"], self.replacing)
        raise Interrupted(st["saved"], dict(self.history[-1]) if self.history else {},
                          getattr(exc, "signum", signal.SIGINT)) from None

    def write_failed(self, exc):
        """A full disk or a folder gone read-only mid-run: one line that says what is still kept
        (checkpoints are replaced atomically: the previous one is whole)."""
        from cnncalc.render import training as view

        saved = self.state["saved"]
        raise EngineError(f"cannot write to the run directory ({exc.strerror or exc}); stopped "
                          f"({view.kept_text(self.run_dir, saved, self.replacing)})", Mark(self.run_dir),
                          fix=f"free some space, then {'continue with --resume' if saved else 'train again'}") from None


def _finite(network) -> bool:
    """Every weight and running statistic finite."""
    return all(np.isfinite(v).all() for v in network.state().values() if v.dtype.kind == "f")


# ------------------------------------------------------------------ evaluate and predict

def _restore(target: str, batch_size: int):
    from cnncalc.engine import train as tr

    weights, _, meta = checkpoint.load(target)
    checkpoint.check_run(meta)
    config = meta["config"]
    try:
        report, network = tr.build(meta["spec"], meta["spec_file"], batch_size, config.get("input"))
    except CnncalcError as exc:
        raise EngineError(f"the checkpoint's spec no longer builds: {exc.line()}", Mark(meta["path"])) from None
    except (MemoryError, ValueError):  # ValueError: numpy's "array is too big" for a huge batch
        raise EngineError(f"not enough memory for the buffers of batch {batch_size}",
                          fix="use a smaller --batch-size") from None
    network.load_state(weights, meta["path"])
    return report, network, meta


def evaluate_run(target: str, *, data: str | None = None, batch_size: int = 256, console=None,
                 data_dir: str | None = None) -> dict:
    """Accuracy, per-class accuracy and the confusion matrix of a run (its last.npz) or checkpoint.

    Without data: the run's own data set, its test split (else the validation split the run held
    out). With data: its test split if it has one, else every image in it ("all").

    Returns {"split", "n", "loss", "accuracy", "per_class": [acc or None], "confusion": [[count]],
    "class_names", "source", "precision", "recall", "f1", "support": [per class],
    "macro_precision", "macro_recall", "macro_f1"}; confusion[true][predicted]; precision, recall
    and F1 as engine.scores defines them (None where undefined). A run trained with --limit is
    evaluated on the same held-out split it was trained beside."""
    from cnncalc.engine import train as tr
    from cnncalc.engine.scores import class_scores
    from cnncalc.render import training as view

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise EngineError("invalid option", field="batch_size", received=batch_size, allowed="a whole number ≥ 1")
    report, network, meta = _restore(target, batch_size)
    config = meta["config"]
    source = data or config["data"]
    with Threads(None):
        own = data is None
        dataset, splits = _load_data(source, report, config["seed"], config["val_fraction"] if own else 0.0,
                                     network.n_classes, (meta["mean"], meta["std"]),
                                     config.get("limit") if own else None,
                                     data_dir if data_dir is not None or not own else config.get("data_dir"))
        which = next(name for name in ("test", "val", "train") if name in splits)
        X, Y = splits[which]
        if which == "train" and data is not None:
            which = "all"
        loss, acc, pred = tr.evaluate(network, X, Y, batch_size)
    k = network.n_classes
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (Y, pred), 1)
    counts = confusion.sum(axis=1)
    per_class = [float(confusion[c, c] / counts[c]) if counts[c] else None for c in range(k)]
    names = list(meta.get("class_names") or []) or list(dataset.class_names or [])
    names += [str(c) for c in range(len(names), k)]
    result = {"split": which, "n": int(len(Y)), "loss": loss, "accuracy": acc, "per_class": per_class,
              "confusion": confusion.tolist(), "class_names": names[:k], "source": str(source)}
    scores = class_scores(result["confusion"])
    result.update(precision=scores.precision, recall=scores.recall, f1=scores.f1, support=scores.support,
                  macro_precision=scores.macro_precision, macro_recall=scores.macro_recall,
                  macro_f1=scores.macro_f1)
    view.evaluation(console, result)
    return result


def predict_run(checkpoint_path: str, inputs, *, console=None, top: int = 3, resize: bool = False) -> list:
    """The `top` most likely classes of every image in inputs: a path or a list of paths and glob
    patterns (PNG, JPEG, PGM/PPM, .npz with x, .npy, IDX; data.images). resize: scale pictures of
    another size to the network's n_H×n_W (else they are refused with the size expected).

    Returns [{"input": name, "top": [{"class": c, "name": name, "probability": p}, …]} per image],
    most likely first; name is the file, or file[i] for the i-th image of a batch file."""
    from cnncalc.data import normalise
    from cnncalc.data.images import expand, read_inputs
    from cnncalc.engine import train as tr
    from cnncalc.render import training as view

    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise EngineError("invalid option", field="top_k", received=top, allowed="a whole number ≥ 1")
    report, network, meta = _restore(checkpoint_path, 64)
    input_shape = report.graph.input_shape
    engine_shape = tr.input_shape_of(report)
    paths = expand([inputs] if isinstance(inputs, str) else list(inputs))
    batches, labels = [], []
    for path in paths:
        try:
            x, names_here = read_inputs(path, input_shape, resize)
        except MemoryError:
            raise DataError("not enough memory to read the inputs", Mark(path)) from None
        if len(engine_shape) == 1 and int(np.prod(x.shape[1:])) != engine_shape[0]:
            raise DataError(f"the inputs have {int(np.prod(x.shape[1:]))} values each but the network takes "
                            f"{engine_shape[0]}", Mark(path))
        batches.append(x)
        labels += names_here
    x = batches[0] if len(batches) == 1 else np.concatenate(batches)
    if meta["mean"] is not None:
        x = normalise(x, meta["mean"], meta["std"])
    with Threads(None):
        p = tr.probabilities(network, tr.to_engine(x, engine_shape), 64)
    names = list(meta.get("class_names") or [])
    names += [str(c) for c in range(len(names), network.n_classes)]
    k = min(top, network.n_classes)
    result = []
    for label, row in zip(labels, p):
        best = np.argsort(-row, kind="stable")[:k]
        result.append({"input": label,
                       "top": [{"class": int(c), "name": names[c], "probability": float(row[c])} for c in best]})
    view.predictions(console, result)
    return result
