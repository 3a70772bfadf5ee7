"""The textbook formulas of `layers.arith` against values worked by hand, and against a brute-force
walk over the window positions.

Every expected number is a literal with its arithmetic beside it; none was produced by running cnncalc.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnncalc.layers import arith
from cnncalc.layers.arith import PIXEL, ReceptiveField
from cnncalc.render.messages import window_formula


# ---------------------------------------------------------------- independent oracles

def window_starts(n, f, s, p_a, p_b, d, ceil):
    """The start index (in padded coordinates) of every window, found by walking 0, s, 2s, … .

    floor mode keeps a window while it lies wholly inside the padded input.  ceil mode (PyTorch's
    pooling) also keeps a window that hangs over the end of the padded input by fewer than s positions
    (a fraction of a stride, which ⌈⌉ rounds up), provided it starts inside the input or the left
    padding (a window that would start in the right padding only is dropped).
    """
    extent = d * (f - 1) + 1
    total = n + p_a + p_b
    starts = []
    start = 0
    while True:
        overhang = start + extent - total      # positions past the end of the padded input
        keep = (overhang < s and start < n + p_a) if ceil else overhang <= 0
        if not keep:
            return starts
        starts.append(start)
        start += s


def unread_input_at_end(n, f, s, p_a, p_b, d):
    """Real input positions (p_a … p_a + n − 1) after the end of the last floor-mode window."""
    extent = d * (f - 1) + 1
    starts = window_starts(n, f, s, p_a, p_b, d, False)
    end = starts[-1] + extent  # first position after the last window
    return sum(1 for i in range(p_a, p_a + n) if i >= end)


# ---------------------------------------------------------------- out_length, floor mode

@pytest.mark.parametrize("n, f, s, p, expected", [
    (32, 5, 1, 0, 28),     # (32 − 5)/1 + 1 = 28            LeNet conv1
    (28, 2, 2, 0, 14),     # (28 − 2)/2 + 1 = 14            LeNet pool
    (39, 3, 1, 0, 37),     # (39 − 3)/1 + 1 = 37            Ng's 39×39 example
    (37, 5, 2, 0, 17),     # (37 − 5)/2 + 1 = 17
    (17, 5, 2, 0, 7),      # (17 − 5)/2 + 1 = 7
    (227, 11, 4, 0, 55),   # (227 − 11)/4 + 1 = 55          AlexNet (paper's 227)
    (224, 11, 4, 2, 55),   # ⌊(224 + 4 − 11)/4⌋ + 1 = ⌊54.25⌋ + 1 = 55   torchvision AlexNet
    (224, 7, 2, 3, 112),   # ⌊(224 + 6 − 7)/2⌋ + 1 = ⌊111.5⌋ + 1 = 112  ResNet stem
    (112, 3, 2, 1, 56),    # ⌊(112 + 2 − 3)/2⌋ + 1 = 55 + 1 = 56       ResNet maxpool
    (7, 3, 3, 0, 2),       # ⌊(7 − 3)/3⌋ + 1 = ⌊1.33⌋ + 1 = 2
    (8, 8, 1, 0, 1),       # (8 − 8)/1 + 1 = 1: a kernel as large as the input
    (1, 1, 1, 0, 1),       # (1 − 1)/1 + 1 = 1
    (5, 1, 10, 0, 1),      # ⌊(5 − 1)/10⌋ + 1 = 1: stride larger than the input
])
def test_floor_mode_course_formula(n, f, s, p, expected):
    rec = arith.out_length(n, f, s, p)
    assert rec.n_out == expected
    assert rec.ceil is False and (rec.p_a, rec.p_b) == (p, p)


def test_record_keeps_the_arithmetic():
    rec = arith.out_length(7, 3, 3)
    assert (rec.n, rec.f, rec.s, rec.d, rec.p_a, rec.p_b) == (7, 3, 3, 1, 0, 0)
    assert rec.span == 4                   # 7 + 0 + 0 − 3
    assert rec.remainder == 1              # 4 mod 3
    assert not rec.exact
    assert rec.unread == 1                 # remainder 1, none of it padding
    assert window_formula(rec) == "⌊(7 + 2·0 − 3)/3⌋ + 1 = 2"
    exact = arith.out_length(32, 5)
    assert exact.exact and exact.remainder == 0 and exact.unread == 0


def test_remainder_inside_the_padding_loses_no_input():
    rec = arith.out_length(224, 7, 2, 3)   # span 223, remainder 1 ≤ p_b = 3
    assert rec.remainder == 1 and not rec.exact
    assert rec.unread == 0


@pytest.mark.parametrize("n, f, s, d, p, expected, f_eff", [
    (10, 3, 1, 2, 0, 6, 5),     # f_eff = 2·(3 − 1) + 1 = 5;  (10 − 5)/1 + 1 = 6
    (32, 3, 1, 2, 2, 32, 5),    # (32 + 4 − 5)/1 + 1 = 32 (dilated 'same')
    (65, 3, 1, 4, 0, 57, 9),    # f_eff = 4·2 + 1 = 9;  65 − 9 + 1 = 57
    (16, 5, 2, 2, 0, 4, 9),     # f_eff = 2·4 + 1 = 9;  ⌊(16 − 9)/2⌋ + 1 = 3 + 1 = 4
    (9, 1, 1, 5, 0, 9, 1),      # a 1-wide kernel is not widened by dilation: 5·0 + 1 = 1
])
def test_dilation(n, f, s, d, p, expected, f_eff):
    rec = arith.out_length(n, f, s, p, d=d)
    assert rec.n_out == expected
    assert rec.f_eff == f_eff == arith.dilated_extent(f, d)


def test_dilation_formula_text():
    assert window_formula(arith.out_length(10, 3, 1, 0, d=2)) == "⌊(10 + 2·0 − (2·(3 − 1) + 1))/1⌋ + 1 = 6"


@pytest.mark.parametrize("n, f, s, p_a, p_b, expected", [
    (5, 3, 2, 0, 1, 2),     # ⌊(5 + 0 + 1 − 3)/2⌋ + 1 = ⌊1.5⌋ + 1 = 2
    (6, 3, 2, 0, 1, 3),     # ⌊(6 + 0 + 1 − 3)/2⌋ + 1 = 2 + 1 = 3   (TF 'same' on an even input)
    (224, 7, 2, 2, 3, 112),  # ⌊(224 + 2 + 3 − 7)/2⌋ + 1 = 111 + 1 = 112
    (8, 3, 1, 2, 0, 8),     # (8 + 2 + 0 − 3)/1 + 1 = 8
    (8, 3, 1, 0, 1, 7),     # (8 + 0 + 1 − 3)/1 + 1 = 7
])
def test_asymmetric_padding(n, f, s, p_a, p_b, expected):
    rec = arith.out_length(n, f, s, p_a, p_b)
    assert rec.n_out == expected
    assert rec.span == n + p_a + p_b - f


def test_asymmetric_formula_text():
    assert window_formula(arith.out_length(5, 3, 2, 0, 1)) == "⌊(5 + 0 + 1 − 3)/2⌋ + 1 = 2"


@pytest.mark.parametrize("n, f, s, p", [(3, 5, 1, 0), (3, 5, 2, 0), (1, 4, 1, 1)])
def test_window_larger_than_padded_input(n, f, s, p):
    rec = arith.out_length(n, f, s, p)   # 3 < 5, 3 < 5, 1 + 2 < 4: no window fits in floor mode
    assert rec.span < 0 and rec.n_out < 1


@pytest.mark.parametrize("n, f, s, p", [(1, 4, 2, 0), (3, 6, 2, 0), (2, 5, 1, 1)])
def test_ceil_mode_window_too_large_by_a_stride_or_more(n, f, s, p):
    # ⌈(1 − 4)/2⌉ + 1 = −1 + 1 = 0;  ⌈(3 − 6)/2⌉ + 1 = 0;  ⌈(2 + 2 − 5)/1⌉ + 1 = 0:
    # no window, and PyTorch refuses these too
    assert arith.out_length(n, f, s, p, ceil=True).n_out < 1


# ---------------------------------------------------------------- out_length, ceil mode

@pytest.mark.parametrize("n, f, s, p, expected", [
    (112, 3, 2, 0, 56),   # ⌈(112 − 3)/2⌉ + 1 = ⌈54.5⌉ + 1 = 56;  (56 − 1)·2 = 110 < 112 keeps it
    (7, 2, 2, 0, 4),      # ⌈(7 − 2)/2⌉ + 1 = ⌈2.5⌉ + 1 = 4;      (4 − 1)·2 = 6 < 7 keeps it
    (14, 2, 2, 0, 7),     # (14 − 2)/2 + 1 = 7 exactly: ceil and floor agree
    (5, 3, 3, 1, 2),      # ⌈(5 + 2 − 3)/3⌉ + 1 = ⌈1.33⌉ + 1 = 3, but (3 − 1)·3 = 6 ≥ 5 + 1:
                          #   the third window would start in the right padding only → 2
    (4, 2, 2, 1, 3),      # ⌈(4 + 2 − 2)/2⌉ + 1 = 3;  (3 − 1)·2 = 4 < 4 + 1 keeps it
    (6, 3, 2, 1, 4),      # ⌈(6 + 2 − 3)/2⌉ + 1 = ⌈2.5⌉ + 1 = 4;  (4 − 1)·2 = 6 < 7 keeps it
    (4, 3, 2, 0, 2),      # ⌈(4 − 3)/2⌉ + 1 = 2 where floor gives ⌊0.5⌋ + 1 = 1
    (1, 2, 2, 0, 1),      # ⌈(1 − 2)/2⌉ + 1 = ⌈−0.5⌉ + 1 = 1: the window starts at 0, inside the input,
                          #   and overhangs by 1 < s (PyTorch: MaxPool2d(2, ceil_mode=True) on 1×1 → 1×1)
    (2, 3, 2, 0, 1),      # ⌈(2 − 3)/2⌉ + 1 = ⌈−0.5⌉ + 1 = 1
    (1, 4, 2, 1, 1),      # ⌈(1 + 2 − 4)/2⌉ + 1 = ⌈−0.5⌉ + 1 = 1; (1 − 1)·2 = 0 < 1 + 1 keeps it
])
def test_ceil_mode_follows_pytorch(n, f, s, p, expected):
    rec = arith.out_length(n, f, s, p, ceil=True)
    assert rec.n_out == expected
    assert rec.unread == 0                 # ceil mode reads every input position


# torchvision's GoogLeNet (every pool has ceil_mode=True): 224 → conv1 7×7 s2 p3 → 112 → maxpool1 →
# 56 → conv2, conv3 → 56 → maxpool2 → 28 → inception 3a/3b (branch pool 3×3 s1 p1) → maxpool3 → 14 →
# inception 4a–4e → maxpool4 (2×2 s2) → 7.
@pytest.mark.parametrize("n, f, s, p, expected", [
    (112, 3, 2, 0, 56),   # ⌈109/2⌉ + 1 = 55 + 1
    (56, 3, 2, 0, 28),    # ⌈53/2⌉ + 1 = 27 + 1
    (28, 3, 2, 0, 14),    # ⌈25/2⌉ + 1 = 13 + 1
    (14, 2, 2, 0, 7),     # 12/2 + 1
    (28, 3, 1, 1, 28),    # inception branch pool: (28 + 2 − 3)/1 + 1 = 28
    (14, 3, 1, 1, 14),
    (7, 3, 1, 1, 7),
])
def test_googlenet_pool_sizes(n, f, s, p, expected):
    assert arith.out_length(n, f, s, p, ceil=True).n_out == expected


def test_googlenet_floor_would_differ():
    assert arith.out_length(112, 3, 2).n_out == 55        # ⌊109/2⌋ + 1 = 54 + 1
    assert arith.out_length(56, 3, 2).n_out == 27         # ⌊53/2⌋ + 1 = 26 + 1


def test_ceil_formula_text():
    assert window_formula(arith.out_length(112, 3, 2, ceil=True)) == "⌈(112 + 2·0 − 3)/2⌉ + 1 = 56"


# ---------------------------------------------------------------- same padding (TensorFlow)

@pytest.mark.parametrize("n, f, s, d, expected", [
    (5, 3, 2, 1, (1, 1)),       # n_out = ⌈5/2⌉ = 3; total = (3 − 1)·2 + 3 − 5 = 2 → 1, 1
    (6, 3, 2, 1, (0, 1)),       # n_out = 3; total = 2·2 + 3 − 6 = 1 → odd pixel bottom/right
    (224, 7, 2, 1, (2, 3)),     # n_out = 112; total = 111·2 + 7 − 224 = 5 → 2, 3
    (224, 3, 2, 1, (0, 1)),     # n_out = 112; total = 222 + 3 − 224 = 1 (MobileNet stem in Keras)
    (32, 3, 1, 1, (1, 1)),      # n_out = 32; total = 31 + 3 − 32 = 2
    (32, 5, 1, 1, (2, 2)),      # total = 31 + 5 − 32 = 4
    (32, 1, 2, 1, (0, 0)),      # n_out = 16; total = max(30 + 1 − 32, 0) = 0
    (7, 7, 2, 1, (3, 3)),       # n_out = 4; total = 6 + 7 − 7 = 6
    (1, 3, 1, 1, (1, 1)),       # n_out = 1; total = 0 + 3 − 1 = 2
    (10, 3, 1, 2, (2, 2)),      # f_eff = 5; n_out = 10; total = 9 + 5 − 10 = 4
    (7, 3, 2, 3, (3, 3)),       # f_eff = 7; n_out = 4; total = 6 + 7 − 7 = 6
])
def test_same_padding_is_tensorflows(n, f, s, d, expected):
    assert arith.same_padding(n, f, s, d) == expected
    p_a, p_b = expected
    assert arith.out_length(n, f, s, p_a, p_b, d).n_out == -(-n // s)


# ---------------------------------------------------------------- fixes the diagnostics suggest

def test_fixing_paddings_and_strides():
    # n = 7, f = 3, s = 3: p = 0 → 4, p = 1 → 6, p = 2 → 8, p = 3 → 10; only 6 is a multiple of 3
    assert arith.fixing_paddings(7, 3, 3) == [1]
    # span 4: strides 1, 2 (and 4, beyond f = 3) divide it
    assert arith.fixing_strides(7, 3, 0, 0) == [1, 2]
    # n = 8, f = 2, s = 2: 6, 8, 10, 12 are all even
    assert arith.fixing_paddings(8, 2, 2) == [0, 1, 2, 3]
    # kernel larger than the input: p = 0 gives 3 − 5 < 0, p = 1 gives 0 (divisible), p = 2 gives 2
    assert arith.fixing_paddings(3, 5, 2) == [1, 2, 3]
    assert arith.fixing_strides(3, 5, 0, 0) == []          # span < 0: no stride helps


# ---------------------------------------------------------------- counts

@pytest.mark.parametrize("args, kwargs, expected", [
    ((5, 5, 3, 8), {}, 608),                       # (5·5·3 + 1)·8              LeNet conv1 (Ng)
    ((5, 5, 8, 16), {}, 3216),                     # (5·5·8 + 1)·16
    ((5, 5, 1, 6), {}, 156),                       # (25 + 1)·6                 LeNet-5 C1
    ((3, 3, 64, 64), {"bias": False}, 36864),      # 9·64·64                    ResNet 3×3 conv
    ((7, 7, 3, 64), {"bias": False}, 9408),        # 49·3·64                    ResNet stem
    ((5, 5, 96, 256), {"groups": 2}, 307456),      # 5·5·48·256 + 256 = 307,200 + 256   AlexNet 2012 conv2
    ((3, 3, 32, 32), {"groups": 32}, 320),         # depthwise: 3·3·1·32 + 32
    ((3, 3, 32, 32), {"groups": 32, "bias": False}, 288),
    ((3, 3, 32, 64), {"groups": 4, "bias": False}, 4608),  # 3·3·8·64
    ((3, 3, 8, 16), {"groups": 8}, 160),           # depthwise ×2 multiplier: 9·1·16 + 16
    ((1, 1, 64, 256), {}, 16640),                  # (64 + 1)·256
    ((3, 5, 2, 3), {}, 93),                        # (3·5·2 + 1)·3, rectangular kernel
])
def test_conv_params(args, kwargs, expected):
    assert arith.conv_params(*args, **kwargs) == expected


@pytest.mark.parametrize("args, kwargs, expected", [
    ((28, 28, 8, 5, 5, 3), {}, 470400),              # 28·28·8 = 6,272 outputs × 75 = 470,400
    ((10, 10, 16, 5, 5, 8), {}, 320000),             # 1,600 outputs × 200
    ((112, 112, 64, 7, 7, 3), {}, 118013952),        # 802,816 × 147 = 118,013,952   ResNet stem
    ((56, 56, 64, 3, 3, 64), {"groups": 64}, 1806336),  # depthwise: 200,704 × 9
    ((4, 4, 8, 3, 3, 4), {"groups": 2}, 2304),       # 128 outputs × 3·3·2 = 18
    ((7, 7, 2048, 1, 1, 512), {}, 51380224),         # 100,352 × 512
])
def test_conv_macs(args, kwargs, expected):
    assert arith.conv_macs(*args, **kwargs) == expected


def test_dense_and_batchnorm():
    assert arith.dense_params(400, 120) == 48120            # (400 + 1)·120
    assert arith.dense_params(120, 84) == 10164             # 121·84
    assert arith.dense_params(84, 10) == 850                # 85·10
    assert arith.dense_params(400, 120, bias=False) == 48000
    assert arith.dense_params(25088, 4096) == 102764544     # VGG fc6: 25,089·4,096
    assert arith.dense_macs(400, 120) == 48000
    assert arith.dense_macs(4096, 1000) == 4096000
    assert arith.batchnorm_params(64) == (128, 128)         # γ, β: 2·64; running mean, var: 2·64
    assert arith.batchnorm_params(1) == (2, 2)


# ---------------------------------------------------------------- receptive field

def test_receptive_field_step():
    assert PIXEL == ReceptiveField(1, 1, 1, 1)
    rf = PIXEL.step(3, 3, 1, 1).step(3, 3, 1, 1).step(3, 3, 1, 1)
    assert (rf.r_H, rf.r_W, rf.j_H, rf.j_W) == (7, 7, 1, 1)     # three 3×3: 1 + 2 + 2 + 2 = 7
    # ResNet stem: 7×7 s2 → r 7, j 2; maxpool 3×3 s2 → 7 + 2·2 = 11, j 4
    rf = PIXEL.step(7, 7, 2, 2).step(3, 3, 2, 2)
    assert (rf.r_H, rf.r_W, rf.j_H, rf.j_W) == (11, 11, 4, 4)
    # LeNet (Ng): conv 5 → 5; pool 2 s2 → 6, j 2; conv 5 → 6 + 4·2 = 14; pool 2 s2 → 16, j 4
    rf = PIXEL.step(5, 5, 1, 1).step(2, 2, 2, 2).step(5, 5, 1, 1).step(2, 2, 2, 2)
    assert (rf.r_H, rf.j_H) == (16, 4)


def test_receptive_field_dilation_and_rectangles():
    rf = PIXEL.step(3, 3, 1, 1, 2, 2)                 # 1 + (3 − 1)·2·1 = 5
    assert (rf.r_H, rf.r_W) == (5, 5)
    rf = PIXEL.step(3, 5, 1, 2, 2, 2)                 # H: 1 + 2·2 = 5; W: 1 + 4·2 = 9; j (1, 2)
    assert (rf.r_H, rf.r_W, rf.j_H, rf.j_W) == (5, 9, 1, 2)
    rf = ReceptiveField(3, 3, 2, 4).step(3, 3, 1, 1)  # H: 3 + 2·2 = 7; W: 3 + 2·4 = 11; jumps kept
    assert (rf.r_H, rf.r_W, rf.j_H, rf.j_W) == (7, 11, 2, 4)


def test_receptive_field_widest():
    wide = ReceptiveField(5, 3, 1, 2).widest(ReceptiveField(3, 7, 2, 1))
    assert (wide.r_H, wide.r_W, wide.j_H, wide.j_W) == (5, 7, 2, 2)
    same = ReceptiveField(4, 4, 2, 2)
    assert same.widest(same) == same


# ---------------------------------------------------------------- properties against brute force

@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 40), f=st.integers(1, 7), s=st.integers(1, 5), p_a=st.integers(0, 4),
       p_b=st.integers(0, 4), d=st.integers(1, 3))
def test_floor_out_length_counts_the_window_positions(n, f, s, p_a, p_b, d):
    rec = arith.out_length(n, f, s, p_a, p_b, d)
    starts = window_starts(n, f, s, p_a, p_b, d, False)
    assert max(rec.n_out, 0) == len(starts)
    if not starts:                            # no window fits at all
        assert rec.span < 0
        return
    last_end = starts[-1] + d * (f - 1) + 1
    assert rec.remainder == n + p_a + p_b - last_end          # padded positions after the last window
    assert rec.exact == (last_end == n + p_a + p_b)


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 40), f=st.integers(1, 7), s=st.integers(1, 5), data=st.data())
def test_ceil_out_length_counts_the_window_positions(n, f, s, data):
    # PyTorch's pooling: padding at most half the kernel, no dilation
    p = data.draw(st.integers(0, f // 2), label="p")
    rec = arith.out_length(n, f, s, p, p, 1, ceil=True)
    assert max(rec.n_out, 0) == len(window_starts(n, f, s, p, p, 1, True))
    assert rec.n_out >= arith.out_length(n, f, s, p, p, 1).n_out
    assert rec.unread == 0


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 40), f=st.integers(1, 7), s=st.integers(1, 5), p_a=st.integers(0, 4),
       p_b=st.integers(0, 4), d=st.integers(1, 3))
def test_unread_counts_the_input_after_the_last_window(n, f, s, p_a, p_b, d):
    if n + p_a + p_b < d * (f - 1) + 1:
        return
    assert arith.out_length(n, f, s, p_a, p_b, d).unread == unread_input_at_end(n, f, s, p_a, p_b, d)


def test_unread_never_exceeds_the_input():
    # n = 1, f = 1, s = 10, p = 3: the padded input is 7 long, one window at 0 covers position 0
    # (padding); positions 1–6 are unread, of which only position 3 is real input → 1 unread row.
    assert unread_input_at_end(1, 1, 10, 3, 3, 1) == 1
    assert arith.out_length(1, 1, 10, 3, 3).unread == 1


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 300), f=st.integers(1, 9), s=st.integers(1, 4), d=st.integers(1, 3))
def test_same_padding_gives_ceil_n_over_s(n, f, s, d):
    p_a, p_b = arith.same_padding(n, f, s, d)
    assert p_b - p_a in (0, 1)                       # the odd pixel goes after
    assert arith.out_length(n, f, s, p_a, p_b, d).n_out == -(-n // s)
    # and it is the least total padding that does so
    if p_a + p_b > 0:
        fewer = p_a + p_b - 1
        assert arith.out_length(n, f, s, fewer // 2, fewer - fewer // 2, d).n_out != -(-n // s)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 40), f=st.integers(1, 7), s=st.integers(1, 5), d=st.integers(1, 3))
def test_fixing_paddings_and_strides_do_divide(n, f, s, d):
    f_eff = d * (f - 1) + 1
    for p in arith.fixing_paddings(n, f, s, d):
        assert 0 <= p <= 3 and arith.out_length(n, f, s, p, p, d).exact
    for stride in arith.fixing_strides(n, f, 0, 0, d):
        assert 1 <= stride <= f_eff and arith.out_length(n, f, stride, 0, 0, d).exact
