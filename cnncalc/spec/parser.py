"""From the YAML tree to canonical layers: short forms, parallel, repeat, blocks with arguments.

Accepted layer items (all documented in the README):

    - relu                                  a kind (or a block) with no fields
    - maxpool: 2                            short form: the kind's main field
    - conv: {filters: 8, kernel: 5}         mapping form
    - conv: {filters: 8, kernel: 5}         …with name:/from: beside it
      name: conv1
    - {kind: conv, filters: 8, kernel: 5}   full form
    - parallel: [[...], [...], []]          branches side by side, merged by `merge: concat|add|mul`
      merge: add
    - repeat: 3                             the chain under layers: three times
      layers: [...]
    - sequential: [...]                     a chain whose unnamed items are named 0, 1, 2, … (nn.Sequential)
    - bottleneck: {filters: 64, stride: 2}  a block from blocks:, with its arguments
    - $norm                                 (in a block) a chain argument, spliced in; [] or null: no layer

Inside a block, `$in_n_H`, `$in_n_W` and `$in_n_C` (also `$in_channels`) are the shape of the
block call's input.  The parser computes that shape while it expands, layer by layer (each layer
once, by the same `Kind.infer` the analysis uses), and only for calls whose body asks for it; so
every field stays a plain number and the analysis and the trainer read the graph unchanged.

Names are local to the block, branch, repeat or sequential they are written in; `from:`
looks outwards, and `input` means the input of the enclosing block.  Full names are a second,
separate matter (`_Names`): each construct adds a segment to them (`layer1.0.conv1`), except one
marked `flat: true`, whose layers are named in the enclosing naming scope — so a spec can name its
layers as torchvision's state_dict() does while `from:` keeps its meaning.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from cnncalc import layers as registry
from cnncalc.errors import Mark, Phrase, SpecError
from cnncalc.graph import INPUT, AuxHead, Graph, Node, Scope, build
from cnncalc.layers.arith import PIXEL
from cnncalc.layers.base import MAX_SIZE, Diagnostic, normalise
from cnncalc.layers.records import ChannelsFirst, UnusedArgument
from cnncalc.shapes import is_map
from cnncalc.spec.loader import MDict, MList, load_file, load_text, make_dict, make_list

MAX_LAYERS = 200_000
# Expansion work: every layer item read, every repeat pass and every value copied into a block call
# counts one.  Empty chains produce no layers, so without this count `repeat: 200000` nested in
# `repeat: 200000` over `layers: []` (or blocks that call blocks twice, 32 deep) would run for hours.
# A 200,000-layer spec written out costs 200,000; `repeat: 200000` over one layer, 400,000.
MAX_WORK = 1_000_000
MAX_BLOCK_DEPTH = 32
MAX_EXPRESSION = 200
TOP_KEYS = ("name", "input", "layers", "blocks", "aux", "description")
RESERVED = ("name", "from")
LINT = "lint"  # `lint: {ignore: [id, …]}` on a layer, a block call or a block: lints silenced there
CALL_KEYS = RESERVED + ("flat", LINT)  # what every block call takes beside its arguments
CONSTRUCTS = ("parallel", "repeat", "sequential")
MERGES = ("concat", "add", "mul")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
# the block input's shape, as course notation names it (in_channels is PyTorch's name for n_C)
SHAPE_ARGS = {"in_n_H": 0, "in_n_W": 1, "in_n_C": 2, "in_channels": 2}


class _Spliced(MList):
    """A chain argument (`- $norm`) standing in a list: its layers take its place, none if empty."""


@dataclass
class _Ref:
    """A `from:` reference, resolved once every name in the spec is known."""

    scope: "_Scope"
    name: str
    mark: Mark | None


class _Names:
    """Where full names come from: the prefix, the scope path (for --depth), the auto-name counters
    and the local names already taken.  Block calls, repeats, parallels and sequentials each open
    one; a `flat: true` construct shares its enclosing one, so its layers are named as if written
    there.  In a sequential one, items without a name are numbered 0, 1, 2, … like nn.Sequential."""

    def __init__(self, prefix: str, path: tuple[str, ...], sequential: bool = False):
        self.prefix = prefix
        self.path = path
        self.sequential = sequential
        self.used: set[str] = set()
        self.counters: dict[str, int] = {}
        self.index = 0

    def auto(self, stem: str, taken, indexed: bool = True) -> str:
        """The next free name: an index in a sequential, else the stem and a count (`conv3`)."""
        if self.sequential and indexed:
            self.index += 1
            return str(self.index - 1)
        while True:
            self.counters[stem] = self.counters.get(stem, 0) + 1
            local = f"{stem}{self.counters[stem]}"
            if local not in self.used and local not in taken:
                return local


class _Scope:
    """Where `from:` looks: the names written in one block call, branch, repeat pass or sequential,
    then outwards.  `names` maps a local name to a full name (or what an empty construct read)."""

    def __init__(self, parent: "_Scope | None", input_ref, names: _Names, owner: bool = True):
        self.parent = parent
        self.input_ref = input_ref  # what `input` means here: a full name or a _Ref
        self.ns = names
        self.owner = owner  # False inside a flat construct: it shares the naming scope of another
        self.names: dict[str, str] = {}
        self.counters: dict[str, int] = {}

    def auto_name(self, stem: str) -> str:
        """The local name of an unnamed item (`conv2`), counted in this scope: inside a flat block or
        repeat `from:` means what it would without `flat`, whatever the full names became.  Where the
        naming scope is this scope's own, names that flat constructs took there are skipped, so the
        local name of a layer is the last segment of its full name (outside sequentials)."""
        taken = self.ns.used if self.owner else ()
        while True:
            self.counters[stem] = self.counters.get(stem, 0) + 1
            local = f"{stem}{self.counters[stem]}"
            if local not in self.names and local not in taken:
                return local


class _Parser:
    def __init__(self, file: str, blocks: dict, input_shape: tuple):
        self.file = file
        self.blocks = blocks
        self.nodes: list[Node] = []
        self.scopes: dict[str, Scope] = {}
        self.block_stack: list[str] = []
        self.call_marks: list[Mark] = []  # where each block on block_stack was called
        self.work = 0
        self.by_name: dict[str, Node] = {}
        self.shapes: dict[str, tuple] = {INPUT: input_shape}  # filled only when a block asks ($in_n_C)
        self.rfs: dict = {INPUT: PIXEL}
        self.ignore: frozenset = frozenset()  # lint ids silenced by the block calls being expanded

    def _tick(self, units: int, mark: Mark) -> None:
        self.work += units
        if self.work > MAX_WORK:
            raise self.error(Phrase("errors.too_much_work", max=MAX_WORK), mark,
                             allowed=Phrase("errors.too_much_work.allowed", max=MAX_WORK))

    # ------------------------------------------------------------ helpers

    def error(self, message, mark, field=None, received=None, allowed=None, fix=None):
        return SpecError(message, mark, field, received, allowed, fix)

    def _register(self, scope: _Scope, item: MDict, stem: str, segment: bool = True,
                  segment_stem: str | None = None, indexed: bool = True) -> tuple[str, str | None]:
        """Name an item: its local name, which `from:` reads, and its full name.

        A `name:` is both.  Without one, the local name counts the stem in this scope (`conv2`) and
        the full name's last segment comes from the naming scope: an index in a sequential, else the
        stem (or segment_stem) counted there.  segment=False (a flat block call or repeat): no full
        name, but a given name is still reserved in the naming scope."""
        ns = scope.ns
        if "name" in item:
            local, where = item["name"], item.where("name")
            if not isinstance(local, str) or not _NAME.match(local):
                raise self.error(Phrase("errors.layer_name"), where, "name", local, Phrase("errors.layer_name.allowed"))
            if local == INPUT:
                raise self.error(Phrase("errors.input_reserved"), where, "name", local)
            if local in scope.names or local in ns.used:
                calls = tuple(zip(self.block_stack, self.call_marks))
                raise self.error(Phrase("errors.duplicate_name", calls=calls), where, "name", local,
                                 Phrase("errors.duplicate_name.allowed",
                                        scope=ns.prefix.rstrip(".") if local in ns.used else None))
            ns.used.add(local)
            full = ns.prefix + local if segment else None
        else:
            local, full = scope.auto_name(stem), None
            if segment:
                plain = scope.owner and not ns.sequential and segment_stem is None
                last = local if plain else ns.auto(segment_stem or stem, scope.names, indexed)
                ns.used.add(last)
                full = ns.prefix + last
        scope.names[local] = full
        return local, full

    def _flag(self, item: MDict, key: str) -> bool:
        value = item.get(key, False)
        if not isinstance(value, bool):
            raise self.error(Phrase("errors.flag", key=key), item.where(key), key, value, Phrase("errors.type.bool"))
        return value

    def _add_node(self, node: Node) -> None:
        if node.name in self.by_name or node.name in self.scopes:  # a guard: _register keeps names unique
            raise self.error(Phrase("errors.duplicate_name", calls=()), node.mark, "name", node.name,
                             Phrase("errors.duplicate_full.allowed"))
        self.nodes.append(node)
        self.by_name[node.name] = node
        if len(self.nodes) > MAX_LAYERS:
            raise self.error(Phrase("errors.too_many_layers", max=MAX_LAYERS), node.mark,
                             allowed=Phrase("errors.too_many_layers.allowed", max=MAX_LAYERS))

    # ------------------------------------------------------------ chains and items

    def chain(self, items, mark: Mark, scope: _Scope, prev):
        if items is None:
            return prev
        if not isinstance(items, list):
            items = make_list(mark, [items], [mark])
        for i, item in enumerate(items):
            where = items.where(i) if isinstance(items, MList) else mark
            if isinstance(item, _Spliced):
                prev = self.chain(item, where, scope, prev)
            else:
                prev = self.item(item, where, scope, prev)
        return prev

    def item(self, item, mark: Mark, scope: _Scope, prev):
        self._tick(1, mark)
        if isinstance(item, str):
            item = make_dict(mark, {item: None})
            item.key_marks[next(iter(item))] = mark
        if not isinstance(item, MDict):
            raise self.error(Phrase("errors.not_a_layer"), mark, "layers", item)
        if "kind" in item:
            kind_name = item["kind"]
            if not isinstance(kind_name, str):
                raise self.error(Phrase("errors.unknown_kind"), item.where("kind"), "kind", kind_name, self._kinds_text())
            args = make_dict(item.mark, {k: v for k, v in item.items() if k != "kind"})
            args.key_marks = dict(item.key_marks)
            args.value_marks = dict(item.value_marks)
            return self.dispatch(kind_name, args, item.where("kind"), scope, prev)
        heads = [k for k in item if isinstance(k, str) and (k in CONSTRUCTS or registry.lookup(k)
                                                            or k in self.blocks)]
        if len(heads) != 1:
            if not heads:
                key = next(iter(item), None)
                raise self.error(Phrase("errors.unknown_kind"), item.key_where(key), "kind", key, self._kinds_text(),
                                 self._suggest(key))
            raise self.error(Phrase("errors.two_kinds"), item.key_where(heads[1]), heads[1], heads,
                             Phrase("errors.two_kinds.allowed"))
        head = heads[0]
        value = item[head]
        siblings = {k: v for k, v in item.items() if k != head}
        if head == "parallel":
            return self.parallel(item, scope, prev)
        if head == "repeat":
            return self.repeat(item, scope, prev)
        if head == "sequential":
            return self.sequential(item, scope, prev)
        args = make_dict(item.where(head))
        if isinstance(value, MDict):
            args.update(value)
            args.key_marks.update(value.key_marks)
            args.value_marks.update(value.value_marks)
        elif value is not None:
            args["$short"] = value
            args.value_marks["$short"] = item.where(head)
        for k, v in siblings.items():
            if k in args:
                raise self.error(Phrase("errors.field_twice"), item.key_where(k), k, v, Phrase("errors.field_twice.allowed"))
            args[k] = v
            args.key_marks[k] = item.key_where(k)
            args.value_marks[k] = item.where(k)
        return self.dispatch(head, args, item.key_where(head), scope, prev)

    def dispatch(self, head: str, args: MDict, mark: Mark, scope: _Scope, prev):
        if head in self.blocks:
            return self.call_block(head, args, mark, scope, prev)
        kind = registry.lookup(head)
        if kind is None:
            raise self.error(Phrase("errors.unknown_kind"), mark, "kind", head, self._kinds_text(), self._suggest(head))
        return self.layer(kind, args, mark, scope, prev)

    def _inputs(self, args: MDict, scope: _Scope, prev, many: bool, what: str, mark: Mark):
        if "from" not in args:
            if many:
                raise self.error(Phrase("errors.name_them", kind=what), mark, "from", None,
                                 Phrase("errors.name_them.allowed"))
            return [prev]
        refs = args["from"]
        where = args.where("from")
        if isinstance(refs, str):
            refs = [refs]
        if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
            raise self.error(Phrase("errors.from_type"), where, "from", args["from"], Phrase("errors.from_type.allowed"))
        if many and len(refs) < 2:
            raise self.error(Phrase("errors.two_inputs", kind=what), where, "from", args["from"],
                             Phrase("errors.two_inputs.allowed"))
        if not many and len(refs) != 1:
            raise self.error(Phrase("errors.one_input", kind=what), where, "from", args["from"],
                             Phrase("errors.one_input.allowed"))
        return [_Ref(scope, r, where) for r in refs]

    def layer(self, kind, args: MDict, mark: Mark, scope: _Scope, prev):
        fields = {}
        given = {}
        ignore = self.ignore | lint_ignore(args)
        for key, value in args.items():
            if key in RESERVED or key == LINT:
                continue
            if key == "$short":
                if kind.short is None:
                    raise self.error(Phrase("errors.no_short", kind=kind.name), args.where(key), kind.name, value,
                                     Phrase("errors.no_short.allowed", kind=kind.name,
                                            fields=self._fields_text(kind) if kind.fields else None))
                fld = kind.field(kind.short)
            else:
                fld = kind.field(key) if isinstance(key, str) else None
                if fld is None:
                    spellings = [a for f in kind.fields for a in (f.name,) + f.aliases] + list(RESERVED) + [LINT]
                    raise self.error(Phrase("errors.unknown_field", kind=kind.name), args.key_where(key), str(key), key,
                                     self._fields_text(kind), self._suggest(key, spellings))
            if fld.name in given:
                raise self.error(Phrase("errors.field_twice"), args.key_where(key), fld.name, value,
                                 Phrase("errors.field_spellings.allowed", names=", ".join((fld.name,) + fld.aliases)))
            given[fld.name] = True
            fields[fld.name] = normalise(fld, value, kind.name, args.where(key))
        for fld in kind.fields:
            if fld.name not in fields:
                if fld.required:
                    raise self.error(Phrase("errors.needs_field", kind=kind.name, field=fld.name), mark, fld.name, None,
                                     _doc_or_type(fld))
                fields[fld.name] = None if fld.default is None else normalise(fld, fld.default, kind.name, mark)
        inputs = self._inputs(args, scope, prev, kind.n_inputs == "many", kind.name, mark)
        _, full = self._register(scope, args, kind.name)
        self._add_node(Node(full, kind.name, fields, inputs, mark, scope.ns.path, ignore))
        return full

    def _open(self, scope: _Scope, item: MDict, stem: str, label: str, mark: Mark,
              sequential: bool = False) -> tuple[str, str, _Names]:
        """Name a construct that adds a segment to names: its local name, full name and naming scope."""
        local, full = self._register(scope, item, stem)
        path = scope.ns.path + (full,)
        self.scopes[full] = Scope(full, label, mark, len(path))
        return local, full, _Names(full + ".", path, sequential)

    def parallel(self, item: MDict, scope: _Scope, prev):
        allowed = ("parallel", "merge", "name", "from", "flat")
        for key in item:
            if key not in allowed:
                raise self.error(Phrase("errors.unknown_field", kind="parallel"), item.key_where(key), str(key), key,
                                 ", ".join(allowed))
        mark = item.key_where("parallel")
        merge = item.get("merge", "concat")
        if merge not in MERGES:
            raise self.error(Phrase("errors.unknown_merge"), item.where("merge"), "merge", merge,
                             Phrase("errors.unknown_merge.allowed"))
        branches = item["parallel"]
        if not isinstance(branches, list) or not branches:
            raise self.error(Phrase("errors.branches"), item.where("parallel"), "parallel", branches,
                             Phrase("errors.branches.allowed"))
        kind = registry.lookup(merge)
        if self._flag(item, "flat"):
            # branches named in the enclosing scope; the merge node is the parallel's name, or `add1`:
            # no index in a sequential (torchvision's adds are not modules)
            start = self._inputs(item, scope, prev, False, "parallel", mark)[0]
            named = "name" in item
            if named:
                _, node_name = self._register(scope, item, "parallel")
            ends = [self.chain(branch, branches.where(i) if isinstance(branches, MList) else mark,
                               _Scope(scope, start, scope.ns, owner=False), start) for i, branch in enumerate(branches)]
            if not named:  # written after its branches, so that their counts come first
                _, node_name = self._register(scope, item, "parallel", segment_stem=merge, indexed=False)
            self._add_node(Node(node_name, kind.name, {}, ends, mark, scope.ns.path))
            return node_name
        local, full, names = self._open(scope, item, "parallel", f"parallel ({merge})", mark)
        start = self._inputs(item, scope, prev, False, "parallel", mark)[0]
        ends = []
        for i, branch in enumerate(branches):
            bmark = branches.where(i) if isinstance(branches, MList) else mark
            sub = _Scope(scope, start, _Names(f"{full}.b{i}.", names.path))
            ends.append(self.chain(branch, bmark, sub, start))
        node_name = f"{full}.{merge}"
        self._add_node(Node(node_name, kind.name, {}, ends, mark, names.path))
        # the parallel's name refers to its merged output
        scope.names[local] = node_name
        return node_name

    def repeat(self, item: MDict, scope: _Scope, prev):
        allowed = ("repeat", "layers", "name", "from", "flat")
        for key in item:
            if key not in allowed:
                raise self.error(Phrase("errors.unknown_field", kind="repeat"), item.key_where(key), str(key), key,
                                 ", ".join(allowed))
        mark = item.key_where("repeat")
        times = item["repeat"]
        if isinstance(times, bool) or not isinstance(times, int) or times < 0:
            raise self.error(Phrase("errors.repeat_count"), item.where("repeat"), "repeat", times,
                             Phrase("errors.repeat_count.allowed"))
        if times > MAX_LAYERS:
            raise self.error(Phrase("errors.repeat_absurd"), item.where("repeat"), "repeat", times,
                             Phrase("errors.at_most", max=MAX_LAYERS))
        if "layers" not in item:
            raise self.error(Phrase("errors.repeat_layers"), mark, "layers", None, Phrase("errors.repeat_layers.allowed"))
        flat = self._flag(item, "flat")
        if flat:
            (local, full), names = self._register(scope, item, "repeat", segment=False), scope.ns
        else:
            local, full, names = self._open(scope, item, "repeat", f"repeat ×{times}", mark)
        prev = self._inputs(item, scope, prev, False, "repeat", mark)[0]
        body, body_mark = item["layers"], item.where("layers")
        if body is None or body == []:
            self._tick(times, mark)  # nothing to build, but the passes still count
            times = 0
        for i in range(times):
            self._tick(1, mark)
            if flat:  # each pass still has its own names for `from:`, but they continue the enclosing ones
                sub = _Scope(scope, prev, names, owner=False)
            else:
                here = f"{full}.{i}"
                sub = _Scope(scope, prev, _Names(here + ".", names.path + (here,)))
                self.scopes[here] = Scope(here, f"repeat {i + 1} of {times}", mark, len(names.path) + 1)
            prev = self.chain(body, body_mark, sub, prev)
        scope.names[local] = prev
        return prev

    def sequential(self, item: MDict, scope: _Scope, prev):
        allowed = ("sequential", "name", "from")
        for key in item:
            if key not in allowed:
                raise self.error(Phrase("errors.unknown_field", kind="sequential"), item.key_where(key), str(key), key,
                                 ", ".join(allowed))
        mark = item.key_where("sequential")
        body = item["sequential"]
        if body is not None and not isinstance(body, list):
            raise self.error(Phrase("errors.sequential_layers"), item.where("sequential"), "sequential", body,
                             Phrase("errors.sequential_layers.allowed"))
        local, _, names = self._open(scope, item, "sequential", "sequential", mark, sequential=True)
        start = self._inputs(item, scope, prev, False, "sequential", mark)[0]
        end = self.chain(body, item.where("sequential"), _Scope(scope, start, names), start)
        scope.names[local] = end
        return end

    def call_block(self, block_name: str, args: MDict, mark: Mark, scope: _Scope, prev):
        block = self.blocks[block_name]
        if block_name in self.block_stack:
            raise self.error(Phrase("errors.recursion", block=block_name), mark, block_name,
                             " → ".join(self.block_stack + [block_name]), Phrase("errors.recursion.allowed"))
        if len(self.block_stack) >= MAX_BLOCK_DEPTH:
            raise self.error(Phrase("errors.block_depth", max=MAX_BLOCK_DEPTH), mark, block_name,
                             " → ".join(self.block_stack + [block_name]),
                             Phrase("errors.block_depth.allowed", max=MAX_BLOCK_DEPTH))
        values = dict(block["defaults"])
        given = set()
        if "$short" in args:
            raise self.error(Phrase("errors.block_short", block=block_name), args.where("$short"),
                             block_name, args["$short"], "{" + ", ".join(f"{a}: …" for a in block["defaults"]) + "}")
        for key, value in args.items():
            if key in CALL_KEYS:
                continue
            if key not in block["defaults"]:
                raise self.error(Phrase("errors.block_unknown_argument", block=block_name), args.key_where(key), str(key), key,
                                 ", ".join(list(block["defaults"]) + list(CALL_KEYS)))
            values[key] = value
            given.add(key)
        # null as a default marks a required argument; null given in the call is an empty chain
        missing = [k for k, v in block["defaults"].items() if v is None and k not in given]
        if missing:
            raise self.error(Phrase("errors.block_missing_argument", block=block_name, argument=missing[0]), mark,
                             missing[0], None, Phrase("errors.block_missing_argument.allowed", names=", ".join(missing)))
        if self._flag(args, "flat"):
            (local, _), names = self._register(scope, args, block_name, segment=False), scope.ns
        else:
            local, _, names = self._open(scope, args, block_name, block_name, mark, block["sequential"])
        start = self._inputs(args, scope, prev, False, block_name, mark)[0]
        sub = _Scope(scope, start, names, owner=names is not scope.ns)  # names look outwards from the call site
        self._tick(block["size"], mark)
        shape = _LazyShape(self, start, block_name, mark)
        body = substitute(block["layers"], values, block_name, mark, shape=shape)
        self.block_stack.append(block_name)
        self.call_marks.append(mark)
        outer = self.ignore
        self.ignore = outer | block["ignore"] | lint_ignore(args)
        end = self.chain(body, block["mark"], sub, start)
        self.ignore = outer
        self.block_stack.pop()
        self.call_marks.pop()
        scope.names[local] = end
        return end

    # ------------------------------------------------------------ shapes during expansion

    def shape_of(self, ref, block_name: str, call_mark: Mark) -> tuple:
        """The output shape of the layer `ref` reads, from the layers written so far.

        Each layer is inferred once (a memo), iteratively, by the kind's own `infer`; a layer whose
        input is written after the call cannot be known yet, and says so.
        """
        name = self._resolve_now(ref, block_name, call_mark)
        stack, expanding = [name], set()  # expanding: layers whose inputs are on the stack above them
        while stack:
            current = stack[-1]
            if current in self.shapes:
                stack.pop()
                continue
            node = self.by_name[current]
            inputs = [self._resolve_now(r, block_name, call_mark) for r in node.inputs]
            todo = [i for i in inputs if i not in self.shapes]
            if todo:
                if current in expanding or any(i in expanding for i in todo):
                    raise self.error(Phrase("errors.cycle"), node.mark, "from", todo[0], Phrase("errors.cycle.allowed"))
                expanding.add(current)
                stack.extend(todo)
                continue
            kind = registry.lookup(node.kind)
            inf = kind.infer(node.fields, [self.shapes[i] for i in inputs], [self.rfs[i] for i in inputs],
                             node.name, node.mark, inputs)
            self.shapes[current], self.rfs[current] = inf.out_shape, inf.rf
        return self.shapes[name]

    def _resolve_now(self, ref, block_name: str, call_mark: Mark) -> str:
        """A reference resolved during expansion: it must name a layer already written."""
        try:
            name = self.resolve(ref)
        except SpecError:
            name = None
        if name is None or (name != INPUT and name not in self.by_name):
            raise self.error(Phrase("errors.block_shape_unknown", block=block_name), call_mark, "from",
                             getattr(ref, "name", ref), Phrase("errors.block_shape_unknown.allowed"))
        return name

    # ------------------------------------------------------------ resolution

    def resolve(self, ref) -> str:
        """The full name a reference reads, following `input` and empty repeats/blocks outwards.

        A loop, not recursion: 5,000 empty repeats each reading the one before are 5,000 steps,
        and two that read each other are a cycle, not a hang.
        """
        seen: set[int] = set()
        while not isinstance(ref, str):
            if id(ref) in seen:
                raise self.error(Phrase("errors.cycle_empty"), ref.mark, "from", ref.name, Phrase("errors.cycle.allowed"))
            seen.add(id(ref))
            scope = ref.scope
            while scope is not None:
                if ref.name == INPUT:
                    ref = scope.input_ref
                    break
                if ref.name in scope.names:
                    ref = scope.names[ref.name]  # an empty repeat or block names what it read
                    break
                scope = scope.parent
            else:
                known = sorted(self._visible(ref.scope))
                raise self.error(Phrase("errors.no_such_layer"), ref.mark, "from", ref.name,
                                 ", ".join(known[:12]) + (" …" if len(known) > 12 else "") if known else "input",
                                 self._suggest(ref.name, known))
        return ref

    def _visible(self, scope: _Scope) -> set[str]:
        out = {INPUT}
        while scope is not None:
            out.update(scope.names)
            scope = scope.parent
        return out

    # ------------------------------------------------------------ messages

    def _kinds_text(self) -> str:
        return ", ".join(registry.names() + list(CONSTRUCTS) + sorted(self.blocks))

    def _fields_text(self, kind) -> str:
        return ", ".join([f.name for f in kind.fields] + list(RESERVED)) if kind.fields else "name, from"

    def _suggest(self, word, candidates=None) -> Phrase | None:
        import difflib

        if not isinstance(word, str):
            return None
        pool = candidates if candidates is not None else (
            [a for k in registry.KINDS for a in (k.name,) + k.aliases] + list(CONSTRUCTS) + list(self.blocks))
        close = difflib.get_close_matches(word.lower(), pool, n=1)
        return Phrase("errors.did_you_mean", word=close[0]) if close else None


# ---------------------------------------------------------------- block arguments

class _LazyShape:
    """The shape of a block call's input, computed the first time the body asks for it."""

    def __init__(self, parser: _Parser, start, block_name: str, call_mark: Mark):
        self.parser, self.start, self.block_name, self.call_mark = parser, start, block_name, call_mark
        self.shape: tuple | None = None

    def size(self, name: str, mark: Mark | None) -> int:
        if self.shape is None:
            self.shape = self.parser.shape_of(self.start, self.block_name, self.call_mark)
        if not is_map(self.shape):
            raise SpecError(Phrase("errors.shape_argument_vector", argument=name, block=self.block_name,
                                   call=self.call_mark, n=self.shape[0]), mark, name, "$" + name,
                            Phrase("errors.shape_argument_vector.allowed"))
        return self.shape[SHAPE_ARGS[name]]


