"""--lang ko leaves no English sentence: the tables' totals lines, the counting convention, the side by
side table of `params A B` and the errors of bad specs are Korean, with only names left in English
(layer and kind names, spec fields, units, file names, the peers' own names).  English output is the
English catalogue's, so the wording stays in one place (cnncalc/render/lang/totals.py and errors.py)."""

from __future__ import annotations

import os
import re
import textwrap

import pytest
from typer.testing import CliRunner

from cnncalc import layers as registry
from cnncalc.cli import app
from cnncalc.render.lang import catalogue, text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = os.path.join(ROOT, "specs")


def cli(*args, code: int = 0) -> str:
    """stdout, or for a failing command (code 1) its stderr: the one error line."""
    result = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "250"})
    assert result.exit_code == code, (args, result.output)
    return result.stderr if code else result.stdout


def _names() -> set[str]:
    """Words that are names in every language: kinds, their fields and spellings, the spec's keys."""
    from cnncalc.spec import parser

    words = set()
    for kind in registry.KINDS:
        words.update((kind.name,) + kind.aliases)
        for fld in kind.fields:
            words.update((fld.name,) + fld.aliases + fld.choices)
    words.update(parser.TOP_KEYS + parser.CALL_KEYS + parser.CONSTRUCTS)
    from cnncalc.analysis.lint import LINT_IDS

    words.update(LINT_IDS)
    return {piece.lower() for w in words for piece in re.split(r"[^A-Za-z]+", str(w)) if piece}


# units, symbols, tools and the YAML and Python words a Korean note writes as they are
ALLOWED = {
    "macs", "mac", "flops", "flop", "kmac", "mmac", "gmac", "tmac", "kflop", "mflop", "gflop", "tflop",
    "kib", "mib", "gib", "bytes", "float", "pytorch", "keras", "tensorflow", "torchinfo", "yaml", "utf",
    "spec", "parameters", "buffer", "total", "params", "aux", "head", "same", "valid", "ceil", "mode",
    "null", "true", "false", "id", "lint", "ignore", "item", "args", "layers", "input", "name", "from",
    "in", "of", "n_h", "n_w", "n_c", "k", "h", "w", "top", "bottom", "left", "right", "googlenet", "s",
    "depthwise", "no", "bias", "p", "f", "r", "j", "d", "m", "g", "x", "to", "conv", "sequential",
}
NAMES = _names() | ALLOWED


WORD = r"[A-Za-z_][A-Za-z_0-9]*"


def english_words(out: str, extra: set[str] = frozenset()) -> list[str]:
    """The ASCII words of `out` that are not names: quoted values, paths and table rows' names taken out."""
    found = []
    for line in out.splitlines():
        line = re.sub(r"'[^']*'|\"[^\"]*\"|`[^`]*`|!!\w+", " ", line)      # received values, quoted names, tags
        line = re.sub(r"(?:/|\b[\w.-]+/)[\w./-]*\.ya?ml(?::\d+)*", " ", line)  # file names and marks
        for word in re.findall(WORD, line):
            w = word.lower()
            if w not in NAMES and w not in extra and not re.fullmatch(r"[a-z_]+\d+|[a-z]+_[a-z_0-9]+", w):
                found.append(word)  # layer names (conv1, features_0) and snake_case fields pass
    return found


def layer_names(spec: str) -> set[str]:
    """The spec's own names: its name, its layers', its blocks' and their labels (`basic(64, s1)`)."""
    from cnncalc import api

    report = api.report(spec)
    names = [report.graph.name] + [row.name for row in report.rows]
    names += [f"{name} {scope.label}" for name, scope in report.graph.scopes.items()]
    return {word.lower() for name in names for word in re.findall(WORD, name)}


