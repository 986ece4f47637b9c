"""Diagrams: the layer graph as Graphviz, with blocks as clusters and repeats collapsed.

``diagram`` is a pure function from a compiled network to a ``graphviz.Digraph``; ``render_bytes``
turns it into SVG/PNG/PDF with Graphviz's ``dot`` (or DOT text without it).  Styles are
module constants and are copied, never mutated.

What a diagram shows: one node per layer (name and a short op summary), the tensor shape on
every edge, skip edges dashed and red (identity skips included), attention and gating
(SE-style broadcast multiplies) highlighted, blocks and sequences as nested clusters labelled
with their parameter counts.  Below ``depth`` a module becomes one node with its totals, and a
run of identical blocks becomes one node marked ``× N``.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import graphviz

from archc.dsl.analysis import describe, is_gate, layers, module_params
from archc.dsl.names import join_path
from archc.dsl.ops import fmt, lookup

if TYPE_CHECKING:
    from archc.dsl.compiler import Compiled
    from archc.dsl.elaborate import Scope

FORMATS = ("svg", "png", "pdf", "dot")
DEFAULT_DEPTH = 2

GRAPH_STYLE = {
    "fontname": "Helvetica",
    "fontsize": "11",
    "nodesep": "0.25",
    "ranksep": "0.3",
    "newrank": "true",
}
NODE_STYLE = {
    "shape": "box",
    "style": "rounded,filled",
    "fontname": "Helvetica",
    "fontsize": "11",
    "fillcolor": "#ffffff",
    "color": "#5b6770",
    "margin": "0.12,0.04",
}
EDGE_STYLE = {
    "fontname": "Helvetica",
    "fontsize": "9",
    "fontcolor": "#5b6770",
    "color": "#5b6770",
    "arrowsize": "0.6",
}
SKIP_EDGE = {"style": "dashed", "color": "#c0392b", "fontcolor": "#c0392b", "penwidth": "1.4"}
CLUSTER_STYLE = {"style": "rounded,filled", "color": "#b8c2cc", "fillcolor": "#f7f9fb", "fontsize": "10"}
GATE_CLUSTER = {"style": "rounded,filled", "color": "#8e44ad", "fillcolor": "#f5eefa", "fontsize": "10"}
MERGE_NODE = {
    "shape": "circle",
    "width": "0.3",
    "fixedsize": "true",
    "fillcolor": "#fdfdfd",
    "fontsize": "10",
}
IO_NODE = {"shape": "box", "style": "filled", "fillcolor": "#2c3e50", "fontcolor": "#ffffff"}
FILL_BY_OP = {
    "conv": "#dbe9f6",
    "patch_embed": "#dbe9f6",
    "linear": "#d5f0e3",
    "attention": "#fde2c8",
    "bn": "#eeeeee",
    "layernorm": "#eeeeee",
    "maxpool": "#fdf3cf",
    "avgpool": "#fdf3cf",
    "gap": "#fdf3cf",
    "adaptive_avgpool": "#fdf3cf",
}
COLLAPSED_FILL = "#e8eef7"
GATE_FILL = "#ead7f5"


class DotMissing(Exception):
    """Graphviz's ``dot`` is not installed."""

    def __str__(self) -> str:
        return (
            "Graphviz's `dot` was not found; "
            "install it with `apt-get install graphviz` (or `brew install graphviz`)"
        )


def diagram(
    c: Compiled,
    depth: int | None = DEFAULT_DEPTH,
    rankdir: str = "TB",
    *,
    folds: Mapping[str, bool] | None = None,
    ids: bool = False,
) -> graphviz.Digraph:
    """The network as a Graphviz graph (pure: nothing is rendered or written).

    For ``archc serve``: ``folds`` overrides ``depth`` per module path (``True`` expanded,
    ``False`` collapsed), and ``ids`` gives every node and cluster an SVG id that names its path
    (``n:`` a layer, ``m:`` a collapsed module or run, ``c:`` a cluster)."""
    g = c.graph
    folds = folds or {}

    def folded(path: str, level: int) -> bool:
        return not folds[path] if path in folds else depth is not None and level + 1 >= depth

    scopes: dict[str, Scope] = g.graph["scopes"]
    totals = module_params(c.graph)
    dot = graphviz.Digraph(
        c.name,
        graph_attr={**GRAPH_STYLE, "rankdir": rankdir, "label": _title(c), "labelloc": "t"},
        node_attr=dict(NODE_STYLE),
        edge_attr=dict(EDGE_STYLE),
    )
    dot.node("input", f"input {fmt(c.input_shape)}", **IO_NODE)
    rep: dict[str, str] = {"input": "input"}

    def add_scope(container: graphviz.Digraph, scope: Scope, level: int) -> None:
        children = [join_path(scope.path, ch) for ch in scope.children]
        i = 0
        while i < len(children):
            path = children[i]
            if path in g.nodes:
                _layer_node(container, g.nodes[path], {"id": f"n:{path}"} if ids else {})
                rep[path] = path
                i += 1
                continue
            child = scopes[path]
            if folded(path, level):
                run = _run_length(children, i, scopes, lambda p: folded(p, level))
                node_id = path if run == 1 else f"{path}..{children[i + run - 1].rpartition('.')[2]}"
                _collapsed_node(
                    container,
                    node_id,
                    [scopes[p] for p in children[i : i + run]],
                    totals,
                    scopes,
                    {"id": f"m:{node_id}"} if ids else {},
                )
                for p in children[i : i + run]:
                    rep[p] = node_id
                i += run
                continue
            style = GATE_CLUSTER if is_gate(child, g) else CLUSTER_STYLE
            with container.subgraph(name=f"cluster_{path}") as sub:
                sub.attr(label=_cluster_label(child, totals, scopes), **style)
                if ids:
                    sub.attr(id=f"c:{path}")
                add_scope(sub, child, level + 1)
            i += 1

    add_scope(dot, scopes[""], 0)
    out_id = "output"
    dot.node(out_id, f"output {fmt(c.output_shape)}", **IO_NODE)

    def visible(path: str) -> str:
        probe = path
        while probe:
            if probe in rep:
                return rep[probe]
            probe = probe.rpartition(".")[0]
        return path

    seen: set[tuple[str, str]] = set()
    for d in layers(g):
        v = visible(d["name"])
        for u_path in dict.fromkeys(d["inputs"]):
            u = visible(u_path)
            if u == v or (u, v) in seen:
                continue
            seen.add((u, v))
            edge = g.edges[u_path, d["name"]]
            attrs = dict(SKIP_EDGE) if edge["skip"] else {}
            dot.edge(u, v, label=fmt(edge["shape"]), **attrs)
    dot.edge(visible(g.graph["output"]), out_id, label=fmt(c.output_shape))
    return dot


