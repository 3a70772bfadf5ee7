"""One-line spec builders for tests: a new case is one line."""

from cnncalc.analysis import analyze
from cnncalc.spec.parser import parse_text


def spec(layers: str, input_shape=(8, 8, 3), blocks: str = "") -> str:
    body = "\n".join("  " + line for line in layers.strip("\n").splitlines())
    return f"name: t\ninput: {list(input_shape)}\n{blocks}layers:\n{body}\n"


def run(layers: str, input_shape=(8, 8, 3), blocks: str = "", strict: bool = False):
    return analyze(parse_text(spec(layers, input_shape, blocks), "t.yaml"), strict)


def row(report, name):
    return next(r for r in report.rows if r.name == name)
