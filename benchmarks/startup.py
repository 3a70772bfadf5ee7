"""Cold compile of the whole engine and the cached start, to the end of the first training batch.

    python benchmarks/startup.py

Each measurement is a fresh process: `cold` with an empty NUMBA_CACHE_DIR (every kernel compiles),
`cached` reusing it. Targets (issue 3): cold < 30 s, cached start-to-first-batch < 2 s.
"""

import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRST_BATCH = r"""
import time, numpy as np
t0 = time.perf_counter()
from cnncalc.engine import train as tr
from cnncalc.engine.init import initialise
report, net = tr.build(open("specs/cifar_small.yaml").read(), "specs/cifar_small.yaml", 64)
initialise(net, 0)
opt = tr.make_optimizer(net, "adam", 1e-3, 0.9, 0.0)
x = np.zeros((64, 3, 32, 32), np.float32); y = np.zeros(64, np.int64)
tr.train_step(net, opt, x, y, np.random.default_rng(0))
# every pooling kind too, so that the whole engine is compiled
report, net = tr.build(open("specs/lenet5_classic.yaml").read(), "specs/lenet5_classic.yaml", 64)
tr.train_step(net, tr.make_optimizer(net, "sgd", 0.01, 0.9, 0.0), np.zeros((64, 1, 32, 32), np.float32),
              np.zeros(64, np.int64), np.random.default_rng(0))
"""


def timed(cache):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache, OPENBLAS_NUM_THREADS="1")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", FIRST_BATCH], cwd=ROOT, env=env, check=True)
    return time.perf_counter() - start


def main():
    with tempfile.TemporaryDirectory() as cache:
        cold = timed(cache)
        cached = sorted(timed(cache) for _ in range(3))[1]
    print(f"cold compile, process start to first batch: {cold:.1f} s (target < 30 s)")
    print(f"cached, process start to first batch (median of 3): {cached:.2f} s (target < 2 s)")


if __name__ == "__main__":
    main()
