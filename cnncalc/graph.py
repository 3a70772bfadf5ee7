"""The layer graph: nodes in topological order, with cycle and reference checks.

The parser produces nodes whose inputs may name any layer; `build` orders them
(Kahn's algorithm, keeping the spec's order where it is free) and reports a
cycle by the names on it.  The analyzer and the engine both walk `Graph.nodes`.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from cnncalc.errors import Mark, Phrase, SpecError

INPUT = "input"  # the name (and kind) of the network's or a block's input; the one definition


@dataclass
class Node:
    """One layer: canonical kind, normalised fields, the names it reads, where it was written.

    scope: the enclosing block instances, outermost first, as full names (for --depth folding).
    ignore: the lint ids silenced for this layer (`lint: {ignore: [...]}` on it, its block call or block).
    """

    name: str
    kind: str
    fields: dict
    inputs: list[str]
    mark: Mark | None = None
    scope: tuple[str, ...] = ()
    ignore: frozenset = frozenset()


@dataclass(frozen=True)
class Scope:
    """A block instance, parallel or repeat that groups nodes (a folded row at --depth)."""

    name: str
    label: str  # e.g. 'bottleneck', 'parallel (add)', 'repeat ×3'
    mark: Mark | None
    depth: int


@dataclass(frozen=True)
class AuxHead:
    """An extra output used only in training (the spec's `aux:`): loss += weight · CE(its logits).

    name: the layer whose output are the aux logits (a block call's name resolved to its last layer).
    """

    name: str
    weight: float
    mark: Mark | None = None


@dataclass
class Graph:
    name: str
    file: str
    input_shape: tuple
    nodes: list[Node]  # topological order; nodes[0] is the input
    output: str
    scopes: dict[str, Scope] = field(default_factory=dict)
    warnings: list = field(default_factory=list)  # the parser's Diagnostics (e.g. a block argument never used)
    aux: tuple[AuxHead, ...] = ()  # training-only outputs, in the spec's order

    def node(self, name: str) -> Node:
        return self._index[name]

    def __post_init__(self):
        self._index = {n.name: n for n in self.nodes}

    def reaching(self, target: str) -> set[str]:
        """The layers whose outputs `target` reads, directly or through others, and target itself:
        one walk back over the topological order. The analyzer warns of the rest; the trainer skips them."""
        needed = {target}
        for node in reversed(self.nodes):
            if node.name in needed:
                needed.update(node.inputs)
        return needed

    def training_only(self) -> set[str]:
        """The layers only the aux heads read: run in training, skipped by inference, counted apart."""
        if not self.aux:
            return set()
        reached: set[str] = set()
        for head in self.aux:
            reached |= self.reaching(head.name)
        return reached - self.reaching(self.output)

    def consumers(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {n.name: [] for n in self.nodes}
        for n in self.nodes:
            for i in n.inputs:
                out[i].append(n.name)
        return out


def build(name: str, file: str, input_shape: tuple, input_mark: Mark | None, nodes: list[Node],
          output: str, scopes: dict[str, Scope], warnings: list | None = None,
          aux: tuple[AuxHead, ...] = ()) -> Graph:
    """Order `nodes` topologically after the input node; SpecError on a cycle."""
    first = Node(INPUT, INPUT, {}, [], input_mark, ())  # the input node: its name and its kind
    by_name = {n.name: n for n in nodes}
    order_of = {n.name: i for i, n in enumerate(nodes)}
    pending = {n.name: len(set(n.inputs) - {INPUT}) for n in nodes}
    users: dict[str, list[str]] = {n.name: [] for n in nodes}
    for n in nodes:
        for i in set(n.inputs) - {INPUT}:
            users[i].append(n.name)
    ready = [order_of[n.name] for n in nodes if pending[n.name] == 0]
    heapq.heapify(ready)
    ordered = []
    while ready:
        n = nodes[heapq.heappop(ready)]
        ordered.append(n)
        for u in users[n.name]:
            pending[u] -= 1
            if pending[u] == 0:
                heapq.heappush(ready, order_of[u])
    if len(ordered) != len(nodes):
        stuck = [n for n in nodes if pending[n.name] > 0]
        cycle = _find_cycle(stuck, by_name)
        raise SpecError(Phrase("errors.cycle_through", cycle=" → ".join(cycle + [cycle[0]])),
                        by_name[cycle[0]].mark, "from", allowed=Phrase("errors.cycle.allowed"))
    return Graph(name, file, input_shape, [first] + ordered, output, scopes, list(warnings or ()), tuple(aux))


def _find_cycle(stuck: list[Node], by_name: dict[str, Node]) -> list[str]:
    stuck_names = {n.name for n in stuck}
    start = stuck[0].name
    seen: dict[str, int] = {}  # name → position on the walk (a list's `in` made long cycles quadratic)
    current = start
    while current not in seen:
        seen[current] = len(seen)
        current = next(i for i in by_name[current].inputs if i in stuck_names)
    walk = list(seen)
    return walk[seen[current]:][::-1]
