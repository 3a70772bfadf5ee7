"""Checkpoints: one .npz, written atomically (engine.atomic: a temporary file in the same folder,
fsync, os.replace).

Arrays, under prefixes:
    weights/<name>   the network's state_dict, PyTorch's names and layouts (engine.params)
    optim/<key>      the optimiser's state (velocity.<name>, or m.<name>, v.<name>; and t)
    data/mean, data/std   the per-channel normalisation of the training data, (n_C,) float32
    meta             a JSON string: format, spec text and file, run config, epoch (finished epochs),
                     the state of the training Generator (shuffles, dropout) after that epoch,
                     n_classes, class names, the metrics history and the best validation accuracy

so that resume, evaluate and predict need nothing else. A reader that crashes half-way through
a save finds the previous file untouched: the new one appears whole or not at all. A save killed
outright (SIGKILL, power) leaves its hidden temporary behind; the next run clears it when it takes
the directory's lock (atomic.remove_stale). A checkpoint is created with mode 0666 less the
umask, as every other file of the run is.

load() checks the type of every meta field it reads and refuses non-finite weights and
optimiser state, naming the field or the parameter, so that a damaged or hand-edited file is
one error line rather than a traceback or a network that predicts NaN.
"""

from __future__ import annotations

import json
import math
import os
import zipfile

import numpy as np

from cnncalc.engine import atomic
from cnncalc.engine.options import METRICS
from cnncalc.errors import EngineError, Mark

FORMAT = "cnncalc-checkpoint-1"


def save(path: str, weights: dict, optim_state: dict, meta: dict, mean=None, std=None) -> None:
    """Write path atomically; weights and optim_state are {name: array}, meta JSON-serialisable."""
    arrays = {f"weights/{k}": np.asarray(v) for k, v in weights.items()}
    arrays.update({f"optim/{k}": np.asarray(v) for k, v in optim_state.items()})
    if mean is not None:
        arrays["data/mean"] = np.asarray(mean, np.float32)
        arrays["data/std"] = np.asarray(std, np.float32)
    arrays["meta"] = np.array(json.dumps({"format": FORMAT, **meta}))
    with atomic.replacing(path) as fh:
        np.savez(fh, **arrays)


def resolve(path: str) -> str:
    """A run directory means its last.npz."""
    return os.path.join(path, "last.npz") if os.path.isdir(path) else path


def load(path: str):
    """(weights, optim_state, meta) with meta["mean"], meta["std"] as float32 arrays (or None);
    an EngineError naming the file when it is missing, unreadable or not a cnncalc checkpoint."""
    given = path
    path = resolve(path)
    if not os.path.exists(path):
        if os.path.isdir(given):
            raise EngineError("no such checkpoint (the run directory has no last.npz)", Mark(given),
                              fix="train first, or give a .npz checkpoint")
        raise EngineError("no such checkpoint", Mark(path), allowed="a run directory or a .npz checkpoint")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise EngineError(f"not a readable cnncalc checkpoint ({_short(exc)})", Mark(path)) from None
    if "meta" not in arrays:
        raise EngineError("not a cnncalc checkpoint (no meta record)", Mark(path),
                          received=sorted(arrays)[:5], allowed="a last.npz or best.npz written by cnncalc train")
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except json.JSONDecodeError as exc:
        raise EngineError(f"the checkpoint's meta record is corrupt ({_short(exc)})", Mark(path)) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise EngineError("not a checkpoint this version of cnncalc reads", Mark(path), received=found,
                          allowed=FORMAT)
    for key in ("spec", "spec_file", "config", "epoch", "rng", "history"):
        if key not in meta:
            raise EngineError(f"the checkpoint's meta record has no {key}", Mark(path))
    _check_meta(meta, path)
    weights = {k[len("weights/"):]: v for k, v in arrays.items() if k.startswith("weights/")}
    optim = {k[len("optim/"):]: v for k, v in arrays.items() if k.startswith("optim/")}
    for prefix, group in (("weights", weights), ("optim", optim)):
        for name, value in group.items():
            if value.dtype.kind not in "fiub":
                raise EngineError("the checkpoint holds a parameter that is not numbers", Mark(path),
                                  field=f"{prefix}/{name}", received=str(value.dtype), allowed="float32 arrays")
            if value.dtype.kind == "f" and not np.isfinite(value).all():
                bad = int(value.size - np.count_nonzero(np.isfinite(value)))
                raise EngineError(f"the checkpoint's {prefix}/{name} holds {bad} NaN or infinite "
                                  f"value{'s' if bad != 1 else ''}", Mark(path),
                                  fix="use an earlier checkpoint (best.npz) or train again")
    meta["mean"] = arrays.get("data/mean")
    meta["std"] = arrays.get("data/std")
    meta["path"] = path
    return weights, optim, meta


