"""Pause Python's cyclic garbage collector while a large spec is loaded, analysed and rendered.

Loading a 100,000-layer spec allocates millions of small objects (YAML nodes, marks,
dicts, rows) and none of them form cycles; the collector would walk them again and again
and take three times as long as the work itself.  Reference counting still frees every
object that is dropped; the collector runs again as soon as the pause ends.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager


@contextmanager
def paused_gc():
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
