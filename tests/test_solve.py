"""`cnncalc solve`: every integer solution of n_out = ⌊(n_in + 2p − f)/s⌋ + 1, against a brute-force
enumeration of the formula over n_in ≤ 64, f ≤ 11, s ≤ 5, p ≤ 5, and the issue's examples worked by hand.

Hand-worked (issue 9):
  28 → 28 with f = 5: (28 + 2p − 5)/s + 1 = 28 needs 23 + 2p = 27·s (s = 1: p = 2; s = 2: 2p = 31, odd) → p = 2, s = 1.
  224 → 55 with f = 11, s = 4: ⌊(213 + 2p)/4⌋ = 54 needs 216 ≤ 213 + 2p ≤ 219 → p = 2 (217/4 = 54.25) or
      p = 3 (219/4 = 54.75), neither exact; exact needs n_in + 2p = 4·54 + 11 = 227: 227 with p = 0.
  AlexNet as in the paper (conv 11×11 s4 p0, maxpool 3×3 s2, conv 5×5 p2, maxpool 3×3 s2, three conv 3×3 p1,
      maxpool 3×3 s2): 227 → 55 → 27 → 27 → 13 → 13 → 6, all exact; 224 → (224 − 11)/4 + 1 = 54.25.
  AlexNet as shipped (torchvision: conv 11×11 s4 p2): 223 → (223 + 4 − 11)/4 + 1 = 55 → 27 → 13 → 6, all exact;
      224 → 217/4 + 1 = 55.25.
"""

from __future__ import annotations

import itertools
import json
import os

import pytest
from typer.testing import CliRunner

from cnncalc.analysis.solve import NAMES, solve
from cnncalc.cli import app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOX = {"n_in": range(1, 65), "f": range(1, 12), "s": range(1, 6), "p": range(0, 6)}


