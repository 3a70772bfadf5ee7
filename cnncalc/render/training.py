"""Everything `train`, `evaluate` and `predict` show: the estimate, progress, tables, curves.

Nothing is computed here but text; every function takes the console to print on (None: print
nothing, as the tests and library callers want). A run's records (engine.events) become text
through Printer, or JSON lines through JsonLines (`cnncalc train --format json`).
"""

from __future__ import annotations

import contextlib
import re
import textwrap

from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from cnncalc.errors import printable
from cnncalc.shapes import shape_text
from cnncalc.render.words import count, gib, kept_text
from cnncalc.render.words import seconds as _seconds

WIDTH = 79  # every line train prints fits an 80-column terminal (a path longer than that excepted)


_UNIT = re.compile(r"(\d) (MiB|GiB|KiB|s|min|h|MFLOP|GFLOP/s)\b")


def _say(console, text, indent=2, style=None):
    """text folded at word boundaries to WIDTH, continuation lines indented (never rich's wrap);
    a number and its unit stay on one line."""
    if console is None:
        return
    text = _UNIT.sub("\\1\u00a0\\2", printable(text))  # a spec's name or a file name may hold controls  # textwrap breaks at spaces only, not at U+00A0
    for line in textwrap.wrap(text, WIDTH, subsequent_indent=" " * indent, break_long_words=False,
                              break_on_hyphens=False) or [""]:
        console.print(escape(line.replace("\u00a0", " ")), highlight=False, style=style, soft_wrap=True)


def note(console, text):
    _say(console, f"note: {text}", indent=6)


def note_lines(console, lines):
    """A note with a list: its first line as note(), each further line indented beneath it."""
    note(console, lines[0])
    for line in lines[1:]:
        _say(console, f"      {line}", indent=8)


def _bytes_text(n) -> str:
    if not n:
        return "?"
    return f"{n // 1024**2} MiB" if n >= 1024**2 else f"{n // 1024} KiB"


def conv_kernels_lines(v: dict) -> list[str]:
    """tuning.describe() as lines: the processor, then per conv layer its kernel and why."""
    cpu = v["processor"]
    tiles = "8 rows × 4 taps, 4 × 4 sums" if v["wide_tiles"] else "4 rows × 4 taps, 2 × 4 sums"
    lines = [f"conv kernels for {cpu['name']}: {cpu['vector_width']} float32 lanes per vector, "
             f"{cpu['vector_registers']} vector registers (register tiles {tiles}), L1d "
             f"{_bytes_text(cpu['L1d'])}, L2 {_bytes_text(cpu['L2'])}, L3 {_bytes_text(cpu['L3'])} "
             f"shared by {cpu['L3_sharing']}; sgemm from Numba (SciPy): {'yes' if v['blas_in_numba'] else 'no'}"
             + (f"; CNNCALC_CONV_PATH={v['forced_path']}" if v["forced_path"] != "auto" else "")]
    why = {"rule": f"under {v['tune_macs']:,} MACs per image, not measured", "forced": "CNNCALC_CONV_PATH",
           "stored": "measured before", "measured": "measured now", "argument": "chosen by the caller",
           "not_eligible": "CNNCALC_CONV_PATH=winograd, but not a 3×3 stride-1 layer"}
    for layer in v["layers"]:
        shape = (f"{layer['n_C_prev']}→{layer['n_C']} on {layer['n_H_prev']}×{layer['n_W_prev']}, "
                 f"f {layer['f'][0]}×{layer['f'][1]}, s {layer['s'][0]}")
        path = {"gemm": "im2col + sgemm", "winograd": "Winograd F(2×2, 3×3)"}.get(layer["path"], "direct")
        chunk = f", {layer['chunk']} images per product" if layer.get("chunk") else ""
        times = ""
        if "seconds" in layer:
            times = ": " + ", ".join(f"{k} {1000 * t:,.1f} ms" for k, t in sorted(layer["seconds"].items()))
        lines.append(f"{shape}: {path}{chunk} ({why.get(layer['source'], layer['source'])}{times})")
    return lines


