"""How fast is `cnncalc summary`, as a whole process, beside torchinfo's summary of the same network?

    python benchmarks/analyze_speed.py [--runs 7]

Measures, each as a fresh process (start-up included, output discarded), the median of
several runs of:
  - cnncalc summary specs/resnet50.yaml
  - cnncalc summary on generated chain specs of 1,000, 10,000 and 100,000 layers (the cost
    per layer shows whether the cost is linear; 100,000 layers is half the parser's limit)
  - torchinfo.summary of the same ResNet-50 built in PyTorch (tests/torch_models.py),
    skipped where torch or torchinfo is absent.
Targets (issue 2): ResNet-50 < 0.3 s and ≥ 10× faster than torchinfo; 10,000 layers < 3 s.
Issue 6: 100,000 layers load, analyse and print in linear time (ratio 100k/10k near 10).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def generated_spec(n_layers: int) -> str:
    """A chain of n_layers layers written out one by one (no repeat), so parsing is measured too."""
    lines = [f"name: chain{n_layers}", "input: [32, 32, 16]", "layers:"]
    pattern = ["  - conv: {filters: 16, kernel: 3, padding: same}", "  - batchnorm", "  - relu"]
    for i in range(n_layers - 3):
        lines.append(pattern[i % 3])
    lines += ["  - global_avgpool", "  - dense: 10", "  - softmax"]
    return "\n".join(lines) + "\n"


def median_seconds(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


TORCHINFO_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import torch, torchinfo
from torch_models import resnet50
torchinfo.summary(resnet50(), input_size=(1, 3, 224, 224), depth=3, verbose=1)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    cnncalc = shutil.which("cnncalc")
    base = [cnncalc] if cnncalc else [sys.executable, "-m", "cnncalc"]
    rows = []
    resnet = median_seconds(base + ["summary", "specs/resnet50.yaml"], args.runs)
    rows.append(("cnncalc summary resnet50.yaml", resnet))
    with tempfile.TemporaryDirectory() as tmp:
        per_layer = {}
        for n in (1_000, 10_000, 100_000):
            path = os.path.join(tmp, f"chain{n}.yaml")
            with open(path, "w") as fh:
                fh.write(generated_spec(n))
            runs = max(3, args.runs // 2) if n < 100_000 else 1
            t = median_seconds(base + ["summary", path], runs)
            rows.append((f"cnncalc summary, {n:,}-layer chain", t))
            per_layer[n] = t
    torchinfo_time = None
    try:
        import torch  # noqa: F401
        import torchinfo  # noqa: F401

        script = TORCHINFO_SCRIPT.format(tests=os.path.join(ROOT, "tests"))
        torchinfo_time = median_seconds([sys.executable, "-c", script], args.runs)
        rows.append(("torchinfo.summary resnet50 (torch)", torchinfo_time))
    except ImportError:
        rows.append(("torchinfo.summary resnet50 (torch)", None))

    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}; median of {args.runs} whole-process runs")
    print(f"{'what':<42}{'median s':>10}")
    for what, t in rows:
        print(f"{what:<42}{('%.3f' % t) if t is not None else 'skipped (torch/torchinfo absent)':>10}")
    if torchinfo_time:
        print(f"ResNet-50: cnncalc is {torchinfo_time / resnet:.1f}× faster than torchinfo (target ≥ 10×)")
    print(f"ResNet-50 whole process {resnet:.3f} s (target < 0.3 s)")
    marginal = (per_layer[10_000] - per_layer[1_000]) / 9_000
    print(f"10,000 layers {per_layer[10_000]:.3f} s (target < 3 s); marginal cost {marginal * 1e6:.0f} µs/layer; "
          f"ratio 10k/1k = {per_layer[10_000] / per_layer[1_000]:.1f}")
    print(f"100,000 layers {per_layer[100_000]:.3f} s; ratio 100k/10k = {per_layer[100_000] / per_layer[10_000]:.1f} "
          "(10 is linear)")


if __name__ == "__main__":
    main()
