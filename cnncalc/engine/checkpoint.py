"""Checkpoints: one .npz, written atomically (a temporary file in the same folder, then os.replace).

Holds the weights under their PyTorch names (`weights/<name>`), the optimiser state
(`optim/<key>`), and `meta`: a JSON string with the spec text, the config, the epoch and the
data's normalisation, so that evaluate and predict need nothing else.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy as np

from cnncalc.errors import EngineError, Mark


def save(path: str, weights: dict, optim_state: dict, meta: dict) -> None:
    arrays = {f"weights/{k}": v for k, v in weights.items()}
    arrays.update({f"optim/{k}": v for k, v in optim_state.items()})
    arrays["meta"] = np.array(json.dumps(meta))
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".checkpoint-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path: str):
    """(weights, optim_state, meta) or an EngineError naming the file."""
    if os.path.isdir(path):
        path = os.path.join(path, "last.npz")
    if not os.path.exists(path):
        raise EngineError("no such checkpoint", Mark(path), allowed="a run directory or a .npz checkpoint")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise EngineError(f"not a readable cnncalc checkpoint ({exc})", Mark(path)) from None
    weights = {k[len("weights/"):]: v for k, v in arrays.items() if k.startswith("weights/")}
    optim = {k[len("optim/"):]: v for k, v in arrays.items() if k.startswith("optim/")}
    return weights, optim, meta
