"""Shared test set-up, before numpy loads: Numba compiles into a temporary cache, never beside
the sources, and BLAS runs single-threaded as under `cnncalc train` (OpenBLAS's idle threads
would otherwise spin against Numba's)."""

import os
import tempfile

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), "cnncalc-numba-cache"))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("COLUMNS", "200")
