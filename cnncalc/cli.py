"""The command line: parse options, call `api` (or the engine), render, map errors to exit codes.

Exit codes: 0 ok, 1 spec, dimension, data or engine error, 2 usage error, 130 interrupted (Ctrl-C,
after the trainer has said what it kept).
The engine, the data loaders and Numba are imported only inside the commands
that train, so the analysis commands start quickly.
"""

from __future__ import annotations

import os
from enum import Enum
from typing import Annotated, Optional

import typer

from cnncalc import __version__

app = typer.Typer(
    name="cnncalc",
    help="A CNN architecture calculator (shapes, parameters, MACs, receptive fields) and CPU trainer "
         "for networks written as YAML specs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class View(str, Enum):
    standard = "standard"
    course = "course"


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


def _consoles():
    from rich.console import Console

    # A pipe gets no terminal width; a report is wide, so give it room rather than wrap every cell.
    width = None if "COLUMNS" in os.environ else 200
    out = Console(width=width if not _is_tty() else None, highlight=False)
    err = Console(stderr=True, width=width if not _is_tty() else None, highlight=False)
    return out, err


def _is_tty() -> bool:
    import sys

    return sys.stdout.isatty()


def _parse_input(value: Optional[str]) -> Optional[tuple]:
    """`--input H,W,C` (or HxWxC, or N) checked by the same rule as a spec's `input:`; a usage error otherwise."""
    if value is None:
        return None
    import re

    from cnncalc.errors import CnncalcError, printable
    from cnncalc.spec.parser import check_input_shape

    parts = [p.strip(" ") for p in value.replace("x", ",").replace("×", ",").split(",")]
    try:
        if not all(re.fullmatch(r"[0-9]+", p) for p in parts):  # ASCII digits: no 1e30, 1_000 or ٣
            raise ValueError
        sizes = [int(p) for p in parts]  # past 4,300 digits int() refuses too
    except ValueError:
        shown = repr(value) if len(value) <= 60 else repr(value[:57]) + "..."
        raise typer.BadParameter(f"received {printable(shown)}; allowed: H,W,C (e.g. 32,32,3) or N",
                                 param_hint="'--input'") from None
    try:
        return check_input_shape(sizes, None, "--input")
    except CnncalcError as exc:
        raise typer.BadParameter(exc.line(), param_hint="'--input'") from None


def _version(value: bool):
    if value:
        typer.echo(f"cnncalc {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
):
    """cnncalc: shapes, parameters, MACs and receptive fields of a CNN spec, and a CPU trainer."""


def _check_input(value: Optional[str]) -> Optional[str]:
    # Parsed once more here, while click parses the options, so that its error names --input.
    _parse_input(value)
    return value


def _examples(*commands: str) -> str:
    """An epilog of example commands; click's \\b keeps their lines as written."""
    return "Examples:\n\n\b\n" + "\n".join(f"  {c}" for c in commands)


SpecArg = Annotated[str, typer.Argument(help="The network spec (YAML); - reads it from standard input.", metavar="SPEC", show_default=False)]
InputOpt = Annotated[Optional[str], typer.Option("--input", metavar="H,W,C", callback=_check_input,
                                                 help="Override the spec's input: H,W,C (or N).",
                                                 show_default="the spec's input")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
DepthOpt = Annotated[Optional[int], typer.Option("--depth", "-d", min=1, metavar="K",
                                                 help="Show this many levels of nesting; deeper blocks "
                                                      "fold into one row (1: top-level layers and blocks).",
                                                 show_default="every layer")]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Exit with code 1 on any warning (real input rows never read, "
                                                          "a channels-first input, an output or block argument never "
                                                          "used); notes are never refused.")]


class Lang(str, Enum):
    en = "en"
    ko = "ko"


LangOpt = Annotated[Lang, typer.Option("--lang", help="Language of the words: explanations, table headers, warnings and errors "
                                                      "(en English, ko Korean).")]


def _check_columns(value: Optional[str]) -> Optional[str]:
    _parse_columns(value)
    return value


def _parse_columns(value: Optional[str]) -> Optional[list[str]]:
    """`--columns name,type,params`: the column keys (csv's and json's field names), in order."""
    if value is None:
        return None
    from cnncalc.errors import printable
    from cnncalc.render.columns import COLUMNS

    keys = [k.strip() for k in value.split(",")]
    for k in keys:
        if k not in COLUMNS:
            raise typer.BadParameter(f"received {printable(repr(k))}; allowed: {', '.join(COLUMNS)}",
                                     param_hint="'--columns'")
    return keys


ColumnsOpt = Annotated[Optional[str], typer.Option("--columns", metavar="A,B,C", callback=_check_columns,
                                                   help="The columns to show, in order, by their csv and json "
                                                        "names (e.g. name,type,output_shape,params).",
                                                   show_default="the command's")]
WideOpt = Annotated[bool, typer.Option("--wide", help="Show every column, however wide the table "
                                                      "(otherwise it fits the terminal and says what it left out).")]


def _width(wide: bool) -> Optional[int]:
    """The cells a table may take: COLUMNS, else the terminal's; None (every column) for --wide or a pipe."""
    if wide:
        return None
    value = os.environ.get("COLUMNS", "")
    if value.isdigit() and int(value) > 0:
        return int(value)
    if _is_tty():
        import shutil

        return shutil.get_terminal_size().columns
    return None


def _analysis_command(command: str, spec: str, input_: Optional[str], fmt: Format, depth: Optional[int],
                      strict: bool, lang: Lang = Lang.en, columns: Optional[str] = None, wide: bool = False,
                      view: str = "standard", merge_pool: bool = False) -> None:
    from cnncalc import api
    from cnncalc.errors import CnncalcError
    from cnncalc.render import report as render

    try:
        result = api.report(spec, _parse_input(input_), strict)
    except CnncalcError as exc:
        _fail(render.error_line(exc, lang.value))
    _write(render.render(result, command, fmt.value, depth, width=_width(wide), columns=_parse_columns(columns),
                         view_name=view, merge_pool=merge_pool, lang=lang.value))
    _warn(render.diagnostic_entries(result, lang.value, numbered=fmt == Format.table))
    if result.error is not None:
        _fail(render.error_line(result.error, lang.value))


def _write(text: str) -> None:
    import sys

    sys.stdout.write(text)
    sys.stdout.flush()


_LEVEL_STYLES = {"error": "bold red", "warning": "yellow", "note": "dim"}  # a note speaks quietly


def _warn(entries: list[tuple[str, str]]) -> None:
    """The diagnostics on stderr, one line each: warnings in yellow, notes dimmed."""
    if entries:
        _, err = _consoles()
        for level, line in entries:
            err.print(line, style=_LEVEL_STYLES.get(level, "yellow"), markup=False, soft_wrap=True)


def _fail(line: str):
    _, err = _consoles()
    err.print(line, style="bold red", markup=False, soft_wrap=True)
    raise typer.Exit(1)


@app.command(epilog=_examples("cnncalc shapes specs/lenet5.yaml",
                             "cnncalc shapes specs/lenet5.yaml --input 28,28,1",
                             "cnncalc shapes specs/resnet50.yaml --depth 1 --format markdown"))
def shapes(spec: SpecArg, input_: InputOpt = None, fmt: FormatOpt = Format.table, depth: DepthOpt = None,
           strict: StrictOpt = False, lang: LangOpt = Lang.en, columns: ColumnsOpt = None, wide: WideOpt = False):
    """Each layer's n_H×n_W×n_C, receptive field and jump.

    Says where and why the dimensions break, with the arithmetic and a fix.
    """
    _analysis_command("shapes", spec, input_, fmt, depth, strict, lang, columns, wide)


@app.command(epilog=_examples("cnncalc params specs/lenet5.yaml",
                             "cnncalc params specs/compare/two_3x3.yaml specs/compare/one_5x5.yaml",
                             "cnncalc params specs/resnet50.yaml --format csv"))
def params(specs: Annotated[list[str], typer.Argument(help="One spec, or several to compare side by side.",
                                                      metavar="SPEC...", show_default=False)],
           input_: InputOpt = None, fmt: FormatOpt = Format.table, depth: DepthOpt = None,
           strict: StrictOpt = False, lang: LangOpt = Lang.en, columns: ColumnsOpt = None, wide: WideOpt = False):
    """Parameters per layer, or several specs side by side.

    One spec: trainable and non-trainable parameters per layer, with totals. Several: their
    params, MACs, FLOPs, activations, output shapes and receptive fields, with ratios to the first.
    """
    if len(specs) == 1:
        _analysis_command("params", specs[0], input_, fmt, depth, strict, lang, columns, wide)
        return
    from cnncalc import api
    from cnncalc.errors import CnncalcError
    from cnncalc.render import report as render

    try:
        comparison = api.compare_specs(specs, _parse_input(input_), strict)
    except CnncalcError as exc:
        _fail(render.error_line(exc, lang.value))
    _write(render.render_compare(comparison, fmt.value, lang.value))
    failed = [render.error_line(e, lang.value) for e in comparison.errors if e is not None]
    if failed:
        _warn([("error", line) for line in failed[:-1]])
        _fail(failed[-1])


@app.command(epilog=_examples("cnncalc flops specs/lenet5.yaml",
                             "cnncalc flops specs/resnet50.yaml --as torchinfo",
                             "cnncalc flops specs/alexnet.yaml --explain-diff ptflops fvcore"))
def flops(spec: SpecArg, input_: InputOpt = None, fmt: FormatOpt = Format.table, depth: DepthOpt = None,
          strict: StrictOpt = False, lang: LangOpt = Lang.en, columns: ColumnsOpt = None, wide: WideOpt = False,
          as_: Annotated[Optional[Peer], typer.Option("--as", metavar="PEER", show_default=False,
                                                      help="The total another tool reports for this spec "
                                                           "(torchinfo, ptflops, fvcore, thop; keras says why "
                                                           "not), item by item, at batch 1.")] = None,
          explain_diff: Annotated[Optional[tuple[str, str]], typer.Option(
              "--explain-diff", metavar="A B", show_default=False,
              help="Two of cnncalc, torchinfo, ptflops, fvcore, thop: their totals term by term "
                   "(MACs, bias adds, batchnorm, activations, pooling).")] = None):
    """MACs, FLOPs (2·MACs) and other element-wise work per layer."""
    if as_ is None and explain_diff is None:
        _analysis_command("flops", spec, input_, fmt, depth, strict, lang, columns, wide)
        return
    _peers_command(spec, input_, fmt, strict, as_, explain_diff, lang.value)


class Peer(str, Enum):
    torchinfo = "torchinfo"
    ptflops = "ptflops"
    fvcore = "fvcore"
    thop = "thop"
    keras = "keras"


def _peers_command(spec, input_, fmt: Format, strict: bool, as_, explain_diff, lang: str = "en") -> None:
    from cnncalc import api
    from cnncalc.analysis import peers
    from cnncalc.errors import CnncalcError
    from cnncalc.render import peers as render_peers
    from cnncalc.render import report as render
    from cnncalc.render.lang import text

    if as_ is not None and explain_diff is not None:
        raise typer.BadParameter(text("peers.both", lang), param_hint="'--as'")
    for name in explain_diff or ():
        if name not in peers.NAMES:
            raise typer.BadParameter(text("peers.unknown", lang, name=name, allowed=", ".join(peers.NAMES)),
                                     param_hint="'--explain-diff'")
    if as_ is Peer.keras:
        _fail(text("peers.keras", lang, spec=spec))
    try:
        result = api.report(spec, _parse_input(input_), strict)
    except CnncalcError as exc:
        _fail(render.error_line(exc, lang))
    if result.error is not None:
        _fail(render.error_line(result.error, lang))
    if as_ is not None:
        _write(render_peers.render_count(peers.count(result, as_.value), spec, fmt.value, lang))
    else:
        _write(render_peers.render_diff(peers.diff(result, *explain_diff), spec, fmt.value, lang))


@app.command(epilog=_examples("cnncalc summary specs/lenet5.yaml",
                             "cnncalc summary specs/resnet50.yaml --depth 2 --format markdown",
                             "cnncalc summary specs/lenet5.yaml --view course --merge-pool"))
def summary(spec: SpecArg, input_: InputOpt = None, fmt: FormatOpt = Format.table, depth: DepthOpt = None,
            strict: StrictOpt = False, lang: LangOpt = Lang.en, columns: ColumnsOpt = None,
            wide: WideOpt = False,
            view: Annotated[View, typer.Option("--view", help="standard: every count; course: Andrew Ng's "
                                                              "table (activation shape, activation size, "
                                                              "number of parameters).")] = View.standard,
            merge_pool: Annotated[bool, typer.Option("--merge-pool", help="In the course view, a conv and the "
                                                                          "pooling after it as one layer, as "
                                                                          "the lecture counts them.")] = False):
    """Shapes, parameters, MACs and receptive fields in one table.

    Everything the other commands show, with activations and totals, as one would paste it into a
    report.
    """
    _analysis_command("summary", spec, input_, fmt, depth, strict, lang, columns, wide, view.value, merge_pool)


@app.command(epilog=_examples("cnncalc explain specs/ng_39x39.yaml",
                             "cnncalc explain specs/ng_39x39.yaml --layer conv2 --lang ko",
                             "cnncalc explain specs/resnet18.yaml --layer layer1.0"))
def explain(spec: SpecArg,
            layer: Annotated[Optional[str], typer.Option("--layer", metavar="NAME",
                                                         help="Explain this layer only (or every layer of this block).",
                                                         show_default="every layer")] = None,
            input_: InputOpt = None, strict: StrictOpt = False, lang: LangOpt = Lang.en):
    """Each layer's numbers with their formulas, values filled in.

    n_H and n_W, params (weights + biases), MACs, activations and the receptive-field step, in
    course notation; same padding's split, ceil mode's last window and what an inexact division
    loses.  The numbers are the summary table's.
    """
    from cnncalc import api
    from cnncalc.analysis.explain import select
    from cnncalc.errors import CnncalcError, Mark, SpecError
    from cnncalc.render import report as render
    from cnncalc.render.explain import explain_text
    from cnncalc.render.lang import text

    try:
        result = api.report(spec, _parse_input(input_), strict)
        names = None
        if layer is not None:
            names = select(result, layer)
            if not names:
                known = ", ".join(r.name for r in result.rows[1:6])
                raise SpecError(text("explain.unknown_layer", lang.value, spec=result.graph.file),
                                Mark(result.graph.file), "--layer", layer,
                                text("explain.unknown_layer.allowed", lang.value, names=known))
    except CnncalcError as exc:
        _fail(render.error_line(exc, lang.value))
    _write(explain_text(result, names, lang.value))
    _warn(render.diagnostic_entries(result, lang.value, numbered=False))
    if result.error is not None:
        _fail(render.error_line(result.error, lang.value))


@app.command(epilog=_examples("cnncalc schema > cnncalc-schema.json",
                             "cnncalc schema | python -m json.tool --compact"))
def schema():
    """Print the JSON Schema of the spec language.

    For editors: yaml-language-server completes and checks a spec whose first line is
    `# yaml-language-server: $schema=PATH/cnncalc-schema.json`.
    """
    import json

    from cnncalc import api

    typer.echo(json.dumps(api.spec_schema(), indent=2, ensure_ascii=False))


# ---------------------------------------------------------------- one layer and the solver (no spec file)

class CalcFormat(str, Enum):
    text = "text"
    json = "json"


LangOpt = Annotated[Lang, typer.Option("--lang", help="Language of the explanations.")]
CalcFormatOpt = Annotated[CalcFormat, typer.Option("--format", help="Output format (json: the plain data).")]
SizeArg = Annotated[str, typer.Argument(help="Input size n (n_H = n_W = n).", metavar="N", show_default=False)]
KernelArg = Annotated[str, typer.Argument(help="Window size f.", metavar="F", show_default=False)]


def _calc_command(lang: Lang, fmt: CalcFormat, compute, as_text, as_json) -> None:
    """compute() → a record from analysis/solve.py, written as text or JSON; errors as one line, exit 1."""
    from cnncalc.errors import CnncalcError
    from cnncalc.render import calc as render

    try:
        record = compute()
    except CnncalcError as exc:
        _fail(render.error_line(exc, lang.value))
    _write(render.as_json(as_json(record)) if fmt is CalcFormat.json else as_text(record, lang.value))


@app.command(epilog=_examples("cnncalc conv 7 3 --stride 3", "cnncalc conv 7 3 --padding same",
                             "cnncalc conv 224 11 --stride 4 --lang ko"))
def conv(n: SizeArg, f: KernelArg,
         stride: Annotated[str, typer.Option("--stride", "-s", metavar="S", help="Stride s.")] = "1",
         padding: Annotated[str, typer.Option("--padding", "-p", metavar="P|same|valid",
                                              help="Padding p on each side, same (TensorFlow's) or valid.")] = "0",
         dilation: Annotated[str, typer.Option("--dilation", "-d", metavar="D", help="Dilation d.")] = "1",
         lang: LangOpt = Lang.en, fmt: CalcFormatOpt = CalcFormat.text):
    """One conv window over an n×n input, with the arithmetic.

    The output size with the formula filled in, which input rows and columns are never read and
    the fixes, the padding that keeps the size, and the strides and paddings that divide exactly.
    """
    from cnncalc.analysis import solve as calc
    from cnncalc.render import calc as render

    _calc_command(lang, fmt, lambda: calc.window_calc("conv", n, f, stride, padding, dilation),
                  render.window_text, render.window_json)


@app.command(epilog=_examples("cnncalc pool 7 2", "cnncalc pool 7 3 --stride 2 --ceil"))
def pool(n: SizeArg, f: KernelArg,
         stride: Annotated[Optional[str], typer.Option("--stride", "-s", metavar="S", help="Stride s.",
                                                       show_default="F")] = None,
         padding: Annotated[str, typer.Option("--padding", "-p", metavar="P|same|valid",
                                              help="Padding p on each side (at most ⌊F/2⌋), same or valid.")] = "0",
         ceil: Annotated[bool, typer.Option("--ceil", help="Ceil mode: round the output size up.")] = False,
         lang: LangOpt = Lang.en, fmt: CalcFormatOpt = CalcFormat.text):
    """One pooling window over an n×n input, with the arithmetic.

    As conv: the output size worked out, what is never read, the fixes (ceil mode among them),
    the padding that keeps the size, and the strides and paddings that divide exactly.
    """
    from cnncalc.analysis import solve as calc
    from cnncalc.render import calc as render

    _calc_command(lang, fmt, lambda: calc.window_calc("pool", n, f, stride, padding, 1, ceil),
                  render.window_text, render.window_json)


def _solve_option(name: str, what: str):
    return typer.Option(name, metavar="V|A..B", show_default="unknown",
                        help=f"{what}: a number, or A..B to search that range; leave it out to find it.")


@app.command(epilog=_examples("cnncalc solve --in 28 --out 28 --f 5",
                             "cnncalc solve --in 224 --out 55 --f 11 --s 4",
                             "cnncalc solve specs/alexnet.yaml --input-sizes"))
def solve(spec: Annotated[Optional[str], typer.Argument(help="With --input-sizes: the network spec (YAML).",
                                                        metavar="SPEC", show_default=False)] = None,
          in_: Annotated[Optional[str], _solve_option("--in", "Input size n_in")] = None,
          out: Annotated[Optional[str], _solve_option("--out", "Output size n_out")] = None,
          f: Annotated[Optional[str], _solve_option("--f", "Window size f")] = None,
          s: Annotated[Optional[str], _solve_option("--s", "Stride s")] = None,
          p: Annotated[Optional[str], _solve_option("--p", "Padding p")] = None,
          input_sizes: Annotated[bool, typer.Option("--input-sizes",
                                                    help="List the input sizes near SPEC's for which every conv "
                                                         "and pooling window divides exactly.")] = False,
          near: Annotated[int, typer.Option("--near", min=1, max=4096, metavar="K",
                                            help="With --input-sizes: how far from the spec's size to look.")] = 32,
          lang: LangOpt = Lang.en, fmt: CalcFormatOpt = CalcFormat.text):
    """Find the missing ones of n_in, n_out, f, s, p.

    Every integer solution of n_out = ⌊(n_in + 2p − f)/s⌋ + 1, smallest first, the exact ones marked;
    with SPEC and --input-sizes, the input sizes for which every conv and pooling window divides exactly.
    """
    from cnncalc.analysis import solve as calc
    from cnncalc.errors import ArgumentError
    from cnncalc.render import calc as render

    def compute():
        given = {"--in": in_, "--out": out, "--f": f, "--s": s, "--p": p}
        if spec is not None or input_sizes:
            named = [k for k, v in given.items() if v is not None]
            if spec is None or not input_sizes or named:
                raise ArgumentError("calc.err_spec_mode", named[0] if named else "--input-sizes", None)
            return calc.input_sizes(spec, near)
        return calc.solve(calc.parse_search("--in", in_, 1), calc.parse_search("--out", out, 1),
                          calc.parse_search("--f", f, 1), calc.parse_search("--s", s, 1),
                          calc.parse_search("--p", p, 0))

    def as_text(record, language):
        return (render.sizes_text if isinstance(record, calc.InputSizes) else render.solve_text)(record, language)

    def as_json(record):
        return render.sizes_json(record) if isinstance(record, calc.InputSizes) else render.solve_json(record)

    _calc_command(lang, fmt, compute, as_text, as_json)


# ---------------------------------------------------------------- training (imports the engine lazily)

class OutFormat(str, Enum):
    table = "table"
    json = "json"


DataDirOpt = Annotated[Optional[str], typer.Option("--data-dir", metavar="DIR",
                                                   show_default="$CNNCALC_DATA, else the user cache",
                                                   help="Where fetched data sets are looked up.")]


def _choices(name: str, values) -> type[Enum]:
    """A typer choice Enum of the names defined elsewhere (their one definition)."""
    return Enum(name, {v.replace("-", "_"): v for v in values}, type=str)


def _engine_names():
    # engine.optim imports neither numpy nor Numba at module level: reading the names stays cheap
    from cnncalc.engine.optim import OPTIMIZERS, SCHEDULES

    return OPTIMIZERS, SCHEDULES


Optimizer = _choices("Optimizer", _engine_names()[0])


class Init(str, Enum):
    torch = "torch"
    he_glorot = "he-glorot"
    glorot = "glorot"


Schedule = _choices("Schedule", _engine_names()[1])


def _engine_call(fn_name: str, *args, listener=None, **kwargs):
    """Call engine.api's fn_name; its errors become one line and exit 1, an interruption exit
    128 + the signal. listener(out, err) → on_event makes the callback a run reports to."""
    from cnncalc.errors import CnncalcError
    from cnncalc.render.report import error_line

    # The kernels run their own threads; OpenBLAS's would spin on the same cores between GEMMs and
    # slow every Numba loop several times over, so BLAS runs single-threaded under the trainer.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    out, err = _consoles()
    on_event = listener(out, err) if listener is not None else None
    try:
        from cnncalc.engine import api as engine_api

        if on_event is not None:
            kwargs["on_event"] = on_event
        try:
            return getattr(engine_api, fn_name)(*args, **kwargs)
        finally:
            if on_event is not None:
                on_event.close()  # a progress bar an error left open
    except CnncalcError as exc:
        _fail(error_line(exc))
    except KeyboardInterrupt as exc:
        if _OWN_PROCESS:  # the process is ending: a second Ctrl-C must not turn the exit into a traceback
            import signal

            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # a run's Interrupted comes after the trainer said what it kept; before that nothing was written.
        # Exit 128 + the signal: 130 for Ctrl-C, 143 for SIGTERM (which a run handles as Ctrl-C)
        if not hasattr(exc, "saved_epoch"):
            from cnncalc.render.training import interrupted_early

            interrupted_early(err)
        raise typer.Exit(128 + getattr(exc, "signum", 2)) from None


@app.command(epilog=_examples("cnncalc train specs/mnist_small.yaml --epochs 1",
                             "cnncalc train specs/mnist_lenet.yaml --data mnist/ --epochs 3 --out runs/lenet",
                             "cnncalc train --resume runs/lenet --epochs 5"))
def train(
    spec: Annotated[Optional[str], typer.Argument(help="The network spec (YAML); not needed with --resume.",
                                                  metavar="SPEC", show_default=False)] = None,
    data: Annotated[Optional[str], typer.Option(metavar="SOURCE", show_default="synthetic",
                                                help="An IDX folder or file, a cifar-10-batches-py folder, "
                                                     "an .npz, or 'synthetic'.")] = None,
    epochs: Annotated[Optional[int], typer.Option(min=1, metavar="N", show_default="3",
                                                  help="Epochs to train; with --resume, the new total.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, metavar="M",
                                            help="Images per step.")] = 64,
    lr: Annotated[Optional[float], typer.Option(min=0.0, metavar="LR", show_default="1e-3 adam, 0.01 sgd",
                                                help="Learning rate.")] = None,
    optimizer: Annotated[Optimizer, typer.Option(help="Update rule, as PyTorch's.")] = Optimizer.adam,
    momentum: Annotated[float, typer.Option(min=0.0, max=1.0, metavar="BETA",
                                            help="SGD's momentum.")] = 0.9,
    weight_decay: Annotated[float, typer.Option("--weight-decay", min=0.0, metavar="DECAY",
                                                help="Weight decay, as PyTorch's optimisers apply it.")] = 0.0,
    schedule: Annotated[Schedule, typer.Option(help="Learning rate over the run: step ×0.1 every third of it, "
                                                    "or cosine annealing.")] = Schedule.constant,
    seed: Annotated[int, typer.Option(metavar="SEED", help="Seeds initialisation, shuffling, the validation split and "
                                           "dropout.")] = 0,
    threads: Annotated[Optional[int], typer.Option(min=1, metavar="N", show_default="one per core",
                                                   help="Threads for the kernels.")] = None,
    out: Annotated[Optional[str], typer.Option("--out", metavar="DIR", show_default="runs/NAME-TIME",
                                               help="Run directory.")] = None,
    resume: Annotated[Optional[str], typer.Option(metavar="DIR", show_default="a new run",
                                                  help="Continue the run in this directory.")] = None,
    force: Annotated[bool, typer.Option(help="Replace a run already in --out (kept until the new run's first "
                                             "save); train even when the memory estimate exceeds free "
                                             "memory.")] = False,
    init: Annotated[Init, typer.Option(help="Initialisation: PyTorch's defaults, He before ReLUs and Glorot "
                                            "elsewhere, or Glorot everywhere.")] = Init.torch,
    val_fraction: Annotated[float, typer.Option("--val-fraction", min=0.0, max=0.9, metavar="FRACTION",
                                                help="Share of the training set held out for "
                                                     "validation.")] = 0.1,
    input_: InputOpt = None,
    limit: Annotated[Optional[int], typer.Option(min=1, metavar="N", show_default="every image",
                                                 help="Train on the first N training images, stratified by "
                                                      "class.")] = None,
    data_dir: DataDirOpt = None,
    fmt: Annotated[OutFormat, typer.Option("--format", "-f", help="Output format: text, or one JSON object "
                                                                  "per event and line.")] = OutFormat.table,
    verbose: Annotated[bool, typer.Option(help="Also show the processor as the kernels see it and "
                                                            "the kernel each conv layer runs, and why.")] = False,
):
    """Train the spec on the CPU; checkpoint after every epoch.

    Numba kernels; with no --data, a built-in synthetic set sized to the spec.
    """
    if spec is None and resume is None:
        raise typer.BadParameter("give a SPEC to train, or --resume RUN_DIR", param_hint="SPEC")

    def listener(out, err):
        from cnncalc.render import training as view

        if fmt is OutFormat.json:
            import sys

            return view.JsonLines(sys.stdout, err)
        return view.Printer(out, err)

    _engine_call("train_run", spec, listener=listener, data=data, epochs=epochs, batch_size=batch_size, lr=lr,
                 optimizer=optimizer.value, momentum=momentum, weight_decay=weight_decay,
                 schedule=schedule.value, seed=seed, threads=threads, out=out, resume=resume, force=force,
                 val_fraction=val_fraction, input_override=_parse_input(input_), init=init.value, limit=limit,
                 data_dir=data_dir, verbose=verbose)


def _show_result(result, fmt, view_name):
    from cnncalc.render import training as view

    if fmt is OutFormat.json:
        _write(view.as_json(result))
    else:
        getattr(view, view_name)(_consoles()[0], result)


@app.command(epilog=_examples("cnncalc evaluate runs/lenet",
                             "cnncalc evaluate runs/lenet/best.npz --data mnist/"))
def evaluate(
    target: Annotated[str, typer.Argument(help="A run directory or a checkpoint (.npz).", metavar="RUN",
                                          show_default=False)],
    data: Annotated[Optional[str], typer.Option(metavar="SOURCE", show_default="the run's own",
                                                help="Data to evaluate on: a path or a fetched data set's "
                                                     "name.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, metavar="M",
                                            help="Images per step.")] = 256,
    fmt: Annotated[OutFormat, typer.Option("--format", "-f", help="Output format.")] = OutFormat.table,
    data_dir: DataDirOpt = None,
):
    """Accuracy, confusion matrix, precision, recall and F1 of a run."""
    result = _engine_call("evaluate_run", target, data=data, batch_size=batch_size, data_dir=data_dir)
    _show_result(result, fmt, "evaluation")


@app.command(epilog=_examples("cnncalc predict runs/lenet/best.npz digits.npz",
                             "cnncalc predict runs/lenet digit.pgm"))
def predict(
    checkpoint: Annotated[str, typer.Argument(help="A checkpoint (.npz) or run directory.", metavar="CHECKPOINT",
                                              show_default=False)],
    inputs: Annotated[list[str], typer.Argument(help="Image files (PNG, JPEG, PGM, PPM) or glob patterns, "
                                                     "or .npz/.npy/IDX files of images.", metavar="INPUT...",
                                                show_default=False)],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, metavar="K", help="Classes to show per input.")] = 3,
    resize: Annotated[bool, typer.Option(help="Scale pictures of another size to the network's input "
                                              "(bilinear) instead of refusing them.")] = False,
    fmt: Annotated[OutFormat, typer.Option("--format", "-f", help="Output format.")] = OutFormat.table,
):
    """The most likely classes, with probabilities, for each input."""
    result = _engine_call("predict_run", checkpoint, inputs, top=top_k, resize=resize)
    _show_result(result, fmt, "predictions")


