"""Element-wise activations: shape unchanged, no parameters.

Other work counted per output element: 1 for relu, leaky_relu, sigmoid, tanh, and for the
activations of modern nets that apply one function to one value: relu6, hardsigmoid, hardswish,
silu, gelu, elu, prelu (the convention counts a function, not the arithmetic inside it);
3 for softmax (exp, sum, divide); 0 for identity.

prelu learns its slope: num_parameters = 1 (one slope shared by every channel) or n_C (one per
channel, the last axis of a map or of a flat vector), as torch.nn.PReLU; those are its params.
"""

from __future__ import annotations

from cnncalc.layers.base import Field, Inference, Kind, fixed_notation
from cnncalc.layers.memory import pass_through
from cnncalc.layers.records import Notation
from cnncalc.shapes import elements, shape_text

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
                trainer=TRAINER, memory=pass_through)

RELU6 = Kind("relu6", (), _elementwise(1), fixed_notation("relu6"), "min(max(0, x), 6)",
             trainer=TRAINER)
HARDSIGMOID = Kind("hardsigmoid", (), _elementwise(1), fixed_notation("hardsigmoid"),
                   "relu6(x + 3)/6: 0 below −3, 1 above 3", aliases=("hard_sigmoid",), trainer=TRAINER)
HARDSWISH = Kind("hardswish", (), _elementwise(1), fixed_notation("hardswish"),
                 "x·relu6(x + 3)/6 (MobileNetV3)", aliases=("hard_swish",), trainer=TRAINER)
SILU = Kind("silu", (), _elementwise(1), fixed_notation("silu"), "x·σ(x) (EfficientNet's swish)",
            aliases=("swish",), trainer=TRAINER)
GELU = Kind("gelu", (Field("approximate", "choice", "none", "'none': x·Φ(x) with erf; 'tanh': "
                           "x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³))), as torch.nn.GELU",
                           choices=("none", "tanh")),),
            _elementwise(1),
            lambda fields, inference: Notation("gelu", label="" if fields["approximate"] == "none"  # noqa: ARG005
                                               else fields["approximate"]),
            "x·Φ(x), Φ the standard normal CDF", short="approximate", trainer=TRAINER)
ELU = Kind("elu", (Field("alpha", "pos_float", 1.0, "α in α·(e^x − 1) for x ≤ 0"),),
           _elementwise(1),
           lambda fields, inference: Notation("elu", value=fields["alpha"]),  # noqa: ARG005
           "x for x > 0, α·(e^x − 1) otherwise", short="alpha", trainer=TRAINER)


def _prelu_infer(fields, in_shapes, rfs, name, mark, sources):  # noqa: ARG001 — Kind.infer's signature
    shape = in_shapes[0]
    n_C = shape[-1]
    count = fields["num_parameters"]
    if count not in (1, n_C):
        from cnncalc.render.messages import dimension_error  # the words live in render

        raise dimension_error("prelu", mark, ("prelu.fix", {"n_C": n_C}), layer=name, n_C=n_C, source=sources[0],
                              shape=shape_text(shape), count=count)
    return Inference(out_shape=shape, trainable=count, other_ops=elements(shape), rf=rfs[0])


PRELU = Kind("prelu", (Field("num_parameters", "pos_int", 1, "learned slopes: 1, or one per channel (n_C)",
                             aliases=("slopes",)),
                       Field("init", "float", 0.25, "the slopes' starting value (PyTorch's 0.25)")),
             _prelu_infer, fixed_notation("prelu"), "x for x > 0, a·x otherwise, a learned",
             short="num_parameters", trainer=TRAINER)

KINDS = (RELU, LEAKY_RELU, SIGMOID, TANH, SOFTMAX, IDENTITY, RELU6, HARDSIGMOID, HARDSWISH, SILU, GELU, ELU,
         PRELU)
