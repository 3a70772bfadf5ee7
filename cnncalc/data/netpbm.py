"""PGM and PPM images (netpbm P2, P3, P5, P6) for `cnncalc predict`, read with numpy alone.

A header of whitespace-separated ASCII tokens — magic, width, height, maxval — with `#` comments,
then one whitespace byte and the raster: bytes (maxval ≤ 255) or big-endian 16-bit words (P5/P6),
or decimal numbers (P2/P3). https://netpbm.sourceforge.net/doc/pgm.html
"""

from __future__ import annotations

import re

import numpy as np

from cnncalc.data.files import open_regular
from cnncalc.errors import DataError, Mark

# magic → (channels, binary)
FORMATS = {b"P2": (1, False), b"P3": (3, False), b"P5": (1, True), b"P6": (3, True)}
_TOKEN = re.compile(rb"(?:\s|#[^\n]*(?:\n|$))*([^\s#]+)")


def is_netpbm(head: bytes) -> bool:
    return head[:2] in FORMATS and head[2:3].isspace()


def read_netpbm(path: str) -> np.ndarray:
    """One image, (n_H, n_W, n_C): uint8 when maxval is 255, else float32 rescaled to 0…255
    (value · 255 / maxval), so that it meets statistics taken on 8-bit data."""
    with open_regular(path) as fh:
        try:
            data = fh.read()
        except OSError as exc:
            raise DataError(f"cannot read the file ({exc.strerror})", Mark(path)) from None
    if data[:2] not in FORMATS:
        raise DataError("not a PGM/PPM image", Mark(path), received=data[:2].decode("latin-1"),
                        allowed="P2, P3, P5 or P6")
    n_C, binary = FORMATS[data[:2]]
    pos, numbers = 2, []
    for _ in range(3):
        match = _TOKEN.match(data, pos)
        if match is None or not match.group(1).isdigit():
            raise DataError("bad PGM/PPM header: expected width, height and maxval", Mark(path),
                            received=data[:40].decode("latin-1"))
        numbers.append(int(match.group(1)))
        pos = match.end()
    n_W, n_H, maxval = numbers
    if n_W < 1 or n_H < 1 or not 1 <= maxval <= 65535:
        raise DataError("bad PGM/PPM header", Mark(path), received=f"width {n_W}, height {n_H}, maxval {maxval}",
                        allowed="width, height ≥ 1 and 1 ≤ maxval ≤ 65535")
    count = n_H * n_W * n_C
    if binary:
        dtype = np.dtype(np.uint8) if maxval < 256 else np.dtype(">u2")
        pos += 1  # the single whitespace byte after maxval
        found = len(data) - pos
        if found < count * dtype.itemsize:
            raise DataError(f"truncated raster: {n_W}×{n_H}×{n_C} needs {count * dtype.itemsize:,} bytes",
                            Mark(path), received=found, allowed=f"{count * dtype.itemsize:,} bytes")
        x = np.frombuffer(data, dtype, count, pos)
    else:
        text = re.sub(rb"#[^\n]*", b" ", data[pos:]).split()
        if len(text) < count or not all(t.isdigit() for t in text[:count]):
            raise DataError(f"the ASCII raster needs {count:,} numbers", Mark(path), received=len(text),
                            allowed=f"{count:,} integers 0…{maxval}")
        values = [int(t) for t in text[:count]]  # Python ints: a 30-digit number is too big, not an overflow
        if max(values) > maxval:
            raise DataError("a pixel exceeds maxval", Mark(path), received=max(values), allowed=f"0…{maxval}")
        x = np.array(values, dtype=np.int64)
    if x.max() > maxval:
        raise DataError("a pixel exceeds maxval", Mark(path), received=int(x.max()), allowed=f"0…{maxval}")
    x = x.reshape(n_H, n_W, n_C)
    if maxval == 255:
        return x.astype(np.uint8)
    return (x.astype(np.float32) * np.float32(255 / maxval)).astype(np.float32)