_ARG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def substitute(tree, values: dict, block_name: str, call_mark: Mark, mark: Mark | None = None,
               shape: "_LazyShape | None" = None):
    """A copy of a block body with `$arg` and integer expressions like `$filters * 4` filled in.

    A whole `$arg` standing as a list item whose value is a list or null becomes a `_Spliced`
    chain, which `chain` splices in (null and [] splice nothing).  `$in_n_H`, `$in_n_W`, `$in_n_C`
    and `$in_channels` read the block input's shape from `shape`, computed on first use.
    """
    if isinstance(tree, MDict):
        out = make_dict(tree.mark)
        for key, value in tree.items():
            out[key] = substitute(value, values, block_name, call_mark, tree.where(key), shape)
            out.key_marks[key] = tree.key_where(key)
            out.value_marks[key] = tree.where(key)
        return out
    if isinstance(tree, MList):
        items = []
        for i, v in enumerate(tree):
            new = substitute(v, values, block_name, call_mark, tree.where(i), shape)
            if isinstance(v, str) and _ARG.fullmatch(v.strip()) and (new is None or isinstance(new, list)):
                spliced = _Spliced(new or ())
                spliced.mark = tree.where(i)
                spliced.item_marks = (list(new.item_marks) if isinstance(new, MList)
                                      else [tree.where(i)] * len(spliced))
                new = spliced
            items.append(new)
        return make_list(tree.mark, items, tree.item_marks)
    if isinstance(tree, str) and "$" in tree:
        whole = _ARG.fullmatch(tree.strip())
        if whole:
            return _value(whole.group(1), tree, values, block_name, mark, shape)
        return _evaluate(tree, values, block_name, mark, call_mark, shape)
    return tree