# ---------------------------------------------------------------- data sets (no engine, no Numba)

data_app = typer.Typer(help="Download MNIST, Fashion-MNIST, KMNIST or CIFAR-10.", no_args_is_help=True,
                       epilog=_examples("cnncalc data fetch mnist", "cnncalc data list"))
app.add_typer(data_app, name="data")

DirOpt = Annotated[Optional[str], typer.Option("--dir", metavar="DIR",
                                               show_default="$CNNCALC_DATA, else the user cache",
                                               help="Where data sets live.")]


@data_app.command("fetch", epilog=_examples("cnncalc data fetch mnist",
                                            "cnncalc data fetch cifar10 --dir data/"))
def data_fetch(name: Annotated[str, typer.Argument(help="mnist, fashion-mnist, kmnist or cifar10.", metavar="NAME",
                                                   show_default=False)],
               dir_: DirOpt = None):
    """Download a data set, check every file's SHA-256, resume a partial download."""
    from cnncalc.data.fetch import fetch
    from cnncalc.errors import CnncalcError
    from cnncalc.render import download
    from cnncalc.render.report import error_line

    out, _ = _consoles()
    try:
        result = fetch(name, data_dir=dir_, progress=download.Bar(out))
    except CnncalcError as exc:
        _fail(error_line(exc))
    download.fetched(out, result, dir_)