_NOTES = {
    "threads_capped": lambda v: f"--threads {v['requested']}: this machine runs "
                                f"{count(v['available'], 'kernel thread')}; using {v['available']}",
    "no_locks": lambda v: "this system has no file locks: two runs in one directory are not refused",  # noqa: ARG005
    "stale_removed": lambda v: f"removed {count(v['n'], 'temporary file')} that killed saves left in {v['run_dir']}",
    "limit_exceeds": lambda v: f"--limit {v['requested']:,} is more than the {v['available']:,} training images; "
                               f"training on all of them",
    "resume_ignored": lambda v: f"--resume keeps the run's own settings; ignored: {', '.join(v['names'])}",
    "statistics_differ": lambda v: "the data's statistics differ from the run's (the files changed since); "  # noqa: ARG005
                                   "normalising with the run's",
    "completing": lambda v: f"epoch {v['epoch']} was interrupted during its evaluation; finishing it first",
    "conv_kernels": conv_kernels_lines,
}


def note_text(kind: str, values: dict) -> str:
    """The sentence of an engine Note (engine.events.Note's kinds); a note with a list, its lines joined by '; '."""
    text = _NOTES[kind](values)
    return "; ".join(text) if isinstance(text, list) else text


def data_text(s) -> str:
    """A data set in one line (s: data.dataset.Summary): 'IDX (mnist), 54,000 train / 6,000 val /
    10,000 test, 28×28×1, 10 classes'."""
    source = {"IDX": f"IDX ({s.name})", "npz": f"npz ({s.name})", "synthetic": f"synthetic shapes (seed {s.seed})",
              "CIFAR-10": "CIFAR-10" if s.parts is None else f"CIFAR-10 ({s.parts} training batches)"}.get(s.kind, s.kind)
    if s.limited is not None:
        source += f", first {s.limited[0]:,} of {s.limited[1]:,} by class"
    classes = f"{s.n_classes} classes" + (f" ({s.n_distinct} drawn)" if s.n_distinct is not None else "")
    return (f"{source}, {s.n_train:,} train / {s.n_val:,} val / {s.n_test:,} test, "
            f"{shape_text(s.shape)}, {classes}")


def estimate_line(console, est, free, summary, threads):
    """The data, then memory (of free memory) and time per epoch with their basis, in short lines."""
    if console is None:
        return
    _say(console, f"data: {data_text(summary)}")
    free_text = f" of {gib(free)} free" if free else ""
    _say(console, f"memory: about {gib(est['bytes'])}{free_text}")
    _say(console, f"  weights {gib(est['weights'])}, gradients and optimiser "
                  f"{gib(est['gradients'] + est['optimizer'])}, activations {gib(est['activations'] + est['workspace'])}",
         indent=4)
    _say(console, f"time: about {_seconds(est['seconds_per_epoch'])} per epoch")
    _say(console, f"  {est['flops_per_image'] / 1e6:,.1f} MFLOP per image at a conservative "
                  f"{est['gflops_assumed']:.0f} GFLOP/s on {count(threads, 'thread')}", indent=4)


def run_header(console, run_dir, name, trainable, config):
    if console is None:
        return
    wd = f", weight decay {config['weight_decay']:g}" if config["weight_decay"] else ""
    mom = f" momentum {config['momentum']:g}" if config["optimizer"] == "sgd" else ""
    _say(console, f"training {name}: {count(trainable, 'parameter')}, "
                  f"{count(config['epochs'], 'epoch')} of batch {config['batch_size']}, seed {config['seed']}")
    _say(console, f"optimiser: {config['optimizer']}{mom} lr {config['lr']:g} ({config['schedule']}){wd}")
    _say(console, f"run directory: {run_dir}")


def warmed_up(console, seconds):
    """Say where the first seconds went when compiling the kernels took noticeable time."""
    if seconds >= 1.0:
        _say(console, f"kernels compiled in {seconds:.1f} s (Numba caches them: later runs start at once)")


def memory_measured(console, planned, measured):
    """The planned peak (cnncalc memory) beside the measured one (render/lang/memory.py's words)."""
    from cnncalc.render.columns import human_bytes
    from cnncalc.render.lang import text

    if measured is None:
        _say(console, text("memory.train_planned", "en", planned=human_bytes(planned)))
    else:
        _say(console, text("memory.train", "en", planned=human_bytes(planned), measured=human_bytes(measured),
                           ratio=(measured - planned) / planned if planned else 0.0))


def progress_figures(loss, acc) -> str:
    """The running loss and accuracy of the progress bar; '–' until the first batch gives them."""
    if loss is None:
        return "loss –  acc –"
    return f"loss {loss:.4f}  acc {acc:.3f}"