@pytest.mark.parametrize("spec_name", ["lenet5.yaml", "ng_39x39.yaml", "googlenet.yaml", "resnet18.yaml"])
@pytest.mark.parametrize("command", ["summary", "params", "flops", "shapes"])
def test_tables_and_totals_in_korean(spec_name, command):
    spec = os.path.join(SPECS, spec_name)
    extra = layer_names(spec)
    for fmt in ("table", "markdown"):
        out = cli(command, spec, "--lang", "ko", "--format", fmt)
        assert english_words(out, extra) == [], (command, fmt)
    assert "학습 파라미터" in cli("params", spec, "--lang", "ko") or command != "params"


def test_course_view_in_korean():
    out = cli("summary", os.path.join(SPECS, "ng_39x39.yaml"), "--lang", "ko", "--view", "course")
    assert english_words(out, layer_names(os.path.join(SPECS, "ng_39x39.yaml"))) == []


def test_params_side_by_side_in_korean():
    a, b = (os.path.join(SPECS, "compare", f) for f in ("two_3x3.yaml", "one_5x5.yaml"))
    out = cli("params", a, b, "--lang", "ko")
    assert english_words(out, {"two", "one"}) == []
    assert text("totals.side.title", "ko") in out and text("totals.side.metric", "ko") in out
    en = cli("params", a, b)
    for key in ("title", "metric", "trainable", "params", "other_ops", "activations", "rf", "layers"):
        assert text(f"totals.side.{key}", "en") in en
    # (3·3·128 + 1)·128·2 = 295,168 against (5·5·128 + 1)·128 = 409,728: ×1.39
    assert "409,728 (×1.39)" in en and "409,728 (×1.39)" in out


def test_english_totals_are_the_english_catalogue():
    # LeNet-5 (specs/lenet5.yaml): 62,958 params, as tests/test_cli.py works out
    out = cli("summary", os.path.join(SPECS, "lenet5.yaml"))
    assert text("totals.trainable", "en", value="62,958 (62.96 K)") in out
    assert text("totals.params", "en", value="62,958 (62.96 K)") in out
    assert text("totals.convention", "en") in " ".join(out.split())
    ko = cli("summary", os.path.join(SPECS, "lenet5.yaml"), "--lang", "ko")
    assert text("totals.trainable", "ko", value="62,958 (62.96 K)") in ko


