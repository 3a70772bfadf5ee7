"""torchvision's model constructors as an oracle, where the wheel's compiled ops cannot load.

The torchvision wheel that pairs with torch 2.13 is linked against CUDA libraries that a CPU-only
machine lacks, so `import torchvision` fails while it registers fake (meta) kernels for its C ops
(`torchvision::nms`, …): the ops themselves never loaded. The model constructors are plain
Python and need none of those ops, so during the import the registrations of fake kernels for
`torchvision::` ops that do not exist are skipped; nothing else is touched, and the patch is
removed again at once.

    tv = torchvision_or_skip()          # in a test: skips cleanly without torch or torchvision
    model = tv.models.mobilenet_v3_small()
"""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def _skip_missing_torchvision_fakes(torch):
    library = torch.library
    original = library.register_fake

    def register_fake(op, *args, **kwargs):
        if isinstance(op, str) and op.startswith("torchvision::"):
            namespace, name = op.split("::", 1)
            if not hasattr(getattr(torch.ops, namespace), name.split(".")[0]):
                func = args[0] if args else kwargs.get("func")
                return func if func is not None else (lambda fn: fn)
        return original(op, *args, **kwargs)

    library.register_fake = register_fake
    try:
        yield
    finally:
        library.register_fake = original


def import_torchvision():
    """The torchvision module, or None where torch or torchvision is absent or still cannot import."""
    try:
        import torch
    except ImportError:
        return None
    try:
        with _skip_missing_torchvision_fakes(torch):
            import torchvision
    except Exception:  # noqa: BLE001 — any failure to import means: no oracle here
        return None
    return torchvision


def torchvision_or_skip():
    import pytest

    tv = import_torchvision()
    if tv is None:
        pytest.skip("torchvision (0.28.0, with torch 2.13.0) is not importable here")
    return tv
