"""What `cnncalc train`, `evaluate` and `predict` call: run directories, checkpoints, resume.

A run directory keeps
    spec.yaml       the spec as trained
    config.json     every setting, the initialisation scheme per layer, thread count, versions
    metrics.csv     one row per epoch: epoch, train_loss, train_acc, val_loss, val_acc, test_loss,
    metrics.json    test_acc, lr, seconds, images_per_s (the same rows as JSON)
    last.npz        after every epoch, written atomically (engine.checkpoint)
    best.npz        the epoch with the best validation accuracy (train accuracy without a val split)

A finished epoch is never lost: Ctrl-C keeps (or writes) the checkpoint of the last finished
epoch and returns; a loss that turns NaN or infinite stops the run with an EngineError, the
last good checkpoint untouched. `train_run(resume=RUN_DIR)` continues from last.npz with the
optimiser's state and the Generator's state, and gives the losses an uninterrupted run gives.
Errors are CnncalcError subclasses with one line each; the CLI prints them and exits 1.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time

import numpy as np

from cnncalc.engine import checkpoint
from cnncalc.errors import CnncalcError, DataError, EngineError, Mark

METRICS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "lr", "seconds",
           "images_per_s")
SCHEDULES = ("constant", "step", "cosine")
INIT_TEXT = {"torch": "PyTorch's defaults: weights and biases U(±1/√fan_in); batchnorm γ 1, β 0",
             "he-glorot": "he_normal before ReLU-family layers, glorot_uniform otherwise; biases 0; batchnorm γ 1, β 0",
             "glorot": "glorot_uniform for every layer (Keras' default); biases 0; batchnorm γ 1, β 0"}


# ------------------------------------------------------------------ threads and memory

def _blas_set_threads():
    """The setter of numpy's OpenBLAS thread count (found among the loaded libraries), or None.

    threadpoolctl does this; it is not a dependency, and environment variables are read only when
    numpy loads, which is before any command runs. So: look the library up in /proc/self/maps and
    call its own setter through ctypes."""
    import ctypes

    try:
        with open("/proc/self/maps") as fh:
            paths = {line.split()[-1] for line in fh if "openblas" in line.lower() and ".so" in line}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for setter, getter in (("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
                               ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
                               ("openblas_set_num_threads", "openblas_get_num_threads")):
            if hasattr(lib, setter) and hasattr(lib, getter):
                set_fn, get_fn = getattr(lib, setter), getattr(lib, getter)
                set_fn.argtypes, set_fn.restype = [ctypes.c_int], None
                get_fn.argtypes, get_fn.restype = [], ctypes.c_int
                return set_fn, get_fn
    return None


class Threads:
    """Numba's thread count set to n for the run, BLAS single-threaded; both restored on exit.

    The conv, pool and optimiser kernels run on Numba's threads; numpy's BLAS (the dense layers'
    products) runs between them from Python. OpenBLAS's own threads keep spinning after each
    call and take the cores from Numba's (5× slower loops measured on 2 cores), so BLAS gets one
    thread while training. n above the cores Numba started with is capped, with a note."""

    def __init__(self, n: int | None):
        import numba

        self.available = numba.config.NUMBA_NUM_THREADS
        self.n = self.available if n is None else min(n, self.available)
        self.capped = n is not None and n > self.available

    def __enter__(self):
        import numba

        self.previous = numba.get_num_threads()
        numba.set_num_threads(self.n)
        self.blas = _blas_set_threads()
        if self.blas:
            self.blas_previous = self.blas[1]()
            self.blas[0](1)
        return self

    def __exit__(self, *exc):
        import numba

        numba.set_num_threads(self.previous)
        if self.blas:
            self.blas[0](self.blas_previous)
        return False


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo in bytes, or None where there is no such file."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


# ------------------------------------------------------------------ option checks

def _check_options(epochs, batch_size, lr, optimizer, momentum, weight_decay, schedule, threads, val_fraction):
    def bad(field, value, allowed):
        raise EngineError("invalid training option", field=field, received=value, allowed=allowed)

    if optimizer not in ("sgd", "adam"):
        bad("optimizer", optimizer, "sgd, adam")
    if schedule not in SCHEDULES:
        bad("schedule", schedule, ", ".join(SCHEDULES))
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        bad("epochs", epochs, "a whole number ≥ 1")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        bad("batch_size", batch_size, "a whole number ≥ 1")
    if lr is not None and not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        bad("lr", lr, "a positive number")
    if not (isinstance(momentum, (int, float)) and 0 <= momentum < 1):
        bad("momentum", momentum, "0 ≤ momentum < 1")
    if not (isinstance(weight_decay, (int, float)) and math.isfinite(weight_decay) and weight_decay >= 0):
        bad("weight_decay", weight_decay, "a number ≥ 0")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        bad("threads", threads, "a whole number ≥ 1")
    if not (isinstance(val_fraction, (int, float)) and 0 <= val_fraction < 1):
        bad("val_fraction", val_fraction, "0 ≤ val_fraction < 1")


def _read_spec(spec: str) -> str:
    try:
        with open(spec, encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        raise EngineError(f"cannot read the spec ({exc.strerror})", Mark(spec)) from None
    except UnicodeDecodeError:
        raise EngineError("the spec is not UTF-8 text", Mark(spec)) from None


RUN_FILES = ("spec.yaml", "config.json", "metrics.csv", "metrics.json", "last.npz", "best.npz")


def _plan_run_dir(out, name, force):
    """The run directory a new run will use (checked now, created once the data has loaded)."""
    if out is None:
        base = os.path.join("runs", f"{name}-{time.strftime('%Y%m%d-%H%M%S')}")
        out, k = base, 1
        while os.path.exists(out):
            k += 1
            out = f"{base}-{k}"
    elif os.path.exists(os.path.join(out, "last.npz")):
        if not force:
            raise EngineError("the run directory already holds a run", Mark(out),
                              fix=f"continue it with --resume {out}, choose another --out, or --force to replace it")
    elif os.path.exists(out) and not os.path.isdir(out):
        raise EngineError("the run directory is a file", Mark(out), fix="choose another --out")
    return out


def _create_run_dir(out):
    try:
        os.makedirs(out, exist_ok=True)
        for name in RUN_FILES:  # a replaced run goes as a whole: no stale best.npz from the old one
            path = os.path.join(out, name)
            if os.path.exists(path):
                os.unlink(path)
    except OSError as exc:
        raise EngineError(f"cannot create the run directory ({exc.strerror})", Mark(out)) from None


def _write_text(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _ordered(row):
    return {k: row[k] for k in METRICS if k in row}


def _write_metrics(run_dir, history):
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRICS, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: row.get(k, "") for k in METRICS})
    _write_text(os.path.join(run_dir, "metrics.csv"), buf.getvalue())
    _write_text(os.path.join(run_dir, "metrics.json"), json.dumps(history, indent=2) + "\n")


def _load_data(source, report, seed, val_fraction, n_classes=None, stats=None):
    """The data set checked against the spec, in the engine's layout: (dataset, {split: (X, Y)}).

    stats: the (mean, std) a trained network expects; the loader normalises with the data's own,
    so where they differ the splits are brought to the network's."""
    from cnncalc import data as data_mod
    from cnncalc.engine import train as tr

    input_shape = report.graph.input_shape
    where = Mark(str(source or "synthetic"))
    try:
        dataset = data_mod.load(None if source in (None, "synthetic") else source,
                                input_shape=input_shape if len(input_shape) == 3 else None,
                                n_classes=n_classes, seed=seed, val_fraction=val_fraction)
    except MemoryError:
        raise DataError("not enough memory to load the data", where) from None
    if len(input_shape) == 1 and int(np.prod(dataset.input_shape)) != input_shape[0]:
        raise DataError(f"the data has {int(np.prod(dataset.input_shape))} values per image "
                        f"({'×'.join(map(str, dataset.input_shape))}) but the spec's input is a vector of "
                        f"{input_shape[0]}", where)
    renormalise = stats is not None and stats[0] is not None and not (
        np.array_equal(stats[0], dataset.mean) and np.array_equal(stats[1], dataset.std))
    engine_shape = tr.input_shape_of(report)
    splits = {}
    for name in ("train", "val", "test"):
        split = getattr(dataset, name)
        if split is not None and len(split.y):
            x = split.x
            if renormalise:
                x = data_mod.normalise(x * dataset.std + dataset.mean, stats[0], stats[1])
            splits[name] = (tr.to_engine(x, engine_shape), np.ascontiguousarray(split.y, np.int64))
            split.x = None  # the engine's copy is the one kept
    return dataset, splits