def _doc_or_type(fld) -> Phrase:
    """What a missing required field takes: in English the field's own description (its one home,
    beside the kind), in another language the catalogue's sentence for its type."""
    return Phrase(say=lambda lang: fld.doc if lang == "en" else Phrase(f"errors.type.{fld.type}")(lang))


def _value(name: str, text: str, values: dict, block_name: str, mark: Mark | None, shape):
    """The value of `$name`: a declared argument, or a size of the block's input."""
    if name in values:
        return values[name]
    if name in SHAPE_ARGS and shape is not None:
        return shape.size(name, mark)
    raise SpecError(Phrase("errors.no_argument", block=block_name, argument=name), mark, name, text,
                    ", ".join("$" + a for a in values) or Phrase("errors.no_arguments"))


def _evaluate(text: str, values: dict, block_name: str, mark: Mark | None, call_mark: Mark, shape=None):
    """Integer arithmetic over block arguments and the input's sizes: + − * // and parentheses."""
    env = {}

    def name_of(m):
        name = m.group(1)
        env["a_" + name] = _value(name, text, values, block_name, mark, shape)
        return "a_" + name

    allowed = Phrase("errors.expression.allowed")
    if len(text) > MAX_EXPRESSION:
        raise SpecError(Phrase("errors.expression_long"), mark, None, text,
                        Phrase("errors.expression_long.allowed", max=MAX_EXPRESSION))
    expr = _ARG.sub(name_of, text)
    try:
        tree = ast.parse(expr, mode="eval")
    except (SyntaxError, RecursionError, MemoryError):
        raise SpecError(Phrase("errors.expression_unreadable"), mark, None, text, allowed) from None

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.Name) and node.id in env:
            v = env[node.id]
            if isinstance(v, bool) or not isinstance(v, int):
                raise SpecError(Phrase("errors.argument_not_integer", argument=node.id[2:]), mark, node.id[2:], v,
                                Phrase("errors.argument_not_integer.allowed", block=block_name, call=call_mark))
            return v
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv)):
            a, b = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.FloorDiv):
                if b == 0:
                    raise SpecError(Phrase("errors.division_by_zero"), mark, None, text, allowed)
                return a // b
            result = a + b if isinstance(node.op, ast.Add) else a - b if isinstance(node.op, ast.Sub) else a * b
            if abs(result) > MAX_SIZE:
                raise SpecError(Phrase("errors.value_large"), mark, None, text, Phrase("errors.at_most", max=MAX_SIZE))
            return result
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        raise SpecError(Phrase("errors.expression_unevaluable"), mark, None, text, allowed)

    return ev(tree)


