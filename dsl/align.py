"""Which layer of one network is which layer of another: two layer graphs aligned by their
module trees (no torch involved).

:func:`align` walks the module trees of A and B together (``graph.graph["scopes"]``).  The
children of two matched modules are matched in order, in passes that each keep the network
order (Python's :class:`difflib.SequenceMatcher` on the sibling lists):

1. the same name and the same kind (the same op, or the same block definition);
2. among what is left between two such matches: the same name, a layer with a layer and a
   module with a module (an op or a definition changed:
   ``layer1.0`` went from ``basic_block`` to ``bottleneck``, ``fc`` from ``linear`` to ``conv``);
3. then the same kind under another name (``relu_2`` became ``relu_3`` after an inserted ReLU);
4. then, where exactly as many layers (or modules) are left on both sides, position by position
   (an unnamed ``relu`` replaced by an unnamed ``gelu``).

Anything still unmatched is *added* (only in B) or *removed* (only in A), so an inserted stage
or an inserted SE block is one addition instead of a shift of everything after it.  The result
is one tree of :class:`Pair` objects, in network order: a stage added as ``layer5`` comes after
``layer4`` and before ``fc``.

>>> al = align(resnet50.graph, se_resnet50.graph)         # doctest: +SKIP
>>> al.of_b("layer1.0.se").status                         # doctest: +SKIP
'added'
>>> al.of_a("layer1.0.conv1").b                           # doctest: +SKIP
'layer1.0.conv1'

The API is small: :func:`align`, :class:`Alignment` (``root``, ``walk()``, ``layers()``,
``of_a()``, ``of_b()``) and :class:`Pair`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

import networkx as nx

from archc.dsl.analysis import layers
from archc.dsl.names import join_path
from archc.dsl.ops import Shape

__all__ = ["CARRIED", "Alignment", "Pair", "align"]

#: Differences a layer or module only carries from elsewhere: its output shape or its input
#: shape changed because something before it changed (everything else is a change of its own).
CARRIED = frozenset({"shape", "input"})


@dataclass(eq=False)
class Pair:
    """A layer or module of A matched with one of B (``a`` or ``b`` is None when it exists on
    one side only).

    ``status`` is ``same``, ``changed``, ``added`` or ``removed``; ``changes`` says what differs
    in the pair itself, in this order of these words: ``name``, ``kind`` (a layer against a
    module), ``op``, ``definition``, ``args``, ``input`` (input shape), ``shape`` (output
    shape).  A module is ``changed`` when it or anything inside it differs.  ``params``,
    ``macs`` and ``shape`` are (A, B) pairs: totals of the whole module for a module, 0 and
    None on the side where it does not exist.
    """

    a: str | None
    b: str | None
    kind: str  # layer | module
    status: str
    changes: tuple[str, ...]
    level: int  # 0 for the network, 1 for its top-level layers and stages, ...
    params: tuple[int, int]
    macs: tuple[int, int]
    shape: tuple[Shape | None, Shape | None]
    children: list[Pair] = field(default_factory=list)

    @property
    def path(self) -> str:
        """B's name where it exists, else A's."""
        return self.b if self.b is not None else self.a or ""

    @property
    def own(self) -> bool:
        """Whether it differs in itself: added, removed, or a change other than shapes carried
        in from elsewhere (an op, a definition, arguments, a name)."""
        return self.status in ("added", "removed") or bool(set(self.changes) - CARRIED)

    @property
    def structural(self) -> bool:
        """Whether it or anything inside it differs in itself (see :attr:`own`); a changed pair
        that is not structural only carries new shapes."""
        return self.own or any(ch.structural for ch in self.children)

    def walk(self) -> Iterator[Pair]:
        """This pair and everything inside it, in network order."""
        yield self
        for ch in self.children:
            yield from ch.walk()


@dataclass
class Alignment:
    """Two layer graphs aligned: ``root`` pairs the two networks."""

    a: nx.DiGraph
    b: nx.DiGraph
    root: Pair
    _by_a: dict[str, Pair] = field(default_factory=dict, repr=False)
    _by_b: dict[str, Pair] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for p in self.root.walk():
            if p.a is not None:
                self._by_a[p.a] = p
            if p.b is not None:
                self._by_b[p.b] = p

    def walk(self) -> Iterator[Pair]:
        """Every pair below the root, modules before their contents, in network order."""
        for ch in self.root.children:
            yield from ch.walk()

    def layers(self) -> list[Pair]:
        """The layer pairs, in network order."""
        return [p for p in self.walk() if p.kind == "layer"]

    def of_a(self, path: str) -> Pair | None:
        """The pair holding A's layer or module ``path``."""
        return self._by_a.get(path)

    def of_b(self, path: str) -> Pair | None:
        """The pair holding B's layer or module ``path``."""
        return self._by_b.get(path)


def align(a: nx.DiGraph, b: nx.DiGraph) -> Alignment:
    """Align the layer graphs of two networks (see the module's docstring for how)."""
    sa, sb = _Side(a), _Side(b)
    root = _pair_modules(sa, sb, "", "", 0)
    return Alignment(a, b, root)


# ------------------------------------------------------------------ internals


@dataclass(frozen=True)
class _Item:
    """A child of a module: its leaf name, full path and kind key."""

    leaf: str
    path: str
    key: tuple[str, str | None]  # ("layer", op) | ("block", definition) | ("seq", None) | ...

    @property
    def is_layer(self) -> bool:
        return self.key[0] == "layer"


