"""MNIST LeNet on the real MNIST files: test accuracy after 3 epochs, Adam 1e-3, batch 64.

    python benchmarks/mnist_accuracy.py [--data ../shared/data/mnist] [--epochs 3] [--seeds 0]
                                        [--val-fraction 0] [--threads N] [--init torch]

Runs `cnncalc train specs/mnist_lenet.yaml` exactly as a user would (a subprocess, the CLI's own
output shown), by default on all 60,000 training images (--val-fraction 0, as the usual PyTorch
MNIST examples train), and prints the per-epoch figures and the final test accuracy from the
run's metrics.json (the test set is measured once, after the last epoch). --seeds 0,1,2 repeats
the run per seed and gives the spread. --init passes the CLI's --init: "torch" (PyTorch's
defaults, the default), "he-glorot" or "glorot" (Keras' default), for comparison.
Target: ≥ 98.5% test accuracy within 3 epochs.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = 0.985


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.path.join(os.path.dirname(ROOT), "shared", "data", "mnist"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--val-fraction", default="0")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--init", default="torch", choices=("torch", "he-glorot", "glorot"))
    args = parser.parse_args()
    finals = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            run = os.path.join(tmp, "run")
            start = time.perf_counter()
            command = [sys.executable, "-m", "cnncalc", "train", "specs/mnist_lenet.yaml", "--data", args.data,
                       "--epochs", str(args.epochs), "--batch-size", "64", "--optimizer", "adam", "--lr", "1e-3",
                       "--seed", str(seed), "--val-fraction", args.val_fraction, "--init", args.init, "--out", run]
            if args.threads:
                command += ["--threads", str(args.threads)]
            subprocess.run(command, cwd=ROOT, check=True)
            seconds = time.perf_counter() - start
            with open(os.path.join(run, "metrics.json")) as fh:
                metrics = json.load(fh)
        print()
        for m in metrics:
            held_out = "".join(f"  {k} {m[k]:.4f}" for k in ("val_acc", "test_acc") if m.get(k) is not None)
            print(f"seed {seed} epoch {m['epoch']}: train_acc {m['train_acc']:.4f}{held_out}  "
                  f"{m['images_per_s']:,.0f} img/s, {m['seconds']:.1f} s")
        final = metrics[-1]["test_acc"]
        finals.append(final)
        verdict = "met" if final >= TARGET else "NOT met"
        print(f"seed {seed}: final test accuracy {final:.2%} (target ≥ {TARGET:.1%}: {verdict}); "
              f"init {args.init}; whole run {seconds:.0f} s")
    if len(finals) > 1:
        print(f"over seeds {args.seeds}: min {min(finals):.2%}, median {sorted(finals)[len(finals) // 2]:.2%}, "
              f"max {max(finals):.2%}")


if __name__ == "__main__":
    main()