# ---------------------------------------------------------------- the spec

def _unused_arguments(blocks: dict) -> list[Diagnostic]:
    """A warning for each declared argument that no `$name` in its block's layers reads."""
    out = []
    for name, block in blocks.items():
        used = set()
        stack = [block["layers"]]
        while stack:
            value = stack.pop()
            if isinstance(value, dict):
                stack.extend(value.values())
            elif isinstance(value, list):
                stack.extend(value)
            elif isinstance(value, str) and "$" in value:
                used.update(_ARG.findall(value))
        for arg, mark in block["arg_marks"].items():
            if arg not in used and "unused-argument" not in block["ignore"]:
                out.append(Diagnostic("warning", name, mark, UnusedArgument(name, arg)))
    return out


def _blocks(tree: MDict) -> dict:
    raw = tree.get("blocks")
    if raw is None:
        return {}
    if not isinstance(raw, MDict):
        raise SpecError(Phrase("errors.blocks_mapping"), tree.where("blocks"), "blocks", raw,
                        "blocks: {name: {args: {...}, layers: [...]}}")
    out = {}
    for name, body in raw.items():
        where = raw.key_where(name)
        if not isinstance(name, str) or not _NAME.match(name):
            raise SpecError(Phrase("errors.block_name"), where, "blocks", name, Phrase("errors.block_name.allowed"))
        if registry.lookup(name) or name in CONSTRUCTS + ("kind",):
            raise SpecError(Phrase("errors.block_kind_name"), where, "blocks", name, Phrase("errors.block_kind_name.allowed"))
        if isinstance(body, MList):
            out[name] = {"defaults": {}, "layers": body, "mark": raw.where(name), "size": _size(body),
                         "arg_marks": {}, "sequential": False, "ignore": frozenset()}
            continue
        if not isinstance(body, MDict) or "layers" not in body:
            raise SpecError(Phrase("errors.block_layers", block=name), raw.where(name), name, body,
                            Phrase("errors.block_layers.allowed"))
        for key in body:
            if key not in ("args", "layers", "sequential", "description", LINT):
                raise SpecError(Phrase("errors.block_field", block=name), body.key_where(key), str(key), key,
                                "args, layers, sequential, description, lint")
        sequential = body.get("sequential", False)
        if not isinstance(sequential, bool):
            raise SpecError(Phrase("errors.block_sequential", block=name), body.where("sequential"), "sequential",
                            sequential, Phrase("errors.block_sequential.allowed"))
        defaults, marks = _block_args(name, body)
        out[name] = {"defaults": defaults, "layers": body["layers"], "mark": body.where("layers"),
                     "size": _size(body["layers"]), "arg_marks": marks, "sequential": sequential,
                     "ignore": lint_ignore(body)}
    return out




