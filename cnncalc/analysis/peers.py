"""Other tools' totals, as data: what torchinfo, ptflops, fvcore and thop count for each layer kind.

Each peer's convention is one table, `RULES[peer][kind]`: a tuple of (term, factor) pairs, the
peer's count for one layer being Σ factor · term. The terms are integers of the layer's row
(`terms()`): MACs and bias adds as cnncalc counts them, the elements read (`in`) or written
(`out`), the trainable parameters, and three peer-specific counts. A kind a peer's table does
not name counts 0 for it. `cnncalc` itself is the first table: its MACs (FLOPs = 2·MACs).

The rules were read from each peer's source and checked by running it (tests/test_peers.py) on
a PyTorch model built with one torch.nn module per layer (nn.Conv2d, nn.BatchNorm2d, nn.ReLU,
nn.MaxPool2d, nn.AdaptiveAvgPool2d for a global average, …; add, concat and mul as tensor
operators in forward), at batch 1 in eval mode:

  torchinfo 1.8 "Mult-Adds": Σ over modules with parameters: a Conv* module's parameters times
      its output positions n_H·n_W (conv: MACs + one per bias add), any other module's
      parameters times the batch (dense: MACs + bias adds; batchnorm: 2·n_C; prelu: its slopes).
  ptflops 0.7 (pytorch backend, count_functional on, its default): module hooks (conv and
      dense: MACs + bias adds; batchnorm: 2 per element; pooling: 1 per element read; ReLU,
      ELU, GELU, PReLU, LeakyReLU, ReLU6: 1 per element) plus patched functionals (F.relu,
      F.elu, F.gelu, F.prelu, F.silu, F.softmax, F.*pool*, F.interpolate: 1 per element read)
      — nn.ReLU calls F.relu, so it counts twice; tensor `+` and `*` are not patched.
  fvcore 0.1.5 (FlopCountAnalysis, one "flop" per MAC): aten convolution, linear and matmul
      MACs without bias; batch_norm in eval 2 per element; adaptive_avg_pool2d 1 per element
      read; upsample nearest 1, bilinear 4 per element written; everything else ignored.
  thop 0.1.1 (profile, "MACs"): conv MACs without bias (a transposed conv: its output elements
      × (n_C_prev/groups)·f_H·f_W); dense in_features per output; batchnorm 4 per element; avg
      pooling 1 per output; adaptive average (window + 1) per output; softmax 3n − 1 per vector;
      prelu 1 per element; upsample nearest 1, bilinear 11 per output; ReLU, max pooling 0;
      an unregistered module (Hardswish, SiLU, Sigmoid, …) 0.

Keras is not a table here: `Model.summary()` reports parameters only (cnncalc's `params`
totals are its "Total params"), and Keras has no FLOP count of its own (KERAS_NOTE).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from cnncalc.analysis import Report
from cnncalc.shapes import elements

PEERS = ("torchinfo", "ptflops", "fvcore", "thop")
NAMES = ("cnncalc",) + PEERS  # what --explain-diff compares
REFUSED = {"keras": "keras"}  # --as keras: a clear answer, not a count (render says why)

# Each layer kind belongs to one item of the explanation (the rows of --explain-diff).
ITEMS = ("macs", "bias", "batchnorm", "activation", "pooling", "softmax", "upsample")
_GROUP = {
    "batchnorm": "batchnorm",
    **{k: "activation" for k in ("relu", "leaky_relu", "sigmoid", "tanh", "relu6", "hardsigmoid",
                                 "hardswish", "silu", "gelu", "elu", "prelu", "identity")},
    **{k: "pooling" for k in ("maxpool", "avgpool", "global_avgpool", "global_maxpool",
                              "adaptive_avgpool", "adaptive_maxpool")},
    "softmax": "softmax",
    "upsample": "upsample",
}

_WEIGHTED = (("macs", 1),)
_WITH_BIAS = (("macs", 1), ("bias", 1))
_POOLS = ("maxpool", "avgpool", "global_avgpool", "global_maxpool", "adaptive_avgpool", "adaptive_maxpool")

RULES: dict[str, dict[str, tuple[tuple[str, int], ...]]] = {
    "cnncalc": {"conv": _WEIGHTED, "conv_transpose": _WEIGHTED, "dense": _WEIGHTED},
    "torchinfo": {
        "conv": _WITH_BIAS,
        "conv_transpose": (("param_positions", 1),),
        "dense": _WITH_BIAS,
        "batchnorm": (("params", 1),),
        "prelu": (("params", 1),),
    },
    "ptflops": {
        "conv": _WITH_BIAS,
        "conv_transpose": _WITH_BIAS,
        "dense": _WITH_BIAS,
        "batchnorm": (("out", 2),),
        **{k: (("out", 2),) for k in ("relu", "elu", "gelu", "prelu")},  # module hook + functional
        **{k: (("out", 1),) for k in ("relu6", "leaky_relu", "silu", "softmax")},
        **{k: (("in", 2),) for k in _POOLS},  # module hook + F.*pool*
        "upsample": (("out", 2),),  # module hook + F.interpolate
    },
    "fvcore": {
        "conv": _WEIGHTED,
        "conv_transpose": _WEIGHTED,
        "dense": _WEIGHTED,
        "batchnorm": (("out", 2),),
        "global_avgpool": (("in", 1),),
        "adaptive_avgpool": (("in", 1),),
        "upsample": (("upsample_fvcore", 1),),
    },
    "thop": {
        "conv": _WEIGHTED,
        "conv_transpose": (("transposed_out_macs", 1),),
        "dense": _WEIGHTED,
        "batchnorm": (("out", 4),),
        "prelu": (("out", 1),),
        "avgpool": (("out", 1),),
        "global_avgpool": (("adaptive_window", 1),),
        "adaptive_avgpool": (("adaptive_window", 1),),
        "softmax": (("softmax_thop", 1),),
        "upsample": (("upsample_thop", 1),),
    },
}

# What each tool calls its number.
UNITS = {"cnncalc": "MACs", "torchinfo": "Mult-Adds", "ptflops": "MACs", "fvcore": "flops", "thop": "MACs"}


def terms(row, fields) -> dict[str, int]:
    """The integers the peers' rules combine, for one analysed row (its spec fields beside it)."""
    out = elements(row.out_shape)
    read = elements(row.in_shapes[0]) if row.in_shapes else 0
    values = {"macs": row.macs, "in": read, "out": out, "params": row.trainable}
    if row.kind in ("conv", "dense", "conv_transpose"):
        values["bias"] = row.other_ops  # one add per output element when the layer has a bias, else 0
    if row.kind in ("conv", "conv_transpose"):
        n_H, n_W = row.out_shape[0], row.out_shape[1]
        values["param_positions"] = row.trainable * n_H * n_W
        f, groups = row.window.f, row.window.groups
        values["transposed_out_macs"] = out * (row.in_shapes[0][2] // groups) * f[0] * f[1]
    if row.kind in ("global_avgpool", "adaptive_avgpool"):
        # thop: (n_H_prev/n_H · n_W_prev/n_W + 1) per output, in floating point, truncated
        n_H_prev, n_W_prev, n_C = row.in_shapes[0]
        n_H, n_W = (1, 1) if row.kind == "global_avgpool" else row.out_shape[:2]
        values["adaptive_window"] = int((Fraction(n_H_prev, n_H) * Fraction(n_W_prev, n_W) + 1) * n_H * n_W * n_C)
    if row.kind == "softmax":
        n = row.out_shape[-1]
        values["softmax_thop"] = (out // n) * (3 * n - 1)  # n exp, n − 1 adds, n divisions per vector
    if row.kind == "upsample":
        bilinear = fields.get("mode") == "bilinear"
        values["upsample_fvcore"] = (4 if bilinear else 1) * out
        values["upsample_thop"] = (11 if bilinear else 1) * out
    return values


@dataclass(frozen=True)
class PeerCount:
    """One tool's total on a spec, split into the items of the explanation.

    items: {item: count}, every item of ITEMS; layers: {item: how many layers contributed};
    kinds: the layer kinds of the spec (its aux heads left out), for the rules worth showing.
    """

    peer: str
    total: int
    items: dict[str, int]
    layers: dict[str, int]
    kinds: frozenset = frozenset()


def item_of(kind: str, term: str) -> str:
    if term == "bias":
        return "bias"
    if kind in ("conv", "conv_transpose", "dense"):
        return "macs"
    return _GROUP.get(kind, "activation")


def count(report: Report, peer: str) -> PeerCount:
    """`peer`'s total on the spec of `report` (batch 1), item by item. The aux heads, which run in
    training only, are left out, as the peers leave them out in eval mode."""
    if report.error is not None:
        raise report.error
    table = RULES[peer]
    items = {item: 0 for item in ITEMS}
    layers = {item: 0 for item in ITEMS}
    kinds = frozenset(row.kind for row in report.rows if not row.aux)
    for row in report.rows:
        rule = table.get(row.kind)
        if not rule or row.aux:
            continue
        node = report.graph.node(row.name)
        values = terms(row, node.fields)
        seen = set()
        for term, factor in rule:
            item = item_of(row.kind, term)
            amount = factor * values[term]
            items[item] += amount
            if amount and item not in seen:
                layers[item] += 1
                seen.add(item)
    return PeerCount(peer, sum(items.values()), items, layers, kinds)


@dataclass(frozen=True)
class DiffLine:
    item: str
    a: int
    b: int

    @property
    def gap(self) -> int:
        return self.a - self.b


@dataclass(frozen=True)
class Diff:
    """--explain-diff A B: each item's count under both conventions; the gaps sum to a − b."""

    a: PeerCount
    b: PeerCount
    lines: list[DiffLine]

    @property
    def gap(self) -> int:
        return self.a.total - self.b.total


def diff(report: Report, a: str, b: str) -> Diff:
    ca, cb = count(report, a), count(report, b)
    return Diff(ca, cb, [DiffLine(item, ca.items[item], cb.items[item]) for item in ITEMS
                         if ca.items[item] or cb.items[item]])


def rule_of(peer: str, item: str, kinds=None) -> list[tuple[str, tuple[tuple[str, int], ...]]]:
    """The kinds `peer` counts under `item` (among `kinds`, if given), with their rules:
    [(kind, ((term, factor), …)), …]."""
    out = []
    for kind, pairs in RULES[peer].items():
        if kinds is not None and kind not in kinds:
            continue
        chosen = tuple((t, f) for t, f in pairs if item_of(kind, t) == item)
        if chosen:
            out.append((kind, chosen))
    return out
