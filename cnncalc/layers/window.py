"""Sliding-window rules shared by conv and pooling: padding, output size, diagnostics.

Both families quote `arith.out_length`; this module turns its record into the
resolved window (a `records.Window`), the output map size and the diagnostic records
(`records.InexactDivision`) that `render.messages` turns into the messages a student needs.
"""

from __future__ import annotations

from cnncalc.errors import Mark
from cnncalc.layers import arith
from cnncalc.layers.base import Diagnostic
from cnncalc.layers.records import InexactDivision, Window
from cnncalc.shapes import Shape, is_map, shape_text


def resolve_pads(padding, n_H: int, n_W: int, f: tuple[int, int], s: tuple[int, int],
                 d: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) for 'same', 'valid' or an explicit 4-tuple."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        top, bottom = arith.same_padding(n_H, f[0], s[0], d[0])
        left, right = arith.same_padding(n_W, f[1], s[1], d[1])
        return (top, bottom, left, right)
    return tuple(padding)


def resolve(padding, in_shape: Shape, f: tuple[int, int], s: tuple[int, int], d: tuple[int, int] = (1, 1),
            groups: int | None = None, ceil: bool | None = None) -> Window:
    """The effective window of a layer over `in_shape`: padding resolved to (top, bottom, left, right)."""
    return Window(f, s, resolve_pads(padding, in_shape[0], in_shape[1], f, s, d), d, groups, ceil,
                  padding == "same")


def require_map(kind: str, name: str, shape: Shape, mark: Mark | None, source: str) -> None:
    if not is_map(shape):
        from cnncalc.render.messages import dimension_error  # the words live in render

        raise dimension_error("needs_map", mark, ("needs_map.fix", {}), layer=name, kind=kind, n=shape[0],
                              source=source)


def require_half_kernel_padding(kind: str, name: str, mark: Mark | None, w: Window) -> None:
    """A pooling window's padding is at most ⌊f/2⌋ on each side (PyTorch's rule): more would let a
    window lie wholly in the padding, where a max has no input and an average only zeros."""
    for axis, f_a, pads in (("n_H", w.f[0], w.p[:2]), ("n_W", w.f[1], w.p[2:])):
        if max(pads) > f_a // 2:
            from cnncalc.render.messages import dimension_error  # the words live in render

            raise dimension_error("pool_padding", mark, ("pool_padding.fix", {"half": f_a // 2}), layer=name,
                                  kind=kind, p=max(pads), axis=axis, f=f_a, half=f_a // 2)


def axis_lengths(in_shape: Shape, w: Window) -> tuple[tuple[str, arith.OutLength], tuple[str, arith.OutLength]]:
    """("n_H", record), ("n_W", record): arith.out_length of the window `w` (its kernel, stride, dilation,
    paddings and ceil mode) along each axis of in_shape."""
    top, bottom, left, right = w.p
    ceil = bool(w.ceil)
    return (("n_H", arith.out_length(in_shape[0], w.f[0], w.s[0], top, bottom, w.d[0], ceil)),
            ("n_W", arith.out_length(in_shape[1], w.f[1], w.s[1], left, right, w.d[1], ceil)))


def slide(kind: str, name: str, mark: Mark | None, in_shape: Shape,
          w: Window) -> tuple[int, int, list[Diagnostic]]:
    """Output (n_H, n_W) of the window `w` over in_shape, or a DimensionError when it does not fit.

    A floor-mode division with a remainder is an `InexactDivision` record at one of two levels:
    a warning when real input rows or columns are never read and the window is at least as wide as
    its stride; a note when only padding is left unread (ResNet's 7×7 s2 p3 stem on 224), or when
    the window is narrower than its stride (ResNet's 1×1 s2 projection), which skips rows between
    its windows by design, the last one among them.
    """
    sizes = []
    inexact = []
    for axis, rec in axis_lengths(in_shape, w):
        n, d_a, p_a, p_b = rec.n, rec.d, rec.p_a, rec.p_b
        if rec.n_out < 1:
            from cnncalc.render.messages import dimension_error, window_formula  # the words live in render

            raise dimension_error("window_too_large", mark, ("window_too_large.fix", _fit_fix(n, rec.f_eff, d_a, p_a, p_b)),
                                  layer=name, kind=kind, f_eff=rec.f_eff, n=n, p_a=p_a, p_b=p_b, padded=n + p_a + p_b,
                                  axis=axis, shape=shape_text(in_shape), formula=window_formula(rec))
        if not rec.ceil and not rec.exact:
            inexact.append((axis, rec))
        sizes.append(rec.n_out)
    if len(inexact) == 2 and inexact[0][1] == inexact[1][1]:
        inexact = [(("n_H", "n_W"), inexact[0][1])]
    else:
        inexact = [((axis,), rec) for axis, rec in inexact]
    notes = []
    for axes_, rec in inexact:
        detail = inexact_division(kind, axes_, rec)
        notes.append(Diagnostic("warning" if detail.loses_input else "note", name, mark, detail))
    return sizes[0], sizes[1], notes


def inexact_division(kind: str, axes: tuple[str, ...], rec: arith.OutLength,
                     stride_free: bool = False) -> InexactDivision:
    """A floor division with a remainder, with the fixes that keep the layer's meaning.

    fix_padding: the smallest symmetric padding p < f_eff (pooling: p ≤ ⌊f/2⌋) that divides exactly;
    fix_same: conv's padding 'same' loses nothing; fix_ceil: pooling's ceil mode.  A stride is the
    architecture's downsampling factor, so a layer of a network is never told to change it; only the
    one-layer calculator (`stride_free`, no architecture around it) offers the largest stride ≤ f_eff,
    other than its own, that divides.  When neither padding nor 'same' nor ceil mode would do, the
    analysis adds the nearest input sizes for which the network divides (`fix_inputs`).
    """
    n, f_a, s_a, d_a, p_a, p_b = rec.n, rec.f, rec.s, rec.d, rec.p_a, rec.p_b
    pool = kind.endswith("pool")
    # 2p mod s repeats with period s, so the smallest p that divides, if any, lies within s of the
    # smallest p that lets the window fit: no search over a huge kernel's paddings
    most = min(f_a // 2 if pool else rec.f_eff - 1, max(rec.f_eff - n, 0) // 2 + s_a)
    pads_ok = [p for p in arith.fixing_paddings(n, f_a, s_a, d_a, limit=most) if p != p_a or p != p_b]
    strides_ok = [v for v in arith.fixing_strides(n, f_a, p_a, p_b, d_a) if v != s_a] if stride_free else []
    return InexactDivision(
        kind, axes, rec,
        fix_padding=pads_ok[0] if pads_ok else None,
        fix_stride=strides_ok[-1] if strides_ok else None,
        fix_ceil=pool,
        fix_same=not pool and not arith.out_length(n, f_a, s_a, *arith.same_padding(n, f_a, s_a, d_a), d_a).unread)


def _fit_fix(n: int, f_eff: int, d: int, p_a: int, p_b: int) -> dict:
    """The numbers of the fixes for a window larger than its padded input: the padding per side that
    makes it fit, the largest kernel that fits (undilated extent), and whether a dilation could shrink."""
    need = f_eff - n - p_a - p_b
    return {"need_each": (need + 1) // 2, "dilated": d > 1,
            "kernel_max": n + p_a + p_b if d == 1 else (n + p_a + p_b - 1) // d + 1}
