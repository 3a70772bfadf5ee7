"""Every error path of the loader, the parser and the graph: the exception type, and one line that starts
with `file:line:column` at the right place, names the field, quotes what was received and says what is
allowed.  Then the same through the CLI: exit 1, one `error:` line, no traceback.

Columns are counted by hand from the spec text (1-based, as editors count); `H` puts the first layer on
line 3, e.g. in `  - conv: {filters: 2, kernal: 3}` the `-` is column 3, `conv` column 5, `{` column 11,
`filters` column 12, its value column 21, the second key column 24.
"""

import os
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

import cnncalc.spec.loader as loader_module
import cnncalc.spec.parser as parser_module
from cnncalc.cli import app
from cnncalc.errors import CnncalcError, DimensionError, SpecError
from cnncalc.spec.parser import parse_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
H = "input: [8, 8, 3]\nlayers:\n"
# a block `b` with a required argument n: lines 1–4, then H on lines 5–6, layers from line 7
B = "blocks:\n  b:\n    args: {n: null}\n    layers: [dense: $n]\n" + H


def expr_block(expression, default="2"):
    """A block whose body is `dense: "<expression>"` on line 4, the string at column 21."""
    return (f"blocks:\n  b:\n    args: {{n: {default}}}\n    layers: [dense: \"{expression}\"]\n"
            + H + "  - flatten\n  - b\n")