@data_app.command("list", epilog=_examples("cnncalc data list", "cnncalc data list --dir data/"))
def data_list(dir_: DirOpt = None):
    """The data sets fetch knows, their size, and whether they are fetched."""
    from cnncalc.data.catalog import CATALOGUE, data_root
    from cnncalc.render import download

    typer.echo(f"data folder: {data_root(dir_)}")
    for line in download.catalogue_rows(CATALOGUE, dir_):
        typer.echo(line)


# ---------------------------------------------------------------- lint and compare (no engine, no Numba)

LintLangOpt = Annotated[Lang, typer.Option("--lang", help="Language of the reasons, fixes and headings.")]
TextOrJson = Annotated[OutFormat, typer.Option("--format", "-f", help="Output format.")]


@app.command(epilog=_examples("cnncalc lint specs/lenet5.yaml",
                             "cnncalc lint specs/vgg19_bn.yaml --strict",
                             "cnncalc lint specs/mnist_small.yaml --format json --lang ko"))
def lint(spec: SpecArg, input_: InputOpt = None, fmt: TextOrJson = OutFormat.table, lang: LintLangOpt = Lang.en,
         strict: Annotated[bool, typer.Option("--strict", help="Exit with code 1 when any finding remains "
                                                                 "(not silenced by lint: {ignore: [...]}).")] = False):
    """Design checks: each finding with its id, reason and fix.

    Silence one on a layer, a block call or a block with `lint: {ignore: [id]}`. Exit code 0 unless
    --strict and a finding remains; 1 for an error in the spec or its dimensions.
    """
    from cnncalc import api
    from cnncalc.errors import CnncalcError
    from cnncalc.render import lint as render
    from cnncalc.render.report import error_line

    try:
        result = api.lint(spec, _parse_input(input_))
    except CnncalcError as exc:
        _fail(error_line(exc, lang.value))
    if result.report.error is not None:
        _fail(error_line(result.report.error, lang.value))
    _write(render.render(result, fmt.value, lang.value))
    if strict and result.findings:
        raise typer.Exit(1)


