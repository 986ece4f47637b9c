"""Diagrams: the layer graph as Graphviz, with blocks as clusters and repeats folded.

``diagram`` is a pure function from a compiled network to a ``graphviz.Digraph``; ``diff_diagram``
draws two aligned networks as one; ``render_bytes``/``pipe`` turn a graph into SVG, PNG or PDF with
Graphviz's ``dot``.  Styles are module constants and are copied, never mutated.

What a diagram shows: one node per layer (its name, what distinguishes it, its parameters), the
tensor shape on every edge, skip edges dashed red (identity skips included), gates (SE-style
broadcast multiplies) purple, attention orange, blocks and sequences as nested clusters titled
with their parameter counts.  Below ``depth`` a module becomes one node; ``× N`` on a node means
N instances of one block with the same arguments and shapes, nothing else.  With
``expand="first"`` (the default from depth 3 on) only the first of consecutive instances of a
block is opened; the others are folded, so a deep network shows one block of each stage in full.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import graphviz
import networkx as nx

from archc.dsl.analysis import is_gate, layers, module_params
from archc.dsl.names import join_path
from archc.dsl.ops import fmt, lookup
from archc.dsl.ops.base import pair
from archc.dsl.values import show

if TYPE_CHECKING:
    from archc.dsl.align import Alignment, Pair
    from archc.dsl.compiler import Compiled
    from archc.dsl.elaborate import Scope

FORMATS = ("svg", "png", "pdf", "dot")
DEFAULT_DEPTH = 2
DEFAULT_DPI = 200  # for PNG: sharp when printed or shown on a high-density screen
EXPAND = ("first", "once", "all")
#: The largest diagram handed to Graphviz: ``dot``'s time grows faster than linearly with the
#: nodes (a chain of 20,000 makes it crash) and much faster with the clusters (300 residual
#: blocks drawn open take 10 s, 1,700 more than 5 minutes).  Past these, no picture is made.
MAX_DIAGRAM_NODES = 5_000
MAX_DIAGRAM_CLUSTERS = 200

INK = "#5b6770"
GRAPH_STYLE = {
    "fontname": "Helvetica",
    "fontsize": "12",
    "nodesep": "0.3",
    "ranksep": "0.32",
    "newrank": "true",
    "pad": "0.2",
    "ordering": "out",
}
NODE_STYLE = {
    "shape": "box",
    "style": "rounded,filled",
    "fontname": "Helvetica",
    "fontsize": "11",
    "fillcolor": "#ffffff",
    "color": INK,
    "margin": "0.12,0.04",
}
EDGE_STYLE = {
    "fontname": "Helvetica",
    "fontsize": "9",
    "fontcolor": INK,
    "color": INK,
    "arrowsize": "0.6",
}
SKIP_EDGE = {"style": "dashed", "color": "#c0392b", "fontcolor": "#c0392b", "penwidth": "1.4"}
GATE_EDGE = {"color": "#8e44ad", "fontcolor": "#8e44ad", "penwidth": "1.4"}
CLUSTER_STYLE = {
    "style": "rounded,filled",
    "color": "#b8c2cc",
    "fillcolor": "#f7f9fb",
    "fontsize": "10",
    "fontcolor": "#34495e",
    "labeljust": "l",
    "margin": "10",
}
GATE_CLUSTER = {**CLUSTER_STYLE, "color": "#8e44ad", "fillcolor": "#f5eefa", "fontcolor": "#6c3483"}
MERGE_NODE = {
    "shape": "circle",
    "width": "0.3",
    "fixedsize": "true",
    "fillcolor": "#fdfdfd",
    "fontsize": "10",
}
IO_NODE = {"shape": "box", "style": "filled", "fillcolor": "#2c3e50", "fontcolor": "#ffffff"}
ATTENTION_FILL = "#fbd3a9"
FILL_BY_OP = {
    "conv": "#dbe9f6",
    "conv1d": "#dbe9f6",
    "conv_transpose": "#dbe9f6",
    "patch_embed": "#dbe9f6",
    "linear": "#d5f0e3",
    "attention": ATTENTION_FILL,
    "window_attention": ATTENTION_FILL,
    "bn": "#eeeeee",
    "layernorm": "#eeeeee",
    "layernorm2d": "#eeeeee",
    "groupnorm": "#eeeeee",
    "instancenorm": "#eeeeee",
    "maxpool": "#fdf3cf",
    "avgpool": "#fdf3cf",
    "gap": "#fdf3cf",
    "adaptive_avgpool": "#fdf3cf",
    "upsample": "#fdf3cf",
    "upsample_bilinear": "#fdf3cf",
}
COLLAPSED_FILL = "#e8eef7"
#: Norms and activations drawn inside the node of the layer they follow (``conv → bn → relu``).
FOLLOWERS = frozenset({"bn", "layernorm", "relu", "gelu", "sigmoid", "identity", "dropout"})
GATE_FILL = "#ead7f5"
ATTENTION_CLUSTER = {**CLUSTER_STYLE, "color": "#e67e22", "fillcolor": "#fef5ec", "fontcolor": "#a04000"}

# The diff picture: B's layers, A's removed ones, coloured by what happened to them.
ADDED = {"fillcolor": "#d4f5dd", "color": "#1e8449", "penwidth": "1.6"}
REMOVED = {"fillcolor": "#fadbd8", "color": "#c0392b", "penwidth": "1.6", "style": "rounded,filled,dashed"}
CHANGED = {"fillcolor": "#fdebd0", "color": "#d35400", "penwidth": "1.6"}
RESHAPED = {"fillcolor": "#fef9f1", "color": "#e59866", "penwidth": "1.2"}  # only new shapes
UNCHANGED = {"fillcolor": "#f4f6f7", "color": "#aab7b8", "fontcolor": "#5b6770"}
CHANGED_CLUSTER = {**CLUSTER_STYLE, "color": "#d35400", "fillcolor": "#fffaf3"}
ADDED_EDGE = {"color": "#1e8449", "fontcolor": "#1e8449"}
REMOVED_EDGE = {"color": "#c0392b", "fontcolor": "#c0392b", "style": "dashed"}


class DotMissing(Exception):
    """Graphviz's ``dot`` is not installed (the subclasses: or cannot draw this diagram).
    Whoever goes on without a picture when ``dot`` is missing (``archc build``) does the same
    for the others."""

    def __str__(self) -> str:
        return (
            "Graphviz's `dot` was not found; "
            "install it with `apt-get install graphviz` (or `brew install graphviz`)"
        )


class DiagramTooBig(DotMissing):
    """A diagram past :data:`MAX_DIAGRAM_NODES` or :data:`MAX_DIAGRAM_CLUSTERS`, refused
    before ``dot`` runs."""

    def __init__(self, nodes: int, clusters: int):
        super().__init__(nodes, clusters)
        self.nodes, self.clusters = nodes, clusters

    def __str__(self) -> str:
        if self.nodes > MAX_DIAGRAM_NODES:
            what = f"{self.nodes:,} nodes (the limit is {MAX_DIAGRAM_NODES:,})"
        else:
            what = f"{self.clusters:,} open modules (the limit is {MAX_DIAGRAM_CLUSTERS:,})"
        return (
            f"the diagram would have {what}, too many for Graphviz; "
            "draw it with a smaller --depth, or put long runs of layers into a block"
        )


class DotFailed(DotMissing):
    """Graphviz's ``dot`` ran and failed (it crashes on some very large graphs)."""

    def __init__(self, why: str):
        super().__init__(why)
        self.why = why

    def __str__(self) -> str:
        return f"Graphviz's `dot` could not draw this diagram ({self.why})"


