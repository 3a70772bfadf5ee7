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

Each kind states its part (`Trainer.init` in its family's train.py): the fans of a weight that is
drawn, the gain an activation asks of the layer before it, whether that request passes through.
Batchnorm starts at γ = 1, β = 0, running mean 0 and variance 1 (engine.params).
The draws come from one numpy Generator seeded with the run's seed, layer after layer in the
graph's order, in float64 rounded once to float32: the same seed gives the same weights.
"""

from __future__ import annotations

import math

import numpy as np


def _roles(graph) -> dict:
    """{kind: its layers.adapter.InitRole} for the kinds of graph that have a trainer."""
    from cnncalc import layers

    out = {}
    for node in graph.nodes[1:]:
        role = layers.trainer(node.kind)
        if role is not None:
            out[node.kind] = role.init
    return out


def follower(graph, node_name: str):
    """The gain-asking node (the ReLU family) that all paths from node_name reach through kinds that
    see through (InitRole.see_through: batchnorm, dropout, identity, max pooling, add), or None."""
    roles = _roles(graph)
    consumers = graph.consumers()
    frontier, found = list(consumers.get(node_name, [])), []
    seen = set()
    while frontier:
        name = frontier.pop()
        if name in seen:
            continue
        seen.add(name)
        node = graph.node(name)
        role = roles.get(node.kind)
        if role is not None and role.gain is not None:
            found.append(node)
        elif role is not None and role.see_through and consumers.get(name):
            frontier.extend(consumers[name])
        else:
            return None
    if not found or len({(n.kind, roles[n.kind].gain(n.fields)) for n in found}) != 1:
        return None
    return found[0]


def scheme_for(graph, node_name: str) -> tuple[str, float]:
    """("he_normal", gain) or ("glorot_uniform", 1.0) for a layer whose weight is drawn."""
    asking = follower(graph, node_name)
    if asking is None:
        return "glorot_uniform", 1.0
    return "he_normal", _roles(graph)[asking.kind].gain(asking.fields)


SCHEMES = ("torch", "he-glorot", "glorot")
DEFAULT = "torch"


def initialise(network, seed: int, scheme: str = DEFAULT) -> dict[str, str]:
    """Draw the weights of every layer whose kind has fans (conv, dense) of network (an executor.Network) in place;
    returns {layer: distribution} for the run's config."""
    if scheme not in SCHEMES:
        from cnncalc.errors import EngineError

        raise EngineError("unknown initialisation", field="init", received=scheme, allowed=", ".join(SCHEMES))
    rng = np.random.default_rng(seed)
    schemes = {}
    graph = network.graph
    roles = _roles(graph)
    for node in graph.nodes[1:]:
        role = roles.get(node.kind)
        if role is None or role.fans is None:  # not a kind whose weight is drawn
            continue
        own = network.store.of(node.name)
        W = own["weight"]
        fan_in, fan_out = role.fans({k: v.shape for k, v in own.items()})
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
