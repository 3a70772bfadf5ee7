"""Opening data files safely: only regular files, and never more bytes than memory can hold.

`open_regular` refuses FIFOs, sockets, devices and directories before reading: opening a FIFO
for reading waits for a writer that never comes, and /dev/zero never ends. It opens with
O_NONBLOCK so that the check itself cannot hang, then looks at what it opened (no race with
a rename between the check and the open).

`check_size` is the guard for sizes a file declares in its header (IDX dimensions, an .npy's
shape): a header is a promise from an untrusted file, so a declared payload larger than this
machine's memory is refused before any allocation or decompression.
"""

from __future__ import annotations

import os
import stat

from cnncalc.errors import DataError, Mark

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def what_is(mode: int) -> str:
    """A file type in words, from st_mode."""
    return next((words for test, words in _KINDS if test(mode)), "not a regular file")


def open_regular(path: str):
    """path opened for binary reading; DataError if it is missing, unreadable or not a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise DataError(f"cannot read the file ({exc.strerror})", Mark(path)) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise DataError("not a regular file", Mark(path), received=what_is(mode), allowed="a regular file")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def memory_bytes() -> int:
    """This machine's physical memory in bytes (16 GiB where the OS does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 16 << 30


def check_size(declared: int, path: str, what: str) -> None:
    """DataError when a header declares more bytes than this machine's memory: loading could only fail."""
    limit = memory_bytes()
    if declared > limit:
        raise DataError(f"{what} declares {declared:,} bytes, more than this machine's memory", Mark(path),
                        received=declared, allowed=f"at most {limit:,} bytes",
                        fix="the header is damaged or the file is not what it claims to be")