class Diagram(graphviz.Digraph):  # type: ignore[misc]
    """A Graphviz graph that knows how many nodes and clusters archc drew into it."""

    nodes: int = 0
    clusters: int = 0


# ------------------------------------------------------------------ words


def layer_text(d: dict[str, Any]) -> str:
    """A layer in a few words: what distinguishes it (``conv 1x7, 128``, ``maxpool 3x3, /2``)."""
    op = lookup(d["op"])
    if op is None:  # pragma: no cover - every node's op is registered
        return str(d["op"])
    text = op.label(d["args"], d["shape"])
    dilation = d["args"].get("d", 1)
    if d["op"] == "conv" and pair(dilation) != (1, 1):
        text += f", dilation {dilation if isinstance(dilation, int) else 'x'.join(map(str, dilation))}"
    return text


def call_text(definition: str, args: dict[str, Any], keys: Iterable[str] | None = None) -> str:
    """``se(reduction=16)``: a block and its arguments (only ``keys`` when given)."""
    shown = [f"{k}={show(args[k])}" for k in (args if keys is None else keys)]
    return f"{definition}({', '.join(shown)})" if shown else definition


def module_text(scope: Scope, g: nx.DiGraph, sep: str = " → ") -> str:
    """A module in a few words: ``se(reduction=16)``, or for a sequence its items."""
    if scope.kind == "seq":
        return seq_text(scope, g, sep)
    return call_text(scope.definition or scope.kind, scope.args)


def seq_text(scope: Scope, g: nx.DiGraph, sep: str = " → ") -> str:
    """A sequence by its items, consecutive identical ones counted (``× 3``): a block with one
    convolution or linear layer by that layer (``conv 1x1, 96 → conv 3x3, 128``), other blocks by
    name with the arguments that tell them apart (``bottleneck(stride=2) → bottleneck(stride=1) × 3``),
    a repeated pattern once (``[conv 3x3, 256 → pixel shuffle 2] × 2``).  Long ones are counted."""
    scopes: dict[str, Scope] = g.graph["scopes"]
    paths = [join_path(scope.path, ch) for ch in scope.children]
    keys = _distinguishing(paths, scopes)
    items: list[tuple[Any, str]] = []  # (what identical instances share, text)
    for path in paths:
        if path in g.nodes:
            d = g.nodes[path]
            items.append((("layer", d["op"], repr(d["args"])), layer_text(d)))
            continue
        child = scopes[path]
        identity: tuple[Any, ...] = (child.kind, child.definition, repr(child.args))
        primary = _primary(child, g)
        if child.kind == "seq":
            text = f"[{seq_text(child, g, sep)}]"
            identity = (*identity, text)
        elif primary is not None:
            text = primary
        else:
            definition = child.definition or child.kind
            text = call_text(definition, child.args, keys.get(definition, ()))
        items.append((identity, text))
    n = len(items)
    period = next((p for p in range(1, n // 2 + 1) if n % p == 0 and all(
        items[i][0] == items[i % p][0] for i in range(n))), None)  # fmt: skip
    if period is not None and period > 1:
        text = f"[{_runs_text(items[:period], sep)}] × {n // period}"
    else:
        text = _runs_text(items, sep)
    if len(text) > 90 or text.count(sep) > 4:
        return f"{n} layers" if all(p in g.nodes for p in paths) else f"{n} modules"
    return text


def _runs_text(items: list[tuple[Any, str]], sep: str) -> str:
    """Items with consecutive identical ones counted: ``bottleneck × 3``."""
    runs: list[list[Any]] = []
    for identity, text in items:
        if runs and runs[-1][0] == identity:
            runs[-1][2] += 1
        else:
            runs.append([identity, text, 1])
    return sep.join(f"{text} × {count}" if count > 1 else text for _, text, count in runs)


