"""What `cnncalc train`, `evaluate` and `predict` call: run directories, checkpoints, resume.

A run directory keeps spec.yaml, config.json, metrics.csv and metrics.json, last.npz (after
every epoch, written atomically) and best.npz (best validation accuracy). A finished epoch is
never lost: Ctrl-C and a loss that turns NaN/inf stop the run with the last good checkpoint kept.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time

import numpy as np

from cnncalc.engine import checkpoint
from cnncalc.errors import DataError, EngineError, Mark

METRICS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "lr", "seconds",
           "images_per_s")


def _set_threads(threads):
    if threads is None:
        return
    import numba

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:  # BLAS threads fight Numba's over the same cores; threadpoolctl limits them where it is installed
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    except ImportError:
        pass


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def estimate(report, batch_size: int, n_train: int, optimizer: str) -> dict:
    """Memory (weights, gradients, optimiser state, activations and their gradients, im2col) and time."""
    t = report.totals
    state = 2 if optimizer == "adam" else 1
    weights = 4 * t.params * (2 + state)
    # each activation is held forward and its gradient backward; conv layers add an im2col buffer
    cols = sum(4 * r.macs // max(r.out_shape[-1], 1) for r in report.rows if r.kind == "conv")
    activations = 4 * batch_size * (2 * t.activations) + 2 * batch_size * cols
    flops_per_image = 3 * t.flops  # forward, and about twice that backward
    seconds = n_train * flops_per_image / 20e9  # a conservative 20 GFLOP/s on two cores
    return {"bytes": weights + activations, "seconds_per_epoch": seconds}


def _load_spec(spec: str):
    try:
        with open(spec, encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        raise EngineError(f"cannot read the spec ({exc.strerror})", Mark(spec)) from None


def train_run(spec: str, *, data=None, epochs=None, batch_size=64, lr=None, optimizer="adam", momentum=0.9,
              weight_decay=0.0, schedule="constant", seed=0, threads=None, out=None, resume=None, force=False,
              val_fraction=0.1, input_override=None, console=None, err_console=None) -> dict:
    from cnncalc import data as data_mod
    from cnncalc.engine import train as tr
    from cnncalc.engine.init import initialise
    from cnncalc.engine.optim import lr_at
    from cnncalc.render import training as view

    if resume:
        weights, optim_state, meta = checkpoint.load(resume)
        config = meta["config"]
        config["epochs"] = epochs or config["epochs"]  # --epochs N with --resume extends the run to N
        spec_text, spec_file = meta["spec"], meta["spec_file"]
        run_dir = resume if os.path.isdir(resume) else os.path.dirname(resume)
    else:
        spec_text, spec_file = _load_spec(spec), spec
        config = {"spec": spec, "data": data or "synthetic", "epochs": epochs or 3, "batch_size": batch_size,
                  "lr": lr if lr is not None else (1e-3 if optimizer == "adam" else 0.01), "optimizer": optimizer,
                  "momentum": momentum, "weight_decay": weight_decay, "schedule": schedule, "seed": seed,
                  "threads": threads, "val_fraction": val_fraction,
                  "input": list(input_override) if input_override else None}
        weights = optim_state = None
    _set_threads(config["threads"] if threads is None else threads)
    from cnncalc.analysis import analyze
    from cnncalc.engine.executor import Network
    from cnncalc.spec.parser import parse_text

    report = analyze(parse_text(spec_text, spec_file, tuple(config["input"]) if config["input"] else None))
    # the memory check comes before any buffer is allocated or any data is read
    free = _available_memory()
    est = estimate(report, config["batch_size"], 0, config["optimizer"])
    if free is not None and est["bytes"] > free and not force:
        raise EngineError(f"the run needs about {est['bytes'] / 2**30:.1f} GiB but {free / 2**30:.1f} GiB is free",
                          fix="use a smaller --batch-size, or --force to try anyway")
    network = Network(report, config["batch_size"])
    input_shape = report.graph.input_shape
    n_classes = report.totals.output_shape[0] if len(report.totals.output_shape) == 1 else None
    dataset = data_mod.load(None if config["data"] == "synthetic" else config["data"],
                            input_shape=input_shape if len(input_shape) == 3 else None,
                            n_classes=n_classes, seed=config["seed"], val_fraction=config["val_fraction"])
    if len(input_shape) == 1 and int(np.prod(dataset.input_shape)) != input_shape[0]:
        raise DataError(f"the data has {int(np.prod(dataset.input_shape))} values per image but the spec's input "
                        f"is a vector of {input_shape[0]}", Mark(str(config["data"])))
    est = estimate(report, config["batch_size"], len(dataset.train.y), config["optimizer"])
    view.estimate_line(console, est, free, dataset.description)
    opt = tr.make_optimizer(network, config["optimizer"], config["lr"], config["momentum"], config["weight_decay"])
    history = []
    start_epoch = 0
    if resume:
        network.load_state(weights)
        opt.load_state(optim_state)
        start_epoch = meta["epoch"]
        history = meta["history"]
        best = meta.get("best_val_acc", -1.0)
    else:
        schemes = initialise(network, config["seed"])
        config["init"] = schemes
        run_dir = out or os.path.join("runs", f"{report.graph.name}-{time.strftime('%Y%m%d-%H%M%S')}")
        os.makedirs(run_dir, exist_ok=True)
        with open(os.path.join(run_dir, "spec.yaml"), "w", encoding="utf-8") as fh:
            fh.write(spec_text)
        with open(os.path.join(run_dir, "config.json"), "w", encoding="utf-8") as fh:
            json.dump(config, fh, indent=2)
        best = -1.0
    meta = {"spec": spec_text, "spec_file": spec_file, "config": config, "mean": dataset.mean.tolist(),
            "std": dataset.std.tolist(), "n_classes": dataset.n_classes, "history": history}

    def save(kind: str, epoch: int):
        meta.update(epoch=epoch, history=history, best_val_acc=best)
        checkpoint.save(os.path.join(run_dir, kind), network.state(), opt.state(), meta)

    view.run_header(console, run_dir, report, config)
    try:
        for epoch in range(start_epoch, config["epochs"]):
            opt.lr = lr_at(config["schedule"], config["lr"], epoch, config["epochs"])
            began = time.perf_counter()
            with view.epoch_progress(console, epoch, config["epochs"], len(dataset.train.y)) as advance:
                loss, acc = tr.run_epoch(network, opt, dataset.train, config["batch_size"], config["seed"], epoch,
                                         input_shape, advance)
            seconds = time.perf_counter() - began
            if not math.isfinite(loss):
                raise EngineError(f"the loss became {loss} in epoch {epoch + 1}; stopped, keeping the checkpoint of "
                                  f"epoch {epoch} in {run_dir}", fix="lower --lr")
            row = {"epoch": epoch + 1, "train_loss": loss, "train_acc": acc, "lr": opt.lr, "seconds": seconds,
                   "images_per_s": len(dataset.train.y) / seconds}
            for name, split in (("val", dataset.val), ("test", dataset.test)):
                if split is not None:
                    row[f"{name}_loss"], row[f"{name}_acc"], _ = tr.evaluate_split(
                        network, split, config["batch_size"], input_shape)
            history.append(row)
            if row.get("val_acc", row["train_acc"]) > best:
                best = row.get("val_acc", row["train_acc"])
                save("best.npz", epoch + 1)
            save("last.npz", epoch + 1)
            _write_metrics(run_dir, history)
            view.epoch_line(console, row)
    except KeyboardInterrupt:
        view.interrupted(err_console or console, run_dir, len(history))
        return history[-1] if history else {}
    view.epoch_table(console, history)
    view.curves(console, history)
    return history[-1] if history else {}


def _write_metrics(run_dir, history):
    for name, writer in (("metrics.csv", _csv), ("metrics.json", _json)):
        path = os.path.join(run_dir, name)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            writer(fh, history)
        os.replace(tmp, path)


def _csv(fh, history):
    w = csv.DictWriter(fh, fieldnames=METRICS)
    w.writeheader()
    for row in history:
        w.writerow({k: row.get(k, "") for k in METRICS})


def _json(fh, history):
    json.dump(history, fh, indent=2)


def _restore(target, batch_size):
    from cnncalc.engine import train as tr

    weights, _, meta = checkpoint.load(target)
    config = meta["config"]
    report, network = tr.build(meta["spec"], meta["spec_file"], batch_size,
                               tuple(config["input"]) if config["input"] else None)
    network.load_state(weights)
    return report, network, meta


def evaluate_run(target: str, *, data=None, batch_size=256, console=None) -> dict:
    from cnncalc import data as data_mod
    from cnncalc.engine import train as tr
    from cnncalc.render import training as view

    report, network, meta = _restore(target, batch_size)
    config = meta["config"]
    source = data or config["data"]
    input_shape = report.graph.input_shape
    dataset = data_mod.load(None if source == "synthetic" else source,
                            input_shape=input_shape if len(input_shape) == 3 else None,
                            n_classes=meta["n_classes"], seed=config["seed"], val_fraction=config["val_fraction"])
    mean, std = np.array(meta["mean"], np.float32), np.array(meta["std"], np.float32)
    split, which = (dataset.test, "test") if dataset.test is not None else (dataset.val, "val")
    # the data was normalised with its own statistics: undo that and apply the training run's
    x = split.x * dataset.std + dataset.mean
    split = type(split)(((x - mean) / std).astype(np.float32), split.y)
    loss, acc, pred = tr.evaluate_split(network, split, batch_size, input_shape)
    k = meta["n_classes"]
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (split.y, pred), 1)
    per_class = [float(confusion[c, c] / confusion[c].sum()) if confusion[c].sum() else float("nan")
                 for c in range(k)]
    result = {"split": which, "loss": loss, "accuracy": acc, "per_class": per_class, "confusion": confusion.tolist()}
    view.evaluation(console, result)
    return result


def predict_run(checkpoint_path: str, inputs: str, *, console=None) -> list:
    from cnncalc.engine import train as tr
    from cnncalc.render import training as view

    report, network, meta = _restore(checkpoint_path, 64)
    input_shape = report.graph.input_shape
    x = _read_inputs(inputs, input_shape)
    mean, std = np.array(meta["mean"], np.float32), np.array(meta["std"], np.float32)
    p = tr.predict_split(network, ((x - mean) / std).astype(np.float32), 64, input_shape)
    top = [[(int(c), float(row[c])) for c in np.argsort(-row)[:3]] for row in p]
    view.predictions(console, top)
    return top


def _read_inputs(path: str, input_shape) -> np.ndarray:
    """x from an .npz (array x) or .npy, (m, n_H, n_W, n_C) or one image (n_H, n_W, n_C)/(n_H, n_W)."""
    try:
        if path.endswith(".npz"):
            with np.load(path, allow_pickle=False) as f:
                if "x" not in f.files:
                    raise DataError("the .npz has no array x", Mark(path), received=sorted(f.files))
                x = f["x"]
        elif path.endswith(".npy"):
            x = np.load(path, allow_pickle=False)
        else:
            raise DataError("unsupported input file", Mark(path), allowed=".npz with x, or .npy")
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read the inputs ({exc})", Mark(path)) from None
    x = np.asarray(x, np.float32)
    want = tuple(input_shape)
    if x.ndim == 2 and len(want) == 3 and want[2] == 1:
        x = x[None, ..., None]
    elif x.ndim == 3 and x.shape == want:
        x = x[None]
    elif x.ndim == 3 and len(want) == 3 and want[2] == 1:
        x = x[..., None]
    if x.shape[1:] != want:
        raise DataError(f"inputs are {'×'.join(map(str, x.shape[1:]))} but the network takes "
                        f"{'×'.join(map(str, want))}", Mark(path))
    return x
