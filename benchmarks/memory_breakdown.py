"""Where a training network's memory goes: the bytes of every array the built network holds, by category,
beside the process's measured peak resident memory (ru_maxrss).

    python benchmarks/memory_breakdown.py [--batch 64] [--threads 2] [--steps 3]
                                          [--specs specs/resnet18_cifar.yaml,specs/mobilenet_v2.yaml@32x32x3,...]

Each spec runs in a fresh subprocess (NUMBA_NUM_THREADS pinned, as benchmarks/train_speed.py does):
it builds the network (tuning included), trains `steps` SGD steps with momentum on a random batch,
and sorts every array it can reach by the memory planner's categories (cnncalc/engine/arrays.py:
outputs, what backward keeps, params, grads, optimiser state, the shared input-gradient block, the
layers' own workspaces, the scratch arena, the loop's batch buffers; an array of no category shows
as "other: kind.role"), each counted once by its base buffer, beside `cnncalc memory`'s plan of the
same categories (an upper bound for the conv layers that tuning measured). CNNCALC_ARENA=0 builds the networks without the arena. ru_maxrss is read after the build and after the steps:
the rest of it is the interpreter, numpy, Numba and its compiled code, and the batch.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

SPECS = ["specs/small_vgg.yaml", "specs/resnet18_cifar.yaml", "specs/mobilenet_v2.yaml@32x32x3"]

WORKER = r"""
import json, resource, sys
import numpy as np
spec, batch, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
spec, _, size = spec.partition("@")
override = tuple(int(v) for v in size.split("x")) if size else None
from cnncalc.engine import train as tr
from cnncalc.engine.api import Threads
from cnncalc.engine.init import initialise

def rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

start = rss()
Threads(int(sys.argv[4])).__enter__()
report, net = tr.build(open(spec).read(), spec, batch, override)
built = rss()
initialise(net, 0)
optimizer = tr.make_optimizer(net, "sgd", 0.01, 0.9, 0.0)
loop = tr.Loop(net, optimizer, batch)
rng = np.random.default_rng(0)
x = rng.standard_normal((batch,) + net.input_shape).astype(np.float32)
y = rng.integers(0, net.n_classes, batch)
for _ in range(steps):
    loop.step(x, y, rng)

from cnncalc.analysis.memory import plan
from cnncalc.engine.arrays import by_category
import numba

table = by_category(net, optimizer, loop)
planned = plan(report, batch, "momentum", lanes=numba.config.NUMBA_NUM_THREADS).parts
print(json.dumps({"start": start, "built": built, "peak": rss(), "arrays": table, "planned": planned}))
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--specs", default=",".join(SPECS))
    args = parser.parse_args(argv)
    env = dict(os.environ, NUMBA_NUM_THREADS=str(args.threads))
    for spec in args.specs.split(","):
        done = subprocess.run([sys.executable, "-c", WORKER, spec, str(args.batch), str(args.steps), str(args.threads)],
                              env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"{spec}: the worker failed\n{done.stderr}", file=sys.stderr)
            return 1
        r = json.loads(done.stdout.strip().splitlines()[-1])
        mb = 1e6
        print(f"\n{spec}, batch {args.batch}, {args.threads} threads")
        width = max(len(k) for k in list(r["arrays"]) + ["ru_maxrss after the build"]) + 2
        print(f"  {'':<{width}}{'arrays':>10}    {'planned':>10}")
        for category, nbytes in sorted(r["arrays"].items(), key=lambda kv: -kv[1]):
            print(f"  {category:<{width}}{nbytes / mb:10.1f} MB {r['planned'].get(category, 0) / mb:10.1f} MB")
        total, planned = sum(r["arrays"].values()), sum(r["planned"].values())
        print(f"  {'arrays, total':<{width}}{total / mb:10.1f} MB {planned / mb:10.1f} MB")
        print(f"  {'ru_maxrss at start':<{width}}{r['start'] / mb:10.1f} MB")
        print(f"  {'ru_maxrss after the build':<{width}}{r['built'] / mb:10.1f} MB")
        print(f"  {'ru_maxrss after the steps':<{width}}{r['peak'] / mb:10.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