def _distinguishing(paths: Sequence[str], scopes: dict[str, Scope]) -> dict[str, list[str]]:
    """For each block definition among ``paths``: the arguments whose values differ between its
    instances there (what tells ``bottleneck(stride=2)`` from ``bottleneck(stride=1)``)."""
    seen: dict[str, list[dict[str, Any]]] = {}
    for path in paths:
        s = scopes.get(path)
        if s is not None and s.kind == "block" and s.definition:
            seen.setdefault(s.definition, []).append(s.args)
    return {
        d: [k for k in args[0] if any(a.get(k) != args[0][k] for a in args[1:])] for d, args in seen.items()
    }


def _primary(scope: Scope, g: nx.DiGraph) -> str | None:
    """The one layer that does a block's work (a convolution, linear or attention layer), if
    the block has exactly one: ``basic_conv`` is best told by its ``conv 1x7, 128``."""
    prefix = scope.path + "."
    found = [d for n, d in g.nodes(data=True) if n.startswith(prefix) and d["macs"] > 0]
    return layer_text(found[0]) if len(found) == 1 else None


def _leaf(path: str) -> str:
    return path.rpartition(".")[2]


def _auto(title: str) -> str:
    """A name without the ``_N`` archc adds to tell unnamed layers of one op apart."""
    return re.sub(r"_[0-9]+$", "", title)


def _html_label(
    title: str, detail: str, params: int | str | None = None, op: str | None = None, then: str = ""
) -> str:
    """A node's label: its name in bold, what it is, what follows it in the same node (``→
    batchnorm → relu``), its parameters.  A name that only repeats the op (``relu_1``, or a
    ``conv`` inside ``basic_conv``) is left out."""
    if isinstance(params, int):
        params = f"{params:,} params" if params else None
    extra = f'<br/><font point-size="9">→ {html.escape(then)}</font>' if then else ""
    detail_html = "<br/>".join(html.escape(line) for line in _wrap(detail))
    if params:
        extra += f'<br/><font point-size="9" color="{INK}">{html.escape(params)}</font>'
    words = {detail.split(" ")[0].split("(")[0], op}
    if _auto(title) in words or title == detail:
        return f"<<b>{detail_html}</b>{extra}>"
    return f'<<b>{html.escape(title)}</b><br/><font point-size="10">{detail_html}</font>{extra}>'


def _wrap(text: str, width: int = 48) -> list[str]:
    """A long description in lines of about ``width`` characters, broken after an arrow."""
    if len(text) <= width or " → " not in text:
        return [text]
    lines = [""]
    for i, part in enumerate(text.split(" → ")):
        piece = part if i == 0 else f"→ {part}"
        if lines[-1] and len(lines[-1]) + 1 + len(piece) > width:
            lines.append(piece)
        else:
            lines[-1] = f"{lines[-1]} {piece}".strip()
    return lines


# ------------------------------------------------------------------ one network


def diagram(
    c: Compiled,
    depth: int | None = DEFAULT_DEPTH,
    rankdir: str = "TB",
    expand: str | None = None,
    overrides: Sequence[str] = (),
    *,
    folds: Mapping[str, bool] | None = None,
    ids: bool = False,
) -> graphviz.Digraph:
    """The network as a Graphviz graph (pure: nothing is rendered or written).

    ``expand`` is ``first`` (open the first of consecutive instances of a block, fold the rest),
    ``once`` (open each block definition once in the whole network) or ``all``; the default is
    ``first`` from depth 3 on.  ``overrides`` names the parameters set on the command line, so
    that the title says which network it counts.

    For ``archc serve``: ``folds`` opens (``True``) or folds (``False``) modules by path, over
    what ``depth`` and ``expand`` say; ``ids`` gives every node and cluster an SVG id naming
    what it draws (see :class:`Drawing`)."""
    return _drawer(c, depth, rankdir, expand, overrides, folds, ids).draw()


@dataclass(frozen=True)
class Drawing:
    """A diagram with SVG ids, and what each id draws (for ``archc serve``'s hover and clicks).

    ``parts`` maps each id to the paths its node or cluster stands for:

    - ``n:<path>``: a node drawing layers: one layer, a layer with the norms and activations
      drawn in it (``path`` is the first; the parts are all of them), or a module that is one
      such chain (``path`` and the one part are the module's);
    - ``m:<path>`` or ``m:<first>..<last leaf>``: a folded module, or a run of identical ones
      (``× N``); the parts are the modules, which opening it expands;
    - ``c:<path>``: a cluster (an open module), and ``t:<path>`` its title node."""

    dot: graphviz.Digraph
    parts: dict[str, tuple[str, ...]]


def drawing(
    c: Compiled,
    depth: int | None = DEFAULT_DEPTH,
    rankdir: str = "TB",
    expand: str | None = None,
    overrides: Sequence[str] = (),
    *,
    folds: Mapping[str, bool] | None = None,
) -> Drawing:
    """:func:`diagram` with ids, and what each id draws."""
    drawer = _drawer(c, depth, rankdir, expand, overrides, folds, True)
    dot = drawer.draw()
    return Drawing(dot, drawer.parts)


def _drawer(
    c: Compiled,
    depth: int | None,
    rankdir: str,
    expand: str | None,
    overrides: Sequence[str],
    folds: Mapping[str, bool] | None,
    ids: bool,
) -> _Drawer:
    if expand is None:
        expand = "first" if depth is not None and depth >= 3 else "all"
    if expand not in EXPAND:
        raise ValueError(f"expand must be one of {EXPAND}, not {expand!r}")
    return _Drawer(c, depth, rankdir, expand, overrides, folds or {}, ids)