# (id, spec text, exception type, line, column, fragments the one-line message must contain)
CASES = [
    # ------------------------------------------------ YAML itself
    ("yaml-unclosed-list", "input: [8, 8, 3\nlayers: []\n", SpecError, 2, 7,
     ["YAML syntax", "did not find expected ',' or ']'"]),
    ("yaml-bad-indent", H + "  - relu\n - tanh\n", SpecError, 4, 2, ["YAML syntax"]),
    ("yaml-tab", "input: [8, 8, 3]\nlayers:\n\t- relu\n", SpecError, 3, 1, ["YAML syntax"]),
    ("yaml-key-after-scalar", H + "  - relu\n    conv: 3\n", SpecError, 4, 9, ["YAML syntax"]),
    ("yaml-unclosed-quote", H + "  - relu: {name: \"a}\n", SpecError, 4, 1, ["YAML syntax"]),
    # `  - relu # ` is 11 characters: the NUL is column 12 of line 3
    ("yaml-control-character", H + "  - relu # \x00\n", SpecError, 3, 12, ["YAML syntax", "control characters"]),
    ("empty", "", SpecError, 0, 0, ["the spec is empty", "allowed: a mapping with input: and layers:"]),
    ("only-comments", "   \n# nothing here\n", SpecError, 0, 0, ["the spec is empty"]),
    ("top-list", "- relu\n", SpecError, 1, 1, ["the spec must be a mapping", "received ['relu']"]),
    ("top-scalar", "hello\n", SpecError, 1, 1, ["the spec must be a mapping", "received 'hello'"]),
    ("duplicate-top-key", "input: [8, 8, 3]\ninput: [4, 4, 3]\nlayers: [relu]\n", SpecError, 2, 1,
     ["duplicate key", "field 'input'"]),
    ("duplicate-field", H + "  - conv: {filters: 2, filters: 3, kernel: 3}\n", SpecError, 3, 24,
     ["duplicate key", "field 'filters'", "received 'filters'"]),
    ("python-tag", H + "  - !!python/object/apply:os.system [\"true\"]\n", SpecError, 3, 5,
     ["YAML tags are not allowed", "python/object/apply:os.system"]),
    ("python-name-tag", H + "  - relu: !!python/name:os.system\n", SpecError, 3, 11,
     ["YAML tags are not allowed"]),
    ("local-tag", H + "  - !mine relu\n", SpecError, 3, 5, ["YAML tags are not allowed", "'!mine'"]),
    ("binary-tag", H + "  - conv: !!binary aGVsbG8=\n", SpecError, 3, 11, ["YAML tags are not allowed"]),
    ("merge-key", H + "  - relu: {<<: {name: x}}\n", SpecError, 3, 12, ["merge keys (<<) are not supported"]),
    ("list-as-key", H + "  - relu: {? [a]: 1}\n", SpecError, 3, 14, ["mapping keys must be names", "received ['a']"]),
    # ------------------------------------------------ top level
    ("unknown-top-key", "input: [8, 8, 3]\nlayrs: []\n", SpecError, 2, 1,
     ["unknown top-level key", "field 'layrs'", "received 'layrs'",
      "allowed: name, input, layers, blocks, aux, description"]),
    ("missing-input", "layers: [relu]\n", SpecError, 1, 1,
     ["needs an input shape", "field 'input'", "[n_H, n_W, n_C] or [n]"]),
    ("missing-layers", "input: [8, 8, 3]\n", SpecError, 1, 1, ["needs layers", "field 'layers'"]),
    ("empty-layers", "input: [8, 8, 3]\nlayers: []\n", SpecError, 2, 9,
     ["layers must be a non-empty list", "received []"]),
    ("layers-not-a-list", "input: [8, 8, 3]\nlayers: relu\n", SpecError, 2, 9,
     ["layers must be a non-empty list", "received 'relu'"]),
    ("name-not-text", "name: [a]\ninput: [8, 8, 3]\nlayers: [relu]\n", SpecError, 1, 7,
     ["the name must be text", "field 'name'", "received ['a']"]),
    ("input-two-sizes", "input: [8, 8]\nlayers: [relu]\n", SpecError, 1, 8,
     ["wrong input shape", "field 'input'", "received [8, 8]", "[n_H, n_W, n_C] or [n]"]),
    ("input-scalar", "input: 8\nlayers: [relu]\n", SpecError, 1, 8, ["wrong input shape", "received 8"]),
    ("input-float", "input: [8, 8.5, 3]\nlayers: [relu]\n", SpecError, 1, 8, ["received [8, 8.5, 3]"]),
    ("input-zero", "input: [8, 0, 3]\nlayers: [relu]\n", SpecError, 1, 8,
     ["input sizes must be positive", "received [8, 0, 3]", "each ≥ 1"]),
    ("input-negative", "input: [8, 8, -3]\nlayers: [relu]\n", SpecError, 1, 8, ["must be positive"]),
    ("input-absurd", "input: [2000000000, 8, 3]\nlayers: [relu]\n", SpecError, 1, 8,
     ["absurdly large input", "received [2000000000, 8, 3]", "1,000,000,000"]),
    # ------------------------------------------------ kinds and fields
    ("unknown-kind", H + "  - convv: {filters: 2, kernel: 3}\n", SpecError, 3, 5,
     ["unknown layer kind", "field 'kind'", "received 'convv'", "allowed: conv, maxpool", "did you mean 'conv'?"]),
    ("unknown-bare-kind", H + "  - rleu\n", SpecError, 3, 5, ["unknown layer kind", "did you mean 'relu'?"]),
    ("unknown-full-form-kind", H + "  - {kind: cnov, filters: 3}\n", SpecError, 3, 12,
     ["unknown layer kind", "received 'cnov'", "did you mean 'conv'?"]),
    ("kind-not-text", H + "  - kind: 3\n", SpecError, 3, 11, ["unknown layer kind", "received 3"]),
    ("layer-is-a-number", H + "  - 42\n", SpecError, 3, 5, ["a layer must be a kind name", "received 42"]),
    ("layer-is-a-list", H + "  - [relu]\n", SpecError, 3, 5, ["a layer must be a kind name", "received ['relu']"]),
    ("two-kinds-in-one-item", H + "  - {relu: null, tanh: null}\n", SpecError, 3, 18,
     ["one layer per list item", "field 'tanh'"]),
    ("unknown-field", H + "  - conv: {filters: 2, kernal: 3}\n", SpecError, 3, 24,
     ["unknown field for conv", "field 'kernal'", "received 'kernal'",
      "allowed: filters, kernel, stride, padding, dilation, groups, bias, name, from", "did you mean 'kernel'?"]),
    ("unknown-sibling-field", H + "  - maxpool: 2\n    strid: 1\n", SpecError, 4, 5,
     ["unknown field for maxpool", "field 'strid'", "did you mean 'stride'?"]),
    ("missing-required-field", H + "  - conv: {filters: 2}\n", SpecError, 3, 5,
     ["conv needs kernel", "field 'kernel'"]),
    ("no-short-value", H + "  - relu: 3\n", SpecError, 3, 11, ["relu takes no short value", "received 3"]),
    ("wrong-type-int", H + "  - conv: {filters: two, kernel: 3}\n", SpecError, 3, 21,
     ["field 'filters'", "received 'two'", "allowed: an integer ≥ 1"]),
    ("wrong-type-float-for-int", H + "  - dense: {units: 2.5}\n", SpecError, 3, 20,
     ["field 'units'", "received 2.5", "an integer ≥ 1"]),
    ("wrong-type-bool", H + "  - conv: {filters: 2, kernel: 3, bias: yes please}\n", SpecError, 3, 41,
     ["field 'bias'", "received 'yes please'", "true or false"]),
    ("wrong-type-ceil", H + "  - maxpool: {kernel: 2, ceil_mode: 1}\n", SpecError, 3, 37,
     ["field 'ceil_mode'", "received 1", "true or false"]),
    ("wrong-pair", H + "  - conv: {filters: 2, kernel: [3, 3, 3]}\n", SpecError, 3, 32,
     ["field 'kernel'", "received [3, 3, 3]", "an integer ≥ 1 or [h, w]"]),
    ("wrong-short-type", H + "  - maxpool: two\n", SpecError, 3, 14, ["field 'kernel'", "received 'two'"]),
    ("unknown-padding", H + "  - conv: {filters: 2, kernel: 3, padding: sam}\n", SpecError, 3, 44,
     ["unknown padding", "field 'padding'", "received 'sam'", "'same' or 'valid'"]),
    ("padding-three-values", H + "  - conv: {filters: 2, kernel: 3, padding: [1, 2, 3]}\n", SpecError, 3, 44,
     ["field 'padding'", "received [1, 2, 3]", "[top, bottom, left, right]"]),
    ("wrong-groups", H + "  - conv: {filters: 4, kernel: 3, groups: half}\n", SpecError, 3, 43,
     ["field 'groups'", "received 'half'", "'depthwise'"]),
    ("wrong-float", H + "  - leaky_relu: {alpha: fast}\n", SpecError, 3, 25,
     ["field 'alpha'", "received 'fast'", "a finite number"]),
    ("wrong-rate", H + "  - dropout: high\n", SpecError, 3, 14, ["field 'rate'", "received 'high'"]),
    # ------------------------------------------------ negative, zero and absurd sizes
    ("zero-filters", H + "  - conv: {filters: 0, kernel: 3}\n", SpecError, 3, 21,
     ["must be positive", "field 'filters'", "received 0"]),
    ("negative-padding", H + "  - conv: {filters: 2, kernel: 3, padding: -1}\n", SpecError, 3, 44,
     ["must not be negative", "field 'padding'", "received -1"]),
    ("zero-stride", H + "  - conv: {filters: 4, kernel: 3, stride: [1, 0]}\n", SpecError, 3, 43,
     ["must be positive", "field 'stride'", "received [1, 0]"]),
    ("negative-dilation", H + "  - conv: {filters: 4, kernel: 3, dilation: -2}\n", SpecError, 3, 45,
     ["field 'dilation'", "received -2"]),
    ("zero-groups", H + "  - conv: {filters: 4, kernel: 3, groups: 0}\n", SpecError, 3, 43,
     ["field 'groups'", "received 0", "an integer ≥ 1"]),
    ("zero-kernel", H + "  - maxpool: 0\n", SpecError, 3, 14, ["must be positive", "field 'kernel'"]),
    ("rate-too-large", H + "  - dropout: 1.5\n", SpecError, 3, 14, ["field 'rate'", "received 1.5", "0 ≤ rate < 1"]),
    ("rate-negative", H + "  - dropout: -0.1\n", SpecError, 3, 14, ["field 'rate'", "received -0.1"]),
    ("zero-eps", H + "  - batchnorm: {eps: 0}\n", SpecError, 3, 22, ["field 'eps'", "a finite number > 0"]),
    ("absurd-filters", H + "  - conv: {filters: 10000000000, kernel: 3}\n", SpecError, 3, 21,
     ["absurdly large", "received 10000000000", "at most 1,000,000,000"]),
    ("absurd-units", H + "  - dense: {units: 1000000001}\n", SpecError, 3, 20, ["absurdly large", "field 'units'"]),
    # ------------------------------------------------ names and from:
    ("duplicate-name", H + "  - relu: {name: a}\n  - relu: {name: a}\n", SpecError, 4, 18,
     ["duplicate layer name", "field 'name'", "received 'a'"]),
    ("duplicate-auto-name", H + "  - relu\n  - tanh: {name: relu1}\n", SpecError, 4, 18,
     ["duplicate layer name", "received 'relu1'"]),
    ("name-input-reserved", H + "  - relu: {name: input}\n", SpecError, 3, 18, ["'input' is reserved"]),
    ("name-not-a-name", H + "  - relu: {name: a.b}\n", SpecError, 3, 18,
     ["invalid layer name", "received 'a.b'", "letters, digits"]),
    ("field-twice-alias", H + "  - conv: {filters: 4, kernel: 3, f: 3}\n", SpecError, 3, 35,
     ["field given twice", "field 'kernel'", "kernel, kernel_size, f"]),
    ("field-twice-sibling", H + "  - conv: {filters: 4, kernel: 3}\n    filters: 5\n", SpecError, 4, 5,
     ["field given twice", "field 'filters'", "received 5"]),
    ("field-twice-short", H + "  - maxpool: 2\n    kernel: 3\n", SpecError, 4, 5,
     ["field given twice", "field 'kernel'"]),
    ("from-missing-name", H + "  - relu: {name: conv_one}\n  - relu: {from: conv_oen}\n", SpecError, 4, 18,
     ["no layer of that name", "field 'from'", "received 'conv_oen'", "allowed: conv_one, input, relu1",
      "did you mean 'conv_one'?"]),
    ("from-wrong-type", H + "  - relu: {from: 3}\n", SpecError, 3, 18,
     ["field 'from'", "received 3", "a layer name or a list of names"]),
    ("from-two-for-one", H + "  - relu: {from: [a, b]}\n", SpecError, 3, 18,
     ["relu reads one layer", "received ['a', 'b']"]),
    ("add-without-from", H + "  - add\n", SpecError, 3, 5, ["add reads several layers", "field 'from'"]),
    ("concat-one-input", H + "  - relu: {name: c1}\n  - concat: {from: c1}\n", SpecError, 4, 20,
     ["concat needs at least two inputs", "received 'c1'"]),
    ("inner-name-not-visible",
     "blocks:\n  b:\n    layers: [relu: {name: inner}]\n" + H + "  - b\n  - tanh: {from: inner}\n", SpecError, 7, 18,
     ["no layer of that name", "received 'inner'", "allowed: b1, input"]),
    ("cycle", H + "  - relu: {name: a, from: c}\n  - relu: {name: b, from: a}\n  - relu: {name: c, from: b}\n",
     SpecError, 4, 5, ["the layers form a cycle: b → c → a → b", "field 'from'"]),
    ("self-cycle", H + "  - relu: {name: a, from: a}\n", SpecError, 3, 5, ["cycle: a → a"]),
    # ------------------------------------------------ repeat and parallel
    ("repeat-not-a-count", H + "  - repeat: two\n    layers: [relu]\n", SpecError, 3, 13,
     ["repeat needs a count", "field 'repeat'", "received 'two'", "an integer ≥ 0"]),
    ("repeat-negative", H + "  - repeat: -1\n    layers: [relu]\n", SpecError, 3, 13, ["received -1"]),
    ("repeat-bool", H + "  - repeat: true\n    layers: [relu]\n", SpecError, 3, 13, ["received True"]),
    ("repeat-absurd", H + "  - repeat: 1000000000\n    layers: [relu]\n", SpecError, 3, 13,
     ["absurd repeat count", "at most 200,000"]),
    ("repeat-without-layers", H + "  - repeat: 2\n", SpecError, 3, 5, ["repeat needs layers", "field 'layers'"]),
    ("repeat-unknown-field", H + "  - repeat: 2\n    layers: [relu]\n    times: 3\n", SpecError, 5, 5,
     ["unknown field for repeat", "field 'times'", "allowed: repeat, layers, name, from"]),
    ("repeat-bad-layer", H + "  - repeat: 2\n    layers: [cnov]\n", SpecError, 4, 14, ["received 'cnov'"]),
    ("parallel-no-branch", H + "  - parallel: []\n", SpecError, 3, 15,
     ["parallel needs a list of branches", "field 'parallel'", "one or more chains"]),
    ("parallel-not-a-list", H + "  - parallel: relu\n", SpecError, 3, 15, ["list of branches", "received 'relu'"]),
    ("parallel-unknown-merge", H + "  - parallel: [[relu], []]\n    merge: max\n", SpecError, 4, 12,
     ["unknown merge", "field 'merge'", "received 'max'", "concat, add or mul"]),
    ("parallel-unknown-field", H + "  - parallel: [[relu], []]\n    mode: x\n", SpecError, 4, 5,
     ["unknown field for parallel", "field 'mode'"]),
    # ------------------------------------------------ blocks
    ("block-unknown-argument", B + "  - flatten\n  - b: {m: 2}\n", SpecError, 8, 9,
     ["unknown argument for block 'b'", "field 'm'", "received 'm'", "allowed: n"]),
    ("block-missing-argument", B + "  - flatten\n  - b\n", SpecError, 8, 5,
     ["block 'b' needs argument n", "field 'n'"]),
    # null given in a call is an empty argument (no layer), not a missing one; as dense's units it is
    # the block's `dense: $n` with no value (line 4, column 14)
    ("block-null-argument", B + "  - flatten\n  - b: {n: null}\n", SpecError, 4, 14, ["dense needs units"]),
    ("block-short-value", B + "  - b: 3\n", SpecError, 7, 8,
     ["block 'b' takes its arguments as a mapping", "received 3"]),
    ("block-recursion", "blocks:\n  b:\n    layers: [b]\n" + H + "  - b\n", SpecError, 3, 14,
     ["block 'b' calls itself", "received 'b → b'"]),
    ("block-mutual-recursion", "blocks:\n  a:\n    layers: [b]\n  b:\n    layers: [a]\n" + H + "  - a\n",
     SpecError, 5, 14, ["block 'a' calls itself", "received 'a → b → a'"]),
    ("block-named-like-a-kind", "blocks:\n  relu:\n    layers: [tanh]\n" + H + "  - relu\n", SpecError, 2, 3,
     ["cannot take the name of a layer kind", "received 'relu'"]),
    ("block-unknown-field", "blocks:\n  b:\n    argz: {n: null}\n    layers: [relu]\n" + H + "  - b\n",
     SpecError, 3, 5, ["unknown field for block 'b'", "field 'argz'", "allowed: args, layers, sequential, description"]),
    ("block-without-layers", "blocks:\n  b:\n    args: {n: 1}\n" + H + "  - b\n", SpecError, 3, 5,
     ["block 'b' needs layers"]),
    ("block-args-wrong-type", "blocks:\n  b:\n    args: 3\n    layers: [relu]\n" + H + "  - b\n", SpecError, 3, 11,
     ["args must map names to defaults", "received 3"]),
    ("blocks-not-a-mapping", "blocks: [a]\n" + H + "  - relu\n", SpecError, 1, 9,
     ["blocks must be a mapping", "received ['a']"]),
    ("block-unknown-dollar", "blocks:\n  b:\n    layers: [dense: $m]\n" + H + "  - flatten\n  - b\n", SpecError, 3, 21,
     ["block 'b' has no argument $m", "received '$m'"]),
    # ------------------------------------------------ integer expressions (string at line 4, column 21)
    ("expr-power", expr_block("$n ** 2"), SpecError, 4, 21, ["cannot evaluate this expression", "received '$n ** 2'"]),
    ("expr-true-division", expr_block("$n / 2"), SpecError, 4, 21, ["cannot evaluate this expression"]),
    ("expr-attribute", expr_block("$n.__class__"), SpecError, 4, 21, ["cannot evaluate this expression"]),
    ("expr-call", expr_block("abs($n)"), SpecError, 4, 21, ["cannot evaluate this expression"]),
    ("expr-syntax", expr_block("$n +"), SpecError, 4, 21, ["cannot read this expression", "received '$n +'"]),
    ("expr-division-by-zero", expr_block("$n // 0"), SpecError, 4, 21, ["division by zero"]),
    ("expr-unknown-argument", expr_block("$q * 2"), SpecError, 4, 21, ["block 'b' has no argument $q", "allowed: $n"]),
    ("expr-non-integer-argument", expr_block("$n * 2", default="x"), SpecError, 4, 21,
     ["argument $n is used in arithmetic but is not an integer", "received 'x'", "called at"]),
    ("expr-absurd", expr_block("$n * 1000000000"), SpecError, 4, 21, ["absurdly large value", "at most 1,000,000,000"]),
    # ------------------------------------------------ tagged values the tag cannot build (issue 6)
    # `  - dense: !!float x`: the tag starts at column 12 of line 3; in the bias case `bias` is column 35, its tag 41
    ("tag-float-text", H + "  - dense: !!float x\n", SpecError, 3, 12,
     ["cannot read this value as a float (!!float)", "received 'x'"]),
    ("tag-int-text", H + "  - dense: !!int x\n", SpecError, 3, 12, ["as an int (!!int)", "received 'x'"]),
    ("tag-int-bad-octal", H + "  - dense: !!int 0o8\n", SpecError, 3, 12, ["as an int", "received '0o8'"]),
    ("tag-int-bare-hex", H + "  - dense: !!int 0x\n", SpecError, 3, 12, ["as an int", "received '0x'"]),
    ("tag-int-empty", H + "  - dense: !!int \"\"\n", SpecError, 3, 12, ["as an int", "received ''"]),
    ("tag-bool-word", H + "  - conv: {filters: 2, kernel: 3, bias: !!bool same}\n", SpecError, 3, 41,
     ["as a bool (!!bool)", "received 'same'", "allowed: true, false"]),
    ("tag-bool-empty", H + "  - dense: !!bool \"\"\n", SpecError, 3, 12, ["as a bool", "received ''"]),
    ("tag-null-with-value", H + "  - dense: !!null 3\n", SpecError, 3, 12, ["!!null with a value", "received '3'"]),
    ("tag-str-on-mapping", H + "  - dense: !!str {a: 1}\n", SpecError, 3, 12, ["!!str does not fit a mapping"]),
    ("tag-int-on-list", H + "  - dense: !!int [1]\n", SpecError, 3, 12, ["!!int does not fit a list"]),
    ("tag-map-on-scalar", H + "  - dense: !!map 3\n", SpecError, 3, 12, ["!!map does not fit a single value"]),
    ("tag-seq-on-scalar", H + "  - dense: !!seq 3\n", SpecError, 3, 12, ["!!seq does not fit a single value"]),
    ("tag-merge-on-scalar", H + "  - dense: !!merge 3\n", SpecError, 3, 12, ["!!merge does not fit"]),
    ("tag-set", H + "  - dense: !!set {a: 1}\n", SpecError, 3, 12, ["YAML tags are not allowed", ":set"]),
    ("tag-omap", H + "  - dense: !!omap [a: 1]\n", SpecError, 3, 12, ["YAML tags are not allowed", ":omap"]),
    ("tag-python-str", H + "  - dense: !!python/str x\n", SpecError, 3, 12, ["YAML tags are not allowed"]),
    # an untagged integer of 5,000 digits is past Python's int-from-text limit
    ("int-too-many-digits", H + "  - dense: " + "9" * 5000 + "\n", SpecError, 3, 12,
     ["as an int", "received '9999"]),
    # ------------------------------------------------ block args that are not names (issue 6)
    # `    args: [[a], c]`: `args` is column 5, its value column 11, the first item column 12
    ("args-list-item-list", "blocks:\n  b:\n    args: [[a], c]\n    layers: [relu]\n" + H + "  - b\n",
     SpecError, 3, 12, ["field 'args'", "block 'b' has an argument that is not a name", "received ['a']"]),
    ("args-list-item-map", "blocks:\n  b:\n    args: [{a: 1}]\n    layers: [relu]\n" + H + "  - b\n",
     SpecError, 3, 12, ["not a name", "received {'a': 1}"]),
    ("args-number-key", "blocks:\n  b:\n    args: {1: 2}\n    layers: [relu]\n" + H + "  - b\n",
     SpecError, 3, 12, ["not a name", "received 1"]),
    ("args-spaced-name", "blocks:\n  b:\n    args: {'a b': 1}\n    layers: [relu]\n" + H + "  - b\n",
     SpecError, 3, 12, ["not a name", "received 'a b'"]),
    ("args-number", "blocks:\n  b:\n    args: 3\n    layers: [relu]\n" + H + "  - b\n",
     SpecError, 3, 11, ["args must map names to defaults", "received 3"]),
    ("args-false", "blocks:\n  b:\n    args: false\n    layers: [relu]\n" + H + "  - b\n",
     SpecError, 3, 11, ["args must map names to defaults", "received False"]),
    ("args-duplicate", "blocks:\n  b:\n    args: [a, a]\n    layers: [relu]\n" + H + "  - b: {a: 1}\n",
     SpecError, 3, 15, ["names an argument twice", "received 'a'"]),
    ("args-reserved", "blocks:\n  b:\n    args: {name: x}\n    layers: [relu]\n" + H + "  - b\n",
     SpecError, 3, 12, ["cannot take an argument called 'name'"]),
    ("expr-negative-result", expr_block("$n - 3"), SpecError, 4, 21, ["field 'units'", "received -1"]),
    ("expr-no-dollar-is-text", expr_block("__import__('os')"), SpecError, 4, 21,
     ["field 'units'", "wrong type"]),
]


