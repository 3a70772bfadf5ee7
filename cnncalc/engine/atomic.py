"""Atomic replacement of a file: the one way the engine writes checkpoints and run files.

A temporary file in the target's folder (hidden, `.NAME.<12 hex>.tmp`, created 0666 less the
umask as any other file the run writes), written, flushed and fsynced, then os.replace'd over the
target and the folder fsynced, so the rename itself is durable. A reader, or a process that dies
half-way, finds the previous file whole or the new one whole, never a mix. Ctrl-C or a full disk
mid-write removes the temporary; a write killed outright (SIGKILL, power) leaves it behind, and
remove_stale() clears such leftovers when the next run holds the directory's lock.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets

_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{12}\.tmp$")
# the temporaries that earlier versions wrote: .checkpoint-<hex>.npz.tmp and NAME.tmp
_OLD_CHECKPOINT = re.compile(r"^\.checkpoint-.*\.npz\.tmp$")


def temporary_path(path: str) -> str:
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")


@contextlib.contextmanager
def replacing(path: str):
    """with replacing(path) as fh: fh.write(bytes) — path is replaced by what was written when the
    block ends without an exception, and left as it was otherwise."""
    while True:
        tmp = temporary_path(path)
        try:
            fh = open(tmp, "xb")  # O_EXCL: never another's temporary; mode 0666 less the umask
            break
        except FileExistsError:
            continue
    try:
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:  # Ctrl-C or a full disk mid-write: the previous file stays as it was
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_text(path: str, text: str) -> None:
    """path replaced atomically by text, UTF-8, newlines as given."""
    with replacing(path) as fh:
        fh.write(text.encode("utf-8"))


def remove_stale(folder: str, names) -> list[str]:
    """Delete the temporaries that killed writes of the files called `names` left in folder;
    returns their names. Only safe while holding the run directory's lock (no live write can own one)."""
    names = set(names)
    removed = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return removed
    for entry in entries:
        ours = _TEMPORARY.match(entry)
        if (ours and ours["name"] in names) or _OLD_CHECKPOINT.match(entry) or (
                entry.endswith(".tmp") and entry[:-4] in names):
            try:
                os.unlink(os.path.join(folder, entry))
                removed.append(entry)
            except OSError:
                pass
    return removed
