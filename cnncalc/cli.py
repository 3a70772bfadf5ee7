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
StrictOpt = Annotated[bool, typer.Option("--strict", help="Treat inexact divisions as errors.")]


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
                      strict: bool, columns: Optional[str] = None, wide: bool = False, view: str = "standard",
                      merge_pool: bool = False) -> None:
    from cnncalc import api
    from cnncalc.errors import CnncalcError
    from cnncalc.render import report as render

    try:
        result = api.report(spec, _parse_input(input_), strict)
    except CnncalcError as exc:
        _fail(render.error_line(exc))
    _write(render.render(result, command, fmt.value, depth, width=_width(wide), columns=_parse_columns(columns),
                         view_name=view, merge_pool=merge_pool))
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


@app.command(epilog=_examples("cnncalc shapes specs/lenet5.yaml",
                             "cnncalc shapes specs/lenet5.yaml --input 28,28,1",
                             "cnncalc shapes specs/resnet50.yaml --depth 1 --format markdown"))
def shapes(spec: SpecArg, input_: InputOpt = None, fmt: FormatOpt = Format.table, depth: DepthOpt = None,
           strict: StrictOpt = False, columns: ColumnsOpt = None, wide: WideOpt = False):
    """Each layer's n_H×n_W×n_C, receptive field and jump.

    Says where and why the dimensions break, with the arithmetic and a fix.
    """
    _analysis_command("shapes", spec, input_, fmt, depth, strict, columns, wide)


@app.command(epilog=_examples("cnncalc params specs/lenet5.yaml",
                             "cnncalc params specs/compare/two_3x3.yaml specs/compare/one_5x5.yaml",
                             "cnncalc params specs/resnet50.yaml --format csv"))
def params(specs: Annotated[list[str], typer.Argument(help="One spec, or several to compare side by side.",
                                                      metavar="SPEC...", show_default=False)],
           input_: InputOpt = None, fmt: FormatOpt = Format.table, depth: DepthOpt = None,
           strict: StrictOpt = False, columns: ColumnsOpt = None, wide: WideOpt = False):
    """Parameters per layer, or several specs side by side.

    One spec: trainable and non-trainable parameters per layer, with totals. Several: their
    params, MACs, FLOPs, activations, output shapes and receptive fields, with ratios to the first.
    """
    if len(specs) == 1:
        _analysis_command("params", specs[0], input_, fmt, depth, strict, columns, wide)
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


@app.command(epilog=_examples("cnncalc flops specs/lenet5.yaml",
                             "cnncalc flops specs/resnet50.yaml --depth 1",
                             "cnncalc flops specs/googlenet.yaml --format json"))
def flops(spec: SpecArg, input_: InputOpt = None, fmt: FormatOpt = Format.table, depth: DepthOpt = None,
          strict: StrictOpt = False, columns: ColumnsOpt = None, wide: WideOpt = False):
    """MACs, FLOPs (2·MACs) and other element-wise work per layer."""
    _analysis_command("flops", spec, input_, fmt, depth, strict, columns, wide)


@app.command(epilog=_examples("cnncalc summary specs/lenet5.yaml",
                             "cnncalc summary specs/resnet50.yaml --depth 2 --format markdown",
                             "cnncalc summary specs/lenet5.yaml --view course --merge-pool"))
def summary(spec: SpecArg, input_: InputOpt = None, fmt: FormatOpt = Format.table, depth: DepthOpt = None,
            strict: StrictOpt = False, columns: ColumnsOpt = None, wide: WideOpt = False,
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
    _analysis_command("summary", spec, input_, fmt, depth, strict, columns, wide, view.value, merge_pool)


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


# True when cnncalc is the process (main()), not a library call or a test's CliRunner, whose
# process goes on after a command and must keep its signal handlers
_OWN_PROCESS = False


def main() -> None:
    global _OWN_PROCESS
    _OWN_PROCESS = True
    app()
