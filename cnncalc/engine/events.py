"""What a training run tells its caller, as plain records through one callback, on_event(event).

The engine computes and does not print: `cnncalc train` renders these records as text
(render.training.Printer) or as JSON lines (`--format json`, render.training.JsonLines); a
library caller may collect them or pass nothing. The order of one run:

    Note*            (before the run: threads capped, no file locks, stale temporaries, …)
    Estimate         the data, memory and time per epoch expected, before anything is allocated
    RunStarted       the network, the settings, the run directory
    Compiled         seconds spent compiling (or loading) the kernels
    Note?            completing: an evaluation a Ctrl-C cut short is finished first (resume)
    per epoch:  EpochStarted, BatchProgress* (after every batch), EpochEnded (the metrics row)
    TestMeasured?    the test split, once, after the last epoch
    RunEnded         the history of every epoch
or, in place of the end, Interrupted (Ctrl-C or SIGTERM, after the finished epochs were saved).
Every field is a plain number, text, list or mapping, so `dataclasses.asdict` gives JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Note:
    """Something the user should know that does not stop the run. kind, and its numbers:
    threads_capped (requested, available), no_locks (), stale_removed (run_dir, n),
    limit_exceeds (requested, available), resume_ignored (names), statistics_differ (),
    completing (epoch)."""
    kind: str
    values: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Estimate:
    """engine.train.estimate's figures (bytes, seconds per epoch, …), the free memory (None:
    unknown), what the data set is (a data.dataset.Summary) and the thread count."""
    figures: dict
    free: int | None
    data: object
    threads: int


@dataclass(frozen=True)
class RunStarted:
    name: str
    trainable: int
    settings: dict  # the run's config (epochs, batch_size, optimizer, lr, …)
    run_dir: str


@dataclass(frozen=True)
class Compiled:
    seconds: float


@dataclass(frozen=True)
class EpochStarted:
    epoch: int  # 1-based
    epochs: int
    images: int  # in the training split


@dataclass(frozen=True)
class BatchProgress:
    """After a batch: images is this batch's count, loss and acc the epoch's running means (the loss
    the gradients follow: with aux heads, CE + Σ weight · CE of each aux head)."""
    epoch: int
    images: int
    loss: float
    acc: float


@dataclass(frozen=True)
class EpochEnded:
    row: dict  # one row of metrics.json (engine.options.METRICS' names)
    epochs: int


@dataclass(frozen=True)
class TestMeasured:
    epoch: int
    loss: float
    acc: float


@dataclass(frozen=True)
class Interrupted:
    """Ctrl-C or SIGTERM: saved_epoch is the epoch last.npz keeps (0: none of this run)."""
    run_dir: str
    saved_epoch: int
    epochs: int
    replacing: bool
    signum: int


@dataclass(frozen=True)
class MemoryMeasured:
    """The run's planned peak (cnncalc memory) beside the measured one (engine.arrays.MemoryWatch), in bytes;
    measured None when it could not be measured."""
    planned: int
    measured: int | None


@dataclass(frozen=True)
class RunEnded:
    """The end of a run: every epoch's metrics row, and the last one (what train_run returns)."""
    history: list
    last: dict


def name_of(event) -> str:
    """The event's name as JSON lines carry it: 'run_started', 'batch_progress', …"""
    import re

    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(event).__name__).lower()


def ignore(event) -> None:  # noqa: ARG001 — the callback of a caller that wants no events
    return None
