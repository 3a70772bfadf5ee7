"""A cold start's compile helper walking the network from the other end (engine/prewarm.py, layers/lanes.py).

Each run is a fresh process with its own empty NUMBA_CACHE_DIR: the trainer warms up (as `cnncalc train`
does), which hands the helper its walk, then takes three steps. With the helper and without it, every
kernel and body is compiled exactly once, and the steps' losses are the same to the bit.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow  # two cold compiles of a small network

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SPEC = """name: walk
input: [12, 12, 3]
layers:
  - conv: {filters: 4, kernel: 3, padding: 1}
  - batchnorm
  - relu
  - maxpool: 2
  - conv: {filters: 6, kernel: 3}
  - avgpool: 2
  - flatten
  - dense: 5
"""

CODE = """
import json, numpy as np
from cnncalc.engine import train as tr
from cnncalc.engine.init import initialise
from cnncalc.layers import lanes
spec = open("walk.yaml").read()
report, net = tr.build(spec, "walk.yaml", 8)
initialise(net, 0)
loop = tr.Loop(net, tr.make_optimizer(net, "sgd", 0.1), 8)
loop.warm_up()
helper = lanes._HELPER.mine()
x = np.random.default_rng(1).standard_normal((8,) + net.input_shape).astype(np.float32)
y = np.arange(8) % net.n_classes
losses = [float(loop.step(x, y, np.random.default_rng(2))[0]) for _ in range(3)]
lanes._HELPER.drain()  # hear everything the helper did, the walk's last names too
print(json.dumps({"helper": helper, "there": sorted(lanes._HELPER.compiled_there),
                  "here": sorted(lanes._HELPER.compiled_here), "losses": losses}))
"""


def run(tmp_path, cache, **env):
    (tmp_path / "walk.yaml").write_text(SPEC)
    full = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / cache), **env)
    full["PYTHONPATH"] = os.pathsep.join([ROOT, full.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(CODE)], cwd=tmp_path, env=full, capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="the helper runs only where two CPUs are usable")
def test_the_helper_compiles_what_the_trainer_has_not_reached_and_nothing_twice(tmp_path):
    shared = run(tmp_path, "numba")
    assert shared["helper"]
    assert not set(shared["there"]) & set(shared["here"])  # nothing compiled by both
    # the walk starts from the last layer's backward pass, which the trainer reaches last; a parallel kernel
    # ("module:name/signature"; bodies have no signature) reaches the helper only through the walk
    assert any("backward" in name and "/" in name for name in shared["there"])
    alone = run(tmp_path, "other", CNNCALC_PREFETCH="0")
    assert not alone["helper"] and alone["there"] == alone["here"] == []
    assert shared["losses"] == alone["losses"]  # the same machine code, whichever process compiled it
