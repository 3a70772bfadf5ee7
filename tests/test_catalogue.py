"""The message catalogue (cnncalc/render/lang): every area speaks every language, with the same fields."""

from __future__ import annotations

import importlib
import string

import pytest

from cnncalc.render import lang


def _fields(template: str) -> set[str]:
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("area", lang.areas() or ["(none yet)"])
def test_every_key_in_every_language(area):
    if area == "(none yet)":
        pytest.skip("no catalogue areas")
    module = importlib.import_module(f"cnncalc.render.lang.{area}")
    tables = {code: getattr(module, code.upper()) for code in lang.LANGS}
    keys = {code: set(table) for code, table in tables.items()}
    assert keys["en"], f"{area}: no English wording"
    for code in lang.LANGS:
        assert keys[code] == keys["en"], f"{area}: {code} differs from en: {sorted(keys[code] ^ keys['en'])}"
        for key in keys[code]:
            assert key.startswith(f"{area}."), f"{key} belongs in its own area's module"
    for key, en in tables["en"].items():
        for code in lang.LANGS:
            other = tables[code][key]
            assert callable(other) == callable(en), f"{key}: a template in one language, a function in another"
            if not callable(en):
                assert _fields(other) == _fields(en), f"{key} ({code}) uses other fields than English"


def test_text_falls_back_and_fills(monkeypatch):
    monkeypatch.setattr(lang, "_catalogue", {"en": {"t.a": "{n} images", "t.f": lambda n: f"{n * 2}"},
                                             "ko": {"t.a": "이미지 {n}장"}})
    assert lang.text("t.a", "ko", n=3) == "이미지 3장"
    assert lang.text("t.a", "en", n=3) == "3 images"
    assert lang.text("t.f", "ko", n=3) == "6"  # Korean lacks it: English
