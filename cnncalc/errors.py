"""The errors cnncalc raises for bad input.

Every error carries where it happened (file, line, column, field), what was
received and what is allowed, so that the CLI can print one line and exit 1.
Only `cli.py` turns them into exit codes; library callers catch them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mark:
    """A place in a file; line and column count from 1 as editors do, 0 means the whole file."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}" if self.line else self.file


class CnncalcError(Exception):
    """Base of every error that is the user's input, not our bug."""

    def __init__(self, message: str, mark: Mark | None = None, field: str | None = None,
                 received: object = None, allowed: str | None = None, fix: str | None = None):
        self.message = message
        self.mark = mark
        self.field = field
        self.received = received
        self.allowed = allowed
        self.fix = fix
        super().__init__(self.line())

    def line(self) -> str:
        """The one line the CLI prints: `where: field: message; received …; allowed …; fix`."""
        parts = []
        if self.mark is not None:
            parts.append(str(self.mark))
        if self.field:
            parts.append(f"field '{self.field}'")
        head = ": ".join(parts)
        text = f"{head}: {self.message}" if head else self.message
        if self.received is not None:
            text += f"; received {_show(self.received)}"
        if self.allowed:
            text += f"; allowed: {self.allowed}"
        if self.fix:
            text += f" — {self.fix}"
        return printable(text)


class SpecError(CnncalcError):
    """The spec file is not valid YAML or not a valid network description."""


class DimensionError(CnncalcError):
    """The network is well formed but its dimensions do not work out."""


class ArgumentError(CnncalcError):
    """A value given to the one-layer calculator or the solver that is not allowed (not an integer,
    negative, a window wider than the padded input). `key` and `values` name its sentence in the
    message catalogue (cnncalc/render/lang/calc.py), so the CLI can say it in the language asked for;
    the exception's own line is the English one."""

    def __init__(self, key: str, field: str, received: object, **values):
        from cnncalc.render.lang import text  # the words live in render

        self.key, self.values = key, values
        super().__init__(text(key, "en", field=field, **values), field=field, received=received,
                         allowed=text(key + "_allowed", "en", field=field, **values))


class DataError(CnncalcError):
    """A data file is missing, corrupt, or does not fit the network."""


class EngineError(CnncalcError):
    """The trainer cannot run this spec or this run directory."""


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """`text` safe to echo on one terminal line: control and invisible format characters as escapes.

    A spec's name, a key or a file name may hold a newline or an ESC sequence; echoed raw it would
    split the one-line error or drive the terminal.  Newline, return and tab become \\n, \\r, \\t;
    any other character Python does not call printable (C0/C1 controls, DEL, line separators,
    bidirectional overrides) becomes \\xNN, \\uNNNN or \\UNNNNNNNN.  Spaces stay.
    """
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable() or ch == " ":
            out.append(ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class DownloadError(DataError):
    """A data set could not be downloaded: no network, a server error, a checksum mismatch."""
