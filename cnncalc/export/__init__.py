"""Exporters: a spec (and its trained weights) to other frameworks. pytorch: a readable nn.Module file,
its state_dict and a torchrun training script (export/torchrun.py); onnx: an ONNX model with its
initializers (export/onnx.py)."""
