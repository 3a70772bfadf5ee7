"""The one check every kernel file makes of a caller's output buffer (plain Python, no Numba)."""

from __future__ import annotations

import numpy as np


def output_buffer(buf, shape, name):
    """The caller's output buffer, checked to be float32, C-contiguous and of `shape`, or a new one."""
    if buf is None:
        return np.empty(shape, np.float32)
    if buf.shape != shape or buf.dtype != np.float32 or not buf.flags.c_contiguous:
        raise ValueError(f"{name} must be a float32 C-contiguous array of shape {shape}; received "
                         f"{buf.dtype} {buf.shape}{'' if buf.flags.c_contiguous else ' (not C-contiguous)'}")
    return buf
