"""Training throughput (forward + backward + SGD update) of cnncalc's engine beside PyTorch CPU.

    python benchmarks/train_speed.py [--threads 2,1] [--batches 64,256] [--repeats 3] [--seconds 1]
                                     [--specs specs/lenet5.yaml,specs/mobilenet_v2.yaml@32x32x3,...]
                                     [--no-startup] [--json out.json]

Every measurement runs in a fresh subprocess with the thread count pinned for both sides: Numba's
threads (NUMBA_NUM_THREADS; BLAS single-threaded, as `cnncalc train` runs it) for cnncalc,
torch.set_num_threads for PyTorch. Both train the same network from the same initial weights
(tests/torch_builder.py builds the PyTorch module from the spec and loads the engine's weights by
name) on the same random batch. The two sides alternate, one process per side and repeat, each
waiting for an idle machine (other jobs share the cores) and timing 3 windows of at least
`seconds` after a warm-up. The table shows the median over the repeats of each process's median
images/s, the ratio cnncalc/PyTorch, and the achieved GFLOP/s, counting 3 × the analyzer's
forward FLOPs per image (backward ≈ 2 × forward), against the float32 peak of a 2048² numpy
matmul measured here with the same thread count.

The rows: the course LeNet-5, the MNIST LeNet and a small VGG at their own inputs, and MobileNetV2
and MobileNetV3-Small at CIFAR size. A spec written `path@HxWxC` runs at that input (the `--input`
of `cnncalc train`); the MobileNets are the shipped specs unchanged otherwise, so they keep their
1000-class classifier: the same network a user gets from `cnncalc train specs/mobilenet_v2.yaml
--input 32,32,3`, and on both sides the same arithmetic (the dense head, 1280·1000 MACs of
MobileNetV2's ≈ 6.5 M per image at 32×32, is a BLAS product in both engines, so it neither favours
nor hides the depthwise and 1×1 convolutions the rows are for).

The start-up section times, in fresh processes: the cold compile of every kernel of the engine
(an empty NUMBA_CACHE_DIR, process start to the end of the first training batch of a spec that
uses every layer kind) and the cached start (the same with the cache filled).

The environment pins OpenBLAS to an older kernel (OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE); this
script removes both for its own subprocesses only, so that numpy's matmul peak and PyTorch are
measured at their best. Other processes on the machine still skew what a wait cannot avoid: the
load average is printed before and after, and --json keeps every process's figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = ["specs/lenet5.yaml", "specs/mnist_lenet.yaml", "specs/small_vgg.yaml", "specs/mobilenet_v2.yaml@32x32x3",
         "specs/mobilenet_v3_small.yaml@32x32x3"]

WORKER = r"""
import json, os, sys, time
import numpy as np
side, spec, batch, threads, repeats, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), \
    int(sys.argv[5]), float(sys.argv[6])
spec, _, size = spec.partition("@")
input_override = tuple(int(v) for v in size.split("x")) if size else None
sys.path.insert(0, os.path.join(os.getcwd(), "tests"))
from cnncalc.engine import train as tr
from cnncalc.engine.init import initialise
report, net = tr.build(open(spec).read(), spec, batch, input_override)
initialise(net, 0)
rng = np.random.default_rng(0)
x = rng.standard_normal((batch,) + net.input_shape).astype(np.float32)
y = rng.integers(0, net.n_classes, batch)
if side == "cnncalc":
    from cnncalc.engine.api import Threads
    Threads(threads).__enter__()
    loop = tr.Loop(net, tr.make_optimizer(net, "sgd", 0.01, 0.9, 0.0), batch)
    step = lambda: loop.step(x, y, rng)
else:
    import torch
    from torch_builder import from_engine
    torch.set_num_threads(threads)
    model = from_engine(report, net.state())
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    xt, yt = torch.tensor(x), torch.tensor(y)
    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
warm, n = time.perf_counter(), 0
while n < 3 or time.perf_counter() - warm < 0.5:  # compiled, caches and allocator warm
    step()
    n += 1