def lint_ignore(item: MDict) -> frozenset:
    """The lint ids a `lint: {ignore: [...]}` mapping silences; SpecError at the offending id otherwise."""
    if LINT not in item:
        return frozenset()
    from cnncalc.analysis.lint import LINT_IDS  # the one list of ids, beside the checks

    allowed = Phrase("errors.lint.allowed", ids=", ".join(LINT_IDS))
    value, where = item[LINT], item.where(LINT)
    if not isinstance(value, MDict) or set(value) != {"ignore"}:
        raise SpecError(Phrase("errors.lint_field"), where, LINT, value, allowed)
    ids, ids_where = value["ignore"], value.where("ignore")
    if isinstance(ids, str):
        ids = make_list(ids_where, [ids], [ids_where])
    if not isinstance(ids, list) or not ids:
        raise SpecError(Phrase("errors.lint_ids"), ids_where, "ignore", ids, allowed)
    for i, lint_id in enumerate(ids):
        if lint_id not in LINT_IDS:
            mark = ids.where(i) if isinstance(ids, MList) else ids_where
            raise SpecError(Phrase("errors.lint_unknown"), mark, "ignore", lint_id, ", ".join(LINT_IDS))
    return frozenset(ids)


def _size(tree) -> int:
    """How many values a block body holds: the work of copying it into one call."""
    stack, n = [tree], 0
    while stack:
        value = stack.pop()
        n += 1
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return n