class _Side:
    """One graph with what alignment asks of it, computed once."""

    def __init__(self, g: nx.DiGraph):
        self.g = g
        self.scopes: dict[str, Any] = g.graph["scopes"]
        self.params: dict[str, int] = {}
        self.macs: dict[str, int] = {}
        for d in layers(g):
            parts = d["name"].split(".")
            for k in range(len(parts) + 1):
                key = ".".join(parts[:k])
                self.params[key] = self.params.get(key, 0) + d["params"]
                self.macs[key] = self.macs.get(key, 0) + d["macs"]

    def children(self, path: str) -> list[_Item]:
        out = []
        for leaf in self.scopes[path].children:
            child = join_path(path, leaf)
            if child in self.g.nodes:
                out.append(_Item(leaf, child, ("layer", self.g.nodes[child]["op"])))
            else:
                scope = self.scopes[child]
                out.append(_Item(leaf, child, (scope.kind, scope.definition)))
        return out

    def shape(self, item: _Item) -> Shape | None:
        if item.is_layer:
            shape: Shape = self.g.nodes[item.path]["shape"]
            return shape
        out: Shape | None = self.scopes[item.path].out_shape
        return out

    def in_shape(self, item: _Item) -> object:
        if item.is_layer:
            return tuple(self.g.nodes[item.path]["in_shapes"])
        return self.scopes[item.path].in_shape


def _match(
    ra: Sequence[_Item], rb: Sequence[_Item], keys: Sequence[Callable[[_Item], Hashable]]
) -> list[tuple[_Item | None, _Item | None]]:
    """Pair two sibling lists in order, by each key in turn on what the previous left over."""
    if not ra or not rb:
        return [(x, None) for x in ra] + [(None, y) for y in rb]
    if not keys:
        if len(ra) == len(rb) and all(x.is_layer == y.is_layer for x, y in zip(ra, rb, strict=True)):
            return list(zip(ra, rb, strict=True))
        return [(x, None) for x in ra] + [(None, y) for y in rb]
    key, rest = keys[0], keys[1:]
    sm = SequenceMatcher(None, [key(x) for x in ra], [key(y) for y in rb], autojunk=False)
    out: list[tuple[_Item | None, _Item | None]] = []
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            out += zip(ra[i1:i2], rb[j1:j2], strict=True)
        else:
            out += _match(ra[i1:i2], rb[j1:j2], rest)
    return out


_KEYS: tuple[Callable[[_Item], Hashable], ...] = (
    lambda it: (it.leaf, it.key),
    lambda it: (it.leaf, it.is_layer),
    lambda it: it.key,
)


def _pair_modules(sa: _Side, sb: _Side, pa: str, pb: str, level: int) -> Pair:
    """Two matched modules (the networks themselves at level 0) and everything inside them."""
    scope_a, scope_b = sa.scopes[pa], sb.scopes[pb]
    changes = []
    if pa.rpartition(".")[2] != pb.rpartition(".")[2]:
        changes.append("name")
    if scope_a.kind != scope_b.kind:
        changes.append("kind")
    if scope_a.definition != scope_b.definition and level > 0:
        changes.append("definition")
    elif scope_a.args != scope_b.args and level > 0:
        changes.append("args")
    if scope_a.in_shape != scope_b.in_shape:
        changes.append("input")
    if scope_a.out_shape != scope_b.out_shape:
        changes.append("shape")
    children = []
    for x, y in _match(sa.children(pa), sb.children(pb), _KEYS):
        children.append(_pair_items(sa, sb, x, y, level + 1))
    same = not changes and all(ch.status == "same" for ch in children)
    return Pair(
        pa,
        pb,
        "module",
        "same" if same else "changed",
        tuple(changes),
        level,
        (sa.params.get(pa, 0), sb.params.get(pb, 0)),
        (sa.macs.get(pa, 0), sb.macs.get(pb, 0)),
        (scope_a.out_shape, scope_b.out_shape),
        children,
    )


def _pair_items(sa: _Side, sb: _Side, x: _Item | None, y: _Item | None, level: int) -> Pair:
    if x is None or y is None:
        side, item, status = (sb, y, "added") if x is None else (sa, x, "removed")
        assert item is not None
        return _one_sided(side, item, status, level)
    if not x.is_layer:
        return _pair_modules(sa, sb, x.path, y.path, level)
    changes = []
    if x.leaf != y.leaf:
        changes.append("name")
    da, db = sa.g.nodes[x.path], sb.g.nodes[y.path]
    if da["op"] != db["op"]:
        changes.append("op")
    elif da["args"] != db["args"]:
        changes.append("args")
    if sa.in_shape(x) != sb.in_shape(y):
        changes.append("input")
    if sa.shape(x) != sb.shape(y):
        changes.append("shape")
    return Pair(
        x.path,
        y.path,
        "layer",
        "changed" if changes else "same",
        tuple(changes),
        level,
        (sa.params.get(x.path, 0), sb.params.get(y.path, 0)),
        (sa.macs.get(x.path, 0), sb.macs.get(y.path, 0)),
        (sa.shape(x), sb.shape(y)),
    )


def _one_sided(side: _Side, item: _Item, status: str, level: int) -> Pair:
    """A layer or module on one side only, with everything inside it."""
    children = (
        [] if item.is_layer else [_one_sided(side, ch, status, level + 1) for ch in side.children(item.path)]
    )
    added = status == "added"
    n_params, n_macs = side.params.get(item.path, 0), side.macs.get(item.path, 0)
    shape = side.shape(item)
    return Pair(
        None if added else item.path,
        item.path if added else None,
        "layer" if item.is_layer else "module",
        status,
        (),
        level,
        (0, n_params) if added else (n_params, 0),
        (0, n_macs) if added else (n_macs, 0),
        (None, shape) if added else (shape, None),
        children,
    )
