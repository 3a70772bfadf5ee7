"""cnncalc beside onnx-tool on the same ONNX files: params, MACs and the time each takes.

    python benchmarks/onnx_import.py [--size 224] [--models resnet18,resnet50,...]

Each torchvision model (constructor only, no weights downloaded) is exported in eval mode with
torch.onnx.export (legacy exporter, opset 17, batchnorms folded into the convs) to a temporary
folder; then, on that one file,
    cnncalc      api.report(path): onnx.load, import, analysis (conv + dense MACs, bias excluded;
                 params per layer)
    onnx-tool    Model(path), shape_infer, profile (its MACs count every op it knows: biases,
                 activations, adds, pooling; params: the numbers the file stores, a shared
                 initializer once)
and torchvision's own conv + linear MACs (forward hooks, tests/torchvision_import.counts_of).
Times are the best of --repeat runs of each whole step, in this process (imports warmed first).
onnx-tool is optional (pip install onnx-tool); without it its columns say so.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, ROOT)

MODELS = ["resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0",
          "shufflenet_v2_x1_0", "googlenet", "densenet121", "squeezenet1_1"]
KWARGS = {"googlenet": {"aux_logits": False, "init_weights": False}}  # eval mode runs no aux head


def _best(fn, repeat):
    best, result = None, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        took = time.perf_counter() - start
        best = took if best is None else min(best, took)
    return result, best


def _onnx_tool(path, size, repeat):
    try:
        import numpy as np
        from onnx_tool import Model
    except ImportError:
        return None

    def run():
        with open(os.devnull, "w") as quiet:
            saved, sys.stdout = sys.stdout, quiet
            try:
                graph = Model(path).graph
                graph.graph_reorder_nodes()
                name = graph.input[0] if isinstance(graph.input[0], str) else graph.input[0].name
                graph.shape_infer({name: np.zeros((1, 3, size, size), np.float32)})
                graph.profile()
            finally:
                sys.stdout = saved
        macs = graph.macs[0] if isinstance(graph.macs, (list, tuple)) else graph.macs
        return int(graph.params), int(macs)
    return _best(run, repeat)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224, help="the exported input's n_H = n_W")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from torchvision_import import counts_of, import_torchvision

    import torch

    from cnncalc import api

    tv = import_torchvision()
    if tv is None:
        print("torchvision (0.28.0 with torch 2.13.0) does not import here", file=sys.stderr)
        return 1
    header = ("model", "params cnncalc", "params onnx-tool", "MACs cnncalc", "MACs torchvision",
              "MACs onnx-tool", "cnncalc s", "onnx-tool s")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models.split(","):
            model = getattr(tv.models, name)(**KWARGS.get(name, {})).eval()
            path = os.path.join(folder, f"{name}.onnx")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(model, torch.zeros(1, 3, args.size, args.size), path, dynamo=False, opset_version=17)
            theirs = counts_of(model, (args.size, args.size, 3))
            api.report(path)  # warm the imports
            report, took = _best(lambda p=path: api.report(p), args.repeat)
            t = report.totals
            tool = _onnx_tool(path, args.size, args.repeat)
            rows.append((name, f"{t.trainable + t.non_trainable:,}", f"{tool[0][0]:,}" if tool else "not installed",
                         f"{t.macs:,}", f"{theirs['macs']:,}", f"{tool[0][1]:,}" if tool else "—",
                         f"{took:.3f}", f"{tool[1]:.3f}" if tool else "—"))
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for r in [header] + rows:
        print("  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