def _block_args(block: str, body: MDict) -> tuple[dict, dict]:
    """A block's arguments with their defaults (`args: {filters: null, stride: 1}` or `args: [filters,
    stride]`), and where each is declared."""
    args = body.get("args")
    where = body.where("args")
    allowed = Phrase("errors.block_args.allowed")
    if args is None:
        return {}, {}
    if isinstance(args, MList):  # args: [filters, stride] — all required
        names, marks = list(args), [args.where(i) for i in range(len(args))]
    elif isinstance(args, MDict):
        names, marks = list(args), [args.key_where(k) for k in args]
    else:
        raise SpecError(Phrase("errors.block_args", block=block), where, "args", args, allowed)
    out, where_of = {}, {}
    for arg, mark in zip(names, marks):
        if not isinstance(arg, str) or not _ARG.fullmatch("$" + arg):
            raise SpecError(Phrase("errors.argument_name", block=block), mark, "args", arg,
                            Phrase("errors.argument_name.allowed"))
        if arg in CALL_KEYS:
            raise SpecError(Phrase("errors.argument_taken", block=block, argument=arg), mark, "args", arg,
                            Phrase("errors.argument_call_key.allowed", names=", ".join(CALL_KEYS)))
        if arg in SHAPE_ARGS:
            raise SpecError(Phrase("errors.argument_taken", block=block, argument=arg), mark, "args", arg,
                            Phrase("errors.argument_shape_key.allowed", names=", ".join(SHAPE_ARGS), argument=arg))
        if arg in out:
            raise SpecError(Phrase("errors.argument_twice", block=block), mark, "args", arg,
                            Phrase("errors.argument_twice.allowed"))
        out[arg] = args[arg] if isinstance(args, MDict) else None
        where_of[arg] = mark
    return out, where_of


