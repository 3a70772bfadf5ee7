"""What `cnncalc data fetch` shows: a progress bar per file, then where the files are."""

from __future__ import annotations

from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


class Bar:
    """A rich download bar, one task per file; fetch calls start/advance/end. Draws nothing when
    the console is not a terminal (a log then gets the result lines alone)."""

    def __init__(self, console):
        self.console = console
        self.progress = None
        self.task = None

    def start(self, name, total, done):
        if self.console is None or not self.console.is_terminal:
            return
        self.progress = Progress(TextColumn(escape(name)), BarColumn(bar_width=30), DownloadColumn(),
                                 TransferSpeedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                 console=self.console, transient=False)
        self.progress.start()
        self.task = self.progress.add_task(name, total=total or None, completed=done)

    def advance(self, n):
        if self.progress is not None:
            self.progress.advance(self.task, n)

    def end(self):
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


STATUS = {"downloaded": "downloaded", "resumed": "resumed and finished", "present": "already there, checksum ok"}


def fetched(console, result, data_dir=None) -> None:
    """Each file's outcome and the folder, then how to train on it."""
    if console is None:
        return
    for f in result.files:
        console.print(f"{escape(f.name)}: {STATUS[f.status]} ({f.bytes:,} bytes, SHA-256 checked)", highlight=False)
    console.print(f"{escape(result.entry.title)} is in {escape(result.data_path)}", highlight=False)
    where = f" --data-dir {escape(data_dir)}" if data_dir else ""
    console.print(f"train on it with: cnncalc train SPEC --data {escape(result.entry.name)}{where}", highlight=False)


def catalogue_rows(catalogue, root) -> list[str]:
    """One line per data set: name, title, total size, and whether it is in the cache."""
    from cnncalc.data.catalog import is_complete

    lines = []
    for entry in catalogue.values():
        size = sum(f.size for f in entry.files)
        state = "fetched" if is_complete(entry, root) else "not fetched"
        lines.append(f"{entry.name:<14} {entry.title:<16} {size / 2**20:7.1f} MiB  {state}")
    return lines
