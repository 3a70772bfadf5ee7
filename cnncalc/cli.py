"""The command line: parse options, call `api` (or the engine), render, map errors to exit codes.

Exit codes: 0 ok, 1 spec, dimension, data or engine error, 2 usage error.
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


SpecArg = Annotated[str, typer.Argument(help="The network spec (YAML).", show_default=False)]
InputOpt = Annotated[Optional[str], typer.Option("--input", help="Override the spec's input: H,W,C (or N).")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
DepthOpt = Annotated[Optional[int], typer.Option("--depth", "-d", min=1,
                                                 help="Show this many levels of nesting; deeper blocks "
                                                      "fold into one row (1: top-level layers and blocks).")]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Treat inexact divisions as errors.")]


def _analysis_command(command: str, spec: str, input_: Optional[str], fmt: Format, depth: Optional[int],
                      strict: bool) -> None:
    from cnncalc import api
    from cnncalc.errors import CnncalcError
    from cnncalc.render import report as render

    try:
        result = api.report(spec, _parse_input(input_), strict)
    except CnncalcError as exc:
        _fail(render.error_line(exc))
    _write(render.render(result, command, fmt.value, depth))
    _warn(render.diagnostic_lines(result))
    if result.error is not None:
        _fail(render.error_line(result.error))


def _write(text: str) -> None:
    import sys

    sys.stdout.write(text)
    sys.stdout.flush()


def _warn(lines: list[str]) -> None:
    if lines:
        _, err = _consoles()
        for line in lines:
            err.print(line, style="yellow", markup=False, soft_wrap=True)


def _fail(line: str):
    _, err = _consoles()
    err.print(line, style="bold red", markup=False, soft_wrap=True)
    raise typer.Exit(1)


@app.command()
def shapes(spec: SpecArg, input_: InputOpt = None, fmt: FormatOpt = Format.table, depth: DepthOpt = None,
           strict: StrictOpt = False):
    """Every layer's n_H×n_W×n_C, receptive field and jump; where and why dimensions break."""
    _analysis_command("shapes", spec, input_, fmt, depth, strict)


@app.command()
def params(specs: Annotated[list[str], typer.Argument(help="One spec, or several to compare side by side.",
                                                      show_default=False)],
           input_: InputOpt = None, fmt: FormatOpt = Format.table, depth: DepthOpt = None,
           strict: StrictOpt = False):
    """Parameter table (trainable / non-trainable); with several specs, a comparison of totals."""
    if len(specs) == 1:
        _analysis_command("params", specs[0], input_, fmt, depth, strict)
        return
    from cnncalc import api
    from cnncalc.errors import CnncalcError
    from cnncalc.render import report as render

    try:
        comparison = api.compare_specs(specs, _parse_input(input_), strict)
    except CnncalcError as exc:
        _fail(render.error_line(exc))
    _write(render.render_compare(comparison, fmt.value))
    failed = [render.error_line(e) for e in comparison.errors if e is not None]
    if failed:
        _warn(failed[:-1])
        _fail(failed[-1])


@app.command()
def flops(spec: SpecArg, input_: InputOpt = None, fmt: FormatOpt = Format.table, depth: DepthOpt = None,
          strict: StrictOpt = False):
    """MACs, FLOPs (2·MACs) and other element-wise work per layer."""
    _analysis_command("flops", spec, input_, fmt, depth, strict)


@app.command()
def summary(spec: SpecArg, input_: InputOpt = None, fmt: FormatOpt = Format.table, depth: DepthOpt = None,
            strict: StrictOpt = False):
    """Everything: shapes, parameters, MACs, activations and receptive fields, with totals."""
    _analysis_command("summary", spec, input_, fmt, depth, strict)


@app.command()
def schema():
    """Print the JSON Schema of the spec language (for yaml-language-server in editors)."""
    import json

    from cnncalc import api

    typer.echo(json.dumps(api.spec_schema(), indent=2, ensure_ascii=False))


# ---------------------------------------------------------------- training (imports the engine lazily)

class Optimizer(str, Enum):
    sgd = "sgd"
    adam = "adam"