def _input_shape(tree: MDict) -> tuple:
    if "input" not in tree:
        raise SpecError(Phrase("errors.no_input"), tree.mark, "input", None, Phrase("errors.no_input.allowed"))
    return check_input_shape(tree["input"], tree.where("input"), "input")


def check_input_shape(value, where: Mark | None, field: str) -> tuple:
    """The one check of an input shape, for the spec's `input:` and the `--input` option alike."""
    if not (isinstance(value, (list, tuple)) and len(value) in (1, 3)
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise SpecError(Phrase("errors.input_shape"), where, field, value, Phrase("errors.input_shape.allowed"))
    if min(value) < 1:
        raise SpecError(Phrase("errors.input_positive"), where, field, value, Phrase("errors.input_positive.allowed"))
    if max(value) > MAX_SIZE:
        raise SpecError(Phrase("errors.input_large"), where, field, value, Phrase("errors.input_large.allowed", max=MAX_SIZE))
    return tuple(value)


def parse_tree(tree, file: str, input_override: tuple | None = None) -> Graph:
    """Canonical layer graph from a loaded YAML tree; SpecError on every problem."""
    if not isinstance(tree, MDict):
        mark = getattr(tree, "mark", Mark(file, 1, 1))
        raise SpecError(Phrase("errors.not_mapping"), mark, None, tree, Phrase("errors.not_mapping.allowed"))
    for key in tree:
        if key not in TOP_KEYS:
            raise SpecError(Phrase("errors.top_key"), tree.key_where(key), str(key), key, ", ".join(TOP_KEYS))
    name = tree.get("name", file.rsplit("/", 1)[-1].rsplit(".", 1)[0])
    if not isinstance(name, str):
        raise SpecError(Phrase("errors.name_text"), tree.where("name"), "name", name, Phrase("errors.name_text.allowed"))
    if input_override is None:
        shape, input_mark = _input_shape(tree), tree.where("input")
    else:
        shape, input_mark = check_input_shape(input_override, Mark(file), "--input"), Mark(file, 1, 1)
    if "layers" not in tree:
        raise SpecError(Phrase("errors.no_layers"), tree.mark, "layers", None, "layers: [...]")
    layers_value = tree["layers"]
    if not isinstance(layers_value, MList) or not layers_value:
        raise SpecError(Phrase("errors.layers_list"), tree.where("layers"), "layers", layers_value,
                        Phrase("errors.layers_list.allowed"))
    blocks = _blocks(tree)
    parser = _Parser(file, blocks, shape)
    top = _Scope(None, INPUT, _Names("", ()))
    try:
        output = parser.chain(layers_value, tree.where("layers"), top, INPUT)
    except RecursionError:
        raise SpecError(Phrase("errors.too_deep"), tree.where("layers"), allowed=Phrase("errors.too_deep.allowed")) from None
    for node in parser.nodes:
        node.inputs = [parser.resolve(r) for r in node.inputs]
    output = parser.resolve(output)
    aux = _aux_heads(tree, parser, top, output)
    warnings = _unused_arguments(blocks)
    if looks_channels_first(shape):
        field = "input" if input_override is None else "--input"
        warnings.insert(0, Diagnostic("warning", INPUT, input_mark if input_override is None else None,
                                      ChannelsFirst(shape, field)))
    return build(name, file, shape, input_mark, parser.nodes, output, parser.scopes, warnings, aux)


CHANNEL_COUNTS = (1, 3, 4)  # grey, RGB, RGBA: what a C×H×W input's first size usually is
MIN_MAP = 8  # the smallest n_W and n_C that the channels-first rule takes for a height and a width


def looks_channels_first(shape: tuple) -> bool:
    """[C, H, W] written for [n_H, n_W, n_C]: the first size is 1, 3 or 4 and the other two are both ≥ 8.

    [3, 32, 32] and [1, 28, 28] fire; [32, 32, 3], [28, 28, 1], [1, 1, 512] and [3, 7, 7] do not."""
    return len(shape) == 3 and shape[0] in CHANNEL_COUNTS and min(shape[1], shape[2]) >= MIN_MAP


_AUX_ALLOWED = Phrase("errors.aux.allowed")


def _aux_heads(tree: MDict, parser: _Parser, top: _Scope, output: str) -> tuple[AuxHead, ...]:
    """The spec's `aux:` entries, each resolved like `from:` (a block call's name means its last layer).

    Whether each is a vector of the main output's classes needs the shapes: analysis checks that.
    """
    import math

    raw = tree.get("aux")
    if raw is None:
        return ()
    if not isinstance(raw, MList):
        raise SpecError(Phrase("errors.aux_list"), tree.where("aux"), "aux", raw, _AUX_ALLOWED)
    heads: list[AuxHead] = []
    for i, entry in enumerate(raw):
        where = raw.where(i)
        if not isinstance(entry, MDict):
            raise SpecError(Phrase("errors.aux_entry"), where, "aux", entry, _AUX_ALLOWED)
        for key in entry:
            if key not in ("from", "weight"):
                raise SpecError(Phrase("errors.aux_field"), entry.key_where(key), str(key), key, "from, weight")
        if "from" not in entry or not isinstance(entry["from"], str):
            raise SpecError(Phrase("errors.aux_from"), entry.where("from") if "from" in entry else where, "from",
                            entry.get("from"), Phrase("errors.aux_from.allowed"))
        if "weight" not in entry:
            raise SpecError(Phrase("errors.aux_weight"), where, "weight", None, Phrase("errors.aux_weight.allowed"))
        weight = entry["weight"]
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) \
                or weight < 0:
            raise SpecError(Phrase("errors.aux_weight_value"), entry.where("weight"), "weight", weight,
                            Phrase("errors.aux_weight_value.allowed"))
        mark = entry.where("from")
        name = parser.resolve(_Ref(top, entry["from"], mark))
        if name == INPUT:
            raise SpecError(Phrase("errors.aux_input"), mark, "from", entry["from"], Phrase("errors.aux_input.allowed"))
        if name == output:
            raise SpecError(Phrase("errors.aux_output"), mark, "from", entry["from"], Phrase("errors.aux_output.allowed"))
        if any(h.name == name for h in heads):
            raise SpecError(Phrase("errors.aux_twice"), mark, "from", entry["from"], Phrase("errors.aux_twice.allowed"))
        heads.append(AuxHead(name, float(weight), mark))
    return tuple(heads)


def parse_file(path: str, input_override: tuple | None = None) -> Graph:
    return parse_tree(load_file(path), path, input_override)


def parse_text(text: str, file: str = "<spec>", input_override: tuple | None = None) -> Graph:
    return parse_tree(load_text(text, file), file, input_override)