rates = []
for _ in range(repeats):
    t, n = time.perf_counter(), 0
    while True:
        step()
        n += 1
        dt = time.perf_counter() - t
        if dt >= seconds and n >= 3:
            break
    rates.append(batch * n / dt)
print(json.dumps({"rates": rates, "flops": 3 * report.totals.flops}))
"""

PEAK = r"""
import sys, time, numpy as np
a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32); b = a.copy(); c = np.empty_like(a)
np.matmul(a, b, out=c)
best = 0.0
for _ in range(5):
    t = time.perf_counter()
    for _ in range(4):
        np.matmul(a, b, out=c)
    best = max(best, 2 * 2048**3 * 4 / (time.perf_counter() - t) / 1e9)
print(best)
"""

# every layer kind the engine runs, so that the cold start compiles the whole engine (conv: the general,
# depthwise (both layouts) and 1×1 kernels)
ALL_KINDS = """name: all-kinds
input: [20, 20, 3]
layers:
  - conv: {filters: 8, kernel: 3, padding: 1}
  - batchnorm
  - relu
  - conv: {filters: 8, kernel: 3, padding: 1, groups: depthwise}   # 20 columns: along the rows
  - parallel:
      - [conv: {filters: 8, kernel: 3, padding: same}, leaky_relu: 0.1]
      - []
    merge: add
  - maxpool: 2
  - conv: {filters: 8, kernel: 3, padding: 1, groups: depthwise}   # 10 columns: the images as vector
  - parallel:
      - [conv: {filters: 4, kernel: 1}, sigmoid]
      - [avgpool: {kernel: 3, stride: 1, padding: 1}, tanh]
  - conv: {filters: 8, kernel: 3, stride: 2, padding: same, groups: 4}
  - softmax
  - global_avgpool
  - dropout: 0.2
  - dense: 16
  - batchnorm
  - identity
  - dense: 10
  - softmax
"""
FIRST_BATCH = r"""
import time
t0 = time.perf_counter()
import numpy as np
from cnncalc.engine import train as tr
from cnncalc.engine.api import Threads
from cnncalc.engine.init import initialise
spec = open(SPEC).read()
with Threads(None):
    report, net = tr.build(spec, SPEC, 64)
    initialise(net, 0)
    loop = tr.Loop(net, tr.make_optimizer(net, "adam", 1e-3), 64)
    x = np.zeros((64,) + net.input_shape, np.float32); y = np.arange(64) % net.n_classes
    loop.step(x, y, np.random.default_rng(0))
    loop.evaluate(x, y)
print(time.perf_counter() - t0)
"""


def environment(threads: int | None = None, side: str = "cnncalc") -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env.setdefault("NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), "cnncalc-bench-numba-cache"))
    if threads is not None:
        blas = "1" if side == "cnncalc" else str(threads)
        env.update(NUMBA_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=blas,
                   MKL_NUM_THREADS=blas)
    return env


def measure(side, spec, batch, threads, repeats, seconds):
    wait_until_quiet()
    out = subprocess.run([sys.executable, "-c", WORKER, side, spec, str(batch), str(threads), str(repeats),
                          str(seconds)], env=environment(threads, side), cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{side} {spec} batch {batch}: {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def peak(threads):
    wait_until_quiet()
    env = environment(threads, "torch")  # BLAS with `threads` threads
    out = subprocess.run([sys.executable, "-c", PEAK], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout)


def startup():
    """(cold seconds, cached seconds (median of 3)) from process start to the end of the first batch."""
    cache = tempfile.mkdtemp(prefix="cnncalc-cold-cache-")
    spec = os.path.join(cache, "all_kinds.yaml")
    with open(spec, "w") as fh:
        fh.write(ALL_KINDS)
    code = f"SPEC = {spec!r}\n" + FIRST_BATCH

    def run():
        wait_until_quiet()
        env = environment()
        env["NUMBA_CACHE_DIR"] = os.path.join(cache, "numba")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True)
        return time.perf_counter() - start

    try:
        cold = run()
        cached = statistics.median(run() for _ in range(3))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return cold, cached


def busy_fraction(seconds=0.3):
    """The share of CPU time other processes used over a short sample of /proc/stat (0 if unknown)."""
    def sample():
        with open("/proc/stat") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait
    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return 0.0
    return 1.0 - (idle1 - idle0) / max(total1 - total0, 1)


def wait_until_quiet(limit=90.0, threshold=0.1):
    """Wait (up to limit seconds) until the machine is idle: other engineers' jobs share the cores."""
    waited = 0.0
    while waited < limit and busy_fraction() > threshold:
        time.sleep(2.0)
        waited += 2.3
    return waited


