"""Conv and pool kernels beside PyTorch CPU, layer by layer, on the three target networks.

    python benchmarks/conv_kernels_speed.py [--repeats 15] [--threads 1,2] [--batches 64,256] [--only vgg]
                                            [--stat median|min]

Each side and (threads, batch) pair runs in a fresh subprocess with the thread count pinned
(NUMBA_NUM_THREADS / numba.set_num_threads, torch.set_num_threads): two OpenMP runtimes in one
process would each keep spinning threads while the other works. Every layer is timed forward and
backward (backward = dW, db and dx, except for a network's first conv, which needs no dx, as in
training) with the same inputs on both sides; the table gives the median (or, with --stat min,
the fastest) of --repeats runs in milliseconds and torch's time divided by ours (> 1: cnncalc is
faster). cnncalc's kernels call no BLAS, so OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE do not concern
them; they are left as the environment sets them. The load average before and after is printed:
on a shared machine a parallel region waits whenever one of its threads is preempted (a 4 ms
scheduler tick), and 2-thread times then move by whole multiples of that.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name: (kind, n_C_prev, n_H_prev, n_C or pool size, f, pad, first layer of its network)
LAYERS = {
    "lenet5.conv1": ("conv", 3, 32, 8, 5, 0, True),
    "lenet5.pool1": ("pool", 8, 28, 2, 2, 0, False),
    "lenet5.conv2": ("conv", 8, 14, 16, 5, 0, False),
    "lenet5.pool2": ("pool", 16, 10, 2, 2, 0, False),
    "mnist.conv1": ("conv", 1, 28, 6, 5, 2, True),
    "mnist.pool1": ("pool", 6, 28, 2, 2, 0, False),
    "mnist.conv2": ("conv", 6, 14, 16, 5, 0, False),
    "vgg.conv1": ("conv", 3, 32, 32, 3, 1, True),
    "vgg.conv2": ("conv", 32, 32, 32, 3, 1, False),
    "vgg.pool1": ("pool", 32, 32, 2, 2, 0, False),
    "vgg.conv3": ("conv", 32, 16, 64, 3, 1, False),
    "vgg.conv4": ("conv", 64, 16, 64, 3, 1, False),
    "vgg.pool2": ("pool", 64, 16, 2, 2, 0, False),
}

WORKER = r"""
import json, statistics, sys, time
import numpy as np
side, threads, m, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
layers = json.loads(sys.argv[5])
stat = statistics.median if sys.argv[6] == "median" else min
if side == "cnncalc":
    import numba
    numba.set_num_threads(threads)
    from cnncalc.layers import arith
    from cnncalc.layers.conv import kernels as conv_k
    from cnncalc.layers.pool import kernels as pool_k
else:
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(threads)

def timed(fn):
    fn(); fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return 1e3 * stat(times)

rng = np.random.default_rng(0)
rows = []
for name, (kind, C, H, O, f, p, first) in layers.items():
    x = rng.standard_normal((m, C, H, H)).astype(np.float32)
    if kind == "conv":
        n_H = H + 2 * p - f + 1
        W, b = rng.standard_normal((O, C, f, f)).astype(np.float32) * 0.1, np.zeros(O, np.float32)
        dout = rng.standard_normal((m, O, n_H, n_H)).astype(np.float32)
    else:
        n_H = (H + 2 * p - f) // O + 1
        dout = rng.standard_normal((m, C, n_H, n_H)).astype(np.float32)
    if side == "cnncalc" and kind == "conv":
        layer = conv_k.Conv(m, C, H, H, O, (f, f), (1, 1), (p,) * 4, (1, 1), 1, n_H, n_H, need_dx=not first)
        dW, db = np.empty_like(W), np.empty_like(b)
        forward = lambda: layer.forward(x, W, b)
        backward = lambda: layer.backward(dout, W, dW, db, need_dx=not first)
    elif side == "cnncalc":
        layer = pool_k.Pool("max", m, C, H, H, (f, f), (O, O), (p,) * 4, n_H, n_H)
        forward = lambda: layer.forward(x)
        backward = lambda: layer.backward(dout)
    else:
        xt = torch.tensor(x, requires_grad=not first)
        if kind == "conv":
            Wt, bt = torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)
            forward = lambda: F.conv2d(xt, Wt, bt, 1, p)
            wrt = [Wt, bt] if first else [xt, Wt, bt]
        else:
            forward = lambda: F.max_pool2d(xt, f, O, p)
            wrt = [xt]
        y, gt = forward(), torch.tensor(dout)
        backward = lambda: torch.autograd.grad(y, wrt, gt, retain_graph=True)
    forward()
    rows.append((name, timed(forward), timed(backward)))
print(json.dumps(rows))
"""


def run(side: str, threads: int, batch: int, repeats: int, layers: dict, stat: str) -> list:
    """[(layer, forward ms, backward ms)] for one side, in a fresh process."""
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", WORKER, side, str(threads), str(batch), str(repeats),
                          json.dumps(layers), stat], env=env, cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--batches", default="64,256")
    parser.add_argument("--only", default="", help="run only the layers whose name contains this")
    parser.add_argument("--stat", choices=("median", "min"), default="median")
    args = parser.parse_args()
    layers = {k: v for k, v in LAYERS.items() if args.only in k}
    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} (1 min) before")
    print(f"milliseconds, {args.stat} of {args.repeats} runs; ratio = torch / cnncalc (> 1: cnncalc faster)")
    head = f"{'layer':<14}{'thr':>4}{'batch':>6}{'fwd':>9}{'torch':>9}{'ratio':>7}{'bwd':>9}{'torch':>9}{'ratio':>7}" \
           f"{'f+b ratio':>11}"
    print(head)
    for threads in [int(t) for t in args.threads.split(",")]:
        for batch in [int(b) for b in args.batches.split(",")]:
            ours = run("cnncalc", threads, batch, args.repeats, layers, args.stat)
            theirs = run("torch", threads, batch, args.repeats, layers, args.stat)
            for (name, fo, bo), (_, ft, bt) in zip(ours, theirs):
                print(f"{name:<14}{threads:>4}{batch:>6}{fo:>9.3f}{ft:>9.3f}{ft / fo:>7.2f}{bo:>9.3f}{bt:>9.3f}"
                      f"{bt / bo:>7.2f}{(ft + bt) / (fo + bo):>11.2f}")
    print(f"load average {os.getloadavg()[0]:.2f} (1 min) after")


if __name__ == "__main__":
    main()