class _Drawer:
    def __init__(
        self,
        c: Compiled,
        depth: int | None,
        rankdir: str,
        expand: str,
        overrides: Sequence[str],
        folds: Mapping[str, bool],
        ids: bool,
    ):
        self.c = c
        self.g: nx.DiGraph = c.graph
        self.scopes: dict[str, Scope] = c.graph.graph["scopes"]
        self.depth = depth
        self.expand = expand
        self.folds = folds  # path -> open (True) or folded (False), over depth and expand
        self.ids = ids
        self.parts: dict[str, tuple[str, ...]] = {}  # SVG id -> the paths it draws
        self.opened: set[str] = set()  # block definitions drawn open (for expand="once")
        self.fuse = depth is not None
        self.params = module_params(c.graph)
        self.rep: dict[str, str] = {"input": "input"}
        self.drawn: list[str] = []  # node ids in the order they are drawn
        self.empty = _empty_modules(self.scopes)
        self.dot = Diagram(
            c.name,
            graph_attr={**GRAPH_STYLE, "rankdir": rankdir, "label": _title(c, overrides), "labelloc": "t"},
            node_attr=dict(NODE_STYLE),
            edge_attr=dict(EDGE_STYLE),
        )

    def draw(self) -> graphviz.Digraph:
        self.dot.node("input", f"input {fmt(self.c.input_shape)}", **IO_NODE)
        self.scope(self.dot, self.scopes[""], 0)
        self.dot.node("output", f"output {fmt(self.c.output_shape)}", **IO_NODE)
        _edges(self.dot, [(self.g, self.visible, {})])
        self.dot.edge(self.visible(self.g.graph["output"]), "output", label=fmt(self.c.output_shape))
        self.dot.nodes = len(self.drawn) + 2
        return self.dot

    def visible(self, path: str) -> str:
        return _visible(self.rep, path)

    def scope(self, container: graphviz.Digraph, scope: Scope, level: int) -> None:
        children = [join_path(scope.path, ch) for ch in scope.children]
        fold = self.depth is not None and level + 1 >= self.depth
        i = 0
        while i < len(children):
            path = children[i]
            if path in self.g.nodes:
                chain = self.chain(children, i) if self.fuse else [path]
                self.layer(container, [self.g.nodes[p] for p in chain])
                for p in chain:
                    self.rep[p] = path
                i += len(chain)
                continue
            opened = self.folds.get(path)  # None: as depth and expand say
            if fold and opened is not True:
                i += self.folded(container, children, i, len(children))
                continue
            child = self.scopes[path]
            if path in self.empty:  # no layer inside: one node saying what it is
                i += self.folded(container, children, i, len(children))
                continue
            if (
                self.expand == "once"
                and opened is None
                and child.kind == "block"
                and child.definition in self.opened
            ):
                i += self.folded(container, children, i, len(children))
                continue
            family = _family(children, i, self.scopes) if self.expand != "all" else 1
            inner = [join_path(path, ch) for ch in child.children]
            fused = self.fuse and all(p in self.g.nodes for p in inner) and self.chain(inner, 0) == inner
            if fused and opened is not False:
                # a module that is one layer and its norm and activation: one node, not a cluster
                kind = child.definition if child.kind == "block" else None
                self.layer(
                    container, [self.g.nodes[p] for p in inner], title=_leaf(path), kind=kind, module=path
                )
                for p in [path, *inner]:
                    self.rep[p] = inner[0]
                i += 1
                continue
            folds_whole = self.depth is not None and level + 2 >= self.depth and bool(inner)
            if (
                child.kind == "seq"
                and folds_whole
                and opened is None
                and self.run_length(inner, 0, len(inner)) == len(inner)
            ):
                i += self.folded(container, children, i, i + 1)  # its blocks are one fold: one node
                continue
            if opened is False:  # folded by the user, with the rest of its family
                self.opened.update(_definitions(self.scopes, path))  # for "once": none opens elsewhere
                j = i
            else:
                self.cluster(container, child, level)
                j = i + 1
            while j < i + family:
                if self.folds.get(children[j]) is True:  # opened by the user
                    self.cluster(container, self.scopes[children[j]], level)
                    j += 1
                else:
                    j += self.folded(container, children, j, i + family)
            i += family

    def cluster(self, container: graphviz.Digraph, child: Scope, level: int) -> None:
        if is_gate(child, self.g):
            style = GATE_CLUSTER
        elif any(self.g.nodes[join_path(child.path, ch)]["op"] in ("attention", "window_attention")
                 for ch in child.children if join_path(child.path, ch) in self.g.nodes):  # fmt: skip
            style = ATTENTION_CLUSTER
        else:
            style = CLUSTER_STYLE
        what = module_text(child, self.g) if child.kind == "seq" else (child.definition or "")
        params = self.params.get(child.path, 0)
        title = _cluster_title(_leaf(child.path), what, f"{params:,} params" if params else "")
        if child.kind == "block" and child.definition:
            self.opened.add(child.definition)
        self.dot.clusters += 1
        with container.subgraph(name=f"cluster_{child.path}") as sub:
            sub.attr(label="", **style)
            if self.ids:
                sub.attr(id=self.ident("c", child.path, (child.path,)))
            mark = len(self.drawn)
            self.scope(sub, child, level + 1)
            title_id = {"id": self.ident("t", child.path, (child.path,))} if self.ids else {}
            _title_node(sub, child.path, title, self.drawn[mark], style, **title_id)

    def ident(self, kind: str, name: str, parts: Sequence[str]) -> str:
        """The SVG id of a node or cluster (``kind``, then what it is named by), recording
        which paths it draws."""
        key = f"{kind}:{name}"
        self.parts[key] = tuple(parts)
        return key

    def folded(self, container: graphviz.Digraph, children: list[str], i: int, end: int) -> int:
        """One node for the module at ``i`` and the identical ones after it (before ``end``);
        returns how many it stands for."""
        run = self.run_length(children, i, end)
        members = [self.scopes[p] for p in children[i : i + run]]
        first = members[0]
        node_id = first.path if run == 1 else f"{first.path}..{_leaf(members[-1].path)}"
        name = _leaf(first.path) if run == 1 else f"{_leaf(first.path)}–{_leaf(members[-1].path)}"
        if first.kind == "seq":
            detail = seq_text(first, self.g)
        else:
            definition = first.definition or first.kind
            keys = _distinguishing(children, self.scopes).get(definition, [])
            detail = call_text(definition, first.args, keys)
            primary = _primary(first, self.g)
            if primary is not None:
                detail = f"{definition}: {primary}"
            if run > 1:
                detail += f" × {run}"
        params = sum(self.params.get(s.path, 0) for s in members)
        fill = GATE_FILL if is_gate(first, self.g) else COLLAPSED_FILL
        ident = {"id": self.ident("m", node_id, children[i : i + run])} if self.ids else {}
        container.node(
            node_id, _html_label(name, detail, params), fillcolor=fill, style="rounded,filled,bold", **ident
        )
        self.drawn.append(node_id)
        for p in children[i : i + run]:
            self.rep[p] = node_id
        return run

    def run_length(self, children: list[str], i: int, end: int) -> int:
        """:func:`_run_length`, ended by a module opened through ``folds``."""
        run = _run_length(children, i, end, self.scopes)
        return next((n for n in range(1, run) if self.folds.get(children[i + n]) is True), run)

    def chain(self, children: list[str], i: int) -> list[str]:
        """The layer at ``i`` and the norms and activations that follow it alone (its only
        reader, reading nothing else), drawn as one node: ``conv → batchnorm → relu``."""
        out = [children[i]]
        op = lookup(self.g.nodes[children[i]]["op"])
        if op is None or op.arity == 0:  # a merge (+, ×, concat) stays a small node of its own
            return out
        while i + len(out) < len(children):
            nxt = children[i + len(out)]
            d = self.g.nodes.get(nxt)
            if d is None or d["op"] not in FOLLOWERS or d["inputs"] != [out[-1]]:
                break
            if self.g.out_degree(out[-1]) != 1:
                break
            out.append(nxt)
        return out

    def layer(
        self,
        container: graphviz.Digraph,
        chain: list[dict[str, Any]],
        title: str | None = None,
        kind: str | None = None,
        module: str | None = None,
    ) -> None:
        """A layer's node, with the norms and activations that follow it; ``module`` (with
        ``title`` and ``kind``) when it draws a whole module."""
        attrs = {}
        if self.ids:
            names = [d["name"] for d in chain]
            attrs["id"] = self.ident("n", module or names[0], [module] if module else names)
        _layer_node(container, chain[0]["name"], chain[0], chain[1:], title, kind, **attrs)
        self.drawn.append(chain[0]["name"])