@app.command(epilog=_examples("cnncalc compare specs/compare/two_3x3.yaml specs/compare/one_5x5.yaml",
                             "cnncalc compare specs/compare/separable_128_256.yaml specs/compare/standard_128_256.yaml",
                             "cnncalc compare specs/resnet18.yaml specs/resnet34.yaml --format json"))
def compare(specs: Annotated[list[str], typer.Argument(help="Two or more specs; each is compared with the first.",
                                                       metavar="A B...", show_default=False)],
            input_: InputOpt = None, fmt: TextOrJson = OutFormat.table, lang: LintLangOpt = Lang.en):
    """Each design against the first: differences and ratios.

    Output shape, receptive field, params (weights, biases, the rest), MACs, activation memory,
    depth and non-linearities; per stage; the formula of a known pair (stacked 3×3 against 5×5,
    depthwise-separable, 1×1 bottleneck). `cnncalc params A B` gives the totals alone.
    """
    if len(specs) < 2:
        raise typer.BadParameter("give at least two specs to compare", param_hint="A B...")
    from cnncalc import api
    from cnncalc.errors import CnncalcError
    from cnncalc.render import compare as render
    from cnncalc.render.report import error_line

    try:
        result = api.compare_designs(specs, _parse_input(input_))
    except CnncalcError as exc:
        _fail(error_line(exc, lang.value))
    failed = [error_line(e, lang.value) for e in result.errors if e is not None]
    if failed:
        _warn([("error", line) for line in failed[:-1]])
        _fail(failed[-1])
    _write(render.render(result, fmt.value, lang.value))


class MemoryFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class MemoryOptimizer(str, Enum):
    sgd = "sgd"
    momentum = "momentum"
    adam = "adam"


@app.command(epilog=_examples("cnncalc memory specs/lenet5.yaml --batch 64 --optimizer adam",
                             "cnncalc memory specs/small_vgg.yaml --batch 128 --budget 4GB",
                             "cnncalc memory specs/resnet18.yaml --depth 1 --format json"))
def memory(spec: SpecArg, input_: InputOpt = None,
           batch: Annotated[int, typer.Option("--batch", min=1, metavar="M", help="Images per batch.")] = 32,
           optimizer: Annotated[MemoryOptimizer, typer.Option(help="sgd (no state), momentum (a velocity per "
                                                                   "parameter) or adam (two moments).")]
           = MemoryOptimizer.adam,
           budget: Annotated[Optional[str], typer.Option(metavar="SIZE", show_default="none",
                                                         help="Also find the largest batch whose peak fits: "
                                                              "4GB (powers of 1000), 4GiB (of 1024) or bytes.")]
           = None,
           threads: Annotated[Optional[int], typer.Option(min=1, metavar="N", show_default="the threads Numba starts "
                                                                                            "with",
                                                          help="Threads the conv workspaces are sized for.")] = None,
           fmt: Annotated[MemoryFormat, typer.Option("--format", "-f", help="Output format.")] = MemoryFormat.table,
           depth: DepthOpt = None, lang: LangOpt = Lang.en, wide: WideOpt = False):
    """Training memory: per layer, the peak, a budget's batch.

    Per layer: outputs, what backward keeps (masks, argmax, batchnorm statistics), params, their
    gradients and optimiser state, input-gradient buffers, workspaces; then the shared gradient
    block, the scratch arena and the batch. Follows the trainer's own allocations.
    """
    from cnncalc import api
    from cnncalc.errors import CnncalcError
    from cnncalc.render import memory as render
    from cnncalc.render.report import error_line

    try:
        result, fitted = api.memory_plan(spec, batch, optimizer.value, _parse_input(input_), depth, budget, threads)
    except CnncalcError as exc:
        _fail(error_line(exc, lang.value))
    _write(render.render(result, fmt.value, lang.value, _width(wide), fitted))