def write(tmp_path, text, name="net.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def check_one_line(message, path, line, column):
    assert "\n" not in message, message
    assert "Traceback" not in message
    expected = f"{path}:{line}:{column}: " if line else f"{path}: "
    assert message.startswith(expected), (expected, message)


@pytest.mark.parametrize("text, exc_type, line, column, fragments",
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_spec_error_is_one_located_line(tmp_path, text, exc_type, line, column, fragments):
    path = write(tmp_path, text)
    with pytest.raises(CnncalcError) as info:
        parse_file(path)
    assert type(info.value) is exc_type
    message = str(info.value)
    check_one_line(message, path, line, column)
    assert (info.value.mark.line, info.value.mark.column) == (line, column)
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_case_ids_are_unique():
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids))


# ---------------------------------------------------------------- hostile input

def test_python_tags_never_run(tmp_path):
    marker = tmp_path / "pwned"
    for text in (H + f"  - !!python/object/apply:os.system [\"touch {marker}\"]\n",
                 f"!!python/object/apply:os.system [\"touch {marker}\"]\n",
                 H + f"  - relu: {{name: !!python/object/apply:os.system [\"touch {marker}\"]}}\n",
                 f"? !!python/object/apply:os.system [\"touch {marker}\"]\n: 1\n" + H + "  - relu\n"):
        with pytest.raises(SpecError, match="YAML tags are not allowed"):
            parse_file(write(tmp_path, text))
    assert not marker.exists()


