"""Dropout and drop path (stochastic depth): shape unchanged, no parameters, no work at inference."""

from __future__ import annotations

from cnncalc.layers.base import Field, Inference, Kind
from cnncalc.layers.memory import FLOAT32, LayerMemory
from cnncalc.shapes import elements
from cnncalc.layers.records import Notation

TRAINER = "cnncalc.layers.dropout.train"  # the trainer roles of these kinds, for the engine only


def _infer(fields, in_shapes, rfs, name, mark, sources):  # noqa: ARG001 — Kind.infer's signature
    return Inference(out_shape=in_shapes[0], rf=rfs[0])


def _dropout_memory(row, m, need_dx, lanes):  # noqa: ARG001 — Kind.memory's signature
    """out, the float32 mask of the output's shape and dx, each (m, …) (train.DropoutLayer)."""
    n = FLOAT32 * m * elements(row.out_shape)
    return LayerMemory(output=n, kept={"masks": n}, dx=(FLOAT32 * m * elements(row.in_shapes[0]),),
                       passes_gradient=True)


def _drop_path_memory(row, m, need_dx, lanes):  # noqa: ARG001 — Kind.memory's signature
    """out and dx (m, …), and one float32 scale per sample (train.DropPathLayer)."""
    return LayerMemory(output=FLOAT32 * m * elements(row.out_shape), kept={"masks": FLOAT32 * m},
                       dx=(FLOAT32 * m * elements(row.in_shapes[0]),), passes_gradient=True)


DROPOUT = Kind("dropout", (Field("rate", "rate", 0.5, "probability of zeroing an element", aliases=("p",)),),
               _infer,
               lambda fields, inference: Notation("dropout", value=fields["rate"]),  # noqa: ARG005 — Kind.notation's
               "zero each element with probability rate while training; scale the rest by 1/(1 − rate)",
               short="rate",
               trainer=TRAINER, memory=_dropout_memory)

DROP_PATH = Kind("drop_path", (Field("rate", "rate", doc="probability of dropping a sample's whole map",
                                      aliases=("p",)),),
                 _infer,
                 lambda fields, inference: Notation("drop_path", value=fields["rate"]),  # noqa: ARG005 — Kind.notation's
                 "stochastic depth: while training, zero each sample's whole map with probability rate and scale "
                 "the kept ones by 1/(1 − rate) (torchvision's StochasticDepth, mode 'row'); the identity at "
                 "inference, so no other ops",
                 aliases=("stochastic_depth",),
                 short="rate",
                 trainer=TRAINER, memory=_drop_path_memory)

KINDS = (DROPOUT, DROP_PATH)
