"""How fast is `cnncalc draw`, as a whole process, and does its layout grow linearly?

    python benchmarks/draw_speed.py [--runs 5]

Measures:
  - `cnncalc draw specs/resnet50.yaml -o FILE.svg` as a fresh process (start-up included), the median
    of several runs, beside `cnncalc --version` (the start-up alone);
  - in this process, the layout (analysis.drawing.drawing) and the SVG text (render.svg.svg) of generated
    specs of 250, 500, 1,000 and 2,000 layers: two-branch stages that add (a residual stage without
    the batchnorm), so the lanes are exercised; µs per layer stays flat when the layout is linear.
Target (issue 10): ResNet-50 under 0.5 s as a whole process; 1,000-layer specs without a quadratic layout.
A benchmark, not a test: the numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def generated_spec(n_layers: int) -> str:
    """A stem, then stages of four layers (conv 3×3 and relu on one branch, conv 1×1 on the other, add)."""
    lines = [f"name: lanes{n_layers}", "input: [32, 32, 16]", "layers:",
             "  - conv: {filters: 16, kernel: 3, padding: 1, name: s0}"]
    for i in range(1, (n_layers - 2) // 4 + 1):
        lines += [f"  - conv: {{filters: 16, kernel: 3, padding: 1, from: s{i - 1}, name: a{i}}}",
                  f"  - relu: {{name: r{i}}}",
                  f"  - conv: {{filters: 16, kernel: 1, from: s{i - 1}, name: b{i}}}",
                  f"  - add: {{from: [r{i}, b{i}], name: s{i}}}"]
    return "\n".join(lines) + "\n"


def median_seconds(cmd: list[str], runs: int) -> float:
    times = []
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, cwd=ROOT, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def layout_seconds(path: str, runs: int) -> tuple[int, float, float]:
    from cnncalc import api
    from cnncalc.analysis.drawing import drawing
    from cnncalc.render.svg import svg

    report = api.report(path)
    lay, text = [], []
    for _ in range(runs):
        start = time.perf_counter()
        picture = drawing(report)
        middle = time.perf_counter()
        svg(picture)
        lay.append(middle - start)
        text.append(time.perf_counter() - middle)
    return len(report.rows), statistics.median(lay), statistics.median(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    cli = [sys.executable, "-m", "cnncalc"]
    with tempfile.TemporaryDirectory() as tmp:
        start_up = median_seconds(cli + ["--version"], args.runs)
        resnet = median_seconds(cli + ["draw", "specs/resnet50.yaml", "-o", os.path.join(tmp, "r.svg")], args.runs)
        print(f"cnncalc --version                          {start_up:6.3f} s  (start-up alone)")
        print(f"cnncalc draw specs/resnet50.yaml -o r.svg  {resnet:6.3f} s  (target < 0.5 s)")
        print(f"{'layers':>7} {'layout ms':>10} {'µs/layer':>9} {'svg ms':>8} {'µs/layer':>9}")
        for n in (250, 500, 1000, 2000):
            path = os.path.join(tmp, f"lanes{n}.yaml")
            with open(path, "w") as fh:
                fh.write(generated_spec(n))
            rows, lay, text = layout_seconds(path, args.runs)
            print(f"{rows:>7} {lay * 1e3:>10.1f} {lay / rows * 1e6:>9.1f} {text * 1e3:>8.1f} {text / rows * 1e6:>9.1f}")


if __name__ == "__main__":
    main()
