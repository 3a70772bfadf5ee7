"""Dense (fully connected) and flatten.

    params = (n_prev + 1)·n   (arith.dense_params),  MACs = n_prev·n   (arith.dense_macs)
    flatten: n_H×n_W×n_C → n_H·n_W·n_C
"""

from __future__ import annotations

from cnncalc.layers import arith
from cnncalc.layers.base import Field, Inference, Kind, fixed_notation
from cnncalc.layers.memory import FLOAT32, LayerMemory, pass_through
from cnncalc.layers.records import Notation
from cnncalc.shapes import elements, is_map, shape_text

TRAINER = "cnncalc.layers.dense.train"  # the trainer roles of these kinds, for the engine only


def _dense_infer(fields, in_shapes, rfs, name, mark, sources):
    in_shape = in_shapes[0]
    if is_map(in_shape):
        from cnncalc.render.messages import dimension_error  # the words live in render

        raise dimension_error("dense_map", mark, ("dense_map.fix", {"flat": elements(in_shape), "n_C": in_shape[2]}),
                              layer=name, shape=shape_text(in_shape), source=sources[0])
    n_prev, n = in_shape[0], fields["units"]
    return Inference(
        out_shape=(n,),
        trainable=arith.dense_params(n_prev, n, fields["bias"]),
        macs=arith.dense_macs(n_prev, n),
        other_ops=n if fields["bias"] else 0,
        rf=rfs[0],
    )


def _dense_notation(fields, inference) -> Notation:  # noqa: ARG001 — Kind.notation's signature
    return Notation("dense", n=fields["units"], bias=fields["bias"])


def _dense_memory(row, m, need_dx, lanes):  # noqa: ARG001 — Kind.memory's signature
    """out (m, n) and, only when the producer wants a gradient, dx (m, n_prev) (train.DenseLayer)."""
    return LayerMemory(output=FLOAT32 * m * elements(row.out_shape),
                       dx=(FLOAT32 * m * elements(row.in_shapes[0]) if need_dx[0] else 0,))


DENSE = Kind("dense", (Field("units", "pos_int", doc="number of units n", aliases=("n", "out_features")),
                       Field("bias", "bool", True, "add a bias per unit", aliases=("use_bias",))),
             _dense_infer, _dense_notation, "fully connected: n units, each reading all n_prev inputs",
             aliases=("fc", "linear", "fully_connected"), short="units",
             trainer=TRAINER, memory=_dense_memory)


def _flatten_infer(fields, in_shapes, rfs, name, mark, sources):  # noqa: ARG001 — Kind.infer's signature
    in_shape = in_shapes[0]
    if not is_map(in_shape):
        return Inference(out_shape=in_shape, rf=rfs[0])
    n_H, n_W, n_C = in_shape
    # after flatten every output sees the whole map: a window of n_H×n_W
    return Inference(out_shape=(elements(in_shape),), rf=rfs[0].step(n_H, n_W, 1, 1))


FLATTEN = Kind("flatten", (), _flatten_infer, fixed_notation("flatten"),
               "n_H×n_W×n_C → n_H·n_W·n_C (channel-major, PyTorch's order)",
               trainer=TRAINER, memory=pass_through)

KINDS = (DENSE, FLATTEN)
