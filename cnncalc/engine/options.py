"""The settings of a training run: the metrics' names, the initialisation schemes, the option checks.

The optimiser and schedule names are engine.optim's (their one definition)."""

from __future__ import annotations

import math
import os

from cnncalc.engine.optim import OPTIMIZERS, SCHEDULES
from cnncalc.errors import EngineError, Mark

METRICS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "lr", "seconds",
           "images_per_s")
INIT_TEXT = {"torch": "PyTorch's defaults: weights and biases U(±1/√fan_in); batchnorm γ 1, β 0",
             "he-glorot": "he_normal before ReLU-family layers, glorot_uniform otherwise; biases 0; batchnorm γ 1, β 0",
             "glorot": "glorot_uniform for every layer (Keras' default); biases 0; batchnorm γ 1, β 0"}



def _check_options(epochs, batch_size, lr, optimizer, momentum, weight_decay, schedule, threads, val_fraction):
    def bad(field, value, allowed):
        raise EngineError("invalid training option", field=field, received=value, allowed=allowed)

    if optimizer not in OPTIMIZERS:
        bad("optimizer", optimizer, ", ".join(OPTIMIZERS))
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



def _stored_source(data: str | None) -> str:
    """The data source as config.json keeps it: 'synthetic', a data set's name (found again in the
    cache on resume), or an absolute path, so that a resume from another folder reads the same files."""
    from cnncalc.data.catalog import CATALOGUE

    if data in (None, "synthetic"):
        return "synthetic"
    if data in CATALOGUE and not os.path.exists(data):
        return data
    return os.path.abspath(data)

