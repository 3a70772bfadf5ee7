"""Safe YAML loading that keeps every value's line and column.

yaml.compose builds the node graph without constructing Python objects (so no
Python tags can run); we convert nodes ourselves into dicts and lists that
remember where each key and value stood.

Two limits keep a hostile file from eating the memory:
- MAX_ALIAS_NODES counts the nodes that aliases (`*name`) produce: the same node
  visited again.  This is the "billion laughs" guard: ten nested aliases of ten
  items expand to 10^10 nodes from a few hundred bytes.
- MAX_NODES counts every node, written or aliased: ten for each of the parser's
  200,000 layers (`- conv: {filters: 16, kernel: 3, padding: same}` is nine), so a
  spec the parser accepts always loads, and a 100,000-layer spec written out line by
  line (about 400,000 nodes) is far inside it.
"""

from __future__ import annotations

import yaml

from cnncalc.errors import Mark, Phrase, SpecError

# libyaml's composer is ten times faster than the pure-Python one; both keep marks.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_NODES = 2_000_000
MAX_ALIAS_NODES = 200_000
MAX_DEPTH = 100  # nesting levels; twenty nested parallels need about sixty
MAX_BYTES = 5_000_000

_Y = "tag:yaml.org,2002:"
# the tags we build, each with the one node kind it may stand on (`!!str {a: 1}` is refused)
_SCALAR_TAGS = {_Y + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
_STANDARD_TAGS = _SCALAR_TAGS | {_Y + "seq", _Y + "map", _Y + "merge"}
_NULLS = ("", "~", "null", "Null", "NULL")


class MDict(dict):
    """A mapping that knows its own place, and each key's and value's place."""

    mark: Mark
    key_marks: dict
    value_marks: dict

    def where(self, key) -> Mark:
        return self.value_marks.get(key, self.key_marks.get(key, self.mark))

    def key_where(self, key) -> Mark:
        return self.key_marks.get(key, self.mark)


class MList(list):
    """A sequence that knows its own place and each item's place."""

    mark: Mark
    item_marks: list

    def where(self, index: int) -> Mark:
        return self.item_marks[index] if index < len(self.item_marks) else self.mark


def make_dict(mark: Mark, items=()) -> MDict:
    d = MDict(items)
    d.mark, d.key_marks, d.value_marks = mark, {}, {}
    return d


def make_list(mark: Mark, items=(), item_marks=None) -> MList:
    out = MList(items)
    out.mark = mark
    out.item_marks = list(item_marks) if item_marks is not None else [mark] * len(out)
    return out


def _mark(file: str, node) -> Mark:
    return Mark(file, node.start_mark.line + 1, node.start_mark.column + 1)


class _Converter:
    def __init__(self, file: str):
        self.file = file
        self.count = 0
        self.aliased = 0
        self.seen: set[int] = set()
        self.scalars = yaml.constructor.SafeConstructor()

    def convert(self, node, depth=0, mark: Mark | None = None):
        """The node as MDict/MList/scalar; `mark` is the node's own place when the caller has it."""
        if depth > MAX_DEPTH:
            raise SpecError(Phrase("errors.deep", max=MAX_DEPTH), _mark(self.file, node),
                            allowed=Phrase("errors.deep.allowed", max=MAX_DEPTH))
        self.count += 1
        if id(node) in self.seen:
            # a node met again is an alias (or a node inside one): what an alias bomb multiplies
            self.aliased += 1
            if self.aliased > MAX_ALIAS_NODES:
                raise SpecError(Phrase("errors.alias_bomb", max=MAX_ALIAS_NODES), _mark(self.file, node),
                                allowed=Phrase("errors.alias_bomb.allowed", max=MAX_ALIAS_NODES))
        else:
            self.seen.add(id(node))
        if self.count > MAX_NODES:
            raise SpecError(Phrase("errors.nodes", max=MAX_NODES), _mark(self.file, node),
                            allowed=Phrase("errors.nodes.allowed", max=MAX_NODES))
        if node.tag not in _STANDARD_TAGS:
            raise SpecError(Phrase("errors.tags"), _mark(self.file, node), received=node.tag,
                            allowed=Phrase("errors.tags.allowed"))
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        if node.tag in _SCALAR_TAGS or node.tag != (_Y + "seq" if isinstance(node, yaml.SequenceNode) else _Y + "map"):
            raise SpecError(Phrase("errors.tag_list" if isinstance(node, yaml.SequenceNode) else "errors.tag_mapping",
                                   tag=node.tag[len(_Y):]),
                            _mark(self.file, node), received=node.tag, allowed=Phrase("errors.untagged.allowed"))
        mark = mark or _mark(self.file, node)
        if isinstance(node, yaml.SequenceNode):
            marks = [_mark(self.file, c) for c in node.value]
            items = [self.convert(child, depth + 1, m) for child, m in zip(node.value, marks)]
            return make_list(mark, items, marks)
        out = make_dict(mark)
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise SpecError(Phrase("errors.merge_keys"),
                                _mark(self.file, key_node))
            key_mark, value_mark = _mark(self.file, key_node), _mark(self.file, value_node)
            key = self.convert(key_node, depth + 1, key_mark)
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise SpecError(Phrase("errors.key_not_name"), key_mark, received=key)
            if key in out:
                raise SpecError(Phrase("errors.duplicate_key"), key_mark, str(key), key, Phrase("errors.duplicate_key.allowed"))
            out[key] = self.convert(value_node, depth + 1, value_mark)
            out.key_marks[key] = key_mark
            out.value_marks[key] = value_mark
        return out

    def scalar(self, node):
        """A plain or explicitly tagged scalar; a value its tag cannot read is a located error."""
        tag = node.tag[len(_Y):]
        if tag == "str":
            return node.value
        if tag == "timestamp":
            return node.value  # a plain date is text here (a description), never a datetime
        if tag in ("map", "seq", "merge"):
            raise SpecError(Phrase("errors.tag_scalar", tag=tag), _mark(self.file, node),
                            received=node.value, allowed=Phrase("errors.untagged.allowed"))
        if tag == "null" and node.value not in _NULLS:
            raise SpecError(Phrase("errors.null_value"), _mark(self.file, node), received=node.value,
                            allowed=Phrase("errors.null_value.allowed"))
        if tag == "bool" and node.value.lower() not in self.scalars.bool_values:
            raise SpecError(Phrase("errors.bool_value"), _mark(self.file, node), received=node.value,
                            allowed="true, false, yes, no, on, off")
        try:
            return self.scalars.yaml_constructors[node.tag](self.scalars, node)
        except (ValueError, KeyError, IndexError, TypeError, OverflowError):
            raise SpecError(Phrase("errors.read", tag=tag), _mark(self.file, node), received=node.value,
                            allowed=Phrase("errors.read.allowed", tag=tag)) from None


def load_text(text: str, file: str = "<spec>"):
    """Parse YAML text into MDict/MList/scalars with marks; SpecError on any problem."""
    if len(text) > MAX_BYTES:
        raise SpecError(Phrase("errors.too_large"), Mark(file), received=f"{len(text):,} bytes",
                        allowed=Phrase("errors.too_large.allowed", max=MAX_BYTES))
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.reader.ReaderError as exc:
        before = text[:exc.position]
        mark = Mark(file, before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1)
        raise SpecError(Phrase("errors.yaml_character", character=exc.character, reason=exc.reason), mark) from None
    except yaml.MarkedYAMLError as exc:
        where = exc.problem_mark or exc.context_mark
        mark = Mark(file, where.line + 1, where.column + 1) if where else Mark(file, 1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError(Phrase("errors.yaml_syntax", problem=problem), mark) from None
    except yaml.YAMLError as exc:
        raise SpecError(Phrase("errors.yaml_syntax", problem=exc), Mark(file, 1, 1)) from None
    if node is None:
        raise SpecError(Phrase("errors.empty"), Mark(file), allowed=Phrase("errors.empty.allowed"))
    try:
        return _Converter(file).convert(node)
    except yaml.constructor.ConstructorError as exc:
        where = exc.problem_mark
        mark = Mark(file, where.line + 1, where.column + 1) if where else Mark(file, 1, 1)
        raise SpecError(Phrase("errors.yaml_value", problem=exc.problem), mark) from None


STDIN = "-"  # the spec read from standard input, named <stdin> in messages


def load_file(path: str):
    if path == STDIN:
        import sys

        path = "<stdin>"
        raw = sys.stdin.buffer.read(MAX_BYTES + 1)
        return load_text(_decode(raw, path), path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise SpecError(Phrase("errors.no_file"), Mark(path), received=path) from None
    except IsADirectoryError:
        raise SpecError(Phrase("errors.directory"), Mark(path), received=path,
                        allowed=Phrase("errors.directory.allowed")) from None
    except OSError as exc:
        raise SpecError(Phrase("errors.unreadable", reason=exc.strerror), Mark(path), received=path) from None
    return load_text(_decode(raw, path), path)


def _decode(raw: bytes, path: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError(Phrase("errors.not_utf8", reason=exc.reason), Mark(path, line, column),
                        received=raw[exc.start:exc.start + 1], allowed=Phrase("errors.not_utf8.allowed")) from None
