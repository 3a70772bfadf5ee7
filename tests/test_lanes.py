"""Lane bodies called through their address (cnncalc/layers/lanes.py), and the compile helper of a cold start.

Each check runs in a fresh process with its own NUMBA_CACHE_DIR, on a small module of kernels written
here: a body's machine code, the kernel around it, Numba's cache and the helper process are all per
process, so nothing of this test process's state could make them pass.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

KERNELS = '''
import numpy as np
from numba import prange
from cnncalc.layers import lanes


@lanes.body("void(i8, i8, f4[:, ::1], f4[:, ::1], f4[::1])", fastmath={"reassoc", "contract"})
def _rows(lo, hi, x, out, sums):
    """out[i] = 2·x[i] + i for rows lo … hi − 1, and sums[i] = Σ x[i]."""
    for i in range(lo, hi):
        total = np.float32(0.0)
        for j in range(x.shape[1]):
            out[i, j] = 2 * x[i, j] + i
            total += x[i, j]
        sums[i] = total


@lanes.body("void(i8, i8)")
def _divide(a, b):
    """a // b: Python's error model raises ZeroDivisionError on b = 0."""
    if a // b < -1000:
        print(a)


@lanes.parallel(_rows)
def scale(rows, n_lanes, x, out, sums):
    m = x.shape[0]
    for t in prange(n_lanes):
        _rows(rows, (t * m // n_lanes, (t + 1) * m // n_lanes, x, out, sums))


@lanes.parallel(_rows)
def wrong_types(rows, n_lanes, x, out, sums):
    for t in prange(n_lanes):
        _rows(rows, (t, 1, x, out[0], sums))


@lanes.parallel(_divide)
def divide(body, a, b):
    for t in prange(2):
        _divide(body, (a, b))
'''


def run(tmp_path, code, cache="numba", **env):
    source = tmp_path / "lane_kernels.py"
    if not source.exists():  # written once: a newer source is a cold cache to Numba (and to lanes)
        source.write_text(KERNELS)
    full_env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / cache), **env)
    full_env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), ROOT, full_env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, env=full_env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_kernel_through_its_body_equals_the_formula_and_its_py_func(tmp_path):
    seen = run(tmp_path, """
        import json, numpy as np
        import lane_kernels as k
        x = np.random.default_rng(0).standard_normal((7, 5), dtype=np.float32)
        results = []
        for kernel in (k.scale, k.scale.py_func):
            for n_lanes in (1, 2, 3):
                out, sums = np.full_like(x, np.nan), np.full(7, np.nan, np.float32)
                kernel(n_lanes, x, out, sums)
                results.append((out.tolist(), sums.tolist()))
        expected = (2 * x + np.arange(7, dtype=np.float32)[:, None]).tolist()
        print(json.dumps({"results": results, "expected": expected, "row_sums": x.sum(axis=1).tolist()}))
    """)
    for out, sums in seen["results"]:  # every lane count, compiled and as Python
        assert out == seen["expected"]
        assert sums == pytest.approx(seen["row_sums"], rel=1e-5, abs=1e-5)


def test_a_call_with_other_types_than_declared_is_a_compile_error_naming_both(tmp_path):
    seen = run(tmp_path, """
        import json, numpy as np
        import lane_kernels as k
        x = np.zeros((4, 3), np.float32)
        try:
            k.wrong_types(2, x, np.zeros_like(x), np.zeros(4, np.float32))
            print(json.dumps({"error": None}))
        except Exception as e:
            print(json.dumps({"type": type(e).__name__, "error": str(e)}))
    """)
    assert seen["type"] == "TypingError"
    assert "_rows called with" in seen["error"] and "declared" in seen["error"]


def test_an_error_in_a_body_reaches_the_caller(tmp_path):
    # as with a body called directly in a prange loop, Numba reports it as a SystemError caused by the error
    seen = run(tmp_path, """
        import json
        import lane_kernels as k
        k.divide(7, 2)  # fine
        try:
            k.divide(7, 0)
            print(json.dumps({"raised": None}))
        except Exception as e:
            cause = e.__cause__ or e.__context__
            print(json.dumps({"raised": type(e).__name__, "cause": type(cause).__name__ if cause else None}))
    """)
    assert "ZeroDivisionError" in (seen["raised"], seen.get("cause"))


HELPER = """
    import json, numpy as np
    import lane_kernels as k
    from cnncalc.layers import lanes
    lanes.prefetch(k.scale.bodies + k.divide.bodies)
    started, given = lanes._HELPER.proc is not None, sorted(lanes._HELPER.given)
    x = np.ones((4, 3), np.float32)
    out, sums = np.zeros_like(x), np.zeros(4, np.float32)
    k.scale(2, x, out, sums)
    k.divide(7, 2)
    lanes._HELPER.drain()  # hear what the helper did with every body, the ones this process did not wait for too
    bodies = {"lane_kernels:_rows": k._rows, "lane_kernels:_divide": k._divide}
    print(json.dumps({"started": started, "given": given, "done": sorted(lanes._HELPER.done),
                      "there": sorted(lanes._HELPER.compiled_there), "here": sorted(lanes._HELPER.compiled_here),
                      "hits": {n: sum(b.dispatcher.stats.cache_hits.values()) for n, b in bodies.items()},
                      "misses": {n: sum(b.dispatcher.stats.cache_misses.values()) for n, b in bodies.items()},
                      "out": out.tolist()}))
"""


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="the helper runs only where two CPUs are usable")
def test_on_a_cold_cache_the_helper_and_this_process_share_the_bodies_and_a_warm_start_needs_none(tmp_path):
    cold = run(tmp_path, HELPER)
    assert cold["started"]
    bodies = ["lane_kernels:_divide", "lane_kernels:_rows"]
    assert cold["given"] == bodies and cold["done"] == bodies
    # every body compiled exactly once, by one process or the other (this process also claimed its kernels)
    assert not set(cold["there"]) & set(cold["here"])
    assert sorted(n for n in cold["there"] + cold["here"] if n in bodies) == bodies
    assert {n.split("/")[0] for n in cold["here"] if n not in bodies} == {"lane_kernels:scale", "lane_kernels:divide"}
    for name in bodies:  # this process loaded what the helper compiled, and compiled the rest
        assert (cold["hits"][name], cold["misses"][name]) == ((1, 0) if name in cold["there"] else (0, 1))
    assert cold["out"] == [[2.0 + i] * 3 for i in range(4)]
    warm = run(tmp_path, HELPER)
    assert not warm["started"] and warm["given"] == []
    assert warm["hits"] == {name: 1 for name in bodies} and warm["out"] == cold["out"]
    off = run(tmp_path, HELPER, cache="other", CNNCALC_PREFETCH="0")
    assert not off["started"] and off["hits"] == {name: 0 for name in bodies} and off["out"] == cold["out"]


def test_numbas_blas_table_loads_without_running_scipy_linalg_and_scipy_linalg_still_works():
    """lanes.defer_scipy_linalg: in a fresh process, a Numba kernel calling sgemm (np.dot) compiles and runs
    with scipy.linalg's __init__ not yet run (its solvers' module absent), and the first use of scipy.linalg
    afterwards runs it: `solve` and `from scipy.linalg import inv` give the right answers, and the package and
    its cython_blas are the modules Numba used."""
    pytest.importorskip("scipy")
    code = textwrap.dedent("""
        import sys
        import numpy as np
        from numba import njit
        import cnncalc.layers.lanes  # noqa: F401

        @njit
        def product(a, b):
            return np.dot(a, b)

        a = np.arange(6, dtype=np.float32).reshape(2, 3)
        assert np.array_equal(product(a, a.T.copy()), a @ a.T)
        deferred = "scipy.linalg._basic" not in sys.modules
        import scipy.linalg
        blas = sys.modules["scipy.linalg.cython_blas"]
        x = scipy.linalg.solve(np.array([[2.0, 0.0], [0.0, 4.0]]), np.array([2.0, 8.0]))
        from scipy.linalg import inv
        print(deferred, x.tolist(), inv(np.eye(2) * 2).tolist(), scipy.linalg.cython_blas is blas,
              sys.modules["scipy.linalg"] is scipy.linalg)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "[1.0,", "2.0]", "[[0.5,", "0.0],", "[0.0,", "0.5]]", "True", "True"]