@contextlib.contextmanager
def epoch_progress(console, epoch, epochs, n):
    """A progress bar for one epoch on a terminal; yields advance(images, loss, accuracy), or None
    without a console or when the output is a file or pipe (the epoch lines say it all there).
    At most 80 columns: title, a 20-cell bar, images done, the running figures, time left."""
    if console is None or not console.is_terminal:
        yield None
        return
    columns = [TextColumn(f"epoch {epoch + 1}/{epochs}"), BarColumn(bar_width=20), MofNCompleteColumn(),
               TextColumn("{task.fields[figures]}"), TimeRemainingColumn()]
    done = [0]
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("train", total=n, figures=progress_figures(None, None))

        def advance(k, loss, acc):
            done[0] += k
            progress.update(task, completed=done[0], figures=progress_figures(loss, acc))

        yield advance


def epoch_line(console, row, epochs):
    """epoch 2/3: train loss 0.1234 acc 0.9600, val loss 0.1400 acc 0.9550, 12 s (≤ 80 columns)."""
    if console is None:
        return
    parts = [f"epoch {row['epoch']}/{epochs}: train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f}"]
    if row.get("val_loss") is not None:
        parts.append(f"val loss {row['val_loss']:.4f} acc {row['val_acc']:.4f}")
    parts.append(_seconds(row["seconds"]))
    _say(console, ", ".join(parts))


def test_line(console, epoch, loss, acc):
    """The test split's figures, shown once: after the last epoch."""
    _say(console, f"test (once, after epoch {epoch}): loss {loss:.4f} acc {acc:.4f}")


# the test split has its own line (test_line): a column would be blank but for the last row.
# Priorities for a narrow terminal: the losses stay longest, the learning rate and speed leave first.
TABLE_COLUMNS = {"epoch": 0, "train_loss": 1, "val_loss": 2, "train_acc": 3, "val_acc": 4, "lr": 6,
                 "images_per_s": 5}


def _epoch_cell(key, v) -> str:
    if v is None:
        return ""
    if key == "epoch":
        return f"{v:,}"
    if key == "images_per_s":
        return f"{v:,.0f}"
    return f"{v:.4g}" if key == "lr" else f"{v:.4f}"


def epoch_table_text(history, width: int | None = WIDTH + 1, lang: str = "en") -> str:
    """The per-epoch table, fitted to `width` cells (the learning rate and images/s leave first, and
    a line says so); its headings from the catalogue (tables.train.*)."""
    from cnncalc.render.lang import text as words
    from cnncalc.render.text_table import box_table, fit, wrap

    keys = [k for k in TABLE_COLUMNS if any(k in row for row in history)]
    headers = [words(f"tables.train.{k}", lang) for k in keys]
    body = [[_epoch_cell(k, row.get(k)) for k in keys] for row in history]
    chosen = fit(headers, [None] * len(keys), body, [TABLE_COLUMNS[k] for k in keys], width)
    caption = None
    if chosen.left_out:
        names = ", ".join(headers[i] for i in chosen.left_out)
        caption = wrap(words("tables.train.left_out", lang, count=len(chosen.left_out), width=width, names=names),
                       width)
    return box_table(chosen.headers, [[r[i] for i in chosen.kept] for r in body], ["right"] * len(chosen.kept),
                     title=words("tables.train.title", lang), caption=caption)


def epoch_table(console, history):
    if console is None or not history:
        return
    console.print(epoch_table_text(history, min(console.width, WIDTH + 1)).rstrip("\n"), markup=False,
                  highlight=False, soft_wrap=True)


