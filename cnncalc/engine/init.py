"""Initialisation as the frameworks do it, seeded.

He (Kaiming) normal, std = √(2 / fan_in), for conv and dense layers followed by ReLU or leaky
ReLU (through a batchnorm or not); Glorot (Xavier) uniform, limit = √(6 / (fan_in + fan_out)),
for the rest. Biases start at 0, batchnorm at γ = 1, β = 0.
fan_in = n_C_prev/groups · f_H · f_W (conv) or n_prev (dense); fan_out = n_C · f_H · f_W or n.
"""

from __future__ import annotations

import numpy as np

RELU_FAMILY = ("relu", "leaky_relu")


def scheme_for(graph, node_name) -> str:
    consumers = graph.consumers()
    nxt = consumers.get(node_name, [])
    while len(nxt) == 1 and graph.node(nxt[0]).kind in ("batchnorm", "dropout", "identity"):
        nxt = consumers.get(nxt[0], [])
    return "he_normal" if nxt and all(graph.node(n).kind in RELU_FAMILY for n in nxt) else "glorot_uniform"


def initialise(network, seed: int) -> dict[str, str]:
    """Fill the network's weights; returns the scheme used per layer (recorded in the run config)."""
    rng = np.random.default_rng(seed)
    schemes = {}
    for node in network.nodes:
        key = f"{node.name}.weight"
        if node.kind not in ("conv", "dense") or key not in network.params:
            continue
        W = network.params[key]
        receptive = int(np.prod(W.shape[2:])) if W.ndim == 4 else 1
        fan_in, fan_out = W.shape[1] * receptive, W.shape[0] * receptive
        scheme = scheme_for(network.graph, node.name)
        if scheme == "he_normal":
            W[...] = rng.normal(0.0, np.sqrt(2.0 / fan_in), W.shape)
        else:
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            W[...] = rng.uniform(-limit, limit, W.shape)
        if f"{node.name}.bias" in network.params:
            network.params[f"{node.name}.bias"][...] = 0.0
        schemes[node.name] = scheme
    return schemes
