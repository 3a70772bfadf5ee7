"""The records the rules return: what was resolved and what happened, as numbers.

Analysis rows and the engine read them as attributes; `render.messages` alone turns
them into words (the notation 'conv 3×3 s1 p1, 64', the warning sentences, the formula).
"""

from __future__ import annotations

from dataclasses import dataclass

from cnncalc.layers.arith import OutLength


@dataclass(frozen=True)
class Window:
    """The effective window of a conv or pooling layer, every spelling of the spec resolved.

    f: kernel (f_H, f_W); s: stride (s_H, s_W) (pooling's default, the kernel, filled in);
    p: padding (top, bottom, left, right) ('same' and 'valid' resolved to numbers);
    d: dilation (d_H, d_W); groups: conv's channel groups ('depthwise' resolved to n_C_prev),
    None for pooling; ceil: pooling's ceil mode, None for conv (it has none);
    same: the padding was written 'same' (the notation says so).
    """

    f: tuple[int, int]
    s: tuple[int, int]
    p: tuple[int, int, int, int]
    d: tuple[int, int] = (1, 1)
    groups: int | None = None
    ceil: bool | None = None
    same: bool = False


@dataclass(frozen=True)
class Notation:
    """A layer in course notation, as data: `render.messages.notation_text` writes it.

    kind: the canonical kind ('conv', 'maxpool', …), 'input', or 'block' for a folded row;
    window: conv's and pooling's window; n_C: conv's filters; n: dense's units;
    value: leaky_relu's alpha or dropout's rate; bias: False for a layer without one;
    depthwise: conv written with groups: depthwise; count_include_pad: avgpool's divisor rule;
    label: a folded block's label from the spec ('bottleneck', 'repeat ×3'); gelu's approximate ('tanh');
    output: an adaptive pool's output size (n_H, n_W), or (1, 1) for a global pool that keeps its map;
    channels: channel_slice's [start, stop); groups: channel_shuffle's g.
    """

    kind: str
    window: Window | None = None
    n_C: int | None = None
    n: int | None = None
    value: float | None = None
    bias: bool = True
    depthwise: bool = False
    count_include_pad: bool = True
    label: str = ""
    output: tuple[int, int] | None = None
    channels: tuple[int, int] | None = None
    groups: int | None = None


@dataclass(frozen=True)
class InexactDivision:
    """A floor-mode window whose division leaves a remainder: rows or columns no window reads.

    axes: ('n_H',), ('n_W',), or ('n_H', 'n_W') when both axes have the same arithmetic;
    length: the axis' `arith.OutLength` (n, p_a = p_top or p_left, p_b, f, s, d, n_out, remainder);
    fix_padding / fix_stride: a symmetric padding / a stride that divides exactly (None if none);
    fix_ceil: ceil_mode would divide (pooling); fix_same: padding 'same' would lose nothing (conv);
    fix_inputs: the nearest network input sizes along the axis (n_H, or n_W) for which every window of
    the network divides exactly, found by the analysis when no padding would do (else empty).
    """

    kind: str
    axes: tuple[str, ...]
    length: OutLength
    fix_padding: int | None = None
    fix_stride: int | None = None
    fix_ceil: bool = False
    fix_same: bool = False
    fix_inputs: tuple[int, ...] = ()

    @property
    def lost(self) -> int:
        """Input rows (or columns) no window reads: the remainder beyond the padding after."""
        return self.length.unread

    @property
    def gaps(self) -> bool:
        """The window is narrower than its stride (f_eff < s): it skips rows between windows by design."""
        return self.length.f_eff < self.length.s

    @property
    def loses_input(self) -> bool:
        """Real input is never read, beyond what the design skips: the warning's condition (else a note)."""
        return self.lost > 0 and not self.gaps


@dataclass(frozen=True)
class UnusedArgument:
    """A block argument declared in `args:` that no `$name` in the block's layers reads."""

    block: str
    argument: str


@dataclass(frozen=True)
class UnusedOutput:
    """A layer whose output no path to the network's output reads."""

    output: str  # the network's output layer


@dataclass(frozen=True)
class ChannelsFirst:
    """An input written in PyTorch's C×H×W order: `input: [3, 32, 32]` reads as n_H = 3, n_W = 32, n_C = 32.

    The rule (`spec.parser.looks_channels_first`): the first size is 1, 3 or 4 (grey, RGB, RGBA) and
    the last two are equal, at least 8, and larger than the first.
    shape: the input as written; field: where it was written ('input' or '--input')."""

    shape: tuple[int, int, int]
    field: str
