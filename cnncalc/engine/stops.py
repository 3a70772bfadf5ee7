"""Stopping a run: Ctrl-C and SIGTERM, when they are delivered, and what is raised."""

from __future__ import annotations

import contextlib
import signal
import threading

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