def _cluster_title(name: str, what: str, params: str) -> str:
    """A cluster's title as an HTML label: its name, what it is (unless that repeats the name)
    and its parameters, one per line, flush left."""
    lines = [f"<b>{html.escape(name)}</b>"]
    head = what.split("(")[0].split(" ")[0]
    if what and _auto(name) != head:
        lines += [html.escape(line) for line in _wrap(what)]
    if params:
        lines.append(f'<font color="{INK}" point-size="9">{html.escape(params)}</font>')
    return "<" + "".join(f'{line}<br align="left"/>' for line in lines) + ">"


def _title_node(
    sub: graphviz.Digraph, path: str, title: str, first: str, style: dict[str, str], **attrs: str
) -> None:
    """A cluster's title drawn as a text node beside its first node (on the same rank), where
    the edges entering the cluster never cross it, as they cross a cluster label on top.  (On
    the right of the first node: titles on the left made Graphviz loop some skip edges.)"""
    tid = f"{path}#title"
    sub.node(tid, title, shape="plaintext", style="", fontsize=style.get("fontsize", "10"),
             fontcolor=style.get("fontcolor", "#34495e"), margin="0.04,0", **attrs)  # fmt: skip
    with sub.subgraph() as row:
        row.attr(rank="same")
        row.node(tid)
        row.node(first)
        row.edge(first, tid, style="invis")


def _layer_node(
    container: graphviz.Digraph,
    node_id: str,
    d: dict[str, Any],
    followers: Sequence[dict[str, Any]] = (),
    title: str | None = None,
    kind: str | None = None,
    **attrs: str,
) -> None:
    """A layer's node; ``followers`` are the norms and activations drawn in it, ``title`` and
    ``kind`` name the module it stands for when it is a whole block (``conv1``, ``basic_conv``)."""
    op = lookup(d["op"])
    assert op is not None
    summary = op.label(d["args"], d["shape"])
    if op.arity == 0:
        style = MERGE_NODE if len(summary) == 1 else {**MERGE_NODE, "fixedsize": "false", "shape": "ellipse"}
        container.node(node_id, html.escape(summary), **{**style, **attrs})
        return
    fill = FILL_BY_OP.get(d["op"], NODE_STYLE["fillcolor"])
    params = d["params"] + sum(f["params"] for f in followers)
    then = " → ".join(layer_text(f) for f in followers)
    detail = f"{kind}: {layer_text(d)}" if kind else layer_text(d)
    label = _html_label(title or _leaf(d["name"]), detail, params, d["op"], then)
    container.node(node_id, label, **{"fillcolor": fill, **attrs})


def _empty_modules(scopes: dict[str, Scope]) -> set[str]:
    """The modules with no layer inside (a block that returns its input): innermost first."""
    empty: set[str] = set()
    for path in sorted(scopes, key=lambda p: -p.count(".") if p else 1):
        if path and all(join_path(path, ch) in empty for ch in scopes[path].children):
            empty.add(path)
    return empty


def _definitions(scopes: dict[str, Scope], path: str) -> set[str]:
    """The block definitions of the module at ``path`` and the modules inside it."""
    prefix = path + "."
    return {
        s.definition
        for p, s in scopes.items()
        if (p == path or p.startswith(prefix)) and s.kind == "block" and s.definition
    }


