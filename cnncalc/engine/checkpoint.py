"""Checkpoints: one .npz, written atomically (a temporary file in the same folder, fsync, os.replace).

Arrays, under prefixes:
    weights/<name>   the network's state_dict, PyTorch's names and layouts (engine.params)
    optim/<key>      the optimiser's state (velocity.<name>, or m.<name>, v.<name>; and t)
    data/mean, data/std   the per-channel normalisation of the training data, (n_C,) float32
    meta             a JSON string: format, spec text and file, run config, epoch (finished epochs),
                     the state of the training Generator (shuffles, dropout) after that epoch,
                     n_classes, class names, the metrics history and the best validation accuracy

so that resume, evaluate and predict need nothing else. A reader that crashes half-way through
a save finds the previous file untouched: the new one appears whole or not at all.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy as np

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
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".checkpoint-", suffix=".npz.tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:  # Ctrl-C or a full disk mid-write: leave the previous checkpoint as it was
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


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
    weights = {k[len("weights/"):]: v for k, v in arrays.items() if k.startswith("weights/")}
    optim = {k[len("optim/"):]: v for k, v in arrays.items() if k.startswith("optim/")}
    meta["mean"] = arrays.get("data/mean")
    meta["std"] = arrays.get("data/std")
    meta["path"] = path
    return weights, optim, meta


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= 100 else text[:97] + "..."