class Init(str, Enum):
    he_glorot = "he-glorot"
    glorot = "glorot"
    torch = "torch"


class Schedule(str, Enum):
    constant = "constant"
    step = "step"
    cosine = "cosine"


def _engine_call(fn_name: str, *args, **kwargs):
    from cnncalc.errors import CnncalcError
    from cnncalc.render.report import error_line

    # The kernels run their own threads; OpenBLAS's would spin on the same cores between GEMMs and
    # slow every Numba loop several times over, so BLAS runs single-threaded under the trainer.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    out, err = _consoles()
    try:
        from cnncalc.engine import api as engine_api

        extra = {"err_console": err} if fn_name == "train_run" else {}
        return getattr(engine_api, fn_name)(*args, console=out, **extra, **kwargs)
    except CnncalcError as exc:
        _fail(error_line(exc))


@app.command()
def train(
    spec: Annotated[Optional[str], typer.Argument(help="The network spec (YAML); not needed with --resume.",
                                                  show_default=False)] = None,
    data: Annotated[Optional[str], typer.Option(help="IDX folder/file, cifar-10-batches-py folder, .npz, "
                                                     "or 'synthetic' (the default).")] = None,
    epochs: Annotated[Optional[int], typer.Option(min=1, help="Epochs (default 3; with --resume, the new total).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 64,
    lr: Annotated[Optional[float], typer.Option(min=0.0, help="Learning rate (default 1e-3 adam, 0.01 sgd).")] = None,
    optimizer: Annotated[Optimizer, typer.Option()] = Optimizer.adam,
    momentum: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.9,
    weight_decay: Annotated[float, typer.Option("--weight-decay", min=0.0)] = 0.0,
    schedule: Annotated[Schedule, typer.Option()] = Schedule.constant,
    seed: Annotated[int, typer.Option()] = 0,
    threads: Annotated[Optional[int], typer.Option(min=1, help="Threads for the kernels.")] = None,
    out: Annotated[Optional[str], typer.Option("--out", help="Run directory (default runs/NAME-TIME).")] = None,
    resume: Annotated[Optional[str], typer.Option(help="Continue the run in this directory.")] = None,
    force: Annotated[bool, typer.Option(help="Replace a run already in --out; train even when the memory "
                                                 "estimate exceeds free memory.")] = False,
    init: Annotated[Init, typer.Option(help="Initialisation: He before ReLUs and Glorot elsewhere, Glorot "
                                            "everywhere, or PyTorch's defaults.")] = Init.he_glorot,
    val_fraction: Annotated[float, typer.Option("--val-fraction", min=0.0, max=0.9)] = 0.1,
    input_: InputOpt = None,
):
    """Train the spec on the CPU (Numba kernels); checkpoints after every epoch."""
    if spec is None and resume is None:
        raise typer.BadParameter("give a SPEC to train, or --resume RUN_DIR", param_hint="SPEC")
    _engine_call("train_run", spec, data=data, epochs=epochs, batch_size=batch_size, lr=lr,
                 optimizer=optimizer.value, momentum=momentum, weight_decay=weight_decay,
                 schedule=schedule.value, seed=seed, threads=threads, out=out, resume=resume, force=force,
                 val_fraction=val_fraction, input_override=_parse_input(input_), init=init.value)


@app.command()
def evaluate(
    target: Annotated[str, typer.Argument(help="A run directory or a checkpoint (.npz).", show_default=False)],
    data: Annotated[Optional[str], typer.Option(help="Data to evaluate on (default: the run's own).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 256,
):
    """Accuracy, per-class accuracy and confusion matrix of a trained network."""
    _engine_call("evaluate_run", target, data=data, batch_size=batch_size)


@app.command()
def predict(
    checkpoint: Annotated[str, typer.Argument(help="A checkpoint (.npz) or run directory.", show_default=False)],
    inputs: Annotated[str, typer.Argument(help="An .npz with x, or an image file.", show_default=False)],
):
    """The most likely classes, with probabilities, for each input."""
    _engine_call("predict_run", checkpoint, inputs)


def main() -> None:
    app()