def _family(children: list[str], i: int, scopes: dict[str, Scope]) -> int:
    """How many consecutive siblings from ``i`` instantiate the same block (any arguments)."""
    first = scopes.get(children[i])
    if first is None or first.kind != "block":
        return 1
    n = 1
    while i + n < len(children):
        other = scopes.get(children[i + n])
        if other is None or other.kind != "block" or other.definition != first.definition:
            break
        n += 1
    return n


def _run_length(children: list[str], i: int, end: int, scopes: dict[str, Scope]) -> int:
    """How many consecutive siblings from ``i`` (before ``end``) are the same block with the
    same arguments and the same input and output shapes (so one node marked × N stands for all
    of them)."""
    first = scopes.get(children[i])
    if first is None or first.kind != "block":
        return 1
    n = 1
    while i + n < end:
        other = scopes.get(children[i + n])
        same = other is not None and (other.definition, other.args, other.in_shape, other.out_shape) == (
            first.definition,
            first.args,
            first.in_shape,
            first.out_shape,
        )
        if not same:
            break
        n += 1
    return n


def _title(c: Compiled, overrides: Sequence[str]) -> str:
    """The network's name (with the parameters set on the command line) and its totals."""
    t = c.totals
    return f"{_named(c, overrides)}  ·  {t.params:,} parameters  ·  {t.macs:,} MACs"


def _named(c: Compiled, overrides: Sequence[str]) -> str:
    """``se_resnet50 (depths=[1, 1, 1, 1])``: a network's name and the parameters set for it."""
    shown = [k for k in dict.fromkeys(overrides) if k in c.network.params]
    if not shown:
        return c.name
    return f"{c.name} ({', '.join(f'{k}={show(c.network.params[k])}' for k in shown)})"


def _edge_style(g: nx.DiGraph, u: str, v: str, edge: dict[str, Any]) -> tuple[int, dict[str, str]]:
    """How an edge is drawn, with a rank: a main edge outranks a gate, a gate a skip (when
    several edges fold into one, the highest-ranked one is drawn)."""
    d = g.nodes[v]
    if d["op"] == "mul" and edge["shape"] != d["shape"]:
        return 1, dict(GATE_EDGE)  # the broadcast operand of a multiply: a gate
    if edge["skip"]:
        return 0, dict(SKIP_EDGE)
    return 2, {}


def _edges(
    dot: graphviz.Digraph,
    sources: Sequence[tuple[nx.DiGraph, Callable[[str], str], dict[str, str]]],
    only: Callable[[nx.DiGraph, str, str], bool] | None = None,
) -> None:
    """Every tensor flow between visible nodes, once, with its shape.  ``sources`` are graphs
    with the function mapping a layer to the node drawing it, and extra edge attributes;
    ``only`` picks which edges of a graph to draw."""
    drawn: dict[tuple[str, str], tuple[int, str, dict[str, str]]] = {}
    for g, visible, extra in sources:
        for d in layers(g):
            v = visible(d["name"])
            for u_path in dict.fromkeys(d["inputs"]):
                u = visible(u_path)
                if u == v or (only is not None and not only(g, u_path, d["name"])):
                    continue
                edge = g.edges[u_path, d["name"]]
                rank, attrs = _edge_style(g, u_path, d["name"], edge)
                if (u, v) not in drawn or drawn[u, v][0] < rank:
                    drawn[u, v] = (rank, fmt(edge["shape"]), {**attrs, **extra})
    labelled: set[tuple[str, str]] = set()
    for (u, v), (_, label, attrs) in drawn.items():
        if (u, label) in labelled:  # a fan-out: its shape is written on the first edge only
            dot.edge(u, v, **attrs)
        else:
            labelled.add((u, label))
            dot.edge(u, v, label=label, **attrs)


# ------------------------------------------------------------------ two networks


def diff_diagram(
    al: Alignment,
    a: Compiled,
    b: Compiled,
    rankdir: str = "TB",
    overrides: tuple[Sequence[str], Sequence[str]] = ((), ()),
) -> graphviz.Digraph:
    """The union of two aligned networks: B's layers and A's removed ones, added layers green,
    removed red, changed orange (pale when only their shapes changed); unchanged runs fold into
    grey nodes, and of consecutive blocks changed the same way only the first is opened.
    ``overrides`` names the parameters set on each side, for the title."""
    return _DiffDrawer(al, a, b, rankdir, overrides).draw()


