"""Everything `train`, `evaluate` and `predict` show: progress, tables, curves; nothing computed here."""

from __future__ import annotations

import contextlib

from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table


def estimate_line(console, est, free, description):
    if console is None:
        return
    mem = est["bytes"] / 2**20
    free_text = f" of {free / 2**30:.1f} GiB free" if free else ""
    console.print(f"data: {description}")
    console.print(f"estimate: about {mem:,.0f} MiB{free_text}, "
                  f"~{est['seconds_per_epoch']:.0f} s per epoch (from the analyzer's FLOPs at 20 GFLOP/s)")


def run_header(console, run_dir, report, config):
    if console is None:
        return
    t = report.totals
    console.print(f"training {report.graph.name}: {t.trainable:,} parameters, {config['optimizer']} "
                  f"lr {config['lr']:g}, batch {config['batch_size']}, seed {config['seed']} → {run_dir}")


@contextlib.contextmanager
def epoch_progress(console, epoch, epochs, n):
    if console is None:
        yield None
        return
    columns = [TextColumn(f"epoch {epoch + 1}/{epochs}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TextColumn("loss {task.fields[loss]:.4f} acc {task.fields[acc]:.3f} {task.fields[speed]:,.0f} img/s"),
               TimeRemainingColumn()]
    import time

    start = time.perf_counter()
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("train", total=n, loss=0.0, acc=0.0, speed=0.0)

        def advance(k, loss, acc):
            done = progress.tasks[0].completed + k
            progress.update(task, advance=k, loss=loss, acc=acc,
                            speed=done / max(time.perf_counter() - start, 1e-9))

        yield advance


def _fmt(row, key):
    value = row.get(key)
    return "" if value is None else f"{value:.4f}"


def epoch_line(console, row):
    if console is None:
        return
    parts = [f"epoch {row['epoch']}: train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f}"]
    for split in ("val", "test"):
        if f"{split}_loss" in row:
            parts.append(f"{split} loss {row[f'{split}_loss']:.4f} acc {row[f'{split}_acc']:.4f}")
    parts.append(f"{row['images_per_s']:,.0f} img/s, {row['seconds']:.1f} s")
    console.print(" | ".join(parts))


def epoch_table(console, history):
    if console is None or not history:
        return
    table = Table(title="per epoch", title_justify="left")
    keys = [k for k in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "lr",
                        "images_per_s") if k in history[0]]
    for k in keys:
        table.add_column(k, justify="right")
    for row in history:
        table.add_row(*[str(row[k]) if k == "epoch" else f"{row[k]:,.0f}" if k == "images_per_s"
                        else f"{row[k]:.4g}" if k == "lr" else _fmt(row, k) for k in keys])
    console.print(table)


def curves(console, history, height=8, width=48):
    """Loss (·) and accuracy (█) per epoch, drawn in the terminal on a 0–max scale."""
    if console is None or len(history) < 2:
        return
    losses = [r["train_loss"] for r in history]
    accs = [r.get("val_acc", r["train_acc"]) for r in history]
    top = max(losses) or 1.0
    cols = min(width, len(history))
    pick = [round(i * (len(history) - 1) / max(cols - 1, 1)) for i in range(cols)]
    lines = []
    for level in range(height, 0, -1):
        cells = []
        for i in pick:
            a = accs[i] * height >= level - 0.5
            lo = abs(losses[i] / top * height - level) < 0.5
            cells.append("●" if lo else ("█" if a else " "))
        lines.append(" ".join(cells))
    console.print(f"loss ● (max {top:.3f}) and {'val' if 'val_acc' in history[0] else 'train'} accuracy █ "
                  "(0–1), by epoch:")
    for line in lines:
        console.print("│ " + line)
    console.print("└" + "─" * (2 * cols + 1))


def interrupted(console, run_dir, finished):
    if console is not None:
        console.print(f"interrupted: {finished} finished epoch(s) kept in {run_dir}; "
                      f"continue with cnncalc train --resume {run_dir}")


def evaluation(console, result):
    if console is None:
        return
    console.print(f"{result['split']} accuracy {result['accuracy']:.4f}, loss {result['loss']:.4f}")
    k = len(result["per_class"])
    table = Table(title="confusion matrix (rows: true class, columns: predicted)", title_justify="left")
    table.add_column("class", justify="right")
    for c in range(k):
        table.add_column(str(c), justify="right")
    table.add_column("accuracy", justify="right")
    for c in range(k):
        table.add_row(str(c), *[str(v) for v in result["confusion"][c]], f"{result['per_class'][c]:.3f}")
    console.print(table)


def predictions(console, top):
    if console is None:
        return
    for i, row in enumerate(top):
        console.print(f"{i}: " + ", ".join(f"class {c} ({p:.3f})" for c, p in row))