# ------------------------------------------------------------------ train

def train_run(spec: str | None, *, data: str | None = None, epochs: int | None = 3, batch_size: int = 64,
              lr: float | None = None, optimizer: str = "adam", momentum: float = 0.9, weight_decay: float = 0.0,
              schedule: str = "constant", seed: int = 0, threads: int | None = None, out: str | None = None,
              resume: str | None = None, force: bool = False, val_fraction: float = 0.1,
              input_override: tuple | None = None, console=None, err_console=None,
              init: str = "torch") -> dict:
    """Train spec (a YAML path) and return the last epoch's metrics (METRICS' names).

    epochs None: 3, or with resume the run's own total (a number extends the run to that total).
    lr None: 1e-3 for adam, 0.01 for sgd. With resume, the run's own spec, data and settings are
    used; only epochs, threads and force apply. force: train even when the memory estimate exceeds
    the free memory, and replace a run already in out (else refused). init: the initialisation scheme (engine.init):
    "torch" (PyTorch's defaults, the default), "he-glorot" or "glorot"."""
    from cnncalc.engine import train as tr
    from cnncalc.render import training as view

    err_console = err_console or console
    if resume:
        weights, optim_state, meta = checkpoint.load(resume)
        config = dict(meta["config"])
        if epochs is not None:
            config["epochs"] = epochs
        ignored = [name for name, value in (("SPEC", spec), ("--data", data), ("--lr", lr), ("--out", out),
                                            ("--input", input_override)) if value is not None]
        if ignored:
            view.note(err_console, f"--resume continues the run with its own settings; ignoring {', '.join(ignored)}")
        spec_text, spec_file = meta["spec"], meta["spec_file"]
        run_dir = resume if os.path.isdir(resume) else os.path.dirname(os.path.abspath(resume))
        if meta["epoch"] >= config["epochs"]:
            raise EngineError(f"the run has finished its {meta['epoch']} epochs", Mark(run_dir),
                              fix=f"give --epochs N with N > {meta['epoch']} to train further")
    else:
        if spec is None:
            raise EngineError("give a spec to train, or resume= a run directory")
        _check_options(epochs, batch_size, lr, optimizer, momentum, weight_decay, schedule, threads, val_fraction)
        if init not in INIT_TEXT:
            raise EngineError("invalid training option", field="init", received=init,
                              allowed=", ".join(INIT_TEXT))
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise EngineError("invalid training option", field="seed", received=seed, allowed="a whole number ≥ 0")
        spec_text, spec_file = _read_spec(spec), spec
        config = {"spec": spec, "data": data or "synthetic", "epochs": epochs or 3, "batch_size": batch_size,
                  "lr": float(lr) if lr is not None else tr.DEFAULT_LR[optimizer], "optimizer": optimizer,
                  "momentum": float(momentum), "weight_decay": float(weight_decay), "schedule": schedule,
                  "seed": seed, "val_fraction": float(val_fraction),
                  "input": list(input_override) if input_override else None}
    _check_options(config["epochs"], config["batch_size"], config["lr"], config["optimizer"], config["momentum"],
                   config["weight_decay"], config["schedule"], threads, config["val_fraction"])
    # everything the spec decides is checked before any memory is taken or data read
    report = tr.analyse(spec_text, spec_file, config["input"])
    if not resume:
        run_dir = _plan_run_dir(out, report.graph.name, force)
    with Threads(threads if threads is not None else config.get("threads_requested")) as pool:
        if pool.capped:
            view.note(err_console, f"--threads {threads}: this machine runs {pool.available} kernel threads; "
                                   f"using {pool.available}")
        free = available_memory()
        est = tr.estimate(report, config["batch_size"], 0, config["optimizer"], config["momentum"], pool.n)
        if free is not None and est["bytes"] > free and not force:
            raise EngineError(f"the run needs about {view.gib(est['bytes'])} (weights, gradients, optimiser state "
                              f"and activations for batch {config['batch_size']}) but {view.gib(free)} is free",
                              fix="use a smaller --batch-size, or --force to try anyway")
        dataset, splits = _load_data(config["data"], report, config["seed"], config["val_fraction"],
                                     report.totals.output_shape[0], (meta["mean"], meta["std"]) if resume else None)
        est = tr.estimate(report, config["batch_size"], len(splits["train"][1]), config["optimizer"],
                          config["momentum"], pool.n)
        view.estimate_line(console, est, free, dataset.description, pool.n)
        try:
            network = tr.Network(report, config["batch_size"])
        except MemoryError:
            raise EngineError(f"not enough memory for the buffers of batch {config['batch_size']}",
                              fix="use a smaller --batch-size") from None
        opt = tr.make_optimizer(network, config["optimizer"], config["lr"], config["momentum"],
                                config["weight_decay"])
        rng = tr.training_rng(config["seed"])
        if resume:
            network.load_state(weights, meta["path"])
            try:
                opt.load_state(optim_state)
            except (KeyError, ValueError) as exc:
                raise EngineError(f"the checkpoint's optimiser state does not fit ({exc})",
                                  Mark(meta["path"])) from None
            rng.bit_generator.state = meta["rng"]
            history, best, start = list(meta["history"]), meta.get("best_val_acc", -1.0), meta["epoch"]
            if meta["mean"] is not None and not (np.array_equal(meta["mean"], dataset.mean)
                                                 and np.array_equal(meta["std"], dataset.std)):
                view.note(err_console, "the data's statistics differ from the run's (the files changed since); "
                                       "normalising with the run's")
        else:
            from cnncalc.engine.init import initialise

            config["init"] = {"scheme": init, "description": INIT_TEXT[init],
                              "layers": initialise(network, config["seed"], init)}
            config["threads"] = pool.n
            config["threads_requested"] = threads
            config["versions"] = _versions()
            _create_run_dir(run_dir)
            _write_text(os.path.join(run_dir, "spec.yaml"), spec_text)
            _write_text(os.path.join(run_dir, "config.json"), json.dumps(config, indent=2, ensure_ascii=False) + "\n")
            history, best, start = [], -1.0, 0
        return _epochs(network, opt, rng, splits, dataset, report, config, run_dir, history, best, start,
                       spec_text, spec_file, console, err_console)


