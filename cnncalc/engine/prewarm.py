"""The helper's compile walk on a cold cache (layers/lanes.py): the same network, its kernels compiled in
the order the trainer needs them last.

Loop.warm_up runs the first forward and backward pass, which compiles every kernel in the order of the
pass: the forward kernels layer by layer, then the backward ones in reverse. It hands this walk to the
helper process first, which builds the same network and compiles, without running anything, the
backward kernels from the last layer down, then the forward kernels from the last layer up. Each kernel
and body is claimed by the first of the two to reach it, so the two meet in the middle and none is
compiled twice; the trainer loads from Numba's cache what the helper compiled.
"""

from __future__ import annotations

import json

import numpy as np


def payload(network, batch: int) -> dict:
    """What the helper needs to build the same network (Network.source: the spec's text, its file name and
    the input override) and to run the same passes (the rows of the warm-up's batch)."""
    spec_text, file, input_override = network.source
    return {"spec": spec_text, "file": file, "input": list(input_override) if input_override else None,
            "batch": network.batch, "rows": batch}


def walk(path: str) -> None:
    """The helper's walk over the network payload() described (a JSON file at path)."""
    from cnncalc.engine import train as tr
    from cnncalc.layers import lanes

    with open(path, encoding="utf-8") as fh:
        p = json.load(fh)
    _, net = tr.build(p["spec"], p["file"], p["batch"], tuple(p["input"]) if p["input"] else None)
    rng = np.random.default_rng(0)
    x = np.zeros((p["rows"],) + net.input_shape, np.float32)
    with np.errstate(all="ignore"):
        with lanes.walking("skip"):  # the layers' Python only: the outputs it hands on are the buffers
            logits = net.forward(x, True, rng)
        values = dict(net.values)
        with lanes.walking("compile"):
            net.backward(np.zeros_like(logits), [np.zeros_like(a) for a in net.aux_logits()])
            for layer in reversed(net.layers):
                if layer.name in values:
                    layer.forward([values[i] for i in layer.node.inputs], True, rng)
