"""Training throughput (forward + backward + update) of cnncalc's engine beside PyTorch CPU.

    python benchmarks/train_speed.py [--steps 30] [--repeats 3]

Same process environment, same thread count (each measurement runs in a fresh subprocess with
the thread count pinned for both numba/BLAS and torch), batch 64 and 256, on the course LeNet-5,
the MNIST LeNet and a small VGG. Reports the median images/s over repeats, the ratio to PyTorch,
and the achieved GFLOP/s (3 × forward FLOPs per image) against the float32 peak of a large
matmul measured in the same script. OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are left as the
environment sets them, for both sides alike. cnncalc's side runs BLAS single-threaded, as
`cnncalc train` does (its Numba threads and OpenBLAS's spinning threads would fight).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = ["specs/lenet5.yaml", "specs/mnist_lenet.yaml", "specs/small_vgg.yaml"]

WORKER = r"""
import json, os, sys, time
import numpy as np
side, spec, batch, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sys.path.insert(0, os.path.join(os.getcwd(), "tests"))
from cnncalc.engine import train as tr
from cnncalc.engine.init import initialise
text = open(spec).read()
report, net = tr.build(text, spec, batch)
shape = report.graph.input_shape
k = report.totals.output_shape[0]
rng = np.random.default_rng(0)
x = rng.standard_normal((batch, shape[2], shape[0], shape[1])).astype(np.float32)
y = rng.integers(0, k, batch)
if side == "cnncalc":
    initialise(net, 0)
    opt = tr.make_optimizer(net, "sgd", 0.01, 0.9, 0.0)
    step = lambda: tr.train_step(net, opt, x, y, rng)
else:
    import torch
    from torch_builder import torch_forward
    torch.set_num_threads(int(os.environ["THREADS"]))
    rows = {r.name: r for r in report.rows}
    params = {n: torch.tensor(v, requires_grad=True) for n, v in net.params.items()}
    buffers = {n: torch.tensor(v) for n, v in net.buffers.items()}
    opt = torch.optim.SGD(params.values(), lr=0.01, momentum=0.9)
    xt, yt = torch.tensor(x), torch.tensor(y)
    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(torch_forward(report.graph, rows, params, buffers, xt, True), yt)
        loss.backward()
        opt.step()
for _ in range(3):
    step()
t = time.perf_counter()
for _ in range(steps):
    step()
print(json.dumps({"images_per_s": batch * steps / (time.perf_counter() - t), "flops": 3 * report.totals.flops}))
"""

PEAK = r"""
import time, numpy as np
a = np.random.rand(2048, 2048).astype(np.float32); b = a.copy()
a @ b
t = time.perf_counter(); n = 10
for _ in range(n): a @ b
print(2 * 2048**3 * n / (time.perf_counter() - t) / 1e9)
"""


def run(side, spec, batch, steps, threads):
    # cnncalc runs BLAS single-threaded beside its Numba threads, as `cnncalc train` does; torch keeps its own pool
    blas = "1" if side == "cnncalc" else str(threads)
    env = dict(os.environ, THREADS=str(threads), NUMBA_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=blas, MKL_NUM_THREADS=blas)
    out = subprocess.run([sys.executable, "-c", WORKER, side, spec, str(batch), str(steps)], env=env, cwd=ROOT,
                         capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", default="2,1")
    args = parser.parse_args()
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    peak = float(subprocess.run([sys.executable, "-c", PEAK], capture_output=True, text=True).stdout)
    print(f"machine: {os.cpu_count()} cores; float32 matmul peak {peak:.0f} GFLOP/s (2048², numpy/OpenBLAS, all threads)")
    print(f"{'spec':<24}{'thr':>4}{'batch':>6}{'cnncalc img/s':>15}{'torch img/s':>13}{'ratio':>7}{'GFLOP/s':>9}{'% peak':>8}")
    for threads in [int(t) for t in args.threads.split(",")]:
        for spec in SPECS:
            for batch in (64, 256):
                ours = [run("cnncalc", spec, batch, args.steps, threads) for _ in range(args.repeats)]
                ips = statistics.median(r["images_per_s"] for r in ours)
                gflops = ips * ours[0]["flops"] / 1e9
                ref = (statistics.median(run("torch", spec, batch, args.steps, threads)["images_per_s"]
                                         for _ in range(args.repeats)) if have_torch else None)
                ratio = f"{ips / ref:.2f}" if ref else "—"
                print(f"{os.path.basename(spec):<24}{threads:>4}{batch:>6}{ips:>15,.0f}"
                      f"{(f'{ref:,.0f}' if ref else 'absent'):>13}{ratio:>7}{gflops:>9.1f}{100 * gflops / peak:>7.1f}%")


if __name__ == "__main__":
    main()
