"""Shared test helpers: one-line spec builders (a new case is one line) and the finite-difference oracle."""

import json
import os
import re
import subprocess
import sys

import numpy as np

from cnncalc.analysis import analyze
from cnncalc.spec.parser import parse_text


def spec(layers: str, input_shape=(8, 8, 3), blocks: str = "") -> str:
    body = "\n".join("  " + line for line in layers.strip("\n").splitlines())
    return f"name: t\ninput: {list(input_shape)}\n{blocks}layers:\n{body}\n"


def run(layers: str, input_shape=(8, 8, 3), blocks: str = "", strict: bool = False):
    return analyze(parse_text(spec(layers, input_shape, blocks), "t.yaml"), strict)


def row(report, name):
    return next(r for r in report.rows if r.name == name)


def central_difference(f, v, idx, eps=1e-3):
    """(f() at v[idx] + eps − f() at v[idx] − eps)/(2·eps), v changed in place and put back."""
    keep = v[idx]
    v[idx] = keep + eps
    up = f()
    v[idx] = keep - eps
    down = f()
    v[idx] = keep
    return (up - down) / (2 * eps)


def numeric_grad(f, x, eps=1e-6):
    """Central differences of the scalar f() with respect to the float64 array x, one element at a
    time (x is changed in place and put back): the independent oracle of every backward kernel."""
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        grad[idx] = central_difference(f, x, idx, eps)
    return grad


def fenced_blocks(text: str, language: str) -> list[str]:
    """The bodies of a Markdown text's ```language fenced blocks, in order."""
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def console_examples(text: str) -> list[tuple[str, list[str]]]:
    """(command, the output lines shown under it) for every `$ cnncalc …` line of the text's console
    blocks; a line of `…` elides."""
    out = []
    for block in fenced_blocks(text, "console"):
        for line in block.splitlines():
            if line.startswith("$ cnncalc "):
                out.append((line[2:], []))
            elif line.strip() and out and line.strip() != "…":
                out[-1][1].append(line.rstrip())
    return out


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def modules_after(argv: list[str], timeout: int = 120) -> set[str]:
    """The modules a fresh Python process holds after `cnncalc ARGV` ran to a zero exit: what a command
    loads at start-up (the analysis commands must stay free of numpy, numba and the engine)."""
    code = ("import json, sys\nfrom cnncalc.cli import app\n"
            f"try:\n    app({list(argv)!r})\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
            "print('MODULES', json.dumps(sorted(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                          env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("MODULES "))
    return set(json.loads(line[len("MODULES "):]))
