"""Shared test set-up: Numba compiles into a temporary cache, never beside the sources."""

import os
import tempfile

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), "cnncalc-numba-cache"))
os.environ.setdefault("COLUMNS", "200")