def _versions():
    import platform

    import numba

    return {"python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__}


def _epochs(network, opt, rng, splits, dataset, report, config, run_dir, history, best, start, spec_text,
            spec_file, console, err_console):
    from cnncalc.engine import train as tr
    from cnncalc.engine.optim import make_schedule
    from cnncalc.render import training as view

    loop = tr.Loop(network, opt, config["batch_size"])
    lr_at = make_schedule(config["schedule"], config["lr"], config["epochs"])
    X, Y = splits["train"]
    names = list(dataset.class_names or [])
    state = {"finished": start, "saved": start, "rng": rng.bit_generator.state, "best": best}

    def save(kind):
        meta = {"spec": spec_text, "spec_file": spec_file, "config": config, "epoch": state["finished"],
                "rng": state["rng"], "n_classes": network.n_classes, "class_names": names, "history": history,
                "best_val_acc": state["best"], "input_shape": list(report.graph.input_shape)}
        checkpoint.save(os.path.join(run_dir, kind), network.state(), opt.state(), meta, dataset.mean, dataset.std)

    view.run_header(console, run_dir, report, config, network)
    view.warmed_up(console, loop.warm_up())
    epoch = start
    try:
        for epoch in range(start, config["epochs"]):
            opt.lr = lr_at(epoch)
            began = time.perf_counter()
            with view.epoch_progress(console, epoch, config["epochs"], len(Y)) as advance:
                loss, acc = loop.epoch(X, Y, rng, advance)
            seconds = time.perf_counter() - began
            if not math.isfinite(loss):
                kept = f"{run_dir}/last.npz keeps epoch {state['saved']}" if state["saved"] else "no epoch finished"
                raise EngineError(f"the loss became {loss} in epoch {epoch + 1}; stopped ({kept})",
                                  fix=f"lower the learning rate (was {opt.lr:g})")
            # the weights are now those at the end of this epoch: a Ctrl-C from here on saves them
            state["finished"], state["rng"] = epoch + 1, rng.bit_generator.state
            row = {"epoch": epoch + 1, "train_loss": loss, "train_acc": acc, "lr": opt.lr, "seconds": seconds,
                   "images_per_s": len(Y) / seconds if seconds > 0 else 0.0}
            history.append(row)  # before evaluation: a Ctrl-C there still records the training figures
            for name in ("val", "test"):
                if name in splits:
                    row[f"{name}_loss"], row[f"{name}_acc"], _ = loop.evaluate(*splits[name])
            history[-1] = row = _ordered(row)
            score = row.get("val_acc", acc)
            if score > state["best"]:
                state["best"] = score
                save("best.npz")
            save("last.npz")
            state["saved"] = epoch + 1
            _write_metrics(run_dir, history)
            view.epoch_line(console, row)
    except KeyboardInterrupt:
        if state["finished"] > state["saved"]:  # stopped between the end of an epoch and its save
            save("last.npz")
            state["saved"] = state["finished"]
        if history:
            _write_metrics(run_dir, history)
        view.interrupted(err_console, run_dir, state["saved"], config["epochs"])
        return dict(history[-1]) if history else {}
    except OSError as exc:
        raise EngineError(f"cannot write to the run directory ({exc.strerror})", Mark(run_dir)) from None
    view.summary(console, history)
    return dict(history[-1]) if history else {}


# ------------------------------------------------------------------ evaluate and predict

def _restore(target: str, batch_size: int):
    from cnncalc.engine import train as tr

    weights, _, meta = checkpoint.load(target)
    config = meta["config"]
    try:
        report, network = tr.build(meta["spec"], meta["spec_file"], batch_size, config.get("input"))
    except CnncalcError as exc:
        raise EngineError(f"the checkpoint's spec no longer builds: {exc.line()}", Mark(meta["path"])) from None
    network.load_state(weights, meta["path"])
    return report, network, meta


def evaluate_run(target: str, *, data: str | None = None, batch_size: int = 256, console=None) -> dict:
    """Accuracy, per-class accuracy and the confusion matrix of a run (its last.npz) or checkpoint.

    Without data: the run's own data set, its test split (else the validation split the run held
    out). With data: its test split if it has one, else every image in it ("all").

    Returns {"split", "n", "loss", "accuracy", "per_class": [acc or None], "confusion": [[count]],
    "class_names"}; confusion[true][predicted]."""
    from cnncalc.engine import train as tr
    from cnncalc.render import training as view

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise EngineError("invalid option", field="batch_size", received=batch_size, allowed="a whole number ≥ 1")
    report, network, meta = _restore(target, batch_size)
    config = meta["config"]
    source = data or config["data"]
    with Threads(None):
        dataset, splits = _load_data(source, report, config["seed"], config["val_fraction"] if data is None else 0.0,
                                     network.n_classes, (meta["mean"], meta["std"]))
        which = next(name for name in ("test", "val", "train") if name in splits)
        X, Y = splits[which]
        if which == "train" and data is not None:
            which = "all"
        loss, acc, pred = tr.evaluate(network, X, Y, batch_size)
    k = network.n_classes
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (Y, pred), 1)
    counts = confusion.sum(axis=1)
    per_class = [float(confusion[c, c] / counts[c]) if counts[c] else None for c in range(k)]
    names = list(meta.get("class_names") or []) or list(dataset.class_names or [])
    names += [str(c) for c in range(len(names), k)]
    result = {"split": which, "n": int(len(Y)), "loss": loss, "accuracy": acc, "per_class": per_class,
              "confusion": confusion.tolist(), "class_names": names[:k], "source": str(source)}
    view.evaluation(console, result)
    return result