def billion_laughs(levels=9):
    rows = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, cur in zip("abcdefghij", "bcdefghijk"[:levels - 1]):
        rows.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(rows) + "\n"


def test_alias_bomb_is_refused_quickly(tmp_path):
    path = write(tmp_path, billion_laughs())                    # 9⁹ ≈ 387 million strings if expanded
    start = time.perf_counter()
    with pytest.raises(SpecError) as info:
        parse_file(path)
    assert time.perf_counter() - start < 5
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}:")
    assert "aliases expand to more than 200,000 nodes" in message


def test_alias_bomb_inside_layers_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(loader_module, "MAX_ALIAS_NODES", 10_000)  # the same check, reached sooner
    # the bomb as the value of `description:`, which the parser never reads: the loader must stop it
    text = "input: [8, 8, 3]\nlayers: [relu]\ndescription:\n" + "".join(
        "  " + line + "\n" for line in billion_laughs().splitlines())
    with pytest.raises(SpecError, match="aliases expand to more than 10,000 nodes"):
        parse_file(write(tmp_path, text))


def test_small_aliases_are_fine(tmp_path):
    text = H + "  - conv: &c {filters: 2, kernel: 1}\n  - conv: *c\n"
    graph = parse_file(write(tmp_path, text))
    assert [n.name for n in graph.nodes] == ["input", "conv1", "conv2"]