class _DiffDrawer:
    def __init__(
        self,
        al: Alignment,
        a: Compiled,
        b: Compiled,
        rankdir: str,
        overrides: tuple[Sequence[str], Sequence[str]],
    ):
        self.al, self.a, self.b = al, a, b
        self.rep_a: dict[str, str] = {"input": "input"}
        self.rep_b: dict[str, str] = {"input": "input"}
        self.removed: set[str] = set()
        self.drawn: list[str] = []
        self.opened: set[Any] = set()  # (block, what changed in it) already drawn open
        self.dot = Diagram(
            f"{a.name}_vs_{b.name}",
            graph_attr={
                **GRAPH_STYLE,
                "rankdir": rankdir,
                "label": _diff_title(a, b, overrides),
                "labelloc": "t",
            },
            node_attr=dict(NODE_STYLE),
            edge_attr=dict(EDGE_STYLE),
        )

    def draw(self) -> graphviz.Digraph:
        a, b = self.a, self.b
        shape = (
            fmt(b.input_shape)
            if a.input_shape == b.input_shape
            else f"{fmt(a.input_shape)} → {fmt(b.input_shape)}"
        )
        self.dot.node("input", f"input {shape}", **IO_NODE)
        self.children(self.dot, self.al.root)
        out = (
            fmt(b.output_shape)
            if a.output_shape == b.output_shape
            else f"{fmt(a.output_shape)} → {fmt(b.output_shape)}"
        )
        self.dot.node("output", f"output {out}", **IO_NODE)
        _edges(
            self.dot,
            [
                (b.graph, lambda p: _visible(self.rep_b, p), {}),
                (a.graph, lambda p: _visible(self.rep_a, p), dict(REMOVED_EDGE)),
            ],
            only=lambda g, u, v: g is b.graph or u in self.removed or v in self.removed,
        )
        self.dot.edge(_visible(self.rep_b, b.graph.graph["output"]), "output", label=fmt(b.output_shape))
        self.dot.nodes = len(self.drawn) + 2
        return self.dot

    def node_id(self, p: Pair) -> str:
        return p.b if p.b is not None else f"removed:{p.a}"

    def claim(self, p: Pair, node_id: str) -> None:
        """``node_id`` draws ``p`` and everything inside it."""
        for q in p.walk():
            if q.a is not None:
                self.rep_a[q.a] = node_id
                if q.b is None:
                    self.removed.add(q.a)
            if q.b is not None:
                self.rep_b[q.b] = node_id

    def children(self, container: graphviz.Digraph, parent: Pair) -> None:
        kids = parent.children
        i = 0
        while i < len(kids):
            p = kids[i]
            if p.status == "same":
                j = i
                while j < len(kids) and kids[j].status == "same":
                    j += 1
                self.unchanged(container, kids[i:j])
                i = j
            elif p.kind == "layer":
                self.layer(container, p)
                i += 1
            elif p.status != "changed" or not p.structural or p.own:
                self.module(container, [p])
                i += 1
            else:
                key = _change_key(p, self.al)
                j = i + 1
                while j < len(kids) and _same_change(p, kids[j], self.al):
                    j += 1
                if key is not None and key in self.opened:  # one like it is drawn open already
                    self.module(container, kids[i:j])
                else:
                    if key is not None:
                        self.opened.add(key)
                    self.cluster(container, p)
                    if j > i + 1:
                        self.module(container, kids[i + 1 : j])
                i = j

    def unchanged(self, container: graphviz.Digraph, run: list[Pair]) -> None:
        node_id = self.node_id(run[0]) if len(run) == 1 else f"{self.node_id(run[0])}..{_leaf(run[-1].path)}"
        name = _leaf(run[0].path) if len(run) == 1 else f"{_leaf(run[0].path)} … {_leaf(run[-1].path)}"
        params = sum(p.params[1] for p in run)
        n = sum(1 for p in run for q in p.walk() if q.kind == "layer")
        detail = f"unchanged, {n} layer{'s' if n != 1 else ''}"
        container.node(node_id, _html_label(name, detail, params), **UNCHANGED)
        self.drawn.append(node_id)
        for p in run:
            self.claim(p, node_id)

    def layer(self, container: graphviz.Digraph, p: Pair) -> None:
        side = self.b.graph if p.b is not None else self.a.graph
        d = side.nodes[p.path]
        attrs = _diff_style(p)
        node_id = self.node_id(p)
        op = lookup(d["op"])
        if p.status == "changed" and op is not None and op.arity != 0:
            da = self.a.graph.nodes[p.a]
            before, after = layer_text(da), layer_text(d)
            what = after if before == after else f"{before} → {after}"
            title = (
                _leaf(p.path)
                if _leaf(p.a or "") == _leaf(p.path)
                else f"{_leaf(p.a or '')} → {_leaf(p.path)}"
            )
            container.node(node_id, _html_label(title, what, _note(p, p.params)), **attrs)
        else:
            _layer_node(container, node_id, d, (), None, None, **attrs)
        self.drawn.append(node_id)
        self.claim(p, node_id)

    def module(self, container: graphviz.Digraph, run: list[Pair]) -> None:
        p = run[0]
        node_id = self.node_id(p) if len(run) == 1 else f"{self.node_id(p)}..{_leaf(run[-1].path)}"
        name = _leaf(p.path) if len(run) == 1 else f"{_leaf(p.path)}–{_leaf(run[-1].path)}"
        attrs = _diff_style(p)
        graph = self.b.graph if p.b is not None else self.a.graph
        scope = graph.graph["scopes"][p.path]
        what = module_text(scope, graph)
        if p.status == "changed" and p.a is not None and "args" in p.changes:
            before = self.a.graph.graph["scopes"][p.a]
            keys = [k for k in scope.args if before.args.get(k) != scope.args[k]]
            what = call_text(
                scope.definition or "",
                {k: f"{show(before.args.get(k))} → {show(scope.args[k])}" for k in keys},
            )
        if len(run) > 1:
            what = f"{scope.definition} × {len(run)}, each: {_change_words(p)}"
        elif p.status == "changed" and p.structural and not p.own:
            what = f"{what}: {_change_words(p)}"
        params = (sum(q.params[0] for q in run), sum(q.params[1] for q in run))
        container.node(
            node_id,
            _html_label(name, what, _note(p, params) if len(run) == 1 else _delta(params)),
            **{**attrs, "style": attrs.get("style", "rounded,filled") + ",bold"},
        )
        self.drawn.append(node_id)
        for q in run:
            self.claim(q, node_id)

    def cluster(self, container: graphviz.Digraph, p: Pair) -> None:
        scope = self.b.graph.graph["scopes"][p.path]
        what = module_text(scope, self.b.graph) if scope.kind == "seq" else (scope.definition or "")
        title = _cluster_title(_leaf(p.path), what, _delta(p.params))
        self.dot.clusters += 1
        with container.subgraph(name=f"cluster_{p.path}") as sub:
            sub.attr(label="", **CHANGED_CLUSTER)
            mark = len(self.drawn)
            self.children(sub, p)
            _title_node(sub, p.path, title, self.drawn[mark], CHANGED_CLUSTER)


def _visible(rep: dict[str, str], path: str) -> str:
    probe = path
    while probe:
        if probe in rep:
            return rep[probe]
        probe = probe.rpartition(".")[0]
    return path


def _diff_style(p: Pair) -> dict[str, str]:
    if p.status in ("added", "removed"):
        return ADDED if p.status == "added" else REMOVED
    return CHANGED if p.structural else RESHAPED