def predict_run(checkpoint_path: str, inputs: str, *, console=None, top: int = 3) -> list:
    """The `top` most likely classes of every input in inputs (.npz with x, .npy, PGM/PPM, IDX),
    as [[{"class": c, "name": name, "probability": p}, …] per input], most likely first."""
    from cnncalc.data import load_inputs, normalise
    from cnncalc.engine import train as tr
    from cnncalc.render import training as view

    report, network, meta = _restore(checkpoint_path, 64)
    input_shape = report.graph.input_shape
    x = load_inputs(inputs, input_shape if len(input_shape) == 3 else None)
    if meta["mean"] is not None:
        x = normalise(x, meta["mean"], meta["std"])
    engine_shape = tr.input_shape_of(report)
    if len(engine_shape) == 1 and int(np.prod(x.shape[1:])) != engine_shape[0]:
        raise DataError(f"the inputs have {int(np.prod(x.shape[1:]))} values each but the network takes "
                        f"{engine_shape[0]}", Mark(inputs))
    with Threads(None):
        p = tr.probabilities(network, tr.to_engine(x, engine_shape), 64)
    names = list(meta.get("class_names") or [])
    names += [str(c) for c in range(len(names), network.n_classes)]
    k = min(top, network.n_classes)
    result = []
    for row in p:
        best = np.argsort(-row, kind="stable")[:k]
        result.append([{"class": int(c), "name": names[c], "probability": float(row[c])} for c in best])
    view.predictions(console, result, inputs)
    return result
