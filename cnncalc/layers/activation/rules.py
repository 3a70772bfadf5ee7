"""Element-wise activations: shape unchanged, no parameters.

Other work counted per output element: 1 for relu, leaky_relu, sigmoid, tanh;
3 for softmax (exp, sum, divide); 0 for identity.
"""

from __future__ import annotations

from cnncalc.layers.base import Field, Inference, Kind, fixed_notation
from cnncalc.layers.records import Notation
from cnncalc.shapes import elements

TRAINER = "cnncalc.layers.activation.train"  # the trainer roles of these kinds, for the engine only


def _elementwise(ops_per_element: int):
    def infer(fields, in_shapes, rfs, name, mark, sources):  # noqa: ARG001 — Kind.infer's signature
        shape = in_shapes[0]
        return Inference(out_shape=shape, other_ops=ops_per_element * elements(shape), rf=rfs[0])
    return infer


RELU = Kind("relu", (), _elementwise(1), fixed_notation("relu"), "max(0, x)",
            trainer=TRAINER)
LEAKY_RELU = Kind("leaky_relu", (Field("alpha", "float", 0.01, "slope for x < 0",
                                       aliases=("negative_slope", "slope")),),
                  _elementwise(1),
                  lambda fields, inference: Notation("leaky_relu", value=fields["alpha"]),  # noqa: ARG005
                  "x for x ≥ 0, alpha·x otherwise", aliases=("leakyrelu", "lrelu"), short="alpha",
                  trainer=TRAINER)
SIGMOID = Kind("sigmoid", (), _elementwise(1), fixed_notation("sigmoid"), "1/(1 + e^−x)",
               trainer=TRAINER)
TANH = Kind("tanh", (), _elementwise(1), fixed_notation("tanh"), "tanh(x)",
            trainer=TRAINER)
SOFTMAX = Kind("softmax", (), _elementwise(3), fixed_notation("softmax"),
               "e^x_i / Σ_j e^x_j over the last axis (training fuses it with cross-entropy)",
               trainer=TRAINER)
IDENTITY = Kind("identity", (), _elementwise(0), fixed_notation("identity"), "passes its input through",
                aliases=("linear_activation", "noop"),
                trainer=TRAINER)

KINDS = (RELU, LEAKY_RELU, SIGMOID, TANH, SOFTMAX, IDENTITY)