# meta field → (check, what is allowed); None is allowed where the writer may leave a field out
def _whole(minimum):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= minimum


def _number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _text(v):
    return isinstance(v, str)


def _optional(check):
    return lambda v: v is None or check(v)


def _list_of(check):
    return lambda v: isinstance(v, list) and all(check(x) for x in v)


META_FIELDS = {
    "spec": (_text, "text"), "spec_file": (_text, "text"), "config": (lambda v: isinstance(v, dict), "a mapping"),
    "epoch": (_whole(0), "a whole number ≥ 0"), "evaluated": (_optional(_whole(0)), "a whole number ≥ 0"),
    "rng": (lambda v: isinstance(v, dict), "a mapping"),
    "history": (_list_of(lambda r: isinstance(r, dict)), "a list of mappings"),
    "n_classes": (_optional(_whole(1)), "a whole number ≥ 1"),
    "class_names": (_optional(_list_of(_text)), "a list of names"),
    "best_val_acc": (_optional(lambda v: _number(v) or v == -1.0), "a number"),
    "input_shape": (_optional(_list_of(_whole(1))), "a list of whole numbers ≥ 1"),
}
CONFIG_FIELDS = {
    "spec": (_text, "text"), "data": (_text, "text"), "epochs": (_whole(1), "a whole number ≥ 1"),
    "batch_size": (_whole(1), "a whole number ≥ 1"), "lr": (lambda v: _number(v) and v > 0, "a positive number"),
    "optimizer": (_text, "text"), "momentum": (_number, "a number"), "weight_decay": (_number, "a number"),
    "schedule": (_text, "text"), "seed": (_whole(0), "a whole number ≥ 0"), "val_fraction": (_number, "a number"),
    "input": (_optional(_list_of(_whole(1))), "a list of whole numbers ≥ 1 or null"),
    "threads_requested": (_optional(_whole(1)), "a whole number ≥ 1 or null"),
}
# the settings resume, evaluate and predict read; a checkpoint without one is refused by name
CONFIG_REQUIRED = ("data", "epochs", "batch_size", "lr", "optimizer", "momentum", "weight_decay", "schedule", "seed",
                   "val_fraction")
HISTORY_FIELDS = METRICS  # a history row is a metrics.json row


def _check_meta(meta: dict, path: str) -> None:
    """Every field resume, evaluate and predict read, of the type they read it as (EngineError naming it)."""
    def bad(field, value, allowed):
        raise EngineError("the checkpoint's meta record has a field of the wrong type", Mark(path),
                          field=field, received=value, allowed=allowed)

    for key, (check, allowed) in META_FIELDS.items():
        if key in meta and not check(meta[key]):
            bad(f"meta.{key}", meta[key], allowed)
    for key, (check, allowed) in CONFIG_FIELDS.items():
        if key in meta["config"] and not check(meta["config"][key]):
            bad(f"meta.config.{key}", meta["config"][key], allowed)
    for i, row in enumerate(meta["history"]):
        for key in HISTORY_FIELDS:
            value = row.get(key)
            if value is not None and not (_whole(1)(value) if key == "epoch" else isinstance(value, (int, float))
                                          and not isinstance(value, bool)):
                bad(f"meta.history[{i}].{key}", value, "a whole number ≥ 1" if key == "epoch" else "a number")


def check_run(meta: dict) -> None:
    """What resume, evaluate and predict need of a run's checkpoint beyond load()'s types: every
    setting they read, and a history of one row per finished epoch (a hand-edited or spliced
    meta record is one error line, not a KeyError)."""
    path = meta["path"]
    for key in CONFIG_REQUIRED:
        if key not in meta["config"]:
            raise EngineError(f"the checkpoint's meta record has no config.{key}", Mark(path))
    history, epoch = meta["history"], meta["epoch"]
    evaluated = meta.get("evaluated", epoch)
    if len(history) != epoch or (evaluated or 0) > epoch:
        raise EngineError(f"the checkpoint's meta record is inconsistent: epoch {epoch}, "
                          f"{len(history)} history rows, evaluated {evaluated}", Mark(path),
                          fix="use the run's best.npz or train again")
    for i, row in enumerate(history):
        if row.get("epoch") != i + 1:
            raise EngineError("the checkpoint's meta record has a history out of order", Mark(path),
                              field=f"meta.history[{i}].epoch", received=row.get("epoch"), allowed=str(i + 1))
        for key in ("train_loss", "train_acc"):
            if key not in row:
                raise EngineError(f"the checkpoint's meta record has no history[{i}].{key}", Mark(path))


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= 100 else text[:97] + "..."
