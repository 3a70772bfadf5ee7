"""Shared test set-up, before numpy loads: Numba compiles into a temporary cache, never beside
the sources, and BLAS runs single-threaded as under `cnncalc train` (OpenBLAS's idle threads
would otherwise spin against Numba's)."""

import os
import tempfile

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), "cnncalc-numba-cache"))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("COLUMNS", "200")


import pytest  # noqa: E402 — after the environment above


@pytest.fixture
def tuning_file(tmp_path, monkeypatch):
    """The conv layers' tuning (layers/conv/tuning.py) with an empty cache directory, no forced path and
    nothing remembered in this process: the path of the file its choices are stored in."""
    from cnncalc.layers.conv import tuning

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("CNNCALC_CONV_PATH", raising=False)
    monkeypatch.setattr(tuning, "_stored", None)
    monkeypatch.setattr(tuning, "_decisions", {})
    return tmp_path / tuning.CACHE_FILE