def chart(series, height=10, width=48, lo=None, hi=None):
    """Lines of a text chart (rich markup): series is [(values per epoch, glyph, style)]; each epoch
    is a glyph, the segments between them dots; the y axis runs lo…hi (default: the data's range)."""
    values = [v for vs, _, _ in series for v in vs if v is not None]
    if not values:
        return []
    lo = min(values) if lo is None else lo
    hi = max(values) if hi is None else hi
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    n = max(len(vs) for vs, _, _ in series)
    cols = 1 if n == 1 else max(min(width, 8 * (n - 1) + 1), n)
    grid = [[(" ", "")] * cols for _ in range(height)]

    def row_of(v):
        return height - 1 - min(max(round((v - lo) / (hi - lo) * (height - 1)), 0), height - 1)

    for vs, glyph, style in series:
        points = [(0 if n == 1 else i * (cols - 1) / (n - 1), v) for i, v in enumerate(vs) if v is not None]
        for (x0, v0), (x1, v1) in zip(points, points[1:]):
            for x in range(round(x0) + 1, round(x1)):
                r = row_of(v0 + (v1 - v0) * (x - x0) / (x1 - x0))
                if grid[r][x][0] == " ":
                    grid[r][x] = ("·", style)
        for x, v in points:
            grid[row_of(v)][round(x)] = (glyph, style)
    labels = {0: f"{hi:.3g}", height - 1: f"{lo:.3g}", (height - 1) // 2: f"{(hi + lo) / 2:.3g}"}
    pad = max(map(len, labels.values()))
    lines = []
    for r, cells in enumerate(grid):
        text = "".join(f"[{style}]{escape(c)}[/]" if style else c for c, style in cells)
        lines.append(f"{labels.get(r, ''):>{pad}} ┤{text}")
    lines.append(" " * pad + " └" + "─" * cols)
    if n > 1:
        lines.append(" " * pad + "  1" + " " * max(cols - 1 - len(str(n)), 1) + f"{n}  (epoch)")
    return lines


def curves(console, history, height=10):
    """Loss and accuracy per epoch in the terminal: train ● and validation ○."""
    if console is None or len(history) < 2:
        return
    has_val = any(r.get("val_loss") is not None for r in history)
    loss = [([r.get("train_loss") for r in history], "●", "cyan")]
    acc = [([r.get("train_acc") for r in history], "●", "cyan")]
    if has_val:
        loss.append(([r.get("val_loss") for r in history], "○", "magenta"))
        acc.append(([r.get("val_acc") for r in history], "○", "magenta"))
    legend = "train ●" + ("  validation ○" if has_val else "")
    for title, series in ((f"loss ({legend})", loss), (f"accuracy ({legend})", acc)):
        console.print(title, highlight=False)
        for line in chart(series, height):
            console.print(line, highlight=False)


def summary(console, history):
    epoch_table(console, history)
    curves(console, history)


def interrupted(console, run_dir, saved_epoch, epochs, replacing=False):
    """What a Ctrl-C kept, and how to go on."""
    if saved_epoch and saved_epoch >= epochs:
        _say(console, f"interrupted: the run had finished; its {count(saved_epoch, 'epoch')} are kept in "
                      f"{run_dir}/last.npz")
    elif saved_epoch:
        _say(console, f"interrupted: epoch {saved_epoch} of {epochs} is kept in {run_dir}/last.npz")
        _say(console, f"continue with: cnncalc train --resume {run_dir}")
    else:
        _say(console, f"interrupted: {kept_text(run_dir, 0, replacing)}")


def interrupted_early(console):
    """Ctrl-C before a run (or an evaluation) began its work: nothing was written."""
    _say(console, "interrupted before any work began; nothing was written")


def evaluation(console, result):
    if console is None:
        return
    console.print(f"{result['split']} split of {escape(printable(result['source']))}: {result['n']:,} images, accuracy "
                  f"{result['accuracy']:.4f}, loss {result['loss']:.4f}", highlight=False)
    names = result["class_names"]
    k = len(result["per_class"])
    table = Table(title="confusion matrix (rows: true class, columns: predicted)", title_justify="left")
    table.add_column("class", justify="left")
    for c in range(k):
        table.add_column(str(c), justify="right")
    table.add_column("images", justify="right")
    table.add_column("accuracy", justify="right")
    scored = "precision" in result
    if scored:
        for title in ("precision", "recall", "F1"):
            table.add_column(title, justify="right")
    for c in range(k):
        row = result["confusion"][c]
        label = f"{c}" if names[c] == str(c) else f"{c} {names[c]}"
        cells = [_ratio(result["per_class"][c])]
        if scored:
            cells += [_ratio(result[key][c]) for key in ("precision", "recall", "f1")]
        table.add_row(escape(printable(label)), *[str(v) if v else "·" for v in row], str(sum(row)), *cells)
    console.print(table)
    if scored:
        console.print(f"macro average: precision {result['macro_precision']:.4f}, recall "
                      f"{result['macro_recall']:.4f}, F1 {result['macro_f1']:.4f} (an undefined value counts as 0)",
                      highlight=False)


def _ratio(value):
    return "—" if value is None else f"{value:.3f}"


def as_json(result) -> str:
    """A result of evaluate or predict as JSON text (None as null), ending in a newline."""
    import json

    return json.dumps(result, indent=2, ensure_ascii=False) + "\n"


def predictions(console, result):
    """One line per input: its name (file, or file[i] for an image in a batch), then the top classes."""
    if console is None:
        return
    for item in result:
        parts = []
        for entry in item["top"]:
            name = "" if entry["name"] == str(entry["class"]) else f" {entry['name']}"
            parts.append(f"class {entry['class']}{escape(printable(name))} ({entry['probability']:.3f})")
        console.print(f"{escape(printable(item['input']))}: " + ", ".join(parts), highlight=False)


# ------------------------------------------------------------------ a run's events as text or JSON lines

class Printer:
    """on_event for a person: each engine event as the lines above, the progress bar on a terminal.
    Notes and the interruption go to err_console, the rest to console (either may be None).
    close() ends a progress bar that an error left open."""

    def __init__(self, console, err_console=None):
        self.console, self.err_console = console, err_console if err_console is not None else console
        self.bar, self.advance = None, None

    def __call__(self, event) -> None:
        from cnncalc.engine import events as ev

        if isinstance(event, ev.BatchProgress):
            if self.advance is not None:
                self.advance(event.images, event.loss, event.acc)
            return
        self.close()
        out = self.console
        if isinstance(event, ev.EpochStarted):
            self.bar = contextlib.ExitStack()
            self.advance = self.bar.enter_context(epoch_progress(out, event.epoch - 1, event.epochs, event.images))
        elif isinstance(event, ev.Note):
            text = _NOTES[event.kind](event.values)
            if isinstance(text, list):
                note_lines(self.err_console, text)
            else:
                note(self.err_console, text)
        elif isinstance(event, ev.Estimate):
            estimate_line(out, event.figures, event.free, event.data, event.threads)
        elif isinstance(event, ev.RunStarted):
            run_header(out, event.run_dir, event.name, event.trainable, event.settings)
        elif isinstance(event, ev.Compiled):
            warmed_up(out, event.seconds)
        elif isinstance(event, ev.EpochEnded):
            epoch_line(out, event.row, event.epochs)
        elif isinstance(event, ev.TestMeasured):
            test_line(out, event.epoch, event.loss, event.acc)
        elif isinstance(event, ev.MemoryMeasured):
            memory_measured(out, event.planned, event.measured)
        elif isinstance(event, ev.RunEnded):
            summary(out, event.history)
        elif isinstance(event, ev.Interrupted):
            interrupted(self.err_console, event.run_dir, event.saved_epoch, event.epochs, event.replacing)

    def close(self) -> None:
        bar, self.bar, self.advance = self.bar, None, None
        if bar is not None:
            bar.close()


def _plain(value):
    """A value as JSON takes it: non-finite floats (never expected) as null."""
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class JsonLines:
    """on_event for a script: one JSON object per event and line on stream, {"event": name, …fields};
    a note carries its sentence as "text". Batch progress is throttled to one line every
    `interval` seconds (an epoch's metrics always come as their own event). An interruption is
    also said on err_console, for the person who pressed Ctrl-C. A closed stream (`| head`)
    raises SystemExit(1), as rich does, so that the run stops and says what it kept."""

    def __init__(self, stream, err_console=None, interval: float = 0.5):
        self.stream, self.err_console, self.interval = stream, err_console, interval
        self.last_progress = None

    def __call__(self, event) -> None:
        import dataclasses
        import json
        import time

        from cnncalc.engine import events as ev

        if isinstance(event, ev.BatchProgress):
            now = time.monotonic()
            if self.last_progress is not None and now - self.last_progress < self.interval:
                return
            self.last_progress = now
        record = {"event": ev.name_of(event), **_plain(dataclasses.asdict(event))}
        if isinstance(event, ev.Note):
            record["text"] = note_text(event.kind, event.values)
        if isinstance(event, ev.Interrupted):
            interrupted(self.err_console, event.run_dir, event.saved_epoch, event.epochs, event.replacing)
        try:
            self.stream.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
            self.stream.flush()
        except BrokenPipeError:
            raise SystemExit(1) from None

    def close(self) -> None:
        pass
