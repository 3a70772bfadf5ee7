"""What `cnncalc export` says it wrote: one line per file."""

from __future__ import annotations


def written(exported) -> str:
    """exported: export.pytorch.Exported → 'wrote net.py (the module)' lines; export.onnx.ExportedOnnx →
    one line naming the opset."""
    if hasattr(exported, "opset"):
        return f"wrote {exported.model} (the ONNX model, opset {exported.opset}, IR version {exported.ir_version})\n"
    lines = [f"wrote {exported.module} (the nn.Module)"]
    if exported.weights:
        lines.append(f"wrote {exported.weights} (its state_dict: model.load_state_dict(torch.load(path)))")
    if exported.script:
        lines.append(f"wrote {exported.script} (train with: torchrun --standalone --nproc_per_node=N "
                     f"{exported.script})")
    return "\n".join(lines) + "\n"