def run(*args):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def brute() -> list[tuple[int, int, int, int, int]]:
    """Every (n_in, n_out, f, s, p) in the box, n_out from the course formula with Python's floor division,
    where the window fits (n_in + 2p ≥ f)."""
    return [(n, (n + 2 * p - f) // s + 1, f, s, p)
            for n, f, s, p in itertools.product(BOX["n_in"], BOX["f"], BOX["s"], BOX["p"]) if n + 2 * p >= f]


TABLE = brute()
N_OUT = range(1, max(t[1] for t in TABLE) + 1)
PATTERNS = [u for k in range(1, 6) for u in itertools.combinations(NAMES, k)]


@pytest.mark.parametrize("unknown", PATTERNS, ids=["+".join(u) for u in PATTERNS])
def test_solutions_equal_the_brute_force_enumeration(unknown):
    """For each set of unknowns and each value of the knowns that has a solution in the box, the solver's
    solutions (the unknowns searched over the box) are exactly the enumeration's, smallest first."""
    index = [NAMES.index(k) for k in NAMES if k not in unknown]
    groups: dict[tuple, list] = {}
    for t in TABLE:
        groups.setdefault(tuple(t[i] for i in index), []).append(t)
    box = {**BOX, "n_out": N_OUT}
    for key, expected in groups.items():
        given = {k: box[k] for k in unknown}
        given.update({NAMES[i]: v for i, v in zip(index, key)})
        got = solve(**given).solutions
        assert [(x.n_in, x.n_out, x.f, x.s, x.p) for x in got] == sorted(
            expected, key=lambda t: tuple(t[NAMES.index(k)] for k in unknown)), (unknown, key)
        for x in got:  # the record keeps the arithmetic it was checked with
            assert x.exact == ((x.n_in + 2 * x.p - x.f) % x.s == 0)


def test_knowns_without_a_solution_give_none():
    """One unknown, every value of the four knowns with n_in ≤ 32 and n_out ≤ 12: where the enumeration has
    no solution, neither has the solver."""
    small = {**BOX, "n_in": range(1, 33), "n_out": range(1, 13)}
    for name in NAMES:
        others = [k for k in NAMES if k != name]
        solvable = {tuple(t[NAMES.index(k)] for k in others) for t in TABLE}
        empty = 0
        for values in itertools.product(*(small[k] for k in others)):
            if values not in solvable:
                assert solve(**dict(zip(others, values)), **{name: BOX.get(name, N_OUT)}).solutions == [], values
                empty += 1
        assert empty > 100, name


def test_default_ranges_closed_forms_and_the_exact_inputs():
    # n_in solved in closed form: 55 = ⌊(n_in − 11)/4⌋ + 1 ⇔ 227 ≤ n_in ≤ 230
    assert [x.n_in for x in solve(n_out=55, f=11, s=4, p=0).solutions] == [227, 228, 229, 230]
    got = solve(n_in=224, n_out=55, f=11, s=4)
    assert [x.p for x in got.solutions] == [2, 3] and not any(x.exact for x in got.solutions)
    # n_in + 2p = 227 exactly, smallest padding first
    assert [(x.n_in, x.p) for x in got.exact_inputs[:3]] == [(227, 0), (225, 1), (223, 2)]
    assert got.searched == {"p": (0, 10)}  # p up to f − 1


# ---------------------------------------------------------------- the examples through the CLI


def test_28_to_28_with_f_5_gives_p_2():
    result = run("solve", "--in", "28", "--out", "28", "--f", "5")
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    assert out[2] == "1 solution (1 exact), smallest first:"
    assert out[3] == "  s = 1, p = 2: ⌊(28 + 2·2 − 5)/1⌋ + 1 = 28  divides exactly"


def test_224_to_55_says_no_padding_divides_and_227_does():
    result = run("solve", "--in", "224", "--out", "55", "--f", "11", "--s", "4")
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    assert "  p = 2: ⌊(224 + 2·2 − 11)/4⌋ + 1 = 55  not exact: (224 + 2·2 − 11)/4 + 1 = 55.25" in out
    # p = 3: 219 = 4·54 + 3, the remainder 3 is no more than p_after = 3: only padding goes unread
    assert "  p = 3: ⌊(224 + 2·3 − 11)/4⌋ + 1 = 55  not exact: (224 + 2·3 − 11)/4 + 1 = 55.75" in out
    # 223 with p = 1: 223 + 2 − 11 = 214 = 4·53 + 2, one more than p_after = 1: the last input row is lost
    lost = run("solve", "--in", "223", "--out", "54", "--f", "11", "--s", "4", "--p", "1..1").stdout
    assert "(223 + 2·1 − 11)/4 + 1 = 54.50; the last input row and column are never read" in lost
    assert "no padding divides exactly on n_in = 224" in out
    assert out[-1].startswith("input sizes that divide exactly: 227 (p = 0), 225 (p = 1)")
    ko = run("solve", "--in", "224", "--out", "55", "--f", "11", "--s", "4", "--lang", "ko").stdout
    assert "n_in = 224에서 나누어떨어지는 패딩 없음" in ko and "227 (p = 0)" in ko


def test_solve_json_lists_every_solution():
    data = json.loads(run("solve", "--in", "224", "--out", "55", "--f", "11", "--s", "4", "--format", "json").stdout)
    assert [(x["p"], x["numerator"], x["remainder"], x["exact"]) for x in data["solutions"]] == [
        (2, 217, 1, False), (3, 219, 3, False)]
    assert data["exact_inputs"][0] == {"n_in": 227, "n_out": 55, "f": 11, "s": 4, "p": 0, "numerator": 216,
                                       "remainder": 0, "exact": True, "lost": 0}


@pytest.mark.parametrize("args, field", [
    (["--f", "3"], "solve"),  # neither --in nor --out
    (["--in", "x", "--out", "3"], "--in"),
    (["--in", "7", "--out", "3", "--f", "2.5"], "--f"),
    (["--in", "-7", "--out", "3"], "--in"),
    (["--in", "7", "--out", "3", "--f", "3", "--s", "2", "--p", "1"], "solve"),  # nothing unknown
    (["--in", "28", "--out", "28", "--f", "5..3"], "--f"),
    (["--in", "224"], "solve"),  # a search of 224·224·224 candidates is refused
    (["specs/alexnet.yaml"], "--input-sizes"),
    (["specs/alexnet.yaml", "--input-sizes", "--f", "3"], "--f"),
])
def test_bad_solve_input_is_one_line_and_exit_1(args, field):
    result = run("solve", *args)
    assert result.exit_code == 1, result.output
    text = result.stderr.strip()
    assert len(text.splitlines()) == 1 and "Traceback" not in result.output
    assert text.startswith(f"error: {field}: ") and "allowed: " in text


# ---------------------------------------------------------------- a spec's input sizes


PAPER_ALEXNET = """name: alexnet-paper
input: [224, 224, 3]
layers:
  - conv: {filters: 96, kernel: 11, stride: 4}
  - maxpool: {kernel: 3, stride: 2}
  - conv: {filters: 256, kernel: 5, padding: 2}
  - maxpool: {kernel: 3, stride: 2}
  - conv: {filters: 384, kernel: 3, padding: 1}
  - conv: {filters: 384, kernel: 3, padding: 1}
  - conv: {filters: 256, kernel: 3, padding: 1}
  - maxpool: {kernel: 3, stride: 2}
  - flatten
  - dense: 4096
"""


def exact_chain(n: int, layers) -> bool:
    """Every (f, s, p) of the chain divides exactly from n (and the map stays ≥ 1): the oracle, in plain
    integer arithmetic and a modulo, without the analysis."""
    for f, s, p in layers:
        if n + 2 * p < f or (n + 2 * p - f) % s:
            return False
        n = (n + 2 * p - f) // s + 1
    return True


PAPER_CHAIN = [(11, 4, 0), (3, 2, 0), (5, 1, 2), (3, 2, 0), (3, 1, 1), (3, 1, 1), (3, 1, 1), (3, 2, 0)]
SHIPPED_CHAIN = [(11, 4, 2), (3, 2, 0), (5, 1, 2), (3, 2, 0), (3, 1, 1), (3, 1, 1), (3, 1, 1), (3, 2, 0)]


def test_paper_alexnet_input_sizes_227_not_224(tmp_path):
    spec = tmp_path / "alexnet_paper.yaml"
    spec.write_text(PAPER_ALEXNET, encoding="utf-8")
    result = run("solve", str(spec), "--input-sizes")
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    assert "  conv1 (conv 11×11 s4 p0, 96) along n_H/n_W: (224 + 2·0 − 11)/4 + 1 = 54.25 is not an integer" in out
    expected = sorted((n for n in range(192, 257) if exact_chain(n, PAPER_CHAIN)), key=lambda n: (abs(n - 224), n))
    assert expected[0] == 227  # the hand-worked size comes first
    assert out[-1].endswith("nearest first: " + ", ".join(map(str, expected)))


def test_shipped_alexnet_input_sizes_223():
    os.chdir(ROOT)
    data = json.loads(run("solve", "specs/alexnet.yaml", "--input-sizes", "--format", "json").stdout)
    assert data["sizes_H"] == sorted((n for n in range(192, 257) if exact_chain(n, SHIPPED_CHAIN)),
                                     key=lambda n: (abs(n - 224), n))
    assert data["sizes_H"][0] == 223
    assert [(d["name"], d["numerator"], d["remainder"], d["lost"]) for d in data["inexact"]] == [("features.0", 217, 1, 0)]


def test_non_square_input_is_solved_per_axis(tmp_path):
    spec = tmp_path / "wide.yaml"
    spec.write_text("input: [30, 31, 1]\nlayers:\n  - conv: {filters: 2, kernel: 3, stride: 2}\n", encoding="utf-8")
    data = json.loads(run("solve", str(spec), "--input-sizes", "--near", "3", "--format", "json").stdout)
    # (n − 3) % 2 == 0: odd n only, nearest first: 29, 31, 27, 33 around 30 and 31, 29, 33 around 31
    assert (data["sizes_H"], data["sizes_W"]) == ([29, 31, 27, 33], [31, 29, 33])
    assert data["sizes_H"] == [n for n in sorted(range(27, 34), key=lambda v: (abs(v - 30), v)) if n % 2]
    assert data["sizes_W"] == [n for n in sorted(range(28, 35), key=lambda v: (abs(v - 31), v)) if n % 2]
