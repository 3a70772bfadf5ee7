"""train_run: the epochs of one run, what they keep on disk, and resume.

See engine.api for what a run directory keeps, and engine.events for what a run reports."""

from __future__ import annotations

import json
import math
import os
import signal
import time

import numpy as np

from cnncalc.engine import checkpoint, events
from cnncalc.engine.options import INIT_TEXT, _check_options, _read_spec, _stored_source
from cnncalc.engine.resources import Threads, _memory_check, _versions
from cnncalc.engine.rundir import (_ordered, _plan_run_dir, _release, _same_file, _sync_run_files,
                                   _take_run_dir, _unlink, _write_metrics, _write_text)
from cnncalc.engine.stops import Interrupted, _Held, _ignore_signals, _stop_signals
from cnncalc.errors import DataError, EngineError, Mark
from cnncalc.render.words import count, kept_text
from cnncalc.shapes import elements, shape_text


def _load_data(source, report, seed, val_fraction, n_classes=None, stats=None, limit=None, data_dir=None):
    """The data set checked against the spec, in the engine's layout: (dataset, {split: (X, Y)}).

    stats: the (mean, std) a trained network expects; the loader normalises with the data's own,
    so where they differ the splits are brought to the network's. limit: the first N training
    images, stratified by class (data.limit). data_dir: where a bare name (mnist, …) is looked up."""
    from cnncalc import data as data_mod
    from cnncalc.engine import train as tr

    input_shape = report.graph.input_shape
    where = Mark(str(source or "synthetic"))
    try:
        dataset = data_mod.load(None if source in (None, "synthetic") else source,
                                input_shape=input_shape if len(input_shape) == 3 else None,
                                n_classes=n_classes, seed=seed, val_fraction=val_fraction, limit=limit,
                                data_dir=data_dir)
    except MemoryError:
        raise DataError("not enough memory to load the data", where) from None
    if len(input_shape) == 1 and elements(dataset.input_shape) != input_shape[0]:
        raise DataError(f"the data has {elements(dataset.input_shape)} values per image "
                        f"({shape_text(dataset.input_shape)}) but the spec's input is a vector of "
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



def train_run(spec: str | None, *, data: str | None = None, epochs: int | None = 3, batch_size: int = 64,
              lr: float | None = None, optimizer: str = "adam", momentum: float = 0.9, weight_decay: float = 0.0,
              schedule: str = "constant", seed: int = 0, threads: int | None = None, out: str | None = None,
              resume: str | None = None, force: bool = False, val_fraction: float = 0.1,
              input_override: tuple | None = None, on_event=None,
              init: str = "torch", limit: int | None = None, data_dir: str | None = None,
              verbose: bool = False) -> dict:
    """Train spec (a YAML path) and return the last epoch's metrics (METRICS' names).

    epochs None: 3, or with resume the run's own total (a number extends the run to that total).
    lr None: 1e-3 for adam, 0.01 for sgd. With resume, the run's own spec, data and settings are
    used; only epochs, threads and force apply. force: train even when the memory estimate exceeds
    the free memory, and replace a run already in out (else refused); the old run's files stay
    until the new run's first checkpoint replaces them. init: the initialisation scheme
    (engine.init): "torch" (PyTorch's defaults, the default), "he-glorot" or "glorot". limit: train
    on the first N training images, stratified by class (recorded in config.json). data_dir: where
    `data` as a bare name (mnist, …) is looked up (default $CNNCALC_DATA or the user cache).
    verbose: also report (a "conv_kernels" Note) the processor and the kernel each conv layer runs.

    The run directory is locked (RunLock) from before the data loads to the end. Ctrl-C or SIGTERM
    raises Interrupted once the finished epochs are saved and the user told; before the run has
    begun, KeyboardInterrupt (Stopped for SIGTERM)."""
    with _stop_signals():
        return _train_run(spec, data, epochs, batch_size, lr, optimizer, momentum, weight_decay, schedule, seed,
                          threads, out, resume, force, val_fraction, input_override,
                          on_event or events.ignore, init, limit, data_dir, verbose)


def _train_run(spec, data, epochs, batch_size, lr, optimizer, momentum, weight_decay, schedule, seed, threads,
               out, resume, force, val_fraction, input_override, on_event, init, limit, data_dir, verbose=False):
    from cnncalc.engine import train as tr

    if resume:
        run_dir = resume if os.path.isdir(resume) else os.path.dirname(os.path.abspath(resume))
        if not os.path.exists(checkpoint.resolve(resume)):
            checkpoint.load(resume)  # its error: no such checkpoint
        if not os.path.isdir(resume) and not _same_file(resume, os.path.join(run_dir, "last.npz")):
            # training on from best.npz (or a copy) would write over the run's later epochs in last.npz
            raise EngineError("--resume continues a run from its last.npz", Mark(resume),
                              fix="give the run directory; to train on from another checkpoint, copy it "
                                  "as last.npz into a new folder and resume that")
        lock, created = _take_run_dir(run_dir, new=False, force=force, on_event=on_event)
        try:
            return _resume(resume, run_dir, spec, data, lr, out, input_override, epochs, threads, force,
                           on_event, verbose)
        finally:
            _release(lock, run_dir, created)
    if spec is None:
        raise EngineError("give a spec to train, or resume= a run directory")
    _check_options(epochs, batch_size, lr, optimizer, momentum, weight_decay, schedule, threads, val_fraction)
    if init not in INIT_TEXT:
        raise EngineError("invalid training option", field="init", received=init, allowed=", ".join(INIT_TEXT))
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise EngineError("invalid training option", field="seed", received=seed, allowed="a whole number ≥ 0")
    spec_text = _read_spec(spec)
    # paths as absolute: a resume from another folder reads the same data
    config = {"spec": os.path.abspath(spec),
              "data": _stored_source(data),
              "epochs": epochs or 3, "batch_size": batch_size,
              "lr": float(lr) if lr is not None else tr.DEFAULT_LR[optimizer], "optimizer": optimizer,
              "momentum": float(momentum), "weight_decay": float(weight_decay), "schedule": schedule,
              "seed": seed, "val_fraction": float(val_fraction),
              "input": list(input_override) if input_override else None, "limit": limit,
              "data_dir": os.path.abspath(data_dir) if data_dir else None}
    report = tr.analyse(spec_text, spec, config["input"])  # the spec is checked before any work
    run_dir = _plan_run_dir(out, report.graph.name, force, spec)
    with Threads(threads) as pool:
        free = _memory_check(report, config, pool, force, on_event, threads)
        replacing = os.path.exists(os.path.join(run_dir, "last.npz"))
        lock, created = _take_run_dir(run_dir, new=True, force=force, on_event=on_event, spec=spec)
        state = {"saved": 0}
        try:
            dataset, splits = _load_data(config["data"], report, config["seed"], config["val_fraction"],
                                         report.totals.output_shape[0], None, limit, config["data_dir"])
            if dataset.limit is not None and dataset.limit.taken < dataset.limit.requested:
                on_event(events.Note("limit_exceeds", {"requested": dataset.limit.requested,
                                                       "available": dataset.limit.available}))
            network, opt = _build(report, config, dataset, splits, pool, free, on_event, verbose)
            from cnncalc.engine.init import initialise

            config["init"] = {"scheme": init, "description": INIT_TEXT[init],
                              "layers": initialise(network, config["seed"], init)}
            config["threads"] = pool.n
            config["threads_requested"] = threads
            config["versions"] = _versions()
            run = _Run(network, opt, tr.training_rng(config["seed"]), splits, dataset, report, config, run_dir,
                       spec_text, spec, on_event, replacing=replacing)
            state = run.state
            return run.train([], -1.0, 0, 0)
        finally:
            _release(lock, run_dir, created, saved=state["saved"] > 0)


def _resume(resume, run_dir, spec, data, lr, out, input_override, epochs, threads, force, on_event, verbose=False):
    from cnncalc.engine import train as tr

    weights, optim_state, meta = checkpoint.load(resume)
    checkpoint.check_run(meta)
    config = dict(meta["config"])
    if epochs is not None:
        config["epochs"] = epochs
    ignored = [name for name, value in (("SPEC", spec), ("--data", data), ("--lr", lr), ("--out", out),
                                        ("--input", input_override)) if value is not None]
    if ignored:
        on_event(events.Note("resume_ignored", {"names": ignored}))
    evaluated = meta.get("evaluated", meta["epoch"])
    _sync_run_files(run_dir, meta)
    if epochs is not None and epochs < meta["epoch"]:
        raise EngineError(f"the run has already trained {count(meta['epoch'], 'epoch')}", Mark(run_dir),
                          field="epochs", received=epochs, allowed=f"a total ≥ {meta['epoch']}")
    if meta["epoch"] >= config["epochs"] and evaluated >= meta["epoch"]:
        raise EngineError(f"the run has finished its {count(meta['epoch'], 'epoch')}", Mark(run_dir),
                          fix=f"give --epochs N with N > {meta['epoch']} to train further")
    _check_options(config["epochs"], config["batch_size"], config["lr"], config["optimizer"], config["momentum"],
                   config["weight_decay"], config["schedule"], threads, config["val_fraction"])
    report = tr.analyse(meta["spec"], meta["spec_file"], config.get("input"))
    with Threads(threads if threads is not None else config.get("threads_requested")) as pool:
        free = _memory_check(report, config, pool, force, on_event, threads)
        dataset, splits = _load_data(config["data"], report, config["seed"], config["val_fraction"],
                                     report.totals.output_shape[0], (meta["mean"], meta["std"]),
                                     config.get("limit"), config.get("data_dir"))
        network, opt = _build(report, config, dataset, splits, pool, free, on_event, verbose)
        network.load_state(weights, meta["path"])
        try:
            opt.load_state(optim_state)
        except (KeyError, ValueError) as exc:
            raise EngineError(f"the checkpoint's optimiser state does not fit ({exc})", Mark(meta["path"])) from None
        rng = tr.training_rng(config["seed"])
        try:
            rng.bit_generator.state = meta["rng"]
        except (KeyError, ValueError, TypeError) as exc:
            raise EngineError(f"the checkpoint's generator state does not fit ({exc})", Mark(meta["path"]),
                              field="meta.rng") from None
        if meta["mean"] is not None and not (np.array_equal(meta["mean"], dataset.mean)
                                             and np.array_equal(meta["std"], dataset.std)):
            on_event(events.Note("statistics_differ"))
        # an uninterrupted run of this length measures the test set once, after its last epoch
        history = [dict(row) for row in meta["history"]]
        for row in history:
            if row.get("epoch", 0) < config["epochs"]:
                row.pop("test_loss", None)
                row.pop("test_acc", None)
        run = _Run(network, opt, rng, splits, dataset, report, config, run_dir, meta["spec"], meta["spec_file"],
                   on_event)
        return run.train(history, meta.get("best_val_acc", -1.0), meta["epoch"], evaluated)



def _build(report, config, dataset, splits, pool, free, on_event, verbose=False):
    from cnncalc.engine import train as tr

    n_train = len(splits["train"][1]) if "train" in splits else 0
    est = tr.estimate(report, config["batch_size"], n_train, config["optimizer"], config["momentum"], pool.n)
    on_event(events.Estimate(est, free, dataset.summary, pool.n))
    try:
        network = tr.Network(report, config["batch_size"])
    except (MemoryError, ValueError):  # ValueError: numpy's "array is too big" for a huge batch
        raise EngineError(f"not enough memory for the buffers of batch {config['batch_size']}",
                          fix="use a smaller --batch-size") from None
    need = network.min_train_batch
    if config["batch_size"] < need:
        raise EngineError("batchnorm with one value per channel (flat features or a 1×1 map) cannot train on "
                          "one image per batch", field="batch_size", received=config["batch_size"],
                          allowed=f"a whole number ≥ {need}")
    if n_train < need:
        raise DataError(f"the training split has {count(n_train, 'image')}; training needs at least {need}",
                        Mark(str(config["data"])), fix="use more data or a smaller --val-fraction")
    if verbose:  # the choices were made as the layers were built
        from cnncalc.layers.conv import tuning

        on_event(events.Note("conv_kernels", tuning.describe()))
    opt = tr.make_optimizer(network, config["optimizer"], config["lr"], config["momentum"], config["weight_decay"])
    from cnncalc.engine.arrays import MemoryWatch

    # the plan read at the run's end (_Run.train), with the network it measures
    network.memory_watch = MemoryWatch(report, config["batch_size"], config["optimizer"], config["momentum"])
    return network, opt



class _Run:
    """The epochs of one run and what it keeps on disk.

    After each epoch's training: evaluate the validation split (and the test split after the last
    epoch), decide best.npz, save last.npz and the metrics. The checkpoint records in "evaluated"
    the last epoch whose evaluation and best.npz are done, so a Ctrl-C during the evaluation is
    completed on resume exactly as the uninterrupted run would have done it. A new run writes
    nothing before its first save; that save replaces an old run's files (--force)."""

    def __init__(self, network, opt, rng, splits, dataset, report, config, run_dir, spec_text, spec_file,
                 on_event, replacing=False):
        from cnncalc.engine import train as tr

        self.network, self.opt, self.rng, self.splits = network, opt, rng, splits
        self.dataset, self.report, self.config, self.run_dir = dataset, report, config, run_dir
        self.spec_text, self.spec_file, self.on_event = spec_text, spec_file, on_event
        self.replacing = replacing
        self.loop = tr.Loop(network, opt, config["batch_size"])
        self.names = list(dataset.class_names or [])
        self.state = {"saved": 0, "finished": 0, "evaluated": 0, "best": -1.0, "rng": rng.bit_generator.state,
                      "fresh": True}
        self.history = []

    def save(self, kind, **override):
        st = {**self.state, **override}
        meta = {"spec": self.spec_text, "spec_file": self.spec_file, "config": self.config,
                "epoch": st["finished"], "evaluated": st["evaluated"], "rng": st["rng"],
                "n_classes": self.network.n_classes, "class_names": self.names, "history": self.history,
                "best_val_acc": st["best"], "input_shape": list(self.report.graph.input_shape)}
        checkpoint.save(os.path.join(self.run_dir, kind), self.network.state(), self.opt.state(), meta,
                        self.dataset.mean, self.dataset.std)

    def persist(self):
        """last.npz and the metrics; at a new run's first save, its spec and config too, and no
        best.npz of an older run left beside them. Ctrl-C waits until all of them are written."""
        with _Held():
            self._persist()

    def _persist(self):
        self.save("last.npz")
        self.state["saved"] = self.state["finished"]
        if self.state["fresh"]:
            _write_text(os.path.join(self.run_dir, "spec.yaml"), self.spec_text)
            _write_text(os.path.join(self.run_dir, "config.json"),
                        json.dumps(self.config, indent=2, ensure_ascii=False) + "\n")
            if self.state["best"] < 0:  # none of this run's yet: an old one must not pass as it
                _unlink(os.path.join(self.run_dir, "best.npz"))
            self.state["fresh"] = False
        _write_metrics(self.run_dir, self.history)

    def finish(self, row):
        """Evaluate the finished epoch `row`, decide best.npz, save, report the epoch's metrics."""
        epoch = row["epoch"]
        final = epoch == self.config["epochs"]
        for name in ("val", "test"):
            if name in self.splits and (name == "val" or final) and f"{name}_loss" not in row:
                row[f"{name}_loss"], row[f"{name}_acc"], _ = self.loop.evaluate(*self.splits[name])
        row = _ordered(row)
        self.history[-1] = row
        score = row.get("val_acc", row["train_acc"])
        with _Held():
            if score > self.state["best"]:
                self.save("best.npz", best=score, evaluated=epoch)
                self.state["best"] = score
            self.state["evaluated"] = epoch
            self._persist()
        self.on_event(events.EpochEnded(dict(row), self.config["epochs"]))
        return row

    def train(self, history, best, start, evaluated):
        try:
            return self._train(history, best, start, evaluated)
        finally:  # a run that stopped early leaves no tracing behind (after finish() this does nothing)
            watch = getattr(self.network, "memory_watch", None)
            if watch is not None:
                watch.stop()

    def _train(self, history, best, start, evaluated):
        from cnncalc.engine.optim import make_schedule

        st, config = self.state, self.config
        self.history = history
        st.update(saved=start, finished=start, evaluated=evaluated, best=best, fresh=not start,
                  rng=self.rng.bit_generator.state)
        lr_at = make_schedule(config["schedule"], config["lr"], config["epochs"])
        X, Y = self.splits["train"]
        self.on_event(events.RunStarted(self.report.graph.name, self.report.totals.trainable, dict(config),
                                        self.run_dir))
        compiling = _Held().__enter__()  # until the first batch has run every kernel once
        try:
            self.on_event(events.Compiled(self.loop.warm_up()))
            watch = getattr(self.network, "memory_watch", None)
            if watch is not None:
                watch.begin(self.network, self.opt, self.loop)
            if history and evaluated < start:  # a Ctrl-C came during that epoch's evaluation
                self.on_event(events.Note("completing", {"epoch": start}))
                self.finish(history[-1])
            for epoch in range(start, config["epochs"]):
                self.opt.lr = lr_at(epoch)
                began = time.perf_counter()
                self.on_event(events.EpochStarted(epoch + 1, config["epochs"], len(Y)))

                def on_batch(images, loss, acc, epoch=epoch):
                    compiling.release()
                    self.on_event(events.BatchProgress(epoch + 1, images, loss, acc))

                loss, acc = self.loop.epoch(X, Y, self.rng, on_batch)
                compiling.release()  # an epoch of no full batch (batchnorm's last one skipped)
                seconds = time.perf_counter() - began
                if not math.isfinite(loss):
                    raise EngineError(f"the loss became {loss} in epoch {epoch + 1}; stopped "
                                      f"({kept_text(self.run_dir, st['saved'], self.replacing)})",
                                      fix=f"lower the learning rate (was {self.opt.lr:g})")
                if not _finite(self.network):  # the epoch's last update overflowed: its loss was finite
                    raise EngineError(f"the weights became NaN or infinite in epoch {epoch + 1}; stopped "
                                      f"({kept_text(self.run_dir, st['saved'], self.replacing)})",
                                      fix=f"lower the learning rate (was {self.opt.lr:g})")
                # the weights are now those at the end of this epoch: a Ctrl-C from here on saves them
                st["finished"], st["rng"] = epoch + 1, self.rng.bit_generator.state
                self.history.append({"epoch": epoch + 1, "train_loss": loss, "train_acc": acc, "lr": self.opt.lr,
                                     "seconds": seconds, "images_per_s": len(Y) / seconds if seconds > 0 else 0.0})
                self.finish(self.history[-1])
        except KeyboardInterrupt as exc:
            compiling.drop()
            self.stop(exc)
        except OSError as exc:
            self.write_failed(exc)
        except SystemExit:  # the renderer's answer to a closed stdout (`| head`): exit 1 without a word
            self.output_closed()
        finally:
            compiling.drop()
        last = dict(self.history[-1]) if self.history else {}
        watch = getattr(self.network, "memory_watch", None)
        try:
            if watch is not None:
                self.on_event(events.MemoryMeasured(*watch.finish()))
            if last.get("test_loss") is not None:
                self.on_event(events.TestMeasured(last["epoch"], last["test_loss"], last["test_acc"]))
            self.on_event(events.RunEnded([dict(row) for row in self.history], dict(last)))
        except KeyboardInterrupt as exc:  # every epoch is saved: say so, not "nothing was written"
            self.stop(exc)
        except SystemExit:
            self.output_closed()
        return last

    def output_closed(self):
        """The output was closed under the run (a pipe's reader gone): stop, and say on stderr what is kept."""
        st = self.state
        if st["finished"] > st["saved"]:
            try:
                self._persist()
            except OSError as error:
                self.write_failed(error)
        raise EngineError(f"the output was closed (broken pipe); stopped "
                          f"({kept_text(self.run_dir, st['saved'], self.replacing)})", Mark(self.run_dir),
                          fix="continue with --resume" if st["saved"] else None) from None

    def stop(self, exc):
        """Ctrl-C or SIGTERM: save a finished epoch not yet saved, say what is kept, raise Interrupted.
        Further signals are ignored from here on (a second Ctrl-C must not cut this save short)."""
        _ignore_signals()
        st = self.state
        if st["finished"] > st["saved"]:  # stopped between the end of an epoch and its save
            try:
                self._persist()
            except OSError as error:
                self.write_failed(error)
        signum = getattr(exc, "signum", signal.SIGINT)
        self.on_event(events.Interrupted(self.run_dir, st["saved"], self.config["epochs"], self.replacing, int(signum)))
        raise Interrupted(st["saved"], dict(self.history[-1]) if self.history else {}, signum) from None

    def write_failed(self, exc):
        """A full disk or a folder gone read-only mid-run: one line that says what is still kept
        (checkpoints are replaced atomically: the previous one is whole)."""
        saved = self.state["saved"]
        raise EngineError(f"cannot write to the run directory ({exc.strerror or exc}); stopped "
                          f"({kept_text(self.run_dir, saved, self.replacing)})", Mark(self.run_dir),
                          fix=f"free some space, then {'continue with --resume' if saved else 'train again'}") from None


def _finite(network) -> bool:
    """Every weight and running statistic finite."""
    return all(np.isfinite(v).all() for v in network.state().values() if v.dtype.kind == "f")

