"""Every shipped torchvision spec beside torchvision's own module: params, buffers, conv + linear MACs.

    python benchmarks/torchvision_table.py [--markdown]

Not a timing: the table the closing notes quote, made by running both sides here. cnncalc's side is
the analysis of `specs/NAME.yaml` at its own input; torchvision's is its constructor (no weights
downloaded) measured as tests/torchvision_import.counts_of measures it: parameters, buffers other
than num_batches_tracked, and per-image conv + linear multiply-accumulates counted by forward hooks
on one zero image in eval mode (so without the aux heads, which torchvision runs in training only:
cnncalc's inference MACs; the aux heads' MACs, training only, are in the last column). The tests assert the same equalities; this script prints them.
"""

from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="a markdown table instead of aligned text")
    args = parser.parse_args()
    from torchvision_import import TORCHVISION_SPECS, counts_of, import_torchvision

    from cnncalc import api

    tv = import_torchvision()
    if tv is None:
        print("torchvision (0.28.0 with torch 2.13.0) does not import here", file=sys.stderr)
        return 1
    header = ("spec", "params (cnncalc)", "params (torchvision)", "buffers", "MACs (cnncalc)", "MACs (torchvision)", "equal", "aux MACs")
    rows = []
    for spec, ctor, kwargs in TORCHVISION_SPECS:
        path = os.path.join(ROOT, "specs", f"{spec}.yaml")
        if not os.path.exists(path):
            continue
        report = api.report(path)
        t = report.totals
        theirs = counts_of(getattr(tv.models, ctor)(**kwargs), report.graph.input_shape)
        ours = {"trainable": t.trainable, "non_trainable": t.non_trainable, "macs": t.macs,
                "output_shape": tuple(t.output_shape)}
        rows.append((spec, f"{t.trainable:,}", f"{theirs['trainable']:,}",
                     f"{t.non_trainable:,} / {theirs['non_trainable']:,}", f"{t.macs:,}", f"{theirs['macs']:,}",
                     "yes" if ours == theirs else "NO", f"{t.aux_macs:,}" if t.aux_macs else ""))
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" for _ in header) + "|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        widths = [max(len(str(x[i])) for x in rows + [header]) for i in range(len(header))]
        for r in [header] + rows:
            print("  ".join(str(v).rjust(w) if i else str(v).ljust(w) for i, (v, w) in enumerate(zip(r, widths))))
    return 0 if all(r[-2] == "yes" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
