"""Receptive field "whole input" (issue 9).

Definition (analysis.coverage): along an axis, the field is the whole input when every output position
sees every input pixel.  With lo, hi the input pixels (padding included, lo < 0 in the padding) that the
first output position's field spans, j the jump and m the output length (1 for a vector), that is

    lo + (m − 1)·j ≤ 0   and   hi ≥ n − 1.

Tables say "whole input" (Korean "입력 전체") instead of r_H×r_W where it holds and r exceeds the input
(619×619 on 224 overstates; r = n is the input itself and stays a number); JSON keeps r and carries
`rf_whole_input`.  The oracle below follows every output position's set of input pixels, by brute force.
"""

import itertools
import json
import os

import pytest
from typer.testing import CliRunner

from cnncalc.cli import app
from tests.helpers import ROOT, row, run

runner = CliRunner()


def seen_by_brute_force(n: int, layers) -> list[set[int]]:
    """For each output position along one axis, the input pixels it depends on.  layers: (f, s, p_a, p_b)
    windows (d = 1; padding before and after), or 'global' (one window over the whole map)."""
    sets = [{i} for i in range(n)]
    for layer in layers:
        if layer == "global":
            sets = [set().union(*sets)]
            continue
        f, s, p_a, p_b = layer
        m = (len(sets) + p_a + p_b - f) // s + 1
        sets = [set().union(*(sets[k * s - p_a + t] for t in range(f) if 0 <= k * s - p_a + t < len(sets)))
                for k in range(m)]
    return sets


def spec_line(layer) -> str:
    if layer == "global":
        return "- global_avgpool"
    f, s, p_a, p_b = layer
    return f"- conv: {{filters: 1, kernel: {f}, stride: {s}, padding: [{p_a}, {p_b}, {p_a}, {p_b}]}}"


def test_three_3x3_convs_without_padding_on_7():
    # r = 3, 5, 7 (r_k = r_(k−1) + (3 − 1)·1); outputs 5, 3, 1.  conv2: lo = 0, m = 3: 0 + 2·1 = 2 > 0,
    # its corner output sees rows 0 … 4 only.  conv3: lo = 0, hi = 6 = n − 1, m = 1 → the whole input.
    r = run("- conv: {filters: 1, kernel: 3}\n" * 3, (7, 7, 1))
    assert [row(r, f"conv{i}").rf.r_H for i in (1, 2, 3)] == [3, 5, 7]
    assert [row(r, f"conv{i}").rf_whole_input for i in (1, 2, 3)] == [False, False, True]
    assert not row(r, "conv3").rf_reads_whole                   # r = 7 = n: the number says it


def test_three_3x3_convs_with_padding_on_5_are_not_the_whole_input_until_pooled():
    # r = 3, 5, 7 on a 5×5 input, every map 5×5; conv3: lo = −3, hi = 3 < 4: position 0 sees −3 … 3, never
    # row 4, so r = 7 > 5 is NOT the whole input.  global_avgpool: hi = 3 + (5 − 1)·1 = 7 ≥ 4, m = 1 → whole;
    # r = 7 + (5 − 1)·1 = 11 > 5, so the table says "whole input".
    r = run("- conv: {filters: 1, kernel: 3, padding: 1}\n" * 3 + "- global_avgpool", (5, 5, 1))
    conv3, pool = row(r, "conv3"), row(r, "global_avgpool1")
    assert (conv3.rf.r_H, conv3.rf_whole_input) == (7, False)
    assert (pool.rf.r_H, pool.rf_whole_input, pool.rf_reads_whole) == (11, True, True)


def test_adaptive_pooling_by_hand():
    # 3×3 conv (no padding) on 7: 5 positions seeing rows k … k + 2.  adaptive_avgpool to 2: windows
    # ⌊i·5/2⌋ … ⌈(i + 1)·5/2⌉ − 1 = positions 0 … 2 and 2 … 4: rows 0 … 4 and 2 … 6, neither the whole
    # input; to 1: positions 0 … 4, rows 0 … 6, the whole input.
    two = run("- conv: {filters: 1, kernel: 3}\n- adaptive_avgpool: 2", (7, 7, 1))
    one = run("- conv: {filters: 1, kernel: 3}\n- adaptive_avgpool: 1", (7, 7, 1))
    assert row(two, "adaptive_avgpool1").rf_whole == (False, False)
    assert row(one, "adaptive_avgpool1").rf_whole == (True, True)


CASES = [layers for k in (1, 2, 3) for layers in itertools.product(
    [(3, 1, 0, 0), (3, 1, 1, 1), (3, 2, 1, 1), (2, 2, 0, 0), (5, 1, 2, 2), (1, 2, 0, 0), (5, 3, 0, 0),
     (3, 1, 0, 2), (4, 1, 3, 0), "global"], repeat=k)]


@pytest.mark.parametrize("n", [5, 8])
def test_the_flag_agrees_with_the_brute_force_oracle(n):
    checked = 0
    for layers in CASES:
        if "global" in layers[:-1]:
            continue                                           # nothing slides over a vector
        sizes = [n]
        for layer in layers:
            if layer != "global":
                f, s, p_a, p_b = layer
                sizes.append((sizes[-1] + p_a + p_b - f) // s + 1)
        if min(sizes) < 1:
            continue                                           # a window larger than its map: an error
        r = run("\n".join(spec_line(layer) for layer in layers), (n, n, 1))
        assert r.error is None
        expected = all(seen == set(range(n)) for seen in seen_by_brute_force(n, layers))
        assert r.rows[-1].rf_whole == (expected, expected), layers
        checked += 1
    assert checked > 100


def test_resnet50_says_whole_input_after_its_global_pool():
    result = runner.invoke(app, ["shapes", os.path.join(ROOT, "specs", "resnet50.yaml"), "--depth", "1"],
                           env={"COLUMNS": "200"})
    cells = {line.split("│")[1].strip().split(" ")[0]: [c.strip() for c in line.split("│")[1:-1]]
             for line in result.stdout.splitlines() if line.startswith("│")}
    rf = {name: cells[name][5] for name in ("layer4", "avgpool", "fc")}
    # layer4's 7×7 map: r = 427, but its positions start 32 pixels apart: not whole; the pool: 427 + 6·32 = 619
    assert rf == {"layer4": "427×427", "avgpool": "whole input", "fc": "whole input"}
    assert "Receptive field at the output: 619×619 — whole input, jump 32×32" in result.stdout
    data = json.loads(runner.invoke(app, ["shapes", os.path.join(ROOT, "specs", "resnet50.yaml"), "-f",
                                          "json"]).stdout)
    by_name = {r["name"]: r for r in data["rows"]}
    assert (by_name["avgpool"]["receptive_field"], by_name["avgpool"]["rf_whole_input"]) == ([619, 619], True)
    assert by_name["layer4.2.relu3"]["rf_whole_input"] is False
    assert (data["totals"]["receptive_field"], data["totals"]["rf_whole_input"]) == ([619, 619], True)
    ko = runner.invoke(app, ["shapes", os.path.join(ROOT, "specs", "resnet50.yaml"), "--lang", "ko"],
                       env={"COLUMNS": "200"}).stdout
    assert "입력 전체" in ko and "619×619 — 입력 전체" in ko


def test_explain_says_it():
    result = runner.invoke(app, ["explain", os.path.join(ROOT, "specs", "resnet50.yaml"), "--layer", "avgpool"])
    assert ("receptive field: whole input — r = 619 exceeds the 224 input, and every output position sees "
            "every input pixel") in result.stdout