def nested_parallels(depth):
    item = "relu"
    for _ in range(depth):
        item = "{parallel: [[" + item + "], []], merge: add}"
    return H + "  - " + item + "\n"


@pytest.mark.parametrize("text", [H + "  - " + "[" * 5000 + "]" * 5000 + "\n", nested_parallels(250)],
                         ids=["nested-lists", "nested-parallels"])
def test_deep_nesting_is_a_spec_error_not_a_crash(tmp_path, text):
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        parse_file(path)
    check_one_line(str(info.value), path, 3, info.value.mark.column)


def test_reasonable_nesting_still_works(tmp_path):
    graph = parse_file(write(tmp_path, nested_parallels(20)))
    assert len(graph.nodes) == 22                        # input, relu, 20 adds


def test_deeply_nested_mappings_are_a_spec_error(tmp_path):
    path = write(tmp_path, H + "  - relu: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n")
    with pytest.raises(SpecError) as info:
        parse_file(path)
    assert str(info.value).startswith(f"{path}:3:")


def test_long_expression_is_a_spec_error_not_a_crash(tmp_path):
    path = write(tmp_path, expr_block(" + ".join(["$n"] * 20000)))
    with pytest.raises(SpecError) as info:
        parse_file(path)
    check_one_line(str(info.value), path, 4, 21)