BAD = {
    # (spec text, the catalogue key its message comes from)
    "unknown_kind": ("input: [8, 8, 3]\nlayers:\n  - cnv: {filters: 2, kernel: 3}\n", "errors.unknown_kind"),
    "negative": ("input: [8, 8, 3]\nlayers:\n  - conv: {filters: -2, kernel: 3}\n", "errors.field_positive"),
    "missing_units": ("input: [8, 8, 3]\nlayers:\n  - flatten\n  - dense: {}\n", "errors.needs_field"),
    "unknown_field": ("input: [8, 8, 3]\nlayers:\n  - conv: {filters: 2, kernel: 3, strides2: 1}\n",
                      "errors.unknown_field"),
    "duplicate_key": ("input: [8, 8, 3]\nlayers:\n  - conv: {filters: 2, filters: 3}\n", "errors.duplicate_key"),
    "top_key": ("input: [8, 8, 3]\nlayer: []\n", "errors.top_key"),
    "no_layers": ("input: [8, 8, 3]\n", "errors.no_layers"),
    "input_shape": ("input: [8, 8]\nlayers: [relu]\n", "errors.input_shape"),
    "empty": ("", "errors.empty"),
    "tag": ("input: !!set {8: null}\nlayers: [relu]\n", "errors.tags"),
    "tag_fit": ("input: !!str [8, 8, 3]\nlayers: [relu]\n", "errors.tag_list"),
    "choice": ("input: [8, 8, 3]\nlayers:\n  - upsample: {scale: 2, mode: cubic}\n", "errors.field_choice"),
    "no_such_layer": ("input: [8, 8, 3]\nlayers:\n  - relu\n  - add: {from: [relu1, nothing]}\n",
                      "errors.no_such_layer"),
    "block_argument": ("input: [8, 8, 3]\nblocks:\n  unit:\n    args: {filters: null}\n    layers: [relu]\n"
                       "layers:\n  - unit: {}\n", "errors.block_missing_argument"),
    "repeat_count": ("input: [8, 8, 3]\nlayers:\n  - repeat: -1\n    layers: [relu]\n", "errors.repeat_count"),
    "aux_weight": ("input: [8]\nlayers:\n  - dense: {units: 2, name: aux1}\n  - dense: 2\naux:\n"
                   "  - {from: aux1, weight: -1}\n", "errors.aux_weight_value"),
    "unknown_lint": ("input: [8, 8, 3]\nlayers:\n  - {kind: relu, lint: {ignore: [nonsense]}}\n", "errors.lint_unknown"),
    "groups": ("input: [8, 8, 6]\nlayers:\n  - conv: {filters: 8, kernel: 3, groups: 4}\n", "diagnostics.groups"),
    "dense_map": ("input: [8, 8, 3]\nlayers:\n  - dense: 10\n", "diagnostics.dense_map"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_specs_say_it_in_korean(tmp_path, case):
    body, key = BAD[case]
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    ko = cli("shapes", path, "--lang", "ko", code=1).strip()
    en = cli("shapes", path, code=1).strip()
    assert len(ko.splitlines()) == 1 and len(en.splitlines()) == 1            # one line, no traceback
    assert ko.startswith("오류: ") and en.startswith("error: ")
    assert english_words(ko) == [], ko
    # the message is the catalogue's in each language: its fixed words (outside the values) appear
    for lang, out in (("en", en), ("ko", ko)):
        entry = catalogue()[lang][key]
        fixed = [p for p in re.split(r"\{[^}]*\}", entry) if len(p.strip()) > 2] if isinstance(entry, str) else []
        assert all(p.strip() in out for p in fixed), (lang, fixed, out)
    assert str(path) in en and str(path) in ko


def test_missing_file_and_frame_words(tmp_path):
    missing = tmp_path / "none.yaml"
    ko = cli("params", missing, "--lang", "ko", code=1)
    en = cli("params", missing, code=1)
    frame_ko = text("errors.frame.received", "ko", received=repr(str(missing)))
    assert text("errors.no_file", "ko") + frame_ko in ko
    assert text("errors.no_file", "en") + text("errors.frame.received", "en", received=repr(str(missing))) in en
    assert en.strip() == f"error: {missing}: no such spec file; received {str(missing)!r}"  # the frame's English


def test_every_phrase_key_in_the_code_is_in_the_catalogue():
    # a key spelled wrong would turn a user's error into a KeyError traceback
    from cnncalc.layers.base import Field  # noqa: F401 — the field types below are its own

    keys = set()
    for folder, _, files in os.walk(os.path.join(ROOT, "cnncalc")):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(folder, name), encoding="utf-8") as handle:
                    keys.update(re.findall(r"Phrase\(\s*\"([a-z_.]+)\"", handle.read()))
    keys.update(f"errors.type.{t}" for t in ("pos_int", "nonneg_int", "pair", "padding", "groups", "bool", "rate",
                                             "pos_float", "float", "choice"))
    keys.update(f"errors.field_{r}" for r in ("type", "positive", "negative", "padding", "range", "finite"))
    assert len(keys) > 100
    for lang in ("en", "ko"):
        assert sorted(k for k in keys if k not in catalogue()[lang]) == [], lang


@pytest.mark.parametrize("command", [["summary"], ["params"], ["flops"], ["explain"], ["lint"],
                                     ["solve", "--input-sizes"], ["compare", os.path.join(SPECS, "lenet5.yaml")]])
def test_every_command_says_a_spec_error_in_korean(tmp_path, command):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD["unknown_kind"][0], encoding="utf-8")
    ko = cli(*command, path, "--lang", "ko", code=1).strip()
    assert ko.startswith("오류: ") and text("errors.unknown_kind", "ko") in ko and english_words(ko) == [], ko
    en = cli(*command, path, code=1).strip()
    assert en.startswith("error: ") and text("errors.unknown_kind", "en") in en
