"""Initialisation as the frameworks do it, seeded.

conv and dense weights, with fan_in = n_C_prev/groups · f_H · f_W (conv) or n_prev (dense),
fan_out = n_C · f_H · f_W or n (torch.nn.init's _calculate_fan_in_and_fan_out). The default
scheme, "torch", is PyTorch's own:

    W, b ~ U(−1/√fan_in, 1/√fan_in)   nn.Conv2d's and nn.Linear's reset_parameters (kaiming_uniform_
                                      with a = √5, whose bound is gain·√(3/fan_in) = 1/√fan_in, and the
                                      bias bound 1/√fan_in)

Two others, for comparison with the textbooks and Keras:

"he-glorot":

    he_normal        W ~ N(0, gain²/fan_in), gain = √(2/(1 + α²))    when the layer feeds ReLU (α = 0)
                     or leaky ReLU (α its slope), directly or through batchnorm, dropout, identity,
                     max pooling or a residual add (torch.nn.init.kaiming_normal_, fan_in mode)
    glorot_uniform   W ~ U(−a, a), a = √(6/(fan_in + fan_out))       otherwise (xavier_uniform_)
    biases 0

"glorot":   glorot_uniform for every layer, biases 0 (Keras' default for Conv2D and Dense)

Batchnorm starts at γ = 1, β = 0, running mean 0 and variance 1 (engine.params).
The draws come from one numpy Generator seeded with the run's seed, layer after layer in the
graph's order, in float64 rounded once to float32: the same seed gives the same weights.
"""

from __future__ import annotations

import math

import numpy as np

RELU_FAMILY = ("relu", "leaky_relu")
# layers a ReLU after them "sees through": they keep the sign statistics He's derivation relies on
PASS_THROUGH = ("batchnorm", "dropout", "identity", "maxpool", "add")


def follower(graph, node_name: str):
    """The ReLU-family node that all paths from node_name reach through PASS_THROUGH layers, or None."""
    consumers = graph.consumers()
    frontier, found = list(consumers.get(node_name, [])), []
    seen = set()
    while frontier:
        name = frontier.pop()
        if name in seen:
            continue
        seen.add(name)
        node = graph.node(name)
        if node.kind in RELU_FAMILY:
            found.append(node)
        elif node.kind in PASS_THROUGH and consumers.get(name):
            frontier.extend(consumers[name])
        else:
            return None
    if not found or len({(n.kind, n.fields.get("alpha")) for n in found}) != 1:
        return None
    return found[0]


def scheme_for(graph, node_name: str) -> tuple[str, float]:
    """("he_normal", gain) or ("glorot_uniform", 1.0) for a conv or dense layer."""
    relu = follower(graph, node_name)
    if relu is None:
        return "glorot_uniform", 1.0
    alpha = relu.fields.get("alpha", 0.0) if relu.kind == "leaky_relu" else 0.0
    return "he_normal", math.sqrt(2.0 / (1.0 + alpha * alpha))


def fans(W: np.ndarray) -> tuple[int, int]:
    """(fan_in, fan_out) of a conv weight (n_C, n_C_prev/groups, f_H, f_W) or dense (n, n_prev)."""
    receptive = 1
    for v in W.shape[2:]:
        receptive *= v
    return W.shape[1] * receptive, W.shape[0] * receptive


SCHEMES = ("torch", "he-glorot", "glorot")
DEFAULT = "torch"


def initialise(network, seed: int, scheme: str = DEFAULT) -> dict[str, str]:
    """Draw the weights of every conv and dense layer of network (an executor.Network) in place;
    returns {layer: distribution} for the run's config."""
    if scheme not in SCHEMES:
        from cnncalc.errors import EngineError

        raise EngineError("unknown initialisation", field="init", received=scheme, allowed=", ".join(SCHEMES))
    rng = np.random.default_rng(seed)
    schemes = {}
    graph = network.graph
    for node in graph.nodes[1:]:
        if node.kind not in ("conv", "dense"):
            continue
        own = network.store.of(node.name)
        W = own["weight"]
        fan_in, fan_out = fans(W)
        if scheme == "torch":
            bound = 1.0 / math.sqrt(fan_in)
            W[...] = rng.uniform(-bound, bound, W.shape)
            if "bias" in own:
                own["bias"][...] = rng.uniform(-bound, bound, own["bias"].shape)
            schemes[node.name] = "torch_default"
            continue
        kind, gain = scheme_for(graph, node.name) if scheme == "he-glorot" else ("glorot_uniform", 1.0)
        if kind == "he_normal":
            W[...] = rng.normal(0.0, gain / math.sqrt(fan_in), W.shape)
            schemes[node.name] = "he_normal" if gain == math.sqrt(2.0) else f"he_normal (gain {gain:.4f})"
        else:
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            W[...] = rng.uniform(-limit, limit, W.shape)
            schemes[node.name] = "glorot_uniform"
        if "bias" in own:
            own["bias"][...] = 0.0
    return schemes