_DRAW_FORMATS = {".svg": "svg", ".html": "html", ".htm": "html", ".mmd": "mermaid"}


@app.command(epilog=_examples("cnncalc draw specs/lenet5.yaml -o lenet5.svg --rf conv2",
                             "cnncalc draw specs/resnet18.yaml -o resnet18.html --depth 2",
                             "cnncalc draw specs/googlenet.yaml -o googlenet.mmd --depth 1"))
def draw(spec: SpecArg,
         output: Annotated[str, typer.Option("--output", "-o", metavar="FILE", show_default=False,
                                             help="The picture: .svg, .html (the SVG and the table on one page) "
                                                  "or .mmd (Mermaid); the suffix names the format.")],
         input_: InputOpt = None, depth: DepthOpt = None,
         rf: Annotated[Optional[str], typer.Option("--rf", metavar="LAYER", show_default="none",
                                                   help="Draw the receptive field of one output pixel of LAYER "
                                                        "on the input.")] = None,
         lang: LangOpt = Lang.en):
    """The network as a picture: SVG, HTML or Mermaid.

    Each layer (or block folded by --depth) is a box labelled with its name, its type as the tables
    print it and its n_H×n_W×n_C; the file is replaced only once the picture is whole.
    """
    from cnncalc import api
    from cnncalc.errors import ArgumentError, CnncalcError, printable
    from cnncalc.render.messages import error_line, warning_line  # not render.report: csv, json, tables

    try:
        fmt = _DRAW_FORMATS.get(os.path.splitext(output)[1].lower())
        if fmt is None:
            raise ArgumentError("draw.suffix", "--output", output)
        result, picture = api.drawing(spec, _parse_input(input_), depth, rf)
    except CnncalcError as exc:
        _fail(error_line(exc, lang.value))
    # warnings only: the notes (a padding row never read) are the tables' to print
    _warn([(d.level, printable(warning_line(d, lang.value))) for d in result.diagnostics if d.level == "warning"])
    if result.error is not None:  # the file keeps its last whole picture
        _fail(error_line(result.error, lang.value))
    if fmt == "svg":
        from cnncalc.render.svg import svg

        text = svg(picture)
    elif fmt == "mermaid":
        from cnncalc.render.mermaid import mermaid

        text = mermaid(result, depth)
    else:
        from cnncalc.render.page import page

        text = page(result, picture, depth)
    from cnncalc.engine.atomic import write_text

    try:
        write_text(output, text)
    except OSError as exc:
        _fail(error_line(ArgumentError("draw.write", "--output", output, reason=exc.strerror or str(exc)),
                         lang.value))


