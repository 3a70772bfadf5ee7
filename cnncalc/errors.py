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


class Phrase:
    """A sentence of the message catalogue (cnncalc/render/lang): its key and the values it quotes,
    said in a language when the error is printed.  `Phrase("errors.no_file")`,
    `Phrase("errors.unknown_kind", kind="cnv")`; `Phrase(say=fn)` for a sentence put together by a
    function of the language (a diagnostic quoted by --strict)."""

    __slots__ = ("key", "values", "_say")

    def __init__(self, key: str | None = None, /, *, say=None, **values):
        self.key, self.values, self._say = key, values, say

    def __call__(self, lang: str) -> str:
        if self._say is not None:
            return self._say(lang)
        from cnncalc.render.lang import text  # the words live in render

        return text(self.key, lang, **self.values)

    def __repr__(self) -> str:
        return f"Phrase({self.key!r}, {self.values!r})"


def _said(part, lang: str):
    return part(lang) if isinstance(part, Phrase) else part


class CnncalcError(Exception):
    """Base of every error that is the user's input, not our bug.

    message, allowed and fix are each plain text (symbols, names and numbers the same in every
    language) or a `Phrase` of the catalogue, which `line(lang)` says in the language asked for;
    the attributes `message`, `allowed` and `fix` hold the English, as `str(error)` does."""

    def __init__(self, message: str | Phrase, mark: Mark | None = None, field: str | None = None,
                 received: object = None, allowed: str | Phrase | None = None, fix: str | Phrase | None = None):
        self.phrases = (message, allowed, fix)
        self.message = _said(message, "en")
        self.mark = mark
        self.field = field
        self.received = received
        self.allowed = _said(allowed, "en")
        self.fix = _said(fix, "en")
        super().__init__(self.line())

    def line(self, lang: str = "en") -> str:
        """The one line the CLI prints: `where: field: message; received …; allowed …; fix`, its
        words and frame (errors.frame.*) in `lang`."""
        from cnncalc.render.lang import text  # the words live in render

        message, allowed, fix = (_said(part, lang) for part in self.phrases)
        parts = []
        if self.mark is not None:
            parts.append(str(self.mark))
        if self.field:
            parts.append(text("errors.frame.field", lang, field=self.field))
        head = ": ".join(parts)
        line = f"{head}: {message}" if head else message
        if self.received is not None:
            line += text("errors.frame.received", lang, received=_show(self.received))
        if allowed:
            line += text("errors.frame.allowed", lang, allowed=allowed)
        if fix:
            line += f" — {fix}"
        return printable(line)


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
        self.key, self.values = key, values
        super().__init__(Phrase(key, field=field, **values), field=field, received=received,
                         allowed=Phrase(key + "_allowed", field=field, **values))


class ServeError(CnncalcError):
    """`cnncalc serve` cannot listen where it was asked (the port is taken, the host is not this machine's)."""


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
