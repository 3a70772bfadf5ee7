"""Training throughput (forward + backward + SGD update) of cnncalc's engine beside PyTorch CPU.

    python benchmarks/train_speed.py [--threads 2,1] [--batches 64,256] [--repeats 3] [--seconds 1]
                                     [--specs specs/lenet5.yaml,specs/mobilenet_v2.yaml@32x32x3,...]
                                     [--isa native,avx2] [--breakdown kinds|groups|off] [--wait 90]
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

The header: the processor (model, vector extensions, cores, cache sizes from /sys or lscpu), and for
each --isa what both sides compiled for (Numba's processor and features, with the widest vector
register found in a small compiled loop; PyTorch's ATen capability and oneDNN's cap). `--isa avx2`
holds both to AVX2: Numba compiles for haswell with haswell's own features (NUMBA_CPU_FEATURES="",
without which Numba keeps the host's AVX-512) into a cache of its own, PyTorch runs with
ATEN_CPU_CAPABILITY=avx2 and ONEDNN_MAX_CPU_ISA=AVX2, and OpenBLAS (numpy's peak, the dense layers)
with its Haswell kernel.

Each worker also reports its peak resident memory (ru_maxrss: the whole process, interpreter,
libraries and data included). With --breakdown (kinds by default), the first cnncalc process of each
row also runs a few steps under engine.profile after its timing, and the time by layer kind and pass
(forward, input gradient, weight gradient, backward) and by group (conv & dense, batchnorm, pooling,
element-wise, loss, optimiser) is printed under the row.

The rows: the course LeNet-5, the MNIST LeNet and a small VGG at their own inputs, ResNet-18 in its
CIFAR form (specs/resnet18_cifar.yaml, 32×32×3), and MobileNetV2 and MobileNetV3-Small at CIFAR size. A spec written `path@HxWxC` runs at that input (the `--input`
of `cnncalc train`); the MobileNets are the shipped specs unchanged otherwise, so they keep their
1000-class classifier: the same network a user gets from `cnncalc train specs/mobilenet_v2.yaml
--input 32,32,3`, and on both sides the same arithmetic (the dense head, 1280·1000 MACs of
MobileNetV2's ≈ 6.5 M per image at 32×32, is a BLAS product in both engines, so it neither favours
nor hides the depthwise and 1×1 convolutions the rows are for).

The start-up section times, in fresh processes: the cold compile of every kernel of the engine
(an empty NUMBA_CACHE_DIR, process start to the end of the first training batch of a spec that
uses every layer kind, after the warm-up pass `cnncalc train` runs first, which hands a cold cache's
compile helper its walk) and the cached start (the same with the cache filled).

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
SPECS = ["specs/lenet5.yaml", "specs/mnist_lenet.yaml", "specs/small_vgg.yaml", "specs/resnet18_cifar.yaml",
         "specs/mobilenet_v2.yaml@32x32x3", "specs/mobilenet_v3_small.yaml@32x32x3"]

# the instruction sets --isa can hold both sides to: {name: (cnncalc's environment, PyTorch's environment)}.
# Numba compiles for NUMBA_CPU_NAME with the *host's* features unless NUMBA_CPU_FEATURES is set: an empty
# value makes LLVM take the named processor's own features (haswell: AVX2 and FMA, no AVX-512).
ISAS = {
    "native": ({}, {}),
    "avx2": ({"NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": "", "OPENBLAS_CORETYPE": "Haswell"},
             {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "OPENBLAS_CORETYPE": "Haswell"}),
}

WORKER = r"""
import json, os, resource, sys, time
import numpy as np
side, spec, batch, threads, repeats, seconds, breakdown = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
    int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), sys.argv[7] == "1"
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
# the process's peak resident set, everything included (interpreter, libraries, weights, batch, buffers);
# Linux reports kilobytes
out = {"rates": rates, "flops": 3 * report.totals.flops,
       "maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
if side == "cnncalc" and breakdown:
    from cnncalc.engine.profile import Profile
    profile = Profile(split=True).attach(loop)
    step()  # the weight-only calls of the split compile their own paths
    profile.reset()
    t, n = time.perf_counter(), 0
    while n < 2 or time.perf_counter() - t < seconds:
        step()
        n += 1
    wall = time.perf_counter() - t  # less the split's extra calls below: the profiled steps' own time
    profile.detach()
    out["profile"] = {"steps": n, "wall_s": wall - profile.extra, "total_s": profile.total(), "groups": profile.groups(),
                      "kinds": [{"kind": r.kind, "forward": r.forward, "backward": r.backward,
                                 "weight_gradient": r.weight_gradient, "input_gradient": r.input_gradient}
                                for r in profile.rows()]}
print(json.dumps(out))
"""

# what each side compiles for: Numba's processor and features (and the widest vector register in a small
# compiled loop's machine code), PyTorch's ATen kernels and oneDNN's cap
TARGET = r"""
import json, os, sys
out = {}
if sys.argv[1] == "cnncalc":
    import numba, numpy as np
    import llvmlite.binding as ll
    name = numba.config.CPU_NAME or ll.get_host_cpu_name()
    features = numba.config.CPU_FEATURES
    if features is None:
        host = ll.get_host_cpu_features()
        features = "host: " + " ".join(f for f in VECTOR if host.get(f))
    else:
        features = features or f"{name}'s own"
    @numba.njit(fastmath=True)
    def axpy(a, b, c):
        for i in range(a.shape[0]):
            c[i] += a[i] * b[i]
    v = np.ones(256, np.float32)
    axpy(v, v, v.copy())
    asm = "".join(axpy.inspect_asm().values())
    widest = next((r for r in ("zmm", "ymm", "xmm", "v0.4s", "z0") if r in asm), "scalar")
    out = {"numba": f"{name}, features {features}; widest register in a compiled loop: {widest}"}
else:
    import torch
    out = {"torch": f"ATen {torch.backends.cpu.get_cpu_capability()}, oneDNN max ISA "
                    f"{os.environ.get('ONEDNN_MAX_CPU_ISA', 'ALL (default)')}"}
print(json.dumps(out))
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
    loop.warm_up()  # as `cnncalc train` does (engine/run.py) before its first batch
    x = np.zeros((64,) + net.input_shape, np.float32); y = np.arange(64) % net.n_classes
    loop.step(x, y, np.random.default_rng(0))
    loop.evaluate(x, y)
print(time.perf_counter() - t0)
"""


# the vector extensions worth naming, as /proc/cpuinfo and LLVM spell them (x86 and ARM)
VECTOR = ("sse4_2", "sse4.2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512vnni",
          "avx512_bf16", "avx512bf16", "amx_tile", "amx-tile", "neon", "asimd", "asimdhp", "sve", "sve2", "sme")


def environment(threads: int | None = None, side: str = "cnncalc", isa: str = "native") -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env.setdefault("NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), "cnncalc-bench-numba-cache"))
    if threads is not None:
        blas = "1" if side == "cnncalc" else str(threads)
        env.update(NUMBA_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=blas,
                   MKL_NUM_THREADS=blas)
    ours, theirs = ISAS[isa]
    env.update(ours if side == "cnncalc" else theirs)
    if isa != "native":  # a cache of its own: Numba's index is keyed by the processor, not by the features
        env["NUMBA_CACHE_DIR"] = env["NUMBA_CACHE_DIR"] + "-" + isa
    return env


def measure(side, spec, batch, threads, repeats, seconds, isa="native", breakdown=False):
    wait_until_quiet()
    out = subprocess.run([sys.executable, "-c", WORKER, side, spec, str(batch), str(threads), str(repeats),
                          str(seconds), "1" if breakdown else "0"], env=environment(threads, side, isa), cwd=ROOT,
                         capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{side} {spec} batch {batch}: {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def target(side, isa):
    """What `side` compiles for under `isa`, as one line (see TARGET)."""
    code = f"VECTOR = {VECTOR!r}\n" + TARGET
    out = subprocess.run([sys.executable, "-c", code, side], env=environment(1, side, isa), cwd=ROOT,
                         capture_output=True, text=True)
    if out.returncode:
        return f"unknown ({out.stderr.strip().splitlines()[-1] if out.stderr.strip() else 'no output'})"
    return next(iter(json.loads(out.stdout.strip().splitlines()[-1]).values()))


def peak(threads, isa="native"):
    wait_until_quiet()
    env = environment(threads, "torch", isa)  # BLAS with `threads` threads (OpenBLAS's Haswell kernel for avx2)
    out = subprocess.run([sys.executable, "-c", PEAK], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout)


def _read(path):
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return None


def processor() -> dict:
    """The processor as Linux describes it: model, vector extensions, cores, caches; what cannot be read
    is None (another OS, a container hiding /sys), never an error."""
    model, flags = None, set()
    info = _read("/proc/cpuinfo") or ""
    for line in info.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and model is None:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    if model is None:
        import platform

        model = platform.processor() or platform.machine() or None
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    caches = {}
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        indexes = sorted(i for i in os.listdir(base) if i.startswith("index"))
    except OSError:
        indexes = []
    for index in indexes:
        level, kind, size = (_read(os.path.join(base, index, f)) for f in ("level", "type", "size"))
        shared = _read(os.path.join(base, index, "shared_cpu_list"))
        if level and size and kind != "Instruction":
            name = f"L{level}" + ("d" if kind == "Data" else "")
            caches[name] = size + (f" (shared by cpus {shared})" if shared and level == "3" else "")
    if not caches and shutil.which("lscpu"):
        out = subprocess.run(["lscpu"], capture_output=True, text=True)
        for line in out.stdout.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("L1d cache", "L2 cache", "L3 cache"):
                caches[key.split()[0]] = value.strip()
    return {"model": model, "vector": [f for f in VECTOR if f in flags], "cores": os.cpu_count(),
            "usable_cores": usable, "caches": caches}


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


WAIT = 90.0  # --wait


def wait_until_quiet(limit=None, threshold=0.1):
    """Wait (up to limit seconds, --wait) until the machine is idle: other engineers' jobs share the cores."""
    limit = WAIT if limit is None else limit
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


def mb(n):
    return f"{n / 2**20:,.0f}"


def print_breakdown(profile, indent="    "):
    """The cnncalc step's time by kind and pass, then by group, from one profiled process."""
    step = profile["wall_s"] / profile["steps"]
    total = profile["total_s"]

    def ms(v):
        return "—" if v is None else f"{1e3 * v / profile['steps']:.2f}"

    print(f"{indent}where the time goes (cnncalc, ms per step; profiled step {1e3 * step:.1f} ms, of which "
          f"{100 * total / profile['wall_s']:.0f}% in the timed calls below):")
    print(f"{indent}{'kind':<18}{'forward':>9}{'input grad':>12}{'weight grad':>13}{'backward':>10}{'% step':>8}")
    for k in profile["kinds"]:
        print(f"{indent}{k['kind']:<18}{ms(k['forward']):>9}{ms(k['input_gradient']):>12}"
              f"{ms(k['weight_gradient']):>13}{ms(k['backward']):>10}"
              f"{100 * (k['forward'] + k['backward']) / total:>7.1f}%")
    print(f"{indent}by group: " + ", ".join(f"{name} {100 * v / total:.0f}%" for name, v in profile["groups"].items()))
    print(f"{indent}(conv and dense compute both gradients in one call: the weight gradient is timed in an extra "
          f"call without the input gradient, and input grad = backward − that; an estimate)")


def main():
    global WAIT
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", default="2,1")
    parser.add_argument("--batches", default="64,256")
    parser.add_argument("--repeats", type=int, default=3, help="processes per side and configuration")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one timed window")
    parser.add_argument("--specs", default=",".join(SPECS))
    parser.add_argument("--isa", default="native",
                        help=f"instruction sets to hold both sides to, comma-separated: {', '.join(ISAS)}")
    parser.add_argument("--breakdown", choices=("off", "groups", "kinds"), default="kinds",
                        help="cnncalc's time by pass and group under every row; kinds: also by layer kind, "
                             "under each network's first row")
    parser.add_argument("--wait", type=float, default=90.0, help="most seconds to wait for an idle machine "
                                                                  "before each process")
    parser.add_argument("--no-startup", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    WAIT = args.wait
    isas = args.isa.split(",")
    for isa in isas:
        if isa not in ISAS:
            parser.error(f"--isa: received {isa!r}; allowed: {', '.join(ISAS)}")
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    threads_list = [int(t) for t in args.threads.split(",")]
    cpu = processor()
    print(f"processor: {cpu['model'] or 'unknown'}; vector extensions: {' '.join(cpu['vector']) or 'unknown'}")
    print(f"cores: {cpu['cores']} ({cpu['usable_cores']} usable by this process); caches seen by cpu0: "
          + (", ".join(f"{k} {v}" for k, v in cpu["caches"].items()) or "unknown"))
    print(f"load average {load():.2f} at the start")
    figures = {"processor": cpu, "isas": {}}
    for isa in isas:
        targets = {"cnncalc": target("cnncalc", isa), "torch": target("torch", isa) if have_torch else "absent"}
        print(f"\n== {isa}: cnncalc's Numba target {targets['cnncalc']}; PyTorch {targets['torch']}")
        peaks = {t: peak(t, isa) for t in threads_list}
        print("float32 peak (2048² numpy matmul): " + ", ".join(f"{peaks[t]:.0f} GFLOP/s on {t} thread(s)"
                                                               for t in threads_list))
        results = []
        print(f"{'spec':<32}{'thr':>4}{'batch':>6}{'cnncalc img/s':>15}{'torch img/s':>13}{'ratio':>7}"
              f"{'GFLOP/s':>9}{'% peak':>8}{'cnncalc MB':>12}{'torch MB':>10}")
        for threads in threads_list:
            for spec in args.specs.split(","):
                for b_index, batch in enumerate(int(b) for b in args.batches.split(",")):
                    # cnncalc and PyTorch alternate, one process each per repeat, so that a burst of
                    # other work on the machine hits both sides alike; each process times 3 windows
                    ours_runs, ref_runs, flops, rss, ref_rss, profile = [], [], 0, [], [], None
                    for repeat in range(args.repeats):
                        ours = measure("cnncalc", spec, batch, threads, 3, args.seconds, isa,
                                       breakdown=args.breakdown != "off" and repeat == 0)
                        ours_runs.append(statistics.median(ours["rates"]))
                        rss.append(ours["maxrss_bytes"])
                        profile = ours.get("profile", profile)
                        flops = ours["flops"]
                        if have_torch:
                            theirs = measure("torch", spec, batch, threads, 3, args.seconds, isa)
                            ref_runs.append(statistics.median(theirs["rates"]))
                            ref_rss.append(theirs["maxrss_bytes"])
                    ips = statistics.median(ours_runs)
                    ref = statistics.median(ref_runs) if have_torch else None
                    gflops = ips * flops / 1e9
                    results.append({"spec": spec, "threads": threads, "batch": batch, "cnncalc": ips, "torch": ref,
                                    "ratio": ips / ref if ref else None, "gflops": gflops,
                                    "peak_fraction": gflops / peaks[threads], "cnncalc_runs": ours_runs,
                                    "torch_runs": ref_runs, "cnncalc_maxrss_bytes": max(rss),
                                    "torch_maxrss_bytes": max(ref_rss) if ref_rss else None, "profile": profile})
                    print(f"{os.path.basename(spec):<32}{threads:>4}{batch:>6}{ips:>15,.0f}"
                          f"{(f'{ref:,.0f}' if ref else 'absent'):>13}{(f'{ips / ref:.2f}' if ref else '—'):>7}"
                          f"{gflops:>9.1f}{100 * gflops / peaks[threads]:>7.1f}%{mb(max(rss)):>12}"
                          f"{(mb(max(ref_rss)) if ref_rss else '—'):>10}", flush=True)
                    if profile is not None:
                        if args.breakdown == "kinds" and b_index == 0:
                            print_breakdown(profile)
                        else:
                            total = profile["total_s"]
                            print("    by group: " + ", ".join(f"{name} {100 * v / total:.0f}%"
                                                           for name, v in profile["groups"].items()))
        # the peak again at the end, the better of the two: a burst of other work lowers it, never raises it
        peaks = {t: max(peaks[t], peak(t, isa)) for t in threads_list}
        for r in results:
            r["peak_fraction"] = r["gflops"] / peaks[r["threads"]]
        print("float32 peak, the better of start and end: " + ", ".join(f"{peaks[t]:.0f} GFLOP/s on {t} thread(s)"
                                                                         for t in threads_list)
              + "; % of it: " + ", ".join(f"{os.path.basename(r['spec'])} {r['threads']}×{r['batch']} "
                                          f"{100 * r['peak_fraction']:.0f}%" for r in results))
        print("GFLOP/s: the spec's FLOPs (a direct convolution's 2 per multiply-add, ×3 for the training step) per "
              "second; a 3×3 stride-1 layer on the Winograd path multiplies 2.25× less, so a network made of them can "
              "pass 100% of the matmul peak")
        print("MB: each process's peak resident memory (ru_maxrss), interpreter, libraries, weights, batch and "
              "buffers included; the largest over the repeats")
        figures["isas"][isa] = {"targets": targets, "peaks": peaks, "results": results}
    if not args.no_startup:
        cold, cached = startup()
        figures.update(cold_start_s=cold, cached_start_s=cached)
        print(f"\ncold compile of the whole engine, process start to first batch: {cold:.1f} s (target < 20 s)")
        print(f"cached start, process start to first batch (median of 3): {cached:.2f} s (target < 1 s)")
    print(f"load average {load():.2f} at the end")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=2)


if __name__ == "__main__":
    main()