@app.command(epilog=_examples("cnncalc serve specs/lenet5.yaml",
                             "cnncalc serve specs/resnet18.yaml --depth 1 --port 8001"))
def serve(spec: Annotated[str, typer.Argument(help="The network spec (YAML) file to show and watch.", metavar="SPEC",
                                              show_default=False)],
          port: Annotated[int, typer.Option("--port", min=0, max=65535, metavar="PORT",
                                            help="The port to listen on; 0 picks a free one.")] = 8000,
          host: Annotated[str, typer.Option("--host", metavar="HOST",
                                            help="The address to listen on; 127.0.0.1 is this machine only.")]
          = "127.0.0.1",
          depth: DepthOpt = None, input_: InputOpt = None):
    """A live page of the drawing and the table, redrawn on save.

    Open the address it prints in a browser; each time SPEC is saved the page shows the new picture
    and table within a second, or the error's one line above the last good picture. Ctrl-C stops it.
    """
    import os as _os
    import signal

    from cnncalc import api
    from cnncalc import serve as live
    from cnncalc.errors import CnncalcError, Phrase, ServeError
    from cnncalc.render.lang import text
    from cnncalc.render.report import error_line

    if spec == "-":
        raise typer.BadParameter(text("serve.stdin"), param_hint="'SPEC'")
    input_shape = _parse_input(input_)
    if _OWN_PROCESS:
        # Ctrl-C stops the server even where the shell started it with SIGINT ignored (`cnncalc serve … &`),
        # and so does SIGTERM
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, lambda *_: signal.default_int_handler(signal.SIGINT, None))
    try:
        if not _os.path.isfile(spec):
            api.report(spec, input_shape)  # says why, in the same words as every command
        try:
            server, state = live.start(spec, host, port, depth, input_shape)
        except OSError as exc:
            raise ServeError(Phrase("serve.cannot_listen", host=host, port=port, reason=exc.strerror or str(exc)),
                             field="--port", received=port, allowed=Phrase("serve.cannot_listen.allowed")) from None
    except CnncalcError as exc:
        _fail(error_line(exc))
    except KeyboardInterrupt:
        return

    def ready(url: str) -> None:
        _write(text("serve.listening", url=url, spec=spec) + "\n")

    live.serve(server, state, ready)


