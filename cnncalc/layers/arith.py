"""Every textbook formula, written once, in Python integers.

Tables, explanations, error messages and the engine all quote these
functions; no other module computes an output size.

    n_out = ⌊(n + p_a + p_b − d·(f − 1) − 1) / s⌋ + 1        (floor mode)

With symmetric padding p and no dilation this is the course formula
⌊(n + 2p − f)/s⌋ + 1.  Each function returns a small record holding the
numbers it used, so a diagnostic can print the arithmetic it checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class OutLength:
    """One spatial axis of a sliding window, with the arithmetic kept for messages.

    n: input length; p_a, p_b: padding before/after; f: kernel; s: stride;
    d: dilation; ceil: ceil mode.  n_out is the output length (may be ≤ 0 when the
    window does not fit), remainder = (n + p_a + p_b − f_eff) mod s: the last `remainder`
    positions of the padded input are never read (floor mode); those beyond p_b are real input.
    """

    n: int
    p_a: int
    p_b: int
    f: int
    s: int
    d: int
    ceil: bool
    n_out: int
    remainder: int

    @property
    def f_eff(self) -> int:
        """Dilated kernel extent d·(f − 1) + 1."""
        return dilated_extent(self.f, self.d)

    @property
    def span(self) -> int:
        """n + p_a + p_b − d·(f − 1) − 1, the numerator of the formula."""
        return self.n + self.p_a + self.p_b - self.f_eff

    @property
    def exact(self) -> bool:
        return self.remainder == 0

    @property
    def unread(self) -> int:
        """Input positions (not padding) that no window reaches: the remainder beyond p_b (floor mode)."""
        return 0 if self.ceil or self.span < 0 else min(max(self.remainder - self.p_b, 0), self.n)



def dilated_extent(f: int, d: int) -> int:
    """Extent of a dilated kernel: d·(f − 1) + 1."""
    return d * (f - 1) + 1


def out_length(n: int, f: int, s: int = 1, p_a: int = 0, p_b: int | None = None,
               d: int = 1, ceil: bool = False) -> OutLength:
    """Output length of a sliding window along one axis.

    floor mode: ⌊(n + p_a + p_b − d·(f−1) − 1)/s⌋ + 1
    ceil mode (PyTorch pooling): ⌈…/s⌉ + 1, minus one if the last window would start
    inside the right padding only — PyTorch's rule, so that GoogLeNet's shapes agree.
    """
    if p_b is None:
        p_b = p_a
    span = n + p_a + p_b - dilated_extent(f, d)
    if ceil:
        # a window hanging over the end by less than a stride still counts (span may be negative)
        n_out = -(-span // s) + 1
        if n_out >= 1 and (n_out - 1) * s >= n + p_a:
            n_out -= 1
    else:
        n_out = span // s + 1
    return OutLength(n, p_a, p_b, f, s, d, ceil, n_out, span % s)


@dataclass(frozen=True)
class AdaptiveLength:
    """One axis of an adaptive pool (PyTorch's AdaptiveAvgPool2d / AdaptiveMaxPool2d), kept for messages.

    Output i of n_out reads the input positions start_i … end_i − 1 with
        start_i = ⌊i·n / n_out⌋,   end_i = ⌈(i + 1)·n / n_out⌉,
    in integers.  Neighbouring windows may overlap by one position when n % n_out ≠ 0, and
    n_out > n is allowed (windows of one or two positions, repeated).
    """

    n: int
    n_out: int

    def window(self, i: int) -> tuple[int, int]:
        """(start, end) of output i: ⌊i·n/n_out⌋ and ⌈(i + 1)·n/n_out⌉, end excluded."""
        return (i * self.n) // self.n_out, -(-((i + 1) * self.n) // self.n_out)

    @property
    def exact(self) -> bool:
        """n % n_out == 0: every window is n/n_out wide, a stride of n/n_out apart (a plain pool)."""
        return self.n % self.n_out == 0

    @property
    def f_max(self) -> int:
        """The widest window, ⌈n/n_out⌉ + 1 if n % n_out > gcd(n, n_out), else ⌈n/n_out⌉ (= n/n_out when exact).

        With n = a·n_out + r, window i is a + ⌈(t + r)/n_out⌉ wide, t = i·r mod n_out, a multiple of
        g = gcd(n, n_out) up to n_out − g; so a + 2 happens exactly when r > g.
        """
        r = self.n % self.n_out
        return -(-self.n // self.n_out) + (1 if r > math.gcd(self.n, self.n_out) else 0)

    @property
    def s_max(self) -> int:
        """The largest step between neighbouring windows' starts, ⌈n/n_out⌉ (n/n_out when exact)."""
        return -(-self.n // self.n_out)

    @property
    def reads(self) -> int:
        """Σ_i (end_i − start_i) = n + n_out − gcd(n, n_out): the input positions the windows of this
        axis read, overlaps counted twice (Σ end_i exceeds Σ start_i by n, plus one for each of the
        n_out − g outputs i whose (i + 1)·n/n_out is not an integer)."""
        return self.n + self.n_out - math.gcd(self.n, self.n_out)


def adaptive_length(n: int, n_out: int) -> AdaptiveLength:
    """The adaptive-pool windows of one axis of length n pooled to n_out (both ≥ 1)."""
    return AdaptiveLength(n, n_out)


@dataclass(frozen=True)
class TransposedLength:
    """One spatial axis of a transposed convolution, with the arithmetic kept for messages.

    n: input length; p_a, p_b: the rows cropped before/after; f: kernel; s: stride; d: dilation;
    output_padding: rows added after (PyTorch's output_padding, < max(s, d)).
    n_out = (n − 1)·s − p_a − p_b + d·(f − 1) + output_padding + 1 (may be ≤ 0).
    """

    n: int
    p_a: int
    p_b: int
    f: int
    s: int
    d: int
    output_padding: int
    n_out: int

    @property
    def full(self) -> int:
        """(n − 1)·s + d·(f − 1) + 1: the length the scatter covers before cropping."""
        return (self.n - 1) * self.s + dilated_extent(self.f, self.d)


def transposed_length(n: int, f: int, s: int = 1, p_a: int = 0, p_b: int | None = None, d: int = 1,
                      output_padding: int = 0) -> TransposedLength:
    """Output length of a transposed convolution along one axis (PyTorch's ConvTranspose2d):

        n_out = (n − 1)·s − p_a − p_b + d·(f − 1) + output_padding + 1

    Input position h lands on output positions h·s − p_a + a·d, a = 0 … f − 1.
    """
    if p_b is None:
        p_b = p_a
    n_out = (n - 1) * s - p_a - p_b + d * (f - 1) + output_padding + 1
    return TransposedLength(n, p_a, p_b, f, s, d, output_padding, n_out)


def same_padding(n: int, f: int, s: int = 1, d: int = 1) -> tuple[int, int]:
    """TensorFlow's `same` padding (p_a, p_b) so that n_out = ⌈n/s⌉.

    total = max((⌈n/s⌉ − 1)·s + d·(f − 1) + 1 − n, 0); the odd pixel goes after
    (bottom/right), as TensorFlow and Keras place it.
    """
    n_out = -(-n // s)
    total = max((n_out - 1) * s + dilated_extent(f, d) - n, 0)
    return total // 2, total - total // 2


def fixing_paddings(n: int, f: int, s: int, d: int = 1, limit: int = 3) -> list[int]:
    """Symmetric paddings p ≤ limit for which (n + 2p − f_eff) is divisible by s."""
    f_eff = dilated_extent(f, d)
    return [p for p in range(0, limit + 1) if n + 2 * p - f_eff >= 0 and (n + 2 * p - f_eff) % s == 0]


def divisors(n: int) -> list[int]:
    """The divisors of n ≥ 1 in increasing order, found up to √n (so huge sizes answer at once)."""
    small, large = [], []
    k = 1
    while k * k <= n:
        if n % k == 0:
            small.append(k)
            if k * k != n:
                large.append(n // k)
        k += 1
    return small + large[::-1]


def fixing_strides(n: int, f: int, p_a: int, p_b: int, d: int = 1) -> list[int]:
    """Strides s ≥ 1 (up to f_eff) that divide (n + p_a + p_b − f_eff) exactly."""
    span = n + p_a + p_b - dilated_extent(f, d)
    if span < 0:
        return []
    if span == 0:
        return [1]
    if span > 10**12:  # √span steps would be too many; stride 1 always divides
        return [1]
    return [s for s in divisors(span) if s <= dilated_extent(f, d)]


def conv_params(f_H: int, f_W: int, n_C_prev: int, n_C: int, groups: int = 1, bias: bool = True) -> int:
    """Conv parameters: f_H·f_W·(n_C_prev/groups)·n_C weights + n_C biases.

    With groups = 1 and a square kernel: (f·f·n_C_prev + 1)·n_C.
    """
    return f_H * f_W * (n_C_prev // groups) * n_C + (n_C if bias else 0)


def conv_macs(n_H: int, n_W: int, n_C: int, f_H: int, f_W: int, n_C_prev: int, groups: int = 1) -> int:
    """Conv multiply-accumulates: each of n_H·n_W·n_C outputs reads f_H·f_W·(n_C_prev/groups) inputs."""
    return n_H * n_W * n_C * f_H * f_W * (n_C_prev // groups)


def conv_transpose_params(f_H: int, f_W: int, n_C_prev: int, n_C: int, groups: int = 1, bias: bool = True) -> int:
    """Transposed-conv parameters: PyTorch's weight (n_C_prev, n_C/groups, f_H, f_W) + n_C biases,
    n_C_prev·(n_C/groups)·f_H·f_W + n_C."""
    return n_C_prev * (n_C // groups) * f_H * f_W + (n_C if bias else 0)


def conv_transpose_macs(n_H_prev: int, n_W_prev: int, n_C_prev: int, n_C: int, f_H: int, f_W: int,
                        groups: int = 1) -> int:
    """Transposed-conv multiply-accumulates: each of the n_H_prev·n_W_prev·n_C_prev inputs is scattered
    through f_H·f_W·(n_C/groups) weights, n_H_prev·n_W_prev·n_C_prev·(n_C/groups)·f_H·f_W (those that land
    in the cropped padding included, as fvcore counts them)."""
    return n_H_prev * n_W_prev * n_C_prev * (n_C // groups) * f_H * f_W


def dense_params(n_prev: int, n: int, bias: bool = True) -> int:
    """Dense parameters: (n_prev + 1)·n with bias, n_prev·n without."""
    return (n_prev + (1 if bias else 0)) * n


def dense_macs(n_prev: int, n: int) -> int:
    """Dense multiply-accumulates: n_prev·n."""
    return n_prev * n


def batchnorm_params(n_C: int) -> tuple[int, int]:
    """BatchNorm: (trainable γ, β = 2·n_C, non-trainable running mean and variance = 2·n_C)."""
    return 2 * n_C, 2 * n_C


# Receptive fields and jumps grow geometrically with depth (500 pools of stride 10^9 give a
# jump of 10^4500, beyond what Python will even print).  No input is larger than 3·10^9
# padded pixels (sizes and paddings stop at 10^9), so past BOUND a field only says "larger
# than any input": it is stored as BOUND + 1 ("more than BOUND") and stays there.
# Output sizes past BOUND are refused by the analysis (an error, not a marker).
BOUND = 10**18


def bounded(v: int) -> int:
    """v itself up to BOUND; BOUND + 1 (read: "more than BOUND") beyond it."""
    return v if v <= BOUND else BOUND + 1


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field r and jump j (effective stride) per axis, in input pixels.

    Exact up to BOUND; a value of BOUND + 1 means "more than BOUND" (see `bounded`).
    """

    r_H: int
    r_W: int
    j_H: int
    j_W: int

    def step(self, f_H: int, f_W: int, s_H: int, s_W: int, d_H: int = 1, d_W: int = 1) -> "ReceptiveField":
        """r_out = r_in + (f − 1)·d·j_in,  j_out = j_in·s  (each capped at BOUND + 1)."""
        return ReceptiveField(
            bounded(self.r_H + (f_H - 1) * d_H * self.j_H),
            bounded(self.r_W + (f_W - 1) * d_W * self.j_W),
            bounded(self.j_H * s_H),
            bounded(self.j_W * s_W),
        )

    def transposed_step(self, f_H: int, f_W: int, s_H: int, s_W: int, d_H: int = 1, d_W: int = 1) -> "ReceptiveField":
        """A transposed conv with stride s: output y reads the inputs h with h·s = y + p − a·d, a = 0 … f − 1.
        Two taps a₁ > a₂ meet inputs (a₁ − a₂)·d/s apart when s divides (a₁ − a₂)·d, i.e. when
        s/g divides a₁ − a₂ (g = gcd(s, d)), so the widest span is ⌊(f − 1)·g/s⌋·(d/g) inputs beyond the first:
            r_out = r_in + ⌊(f − 1)·g/s⌋·(d/g)·j_in      (with d = 1: r_in + ⌊(f − 1)/s⌋·j_in)
        The jump j_in/s is rounded up to ⌈j_in/s⌉ (integers), so fields after it are upper bounds."""
        def reach(f: int, s: int, d: int) -> int:
            g = math.gcd(s, d)
            return ((f - 1) * g // s) * (d // g)

        return ReceptiveField(
            bounded(self.r_H + reach(f_H, s_H, d_H) * self.j_H),
            bounded(self.r_W + reach(f_W, s_W, d_W) * self.j_W),
            -(-self.j_H // s_H),
            -(-self.j_W // s_W),
        )

    def widest(self, other: "ReceptiveField") -> "ReceptiveField":
        """At a merge the field is the largest over the incoming paths."""
        return ReceptiveField(max(self.r_H, other.r_H), max(self.r_W, other.r_W),
                              max(self.j_H, other.j_H), max(self.j_W, other.j_W))


PIXEL = ReceptiveField(1, 1, 1, 1)
