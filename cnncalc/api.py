"""Plain functions behind the CLI, importable by tests and scripts: the one front door that
parses and analyses specs, for the calculator's commands and the trainer alike.

Nothing here imports Numba or the training engine.
"""

from __future__ import annotations

from cnncalc.analysis import Comparison, Report, analyze, compare
from cnncalc.analysis.pause import paused_gc
from cnncalc.graph import Graph
from cnncalc.spec.parser import parse_file, parse_text


ONNX_SUFFIX = ".onnx"


def is_onnx(spec: str) -> bool:
    return spec.lower().endswith(ONNX_SUFFIX)


def load(spec: str, input_shape: tuple | None = None) -> Graph:
    """The layer graph of a spec file, or of an ONNX model (read as the spec `cnncalc import`
    writes); SpecError on any problem."""
    if is_onnx(spec):
        from cnncalc.importers import onnx

        text = onnx.spec_text(spec, input_shape)
        with paused_gc():
            return parse_text(text, spec, input_shape)
    with paused_gc():
        return parse_file(spec, input_shape)


def import_onnx(path: str, input_shape: tuple | None = None):
    """`cnncalc import`: importers.onnx.Imported (the spec as data and the weights) of an ONNX model."""
    from cnncalc.importers import onnx

    return onnx.read(path, input_shape)


def report(spec: str, input_shape: tuple | None = None, strict: bool = False) -> Report:
    """Parse and analyse; a dimension error is returned in `Report.error`, a spec error raised."""
    graph = load(spec, input_shape)
    with paused_gc():
        return analyze(graph, strict)


def report_text(text: str, file: str, input_shape: tuple | None = None, strict: bool = False) -> Report:
    """report() of a spec's text (file names it in messages): what the trainer analyses, since a
    run keeps its spec's text (resume, evaluate and predict read it back from the checkpoint)."""
    with paused_gc():
        return analyze(parse_text(text, file, input_shape), strict)


def compare_specs(specs: list[str], input_shape: tuple | None = None, strict: bool = False) -> Comparison:
    return compare([report(s, input_shape, strict) for s in specs])


def lint(spec: str, input_shape: tuple | None = None):
    """The lints of a spec (analysis.lint.LintReport); a dimension error stays in `.report.error`."""
    from cnncalc.analysis.lint import lint as run_lints

    return run_lints(report(spec, input_shape))


def compare_designs(specs: list[str], input_shape: tuple | None = None):
    """`cnncalc compare`: analysis.compare.DesignComparison of several specs against the first."""
    from cnncalc.analysis.compare import compare_designs as run

    return run([report(s, input_shape) for s in specs])


def spec_schema() -> dict:
    from cnncalc.spec.schema import schema

    return schema()


def memory_plan(spec: str, batch: int, optimizer: str, input_shape: tuple | None = None, depth: int | None = None,
                budget: str | None = None, threads: int | None = None):
    """`cnncalc memory`: (analysis.memory.MemoryPlan at `batch`, and for a budget the tuple
    (budget text, bytes, base catalogue key, largest batch m, plan at m, plan at m + 1), else None)."""
    from cnncalc.analysis import memory

    analysed = report(spec, input_shape)
    result = memory.plan(analysed, batch, optimizer, threads, depth)
    if budget is None:
        return result, None
    nbytes = memory.parse_size(budget)
    m, fits, over = memory.largest_batch(analysed, nbytes, optimizer, threads)
    return result, (budget, nbytes, memory.size_base(budget), m, fits, over)


def drawing(spec: str, input_shape: tuple | None = None, depth: int | None = None, rf: str | None = None):
    """`cnncalc draw`: (the Report, analysis.drawing.Drawing of its rows folded at `depth`, with the
    receptive field of layer `rf` on the input); ArgumentError for an unknown `rf`."""
    from cnncalc.analysis.drawing import drawing as layout

    analysed = report(spec, input_shape)
    return analysed, layout(analysed, depth, rf)