class ExportTarget(str, Enum):
    pytorch = "pytorch"
    onnx = "onnx"


@app.command(epilog=_examples("cnncalc export specs/lenet5.yaml --to pytorch -o net.py",
                             "cnncalc export specs/mnist_small.yaml --to pytorch -o out/net.py --train-script",
                             "cnncalc export runs/lenet/spec.yaml --to onnx --weights runs/lenet -o net.onnx"))
def export(spec: SpecArg,
           to: Annotated[ExportTarget, typer.Option("--to", help="The framework to write for.")],
           out: Annotated[str, typer.Option("--out", "-o", metavar="FILE",
                                            help="The file to write: FILE.py (pytorch) or FILE.onnx (onnx).")],
           weights: Annotated[Optional[str], typer.Option(metavar="RUN|CHECKPOINT", show_default="none",
                                                          help="A run directory (its last.npz) or checkpoint: "
                                                               "pytorch: also write its state_dict beside the "
                                                               "module (FILE.pt; needs torch); onnx: the "
                                                               "model's initializers (else a fresh seeded "
                                                               "initialisation).")] = None,
           train_script: Annotated[bool, typer.Option("--train-script", help="Also write train.py: the module "
                                                                              "trained with "
                                                                              "DistributedDataParallel under "
                                                                              "torchrun (pytorch).")] = False,
           opset: Annotated[Optional[int], typer.Option(metavar="17|18", show_default="17",
                                                        help="The ONNX opset (onnx), with its IR version 8.")] = None,
           input_: InputOpt = None):
    """The spec as a PyTorch module, or as an ONNX model.

    With --weights, a run's weights go with it; --train-script adds a torchrun script (pytorch).

    The module file imports only torch: one attribute per layer, named as in the spec, and the forward
    written out. Its state_dict names are cnncalc's checkpoint names. The ONNX model (needs the onnx
    package) takes NCHW float32 input; its nodes and initializers carry the same names.
    """
    from cnncalc.errors import CnncalcError
    from cnncalc.render.export import written
    from cnncalc.render.report import error_line

    try:
        if to == ExportTarget.onnx:
            from cnncalc.export.onnx import DEFAULT_OPSET, export_onnx
            from cnncalc.export.pytorch import ExportError

            if train_script:
                raise ExportError("--train-script writes a PyTorch training script", field="--train-script",
                                  fix="export with --to pytorch")
            result = export_onnx(spec, out, weights=weights, input_shape=_parse_input(input_),
                                 opset=DEFAULT_OPSET if opset is None else opset)
        else:
            from cnncalc.export.pytorch import ExportError, export_pytorch

            if opset is not None:
                raise ExportError("--opset is an ONNX option", field="--opset", received=opset,
                                  fix="drop it, or export with --to onnx")
            result = export_pytorch(spec, out, weights=weights, input_shape=_parse_input(input_),
                                    train_script=train_script)
    except CnncalcError as exc:
        _fail(error_line(exc))
    _write(written(result))


@app.command("import", epilog=_examples("cnncalc import model.onnx -o net.yaml",
                                         "cnncalc import model.onnx --weights -o run/",
                                         "cnncalc import model.onnx --input 224,224,3"))
def import_cli(model: Annotated[str, typer.Argument(help="An ONNX model (.onnx).", metavar="MODEL")],
               output: Annotated[Optional[str], typer.Option("--output", "-o", metavar="FILE|DIR",
                                                             show_default="the spec on stdout",
                                                             help="The spec file to write; with --weights, "
                                                                  "the run directory.")] = None,
               weights: Annotated[bool, typer.Option("--weights", help="Also write the weights: DIR/spec.yaml "
                                                                         "and DIR/last.npz, which evaluate and "
                                                                         "predict take.")] = False,
               input_: InputOpt = None, lang: LangOpt = Lang.en):
    """An ONNX model as a spec (and its weights as a checkpoint).

    Named layers, `from:` only where the graph branches. Needs the onnx package
    (pip install "cnncalc[onnx]"). Every analysis command also reads a .onnx file directly.
    """
    from cnncalc import api
    from cnncalc.errors import CnncalcError
    from cnncalc.render.messages import error_line

    try:
        if weights and output is None:
            from cnncalc.importers.onnx import OnnxError

            raise OnnxError("--weights writes a run directory: name it", field="--output",
                            fix="add -o DIR")
        imported = api.import_onnx(model, _parse_input(input_))
        from cnncalc.importers.onnx import spec_yaml, write_run, write_spec

        if weights:
            write_run(imported, output, model)
        elif output is None:
            _write(spec_yaml(imported.spec, model))
        else:
            write_spec(imported, output, model)
    except CnncalcError as exc:
        _fail(error_line(exc, lang.value))


# True when cnncalc is the process (main()), not a library call or a test's CliRunner, whose
# process goes on after a command and must keep its signal handlers
_OWN_PROCESS = False


def main() -> None:
    global _OWN_PROCESS
    _OWN_PROCESS = True
    app()