def _note(p: Pair, params: tuple[int, int]) -> str:
    """A changed node's last line: its new output shape, if it changed, and its parameters."""
    sa, sb = p.shape
    delta = _delta(params)
    if p.status != "changed" or sa is None or sb is None or sa == sb:
        return delta
    shapes = f"{fmt(sa)} → {fmt(sb)}"
    return f"{shapes}  ·  {delta}" if delta else shapes


def _delta(params: tuple[int, int]) -> str:
    a, b = params
    if a == b:
        return f"{b:,} params" if b else ""
    return f"{b - a:+,} params"


def _change_words(p: Pair) -> str:
    """What changed inside a module, in a few words: ``se added``, ``3 changed``."""
    own = list(_outermost_own(p))
    if not own:
        return "new shapes"
    words = []
    for status in ("added", "removed", "changed"):
        names = [_leaf(q.path) for q in own if q.status == status]
        if names:
            listed = ", ".join(dict.fromkeys(names))
            words.append(f"{listed} {status}" if len(names) <= 3 else f"{len(names)} {status}")
    return "; ".join(words)


def _outermost_own(p: Pair) -> Iterable[Pair]:
    """The pairs inside ``p`` that differ in themselves, but none inside another such pair."""
    for ch in p.children:
        if ch.own:
            yield ch
        else:
            yield from _outermost_own(ch)


def _same_change(p: Pair, q: Pair, al: Alignment) -> bool:
    """Whether ``q`` is the same block as ``p`` (definition, arguments, shapes) changed in the
    same way (so the two are one fold in the diff picture)."""
    if q.kind != "module" or q.status != "changed" or not q.structural or q.own:
        return False
    scopes = al.b.graph["scopes"]
    first = scopes.get(p.b) if p.b is not None else None
    other = scopes.get(q.b) if q.b is not None else None
    if first is None or other is None or first.kind != "block":
        return False
    same = (first.definition, first.args, first.in_shape, first.out_shape)
    if same != (other.definition, other.args, other.in_shape, other.out_shape):
        return False  # × N stands for identical instances only
    return _signature(p) == _signature(q)


def _change_key(p: Pair, al: Alignment) -> Any:
    """A block and how it changed: a second block changed the same way is drawn folded."""
    scope = al.b.graph["scopes"].get(p.b) if p.b is not None else None
    if scope is None or scope.kind != "block":
        return None
    return (scope.definition, tuple(_signature(p)))


def _signature(p: Pair) -> list[tuple[str, str, tuple[str, ...]]]:
    n = len(p.path) + 1
    return [(q.path[n:], q.status, q.changes) for q in p.walk() if q is not p and q.own]


def _diff_title(a: Compiled, b: Compiled, overrides: tuple[Sequence[str], Sequence[str]]) -> str:
    dp, dm = b.params - a.params, b.macs - a.macs
    na, nb = _named(a, overrides[0]), _named(b, overrides[1])
    rel = f" ({100 * dp / a.params:+.2f}%)" if a.params else ""
    relm = f" ({100 * dm / a.macs:+.2f}%)" if a.macs else ""
    return (
        f"<<b>{html.escape(na)} → {html.escape(nb)}</b>  ·  {dp:+,} parameters{rel}  ·  "
        f"{dm:+,} MACs{relm}<br/>"
        f'<font color="{ADDED["color"]}">added</font>   '
        f'<font color="{REMOVED["color"]}">removed</font>   '
        f'<font color="{CHANGED["color"]}">changed</font>   '
        f'<font color="{RESHAPED["color"]}">new shapes only</font>   '
        f'<font color="{UNCHANGED["color"]}">unchanged (folded)</font>>'
    )


# ------------------------------------------------------------------ output


def dot_source(
    c: Compiled, depth: int | None = DEFAULT_DEPTH, rankdir: str = "TB", expand: str | None = None
) -> str:
    source: str = diagram(c, depth, rankdir, expand).source
    return source


def pipe(dot: graphviz.Digraph, fmt_: str, dpi: int | None = None) -> bytes:
    """A graph as ``fmt_`` (svg, png, pdf or dot); PNGs at ``dpi`` (default
    :data:`DEFAULT_DPI`).  Raises :class:`DotMissing` without Graphviz, :class:`DiagramTooBig`
    (before running it) for a :class:`Diagram` past its limits, :class:`DotFailed` when it
    fails."""
    if fmt_ == "dot":
        source: str = dot.source
        return source.encode()
    if isinstance(dot, Diagram) and (dot.nodes > MAX_DIAGRAM_NODES or dot.clusters > MAX_DIAGRAM_CLUSTERS):
        raise DiagramTooBig(dot.nodes, dot.clusters)
    if fmt_ == "png":
        dot = dot.copy()
        dot.graph_attr["dpi"] = str(dpi or DEFAULT_DPI)
    try:
        data: bytes = dot.pipe(format=fmt_)
    except graphviz.ExecutableNotFound:
        raise DotMissing() from None
    except graphviz.CalledProcessError as e:
        why = str(e.stderr or b"", "utf-8", "replace").strip() or f"exit status {e.returncode}"
        raise DotFailed(why.splitlines()[-1][:200]) from None
    return data


def render_bytes(
    c: Compiled,
    fmt_: str,
    depth: int | None = DEFAULT_DEPTH,
    rankdir: str = "TB",
    expand: str | None = None,
    dpi: int | None = None,
    overrides: Sequence[str] = (),
    *,
    folds: Mapping[str, bool] | None = None,
    ids: bool = False,
) -> bytes:
    """The diagram in ``fmt_`` (svg, png, pdf or dot); raises :class:`DotMissing` without Graphviz.
    ``folds`` and ``ids`` as for :func:`diagram`."""
    return pipe(diagram(c, depth, rankdir, expand, overrides, folds=folds, ids=ids), fmt_, dpi)
