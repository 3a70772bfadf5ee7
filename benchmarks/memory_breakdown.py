"""Where a training network's memory goes: the bytes of every array the built network holds, by category,
beside the process's measured peak resident memory (ru_maxrss).

    python benchmarks/memory_breakdown.py [--batch 64] [--threads 2] [--steps 3]
                                          [--specs specs/resnet18_cifar.yaml,specs/mobilenet_v2.yaml@32x32x3,...]

Each spec runs in a fresh subprocess (NUMBA_NUM_THREADS pinned, as benchmarks/train_speed.py does):
it builds the network (tuning included), trains `steps` SGD steps with momentum on a random batch,
and sorts every array it can reach: the executor's layers (outputs, input gradients: one shared block
when sharing is on, conv workspaces by kernel path: one arena per network counts once, however many
layers draw from it, and what each layer keeps), the gradient
sums of layers read twice, parameters, gradients, running statistics and the optimiser's velocity.
Arrays are counted once by their base buffer. CNNCALC_ARENA=0 builds the networks without the arena. ru_maxrss is read after the build and after the steps:
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

seen, table = set(), {}

def count(category, array):
    if not isinstance(array, np.ndarray):
        return
    base = array
    while isinstance(base.base, np.ndarray):
        base = base.base
    if id(base) in seen:
        return
    seen.add(id(base))
    table[category] = table.get(category, 0) + base.nbytes

def walk(category, value):
    if isinstance(value, np.ndarray):
        count(category, value)
    elif isinstance(value, dict):
        for v in value.values():
            walk(category, v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            walk(category, v)

for name in ("params", "grads", "buffers"):
    walk(name, getattr(net, name))
walk("optimizer state", vars(optimizer))
if net.gradients is not None:  # first: the views of the layers' dx and of the sums count as the block, once
    walk("input gradients (dx) and sums: the shared block", net.gradients)
walk("gradient sums (layers read twice)", net.sums)
if net.arena is not None:
    walk("conv workspaces: the shared arena", net.arena.block)
for layer in net.layers:
    conv = getattr(layer, "conv", None)
    parts = dict(vars(layer))
    if conv is not None:
        parts.update({"out": conv.out, "dx": conv.dx})
        walk("conv workspaces: " + conv.plan.kernel + ("'s own" if net.arena is not None else ""), conv.ws)
    pool = getattr(layer, "pool", None)
    if pool is not None:
        parts.update({"out": pool.out, "dx": pool.dx, "argmax": pool.argmax})
    for role, value in parts.items():
        if role in ("own", "own_grads", "node", "row", "cache"):
            continue
        category = {"out": "layer outputs", "dx": "input gradients (dx)", "dxs": "input gradients (dx)"}.get(
            role, f"other: {layer.node.kind}.{role}")
        walk(category, value)
walk("loop batch and loss buffers", [loop.x, loop.y, loop.dz, loop.p, x, y])
print(json.dumps({"start": start, "built": built, "peak": rss(), "arrays": table}))
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
        width = max(len(k) for k in r["arrays"]) + 2
        total = 0
        for category, nbytes in sorted(r["arrays"].items(), key=lambda kv: -kv[1]):
            total += nbytes
            print(f"  {category:<{width}}{nbytes / mb:10.1f} MB")
        print(f"  {'arrays, total':<{width}}{total / mb:10.1f} MB")
        print(f"  {'ru_maxrss at start':<{width}}{r['start'] / mb:10.1f} MB")
        print(f"  {'ru_maxrss after the build':<{width}}{r['built'] / mb:10.1f} MB")
        print(f"  {'ru_maxrss after the steps':<{width}}{r['peak'] / mb:10.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
