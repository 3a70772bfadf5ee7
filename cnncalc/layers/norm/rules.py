"""Batch normalisation over channels (maps) or features (flat vectors).

    trainable γ, β: 2·n_C;  non-trainable running mean and variance: 2·n_C   (arith.batchnorm_params)
PyTorch's parameter count is the trainable one; Keras' "Total params" adds the running statistics.
Other work: 2 per element (scale and shift, with the statistics folded as at inference).
"""

from __future__ import annotations

from cnncalc.layers import arith
from cnncalc.layers.base import Field, Inference, Kind, fixed_notation
from cnncalc.layers.memory import FLOAT32, LayerMemory
from cnncalc.shapes import elements

TRAINER = "cnncalc.layers.norm.train"  # the trainer roles of these kinds, for the engine only


def _infer(fields, in_shapes, rfs, name, mark, sources):  # noqa: ARG001 — Kind.infer's signature
    shape = in_shapes[0]
    n_C = shape[-1]
    trainable, fixed = arith.batchnorm_params(n_C)
    return Inference(out_shape=shape, trainable=trainable, non_trainable=fixed, other_ops=2 * elements(shape),
                     rf=rfs[0])


SCRATCH_ROWS = 6  # float64 rows of the kernels' per-position sums and constants (kernels.py takes it from here)


def _memory(row, m, need_dx, lanes):  # noqa: ARG001 — Kind.memory's signature
    """out and dx (m, …); the saved mean and 1/σ, float32 (n_C,) each; the kernels' float64 scratch,
    (SCRATCH_ROWS, n_H·n_W·n_C), leased from the arena (train.BatchNormLayer)."""
    from cnncalc.layers.workspace import lease_bytes

    per_image = elements(row.out_shape)
    return LayerMemory(output=FLOAT32 * m * per_image, dx=(FLOAT32 * m * elements(row.in_shapes[0]),),
                       kept={"statistics": 2 * FLOAT32 * row.out_shape[-1]},
                       scratch=lease_bytes({"scratch": ((SCRATCH_ROWS, per_image), "float64")}),
                       counters=8)  # num_batches_tracked, int64


BATCHNORM = Kind("batchnorm",
                 (Field("eps", "pos_float", 1e-5, "added to the variance", aliases=("epsilon",)),
                  Field("momentum", "rate", 0.1, "running-statistics update rate (PyTorch's convention)")),
                 _infer, fixed_notation("batchnorm"),
                 "normalise each channel by batch statistics, then scale by γ and shift by β",
                 aliases=("bn", "batch_norm", "batchnorm2d", "batchnorm1d"),
                 trainer=TRAINER, memory=_memory)

KINDS = (BATCHNORM,)
