"""Run directories: the name a new run gets, the checks before one is replaced, the lock, the
probe that a folder can be written, the leftovers of killed saves, and the run's text files
(spec.yaml, config.json, metrics.csv, metrics.json), each replaced atomically (engine.atomic)."""

from __future__ import annotations

import csv
import json
import os
import time

from cnncalc.engine import atomic
from cnncalc.engine.events import Note
from cnncalc.engine.options import METRICS
from cnncalc.errors import EngineError, Mark

RUN_FILES = ("spec.yaml", "config.json", "metrics.csv", "metrics.json", "last.npz", "best.npz")
LOCK_FILE = ".lock"


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


def _take_run_dir(run_dir: str, *, new: bool, force: bool, on_event, spec=None) -> tuple[RunLock, bool]:
    """Create run_dir if needed, lock it, clear killed saves' temporaries and check that it can be
    written, all before any data is read or epoch trained. Returns (lock, created): created lists
    the folders made for it (the run directory and any missing parents), deepest first."""
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
            on_event(Note("no_locks"))
        if new:  # again under the lock: a run may have finished here since the first check
            _check_replace(run_dir, force, spec)
        removed = atomic.remove_stale(run_dir, RUN_FILES)
        if removed:
            on_event(Note("stale_removed", {"run_dir": run_dir, "n": len(removed)}))
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


_write_text = atomic.write_text


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