def test_deep_unary_expression_is_a_spec_error_not_a_crash(tmp_path):
    path = write(tmp_path, expr_block("-" * 5000 + "$n"))
    with pytest.raises(SpecError) as info:
        parse_file(path)
    check_one_line(str(info.value), path, 4, 21)


def test_too_many_layers_after_expansion(tmp_path, monkeypatch):
    monkeypatch.setattr(parser_module, "MAX_LAYERS", 1000)
    # 600 rounds of 2 layers: the 1,001st layer is the relu of round 501, written at line 4, column 14
    path = write(tmp_path, H + "  - repeat: 600\n    layers: [relu, tanh]\n")
    with pytest.raises(SpecError) as info:
        parse_file(path)
    check_one_line(str(info.value), path, 4, 14)
    assert "more than 1,000 layers" in str(info.value)


def test_exponential_blocks_stop_at_the_layer_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(parser_module, "MAX_LAYERS", 1000)
    # b0 is one layer, b_i calls b_(i−1) twice: b30 would be 2³⁰ layers
    blocks = "blocks:\n  b0:\n    layers: [relu]\n" + "".join(
        f"  b{i}:\n    layers: [b{i - 1}, b{i - 1}]\n" for i in range(1, 31))
    path = write(tmp_path, blocks + H + "  - b30\n")
    start = time.perf_counter()
    with pytest.raises(SpecError, match="more than 1,000 layers"):
        parse_file(path)
    assert time.perf_counter() - start < 2


