"""The message catalogue: the wording of every sentence and heading cnncalc prints, in each language.

One module per area of the program (`explain.py`, `calc.py`, `tables.py`, …) holds that area's
wording as two dicts with the same keys, `EN` and `KO`: a value is a `str.format` template or a
function of the record's values returning a string. Keys are `area.name`, so `text("calc.not_integer",
"ko", …)` reads `calc.KO["calc.not_integer"]`. Analysis returns plain data; the renderers ask the
catalogue for words; nothing else in the program holds a sentence that a translation would need.
Korean follows `../shared/GLOSSARY-ko.md`'s terms (symbols n_H, n_W, n_C, f, s, p and formulas unchanged).

tests/test_catalogue.py checks that every area has the same keys in every language and that every
template formats with the fields its English twin uses.
"""

from __future__ import annotations

import importlib
import pkgutil

LANGS = ("en", "ko")
DEFAULT = "en"

_catalogue: dict[str, dict[str, object]] | None = None


def areas() -> list[str]:
    """The area modules of the catalogue, by name."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def catalogue() -> dict[str, dict[str, object]]:
    """{lang: {key: template or function}}, every area merged (loaded once)."""
    global _catalogue
    if _catalogue is None:
        merged: dict[str, dict[str, object]] = {lang: {} for lang in LANGS}
        for area in areas():
            module = importlib.import_module(f"{__name__}.{area}")
            for lang in LANGS:
                merged[lang].update(getattr(module, lang.upper(), {}))
        _catalogue = merged
    return _catalogue


def text(key: str, lang: str = DEFAULT, /, **values) -> str:
    """The sentence `key` in `lang` with `values` filled in; English where a language lacks the key
    (the catalogue test keeps that from happening in a release)."""
    table = catalogue()
    entry = table.get(lang, {}).get(key)
    if entry is None:
        entry = table[DEFAULT][key]
    return entry(**values) if callable(entry) else str(entry).format(**values)
