"""The three conv paths (direct, im2col + sgemm, Winograd F(2×2, 3×3)) beside PyTorch on ResNet-18 CIFAR's 3×3 layers.

    python benchmarks/conv_paths_speed.py [--repeats 5] [--threads 2,1] [--batches 64,32] [--paths direct,gemm,winograd]

One forward and one backward (dW and dx; the stem, a network's first layer, needs no dx) per layer and
path, the median of --repeats runs in milliseconds, PyTorch's conv2d forward + autograd backward on the
same arrays beside it, and torch's time over each path's (> 1: cnncalc is faster). Batch 32 is one lane's
share of 64 images on 2 threads. Each (side, threads, batch) runs in a fresh process with the thread
count pinned (two OpenMP runtimes in one process keep each other's threads spinning), and the paths are
forced with Conv(path=…), not measured. The load average before and after is printed: on a shared machine
the medians move with it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name: (n_C_prev, n_H_prev, n_C, first layer of the network): specs/resnet18_cifar.yaml's 3×3 stride-1 shapes
LAYERS = {
    "stem 3→64": (3, 32, 64, True),
    "layer1 64": (64, 32, 64, False),
    "layer2 128": (128, 16, 128, False),
    "layer3 256": (256, 8, 256, False),
    "layer4 512": (512, 4, 512, False),
}

WORKER = r"""
import json, statistics, sys, time
import numpy as np
side, threads, m, repeats, paths = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[6].split(",")
layers = json.loads(sys.argv[5])
if side == "cnncalc":
    import numba
    numba.set_num_threads(threads)
    from cnncalc.layers.conv import kernels as conv_k
else:
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    paths = ["torch"]

def timed(fn):
    fn(); fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)

rng = np.random.default_rng(0)
rows = []
for name, (C, H, O, first) in layers.items():
    x = rng.standard_normal((m, C, H, H)).astype(np.float32)
    W = rng.standard_normal((O, C, 3, 3)).astype(np.float32) * 0.1
    dout = rng.standard_normal((m, O, H, H)).astype(np.float32)
    for path in paths:
        if side == "cnncalc":
            layer = conv_k.Conv(m, C, H, H, O, (3, 3), (1, 1), (1,) * 4, (1, 1), 1, H, H, need_dx=not first, path=path)
            dW = np.empty_like(W)
            def step():
                layer.forward(x, W)
                layer.backward(dout, W, dW, need_dx=not first)
        else:
            xt = torch.tensor(x, requires_grad=not first)
            Wt = torch.tensor(W, requires_grad=True)
            gt = torch.tensor(dout)
            wrt = [Wt] if first else [xt, Wt]
            def step():
                torch.autograd.grad(F.conv2d(xt, Wt, None, 1, 1), wrt, gt)
        rows.append((name, path, timed(step)))
print(json.dumps(rows))
"""


def run(side: str, threads: int, batch: int, repeats: int, paths: str) -> list:
    """[(layer, path, ms of forward + backward)] for one side, in a fresh process."""
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS=str(threads), PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", WORKER, side, str(threads), str(batch), str(repeats),
                          json.dumps(LAYERS), paths], env=env, cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", default="2,1")
    parser.add_argument("--batches", default="64,32")
    parser.add_argument("--paths", default="direct,gemm,winograd")
    args = parser.parse_args()
    paths = args.paths.split(",")
    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} (1 min) before")
    print(f"forward + backward, milliseconds, median of {args.repeats} runs; (ratio) = torch / path (> 1: faster)")
    print(f"{'layer':<12}{'thr':>4}{'batch':>6}{'torch':>9}" + "".join(f"{p:>18}" for p in paths))
    for threads in [int(t) for t in args.threads.split(",")]:
        for batch in [int(b) for b in args.batches.split(",")]:
            ours = run("cnncalc", threads, batch, args.repeats, args.paths)
            theirs = {name: ms for name, _, ms in run("torch", threads, batch, args.repeats, args.paths)}
            for name in LAYERS:
                cells = "".join(f"{ms:>10.1f} ({theirs[name] / ms:4.2f})" for n, _, ms in ours if n == name)
                print(f"{name:<12}{threads:>4}{batch:>6}{theirs[name]:>9.1f}{cells}")
    print(f"load average {os.getloadavg()[0]:.2f} (1 min) after")


if __name__ == "__main__":
    main()