# ---------------------------------------------------------------- the file itself

def test_non_utf8_file_points_at_the_bad_byte(tmp_path):
    bad = tmp_path / "latin1.yaml"
    # line 3 is `  - relu # café` in Latin-1: `  - relu # caf` is 14 bytes, so é is column 15
    bad.write_bytes(b"input: [8, 8, 3]\nlayers:\n  - relu # caf\xe9\n")
    with pytest.raises(SpecError) as info:
        parse_file(str(bad))
    message = str(info.value)
    assert "not UTF-8" in message
    check_one_line(message, str(bad), 3, 15)


@pytest.mark.parametrize("what", ["directory", "missing"])
def test_file_level_errors_name_the_path(tmp_path, what):
    path = str(tmp_path) if what == "directory" else str(tmp_path / "missing.yaml")
    with pytest.raises(SpecError) as info:
        parse_file(path)
    message = str(info.value)
    check_one_line(message, path, 0, 0)                   # a whole-file error has no line
    assert ("is a directory" if what == "directory" else "no such spec file") in message
    assert f"received '{path}'" in message


def test_too_large_file(tmp_path):
    path = write(tmp_path, H + "  - relu\n" + "#" * 5_000_001 + "\n")
    with pytest.raises(SpecError) as info:
        parse_file(path)
    check_one_line(str(info.value), path, 0, 0)
    assert "too large" in str(info.value) and "at most 5,000,000 bytes" in str(info.value)


