"""The same graph run by PyTorch's functional ops: the oracle for the engine's numbers."""

import torch
import torch.nn.functional as F


def torch_forward(graph, rows, params, buffers, x, train):
    """params/buffers: dicts of torch tensors under the engine's names; returns logits before a final softmax."""
    values = {"input": x}
    last = graph.node(graph.output)
    logits = last.inputs[0] if last.kind == "softmax" else last.name
    for node in graph.nodes[1:]:
        if node.name == graph.output and node.name != logits:
            break
        f, name, row = node.fields, node.name, rows[node.name]
        xs = [values[i] for i in node.inputs]
        v = xs[0]
        if node.kind == "conv":
            t, b, l, r = row.resolved["pads"]
            v = F.conv2d(F.pad(v, (l, r, t, b)), params[f"{name}.weight"], params.get(f"{name}.bias"),
                         f["stride"], 0, f["dilation"], row.resolved["groups"])
        elif node.kind in ("maxpool", "avgpool"):
            t, b, l, r = row.resolved["pads"]
            assert t == b and l == r, "the oracle pools take symmetric padding"
            if node.kind == "maxpool":
                v = F.max_pool2d(v, f["kernel"], row.resolved["stride"], (t, l), ceil_mode=f["ceil_mode"])
            else:
                v = F.avg_pool2d(v, f["kernel"], row.resolved["stride"], (t, l), ceil_mode=f["ceil_mode"],
                                 count_include_pad=f["count_include_pad"])
        elif node.kind == "global_avgpool":
            v = v.mean((2, 3))
        elif node.kind == "flatten":
            v = v.flatten(1)
        elif node.kind == "dense":
            v = F.linear(v, params[f"{name}.weight"], params.get(f"{name}.bias"))
        elif node.kind == "relu":
            v = F.relu(v)
        elif node.kind == "leaky_relu":
            v = F.leaky_relu(v, f["alpha"])
        elif node.kind == "sigmoid":
            v = torch.sigmoid(v)
        elif node.kind == "tanh":
            v = torch.tanh(v)
        elif node.kind == "softmax":
            v = F.softmax(v, dim=-1)
        elif node.kind == "batchnorm":
            v = F.batch_norm(v, buffers[f"{name}.running_mean"], buffers[f"{name}.running_var"],
                             params[f"{name}.weight"], params[f"{name}.bias"], train, f["momentum"], f["eps"])
        elif node.kind == "add":
            v = sum(xs[1:], xs[0])
        elif node.kind == "concat":
            v = torch.cat(xs, 1)
        elif node.kind in ("identity", "dropout"):
            pass
        else:
            raise NotImplementedError(node.kind)
        values[name] = v
    return values[logits]
