"""Sliding-window rules shared by conv and pooling: padding, output size, diagnostics.

Both families quote `arith.out_length`; this module turns its record into the
resolved padding, the output map size and the messages a student needs.
"""

from __future__ import annotations

from fractions import Fraction

from cnncalc.errors import DimensionError, Mark
from cnncalc.layers import arith
from cnncalc.layers.base import Diagnostic, Shape, is_map, show_shape


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


def require_map(kind: str, name: str, shape: Shape, mark: Mark | None, source: str) -> None:
    if not is_map(shape):
        raise DimensionError(
            f"{name}: {kind} needs an n_H×n_W×n_C feature map but reads a flat vector of {shape[0]} from {source}",
            mark, fix="move flatten (or global_avgpool) after the last conv/pool layer")


def slide(kind: str, name: str, mark: Mark | None, in_shape: Shape, f: tuple[int, int],
          s: tuple[int, int], d: tuple[int, int], pads: tuple[int, int, int, int],
          ceil: bool = False) -> tuple[int, int, list[Diagnostic]]:
    """Output (n_H, n_W) of a window over in_shape, or a DimensionError when it does not fit.

    A floor-mode division that leaves real input rows or columns unread is a warning
    naming them, with the paddings and strides that would divide exactly.
    """
    top, bottom, left, right = pads
    axes = (("n_H", "row", in_shape[0], f[0], s[0], d[0], top, bottom),
            ("n_W", "column", in_shape[1], f[1], s[1], d[1], left, right))
    sizes = []
    inexact = []
    for axis, unit, n, f_a, s_a, d_a, p_a, p_b in axes:
        rec = arith.out_length(n, f_a, s_a, p_a, p_b, d_a, ceil)
        if rec.n_out < 1:
            raise DimensionError(
                f"{name}: {kind} window {rec.f_eff} is larger than the padded input "
                f"{n} + {p_a} + {p_b} = {n + p_a + p_b} along {axis} (input {show_shape(in_shape)}); {rec.formula()}",
                mark, fix=_fit_fix(n, rec.f_eff, d_a, p_a, p_b))
        if rec.unread:  # a remainder that falls in the padding loses nothing (ResNet's 7×7 s2 p3 stem)
            inexact.append((axis, unit, rec))
        sizes.append(rec.n_out)
    notes: list[Diagnostic] = []
    if len(inexact) == 2 and inexact[0][2].formula() == inexact[1][2].formula():
        notes.append(_inexact(kind, name, mark, "n_H and n_W", "row and column", inexact[0][2]))
    else:
        notes += [_inexact(kind, name, mark, axis, unit, rec) for axis, unit, rec in inexact]
    return sizes[0], sizes[1], notes


def _inexact(kind: str, name: str, mark: Mark | None, axis: str, unit: str, rec: arith.OutLength) -> Diagnostic:
    """The warning for a floor division that drops input: the arithmetic, what is lost, what divides."""
    n, f_a, s_a, d_a, p_a, p_b = rec.n, rec.f, rec.s, rec.d, rec.p_a, rec.p_b
    exact_value = Fraction(rec.span, s_a) + 1
    pads_ok = [p for p in arith.fixing_paddings(n, f_a, s_a, d_a) if p != p_a or p != p_b]
    strides_ok = [v for v in arith.fixing_strides(n, f_a, p_a, p_b, d_a) if v != s_a]
    fixes = []
    if pads_ok:
        fixes.append(f"padding {pads_ok[0]}")
    if strides_ok:
        fixes.append(f"stride {strides_ok[-1]}")
    if kind.endswith("pool"):
        fixes.append("ceil_mode: true")
    elif not arith.out_length(n, f_a, s_a, *arith.same_padding(n, f_a, s_a, d_a), d_a).unread:
        fixes.append("padding: same")
    units = unit.replace(" and ", "s and ") + "s"
    if rec.unread == 1:
        lost = f"last input {unit} " + ("are" if " and " in unit else "is")
    else:
        lost = f"last {rec.unread} input {units} are"
    pad = f"2·{p_a}" if p_a == p_b else f"{p_a} + {p_b}"
    kernel = str(f_a) if d_a == 1 else f"({d_a}·({f_a} − 1) + 1)"
    return Diagnostic(
        "warning", name, mark,
        f"{name}: ({n} + {pad} − {kernel})/{s_a} + 1 = {float(exact_value):.2f} is not an integer "
        f"along {axis} — the {lost} never read",
        " or ".join(fixes) + " divides exactly")


def _fit_fix(n: int, f_eff: int, d: int, p_a: int, p_b: int) -> str:
    need = f_eff - n - p_a - p_b
    options = [f"padding {(need + 1) // 2} on each side"]
    if d > 1:
        options.append("a smaller dilation")
    options.append(f"a kernel ≤ {n + p_a + p_b if d == 1 else (n + p_a + p_b - 1) // d + 1}")
    options.append("fewer downsampling layers before it")
    return "use " + ", ".join(options[:-1]) + " or " + options[-1]


def pair_text(v) -> str:
    return f"{v[0]}" if v[0] == v[1] else f"{v[0]},{v[1]}"


def pads_text(padding, pads) -> str:
    """' p1', ' p1,2', ' p(0,1,0,1)', ' same', ' same(0,1,0,1)' (asymmetric padding shown in full)."""
    t, b, l, r = pads
    if padding == "same":
        return " same" if (t == b and l == r) else f" same({t},{b},{l},{r})"
    if t == b == l == r:
        return f" p{t}"
    if t == b and l == r:
        return f" p{t},{l}"
    return f" p({t},{b},{l},{r})"