def _title(c: Compiled) -> str:
    t = c.totals
    return f"{c.name}  ·  {t.params:,} parameters  ·  {t.macs:,} MACs"


def _layer_node(container: graphviz.Digraph, d: dict[str, Any], extra: dict[str, str]) -> None:
    op = lookup(d["op"])
    assert op is not None
    summary = op.label(d["args"], d["shape"])
    if op.arity == 0:
        style = MERGE_NODE if len(summary) == 1 else {**MERGE_NODE, "fixedsize": "false", "shape": "ellipse"}
        container.node(d["name"], html.escape(summary), **style, **extra)
        return
    leaf = d["name"].rpartition(".")[2]
    fill = FILL_BY_OP.get(d["op"], NODE_STYLE["fillcolor"])
    container.node(d["name"], _html_label(leaf, summary, d["params"]), fillcolor=fill, **extra)


def _html_label(title: str, detail: str, params: int) -> str:
    extra = f'<br/><font point-size="9" color="#5b6770">{params:,} params</font>' if params else ""
    if title.rstrip("_0123456789") == detail:  # an unnamed layer: its name is its op
        return f"<<b>{html.escape(title)}</b>{extra}>"
    return f'<<b>{html.escape(title)}</b><br/><font point-size="10">{html.escape(detail)}</font>{extra}>'


def _collapsed_node(
    container: graphviz.Digraph,
    node_id: str,
    run: list[Scope],
    totals: dict[str, int],
    scopes: dict[str, Scope],
    extra: dict[str, str],
) -> None:
    first = run[0]
    kind = first.definition or f"{len(first.children)} layers"
    name = first.path.rpartition(".")[2]
    if len(run) > 1:
        name = f"{name}–{run[-1].path.rpartition('.')[2]}"
    params = sum(totals.get(s.path, 0) for s in run)
    detail = f"{kind} × {len(run)}" if len(run) > 1 else kind
    if first.kind == "seq":
        detail = describe(first, scopes)
    container.node(
        node_id,
        _html_label(name, detail, params),
        fillcolor=COLLAPSED_FILL,
        style="rounded,filled,bold",
        **extra,
    )


def _run_length(children: list[str], i: int, scopes: dict[str, Scope], folded: Callable[[str], bool]) -> int:
    """How many consecutive folded siblings from ``i`` are the same block with the same arguments
    and the same input and output shapes (so one node marked × N stands for all of them)."""
    first = scopes.get(children[i])
    if first is None or first.kind != "block":
        return 1
    key = (first.definition, first.args, first.in_shape, first.out_shape)
    n = 1
    while i + n < len(children):
        other = scopes.get(children[i + n])
        same = other is not None and (other.definition, other.args, other.in_shape, other.out_shape) == key
        if not same or not folded(children[i + n]):
            break
        n += 1
    return n


def _cluster_label(scope: Scope, totals: dict[str, int], scopes: dict[str, Scope]) -> str:
    name = scope.path.rpartition(".")[2]
    what = (scope.definition or "") if scope.kind == "block" else describe(scope, scopes)
    return f"{name}  ·  {what}  ·  {totals.get(scope.path, 0):,} params"


def dot_source(c: Compiled, depth: int | None = DEFAULT_DEPTH, rankdir: str = "TB") -> str:
    source: str = diagram(c, depth, rankdir).source
    return source


def render_bytes(
    c: Compiled,
    fmt_: str,
    depth: int | None = DEFAULT_DEPTH,
    rankdir: str = "TB",
    *,
    folds: Mapping[str, bool] | None = None,
    ids: bool = False,
) -> bytes:
    """The diagram in ``fmt_`` (svg, png, pdf or dot); raises :class:`DotMissing` without Graphviz."""
    dot = diagram(c, depth, rankdir, folds=folds, ids=ids)
    if fmt_ == "dot":
        source: str = dot.source
        return source.encode()
    try:
        data: bytes = dot.pipe(format=fmt_)
    except graphviz.ExecutableNotFound:
        raise DotMissing() from None
    return data