def load():
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", default="2,1")
    parser.add_argument("--batches", default="64,256")
    parser.add_argument("--repeats", type=int, default=3, help="processes per side and configuration")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one timed window")
    parser.add_argument("--specs", default=",".join(SPECS))
    parser.add_argument("--no-startup", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    threads_list = [int(t) for t in args.threads.split(",")]
    print(f"machine: {os.cpu_count()} cores; load average {load():.2f} at the start")
    peaks = {t: peak(t) for t in threads_list}
    print("float32 peak (2048² numpy matmul): " + ", ".join(f"{peaks[t]:.0f} GFLOP/s on {t} thread(s)"
                                                           for t in threads_list))
    results = []
    print(f"{'spec':<32}{'thr':>4}{'batch':>6}{'cnncalc img/s':>15}{'torch img/s':>13}{'ratio':>7}"
          f"{'GFLOP/s':>9}{'% peak':>8}")
    for threads in threads_list:
        for spec in args.specs.split(","):
            for batch in [int(b) for b in args.batches.split(",")]:
                # cnncalc and PyTorch alternate, one process each per repeat, so that a burst of
                # other work on the machine hits both sides alike; each process times 3 windows
                ours_runs, ref_runs, flops = [], [], 0
                for _ in range(args.repeats):
                    ours = measure("cnncalc", spec, batch, threads, 3, args.seconds)
                    ours_runs.append(statistics.median(ours["rates"]))
                    flops = ours["flops"]
                    if have_torch:
                        ref_runs.append(statistics.median(
                            measure("torch", spec, batch, threads, 3, args.seconds)["rates"]))
                ips = statistics.median(ours_runs)
                ref = statistics.median(ref_runs) if have_torch else None
                gflops = ips * flops / 1e9
                results.append({"spec": spec, "threads": threads, "batch": batch, "cnncalc": ips, "torch": ref,
                                "ratio": ips / ref if ref else None, "gflops": gflops,
                                "peak_fraction": gflops / peaks[threads], "cnncalc_runs": ours_runs,
                                "torch_runs": ref_runs})
                print(f"{os.path.basename(spec):<32}{threads:>4}{batch:>6}{ips:>15,.0f}"
                      f"{(f'{ref:,.0f}' if ref else 'absent'):>13}{(f'{ips / ref:.2f}' if ref else '—'):>7}"
                      f"{gflops:>9.1f}{100 * gflops / peaks[threads]:>7.1f}%", flush=True)
    # the peak again at the end, the better of the two: a burst of other work lowers it, never raises it
    peaks = {t: max(peaks[t], peak(t)) for t in threads_list}
    for r in results:
        r["peak_fraction"] = r["gflops"] / peaks[r["threads"]]
    print("float32 peak, the better of start and end: " + ", ".join(f"{peaks[t]:.0f} GFLOP/s on {t} thread(s)"
                                                                     for t in threads_list)
          + "; % of it: " + ", ".join(f"{os.path.basename(r['spec'])} {r['threads']}×{r['batch']} "
                                      f"{100 * r['peak_fraction']:.0f}%" for r in results))
    figures = {"peaks": peaks, "results": results}
    if not args.no_startup:
        cold, cached = startup()
        figures.update(cold_start_s=cold, cached_start_s=cached)
        print(f"cold compile of the whole engine, process start to first batch: {cold:.1f} s (target < 30 s)")
        print(f"cached start, process start to first batch (median of 3): {cached:.2f} s (target < 2 s)")
    print(f"load average {load():.2f} at the end")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=2)


if __name__ == "__main__":
    main()
