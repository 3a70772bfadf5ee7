"""The textbook formulas against hand-worked values and a brute-force count of window positions."""

from hypothesis import given
from hypothesis import strategies as st

from cnncalc.layers import arith


def brute_force_windows(n, f, s, p_a, p_b, d, ceil):
    """Walk the window starts 0, s, 2s, …: floor mode keeps windows inside the padded input; ceil
    mode also keeps a last window hanging over the end, as long as it starts inside the input or
    the left padding (PyTorch's pooling rule)."""
    extent = d * (f - 1) + 1
    total = n + p_a + p_b
    count, start = 0, 0
    while True:
        if ceil:
            keep = start + extent <= total + s - 1 and start < n + p_a
        else:
            keep = start + extent <= total
        if not keep:
            return count
        count += 1
        start += s


def test_course_formula_values():
    assert arith.out_length(32, 5).n_out == 28            # (32 − 5)/1 + 1
    assert arith.out_length(39, 5, 2).n_out == 18          # (39 − 5)/2 + 1 = 18
    assert arith.out_length(7, 3, 3).n_out == 2            # ⌊(7 − 3)/3⌋ + 1 = 2, remainder 1
    assert arith.out_length(7, 3, 3).remainder == 1
    assert arith.out_length(224, 7, 2, 3).n_out == 112     # ⌊(224 + 6 − 7)/2⌋ + 1 = 112
    assert arith.out_length(224, 11, 4, 2).n_out == 55     # ⌊(224 + 4 − 11)/4⌋ + 1 = 55
    assert arith.out_length(10, 3, 1, 0, d=2).n_out == 6   # 10 − (2·2 + 1) + 1 = 6
    assert arith.out_length(5, 3, 2, 0, 1).n_out == 2      # asymmetric: ⌊(5 + 0 + 1 − 3)/2⌋ + 1 = 2


def test_ceil_mode_follows_pytorch():
    assert arith.out_length(112, 3, 2, ceil=True).n_out == 56   # ⌈109/2⌉ + 1 = 56 (GoogLeNet)
    assert arith.out_length(56, 3, 2, ceil=True).n_out == 28    # ⌈53/2⌉ + 1 = 28
    assert arith.out_length(14, 2, 2, ceil=True).n_out == 7     # exact: 7
    assert arith.out_length(7, 2, 2, ceil=True).n_out == 4      # ⌈5/2⌉ + 1 = 4
    # last window would start in the right padding only: dropped (n=4, f=2, s=2, p=1: ⌈4/2⌉+1 = 3 stays 3
    # because the third window starts at 4 = n + p_a − 1 < 5); n=5, f=3, s=3, p=1: ⌈4/3⌉ + 1 = 3, start 6 ≥ 6 → 2
    assert arith.out_length(4, 2, 2, 1, ceil=True).n_out == 3
    assert arith.out_length(5, 3, 3, 1, ceil=True).n_out == 2


def test_same_padding_is_tensorflows():
    assert arith.same_padding(5, 3, 2) == (1, 1)     # n_out 3: (3 − 1)·2 + 3 − 5 = 2
    assert arith.same_padding(6, 3, 2) == (0, 1)     # n_out 3: (3 − 1)·2 + 3 − 6 = 1, odd pixel after
    assert arith.same_padding(224, 7, 2) == (2, 3)   # n_out 112: 111·2 + 7 − 224 = 5
    assert arith.same_padding(32, 3, 1) == (1, 1)
    assert arith.same_padding(32, 1, 2) == (0, 0)    # (16 − 1)·2 + 1 − 32 < 0 → 0
    assert arith.same_padding(10, 3, 1, d=2) == (2, 2)


def test_counts():
    assert arith.conv_params(5, 5, 3, 8) == 608              # (5·5·3 + 1)·8
    assert arith.conv_params(3, 3, 64, 64, groups=64) == 640  # depthwise: 3·3·1·64 + 64
    assert arith.conv_params(3, 3, 32, 64, groups=4, bias=False) == 4608  # 3·3·8·64
    assert arith.conv_macs(28, 28, 8, 5, 5, 3) == 470400     # 28·28·8·75
    assert arith.conv_macs(56, 56, 64, 3, 3, 64, groups=64) == 1806336  # 56·56·64·9
    assert arith.dense_params(400, 120) == 48120
    assert arith.dense_params(400, 120, bias=False) == 48000
    assert arith.dense_macs(400, 120) == 48000
    assert arith.batchnorm_params(64) == (128, 128)


def test_receptive_field_steps():
    rf = arith.PIXEL.step(3, 3, 1, 1).step(3, 3, 1, 1)
    assert (rf.r_H, rf.j_H) == (5, 1)                        # two 3×3: 1 + 2 + 2
    rf = arith.PIXEL.step(7, 7, 2, 2).step(3, 3, 2, 2)       # ResNet stem: 7, then 7 + 2·2 = 11, jump 4
    assert (rf.r_H, rf.r_W, rf.j_H) == (11, 11, 4)
    rf = arith.PIXEL.step(3, 3, 1, 1, 2, 2)                  # dilation 2: 1 + 2·2 = 5
    assert rf.r_H == 5
    wide = arith.ReceptiveField(5, 3, 1, 2).widest(arith.ReceptiveField(3, 7, 2, 1))
    assert (wide.r_H, wide.r_W, wide.j_H, wide.j_W) == (5, 7, 2, 2)


sizes = st.integers(1, 40)


@given(n=sizes, f=st.integers(1, 7), s=st.integers(1, 4), p_a=st.integers(0, 3), p_b=st.integers(0, 3),
       d=st.integers(1, 3), ceil=st.booleans())
def test_out_length_counts_the_windows(n, f, s, p_a, p_b, d, ceil):
    if ceil:  # ceil mode is a pooling option: PyTorch requires padding ≤ f/2 and has no dilation there
        p_a, p_b, d = min(p_a, f // 2), min(p_b, f // 2), 1
    rec = arith.out_length(n, f, s, p_a, p_b, d, ceil)
    if rec.span < 0:
        assert rec.n_out < 1
        return
    assert rec.n_out == brute_force_windows(n, f, s, p_a, p_b, d, ceil)
    assert rec.remainder == (n + p_a + p_b - (d * (f - 1) + 1)) % s


@given(n=st.integers(1, 300), f=st.integers(1, 9), s=st.integers(1, 4), d=st.integers(1, 3))
def test_same_padding_gives_ceil_n_over_s(n, f, s, d):
    p_a, p_b = arith.same_padding(n, f, s, d)
    assert p_b - p_a in (0, 1)
    n_out = arith.out_length(n, f, s, p_a, p_b, d).n_out
    assert n_out == -(-n // s) or (p_a, p_b) == (0, 0) and n_out == (n - (d * (f - 1) + 1)) // s + 1