def test_a_long_received_value_is_shortened_like_any_other(tmp_path):
    # non-string values are cut to 80 characters in the message; a 300-character string should be too
    path = write(tmp_path, H + "  - conv: {filters: 2, kernel: 3, padding: " + "x" * 300 + "}\n")
    with pytest.raises(SpecError) as info:
        parse_file(path)
    message = str(info.value)
    check_one_line(message, path, 3, 44)
    assert "unknown padding" in message and "'same' or 'valid'" in message
    assert "x" * 100 not in message


def test_description_may_be_a_date(tmp_path):
    # `description` is free text; YAML 1.1 reads 2024-01-31 as a timestamp, which is no tag the user wrote
    graph = parse_file(write(tmp_path, "description: 2024-01-31\n" + H + "  - relu\n"))
    assert graph.nodes[-1].name == "relu1"


# ---------------------------------------------------------------- dimension errors are returned, not raised

def test_dimension_error_is_in_the_report(tmp_path):
    from cnncalc import api

    path = write(tmp_path, "input: [4, 4, 1]\nlayers:\n  - conv: {filters: 1, kernel: 3}\n"
                           "  - conv: {filters: 1, kernel: 3}\n")
    report = api.report(path)
    assert isinstance(report.error, DimensionError)
    check_one_line(str(report.error), path, 4, 5)        # 4 → 2, then a 3×3 window does not fit


# ---------------------------------------------------------------- through the CLI

def invoke(*args):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def check_cli_error(result, path, line, column):
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)   # not an uncaught exception
    assert "Traceback" not in result.output
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, result.stderr
    assert [x for x in result.output.splitlines() if "error:" in x] == lines
    expected = f"error: {path}:{line}:{column}: " if line else f"error: {path}: "
    assert lines[0].startswith(expected), (expected, lines[0])
    assert result.stdout == ""


@pytest.mark.parametrize("text, exc_type, line, column, fragments",
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_cli_prints_one_error_line_and_exits_1(tmp_path, text, exc_type, line, column, fragments):  # noqa: ARG001 — CASES' columns
    path = write(tmp_path, text)
    result = invoke("shapes", path)
    check_cli_error(result, path, line, column)
    assert fragments[0] in result.stderr


@pytest.mark.parametrize("command", ["params", "flops", "summary"])
def test_other_commands_report_spec_errors_the_same_way(tmp_path, command):
    path = write(tmp_path, H + "  - convv: {filters: 2, kernel: 3}\n")
    check_cli_error(invoke(command, path), path, 3, 5)


def test_cli_file_errors(tmp_path):
    for path in (str(tmp_path), str(tmp_path / "missing.yaml")):
        check_cli_error(invoke("shapes", path), path, 0, 0)


@pytest.mark.parametrize("name, text", [
    ("deep.yaml", H + "  - " + "[" * 5000 + "]" * 5000 + "\n"),
    ("expr.yaml", expr_block(" + ".join(["$n"] * 20000))),
], ids=["deep-nesting", "long-expression"])
def test_cli_on_hostile_specs_in_a_real_process(tmp_path, name, text):
    path = write(tmp_path, text, name)
    done = subprocess.run([sys.executable, "-m", "cnncalc", "shapes", path], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = [x for x in done.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}:"), done.stderr[-2000:]
